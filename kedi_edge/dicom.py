"""Encrypted DICOM: valid DICOM files whose PixelData is sealed, frame by frame.

An encrypted file is Explicit VR Little Endian, uncompressed, with Rows, Columns and
the Bits attributes unchanged and PixelData replaced by ciphertext of the same length
(the decoded pixels' length). Each frame is one sealed unit (its own nonce and tag;
see :mod:`kedi_edge.envelope`) whose authenticated header also names the frame. The
private block (gggg = 4B45, creator "KEDI_EDGE 1") holds the format, the key id, the
common header, the nonces and the tags. The file gets a new SOP Instance UID and new
Study/Series Instance UIDs (the same new UID for every file of one study or series);
the original UIDs are kept only inside the authenticated header.

Decryption gives back the decoded pixels bit for bit and the original UIDs, as an
uncompressed Explicit VR Little Endian dataset. Pixel data stored compressed is
restored decoded (and YBR colour as RGB, as pydicom decodes it); uncompressed colour
stored plane by plane (PlanarConfiguration 1) comes back plane by plane, byte for byte.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import warnings
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from ._dcmencode import encode_elements, file_bytes
from .envelope import (
    _FIXED,
    BODY_ALIGN,
    FORMAT,
    NONCE_BYTES,
    TAG_BYTES,
    Key,
    _header_nbytes,
    _prefix,
    seal_parts,
    unseal,
)
from .exceptions import AuthenticationError, InvalidInputError, KediError, KeyStoreError, ModelError

__all__ = ["PRIVATE_CREATOR", "PRIVATE_GROUP", "DicomError", "LossyWarning", "decrypt_dicom", "encrypt_dicom",
           "encrypt_dicom_file", "is_encrypted", "key_for_dataset", "pixel_sha256", "read_pixels", "write_dicom"]

PRIVATE_GROUP = 0x4B45
PRIVATE_CREATOR = "KEDI_EDGE 1"
DICOM_FORMAT = "kedi-dicom/1"
_E_FORMAT, _E_KEY_ID, _E_HEADER, _E_NONCES, _E_TAGS = 0x01, 0x02, 0x03, 0x04, 0x05
_PIXEL_DATA = 0x7FE00010
_FAILED = "authentication failed: wrong key, or the encrypted DICOM was modified"


class DicomError(KediError, ValueError):
    """A DICOM dataset kedi_edge cannot encrypt or decrypt (no pixels, unsupported format)."""


def _name(ds: Dataset) -> str:
    return str(getattr(ds, "filename", None) or "dataset")


def _typed_errors(fn: Any) -> Any:
    """Turn any non-kedi exception from a malformed dataset into a DicomError: pydicom
    parses elements lazily and raises many types (NotImplementedError for an unknown
    VR, struct errors for bad lengths, ...) when a damaged one is first touched."""

    @functools.wraps(fn)
    def wrapper(ds: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(ds, *args, **kwargs)
        except (KediError, MemoryError):
            raise
        except Exception as e:  # see above
            raise DicomError(f"{_name(ds)}: malformed DICOM ({type(e).__name__}: {str(e)[:200]})") from e

    return wrapper


@_typed_errors
def read_pixels(ds: Dataset) -> tuple[np.ndarray, int | None, str]:
    """Decoded pixels (native byte order), channel axis and their photometric interpretation."""
    if "PixelData" not in ds:
        raise DicomError(f"{_name(ds)}: no pixel data")
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16, 32):
        raise DicomError(f"{_name(ds)}: unsupported pixel format (BitsAllocated {bits}; "
                         "8, 16 or 32 are supported)")
    pixels = _native_pixels(ds, bits)
    if pixels is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pixels = ds.pixel_array
        except Exception as e:  # pydicom raises many types for undecodable pixel data
            raise DicomError(f"{_name(ds)}: cannot decode pixel data ({type(e).__name__}: {e})") from e
    if pixels.dtype.kind not in "ui" or pixels.dtype.itemsize * 8 != bits:
        raise DicomError(f"{_name(ds)}: unsupported pixel format ({pixels.dtype} for BitsAllocated {bits})")
    pixels = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("="))
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples == 3:
        if photometric.startswith("YBR"):
            photometric = "RGB"  # pydicom decodes YCbCr to RGB
        return pixels, -1, photometric
    if samples != 1:
        raise DicomError(f"{_name(ds)}: unsupported pixel format (SamplesPerPixel {samples})")
    return pixels, None, photometric


_NATIVE_LE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_PLAIN_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR")


def _native_pixels(ds: Dataset, bits: int) -> np.ndarray | None:
    """The stored pixel values of uncompressed little-endian data, read straight from
    PixelData (the exact stored bits); None where pydicom's decoders are needed."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if ts not in _NATIVE_LE or photometric not in _PLAIN_PHOTOMETRIC:
        return None
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        planar = int(ds.get("PlanarConfiguration", 0) or 0)
        signed = int(ds.get("PixelRepresentation", 0) or 0)
        data = ds.PixelData
    except (AttributeError, TypeError, ValueError):
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    count = rows * cols * frames * samples
    if samples not in (1, 3) or min(rows, cols, frames) < 1 or len(data) < count * dtype.itemsize:
        return None
    a = np.frombuffer(data, dtype, count=count)
    if samples == 1:
        shape = (frames, rows, cols) if frames > 1 else (rows, cols)
        return a.reshape(shape)
    a = a.reshape(frames, 3, rows, cols).transpose(0, 2, 3, 1) if planar else a.reshape(frames, rows, cols, 3)
    return a if frames > 1 else a[0]


def pixel_sha256(ds: Dataset) -> str:
    """SHA-256 of a dataset's decoded pixels as little-endian bytes."""
    pixels, _, _ = read_pixels(ds)
    return hashlib.sha256(pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()).hexdigest()


def _own_slots(ds: Dataset) -> list[int]:
    """The private-creator slots of group 4B45 that hold kedi_edge's creator, in order.

    Read by tag rather than through pydicom's cached private blocks, which a copied
    dataset shares with its original.
    """
    return [t.element for t in ds.keys() if t.group == PRIVATE_GROUP and 0x10 <= t.element < 0x100
            and ds[t].value == PRIVATE_CREATOR]


def _block(ds: Dataset) -> dict[int, Any] | None:
    """The kedi_edge private elements by offset, found through their private creator."""
    slots = _own_slots(ds)
    if not slots:
        return None
    base = slots[0] << 8
    return {off: ds[PRIVATE_GROUP, base + off] for off in range(0x01, 0x06) if (PRIVATE_GROUP, base + off) in ds}


def _own_tags(ds: Dataset) -> list:
    """The tags of kedi_edge's private block: its creator elements and their slots."""
    slots = set(_own_slots(ds))
    return [t for t in ds.keys() if t.group == PRIVATE_GROUP and (t.element in slots or t.element >> 8 in slots)]


def is_encrypted(ds: Dataset) -> bool:
    """Whether ``ds`` carries a kedi_edge private block."""
    return _block(ds) is not None


def _copy(ds: Dataset) -> Dataset:
    """A new dataset sharing ``ds``'s elements; change it only through :func:`_put`.

    Much cheaper than a deep copy, and ``ds`` is never modified.
    """
    out = Dataset({tag: ds.get_item(tag) for tag in ds.keys()})
    # Elements still raw (undecoded) are decoded later with the source's own encoding.
    implicit, little = ds.original_encoding
    if implicit is not None:
        out.set_original_encoding(implicit, little, ds.original_character_set)
    out.preamble = getattr(ds, "preamble", None)
    if hasattr(ds, "file_meta"):
        meta = ds.file_meta
        out.file_meta = pydicom.dataset.FileMetaDataset({tag: meta[tag] for tag in meta.keys()})
    return out


def _put(ds: Dataset, keyword: str, vr: str, value: Any) -> None:
    """Set an element with a new DataElement (never mutating a shared one)."""
    from pydicom.datadict import tag_for_keyword

    ds[tag_for_keyword(keyword)] = pydicom.DataElement(tag_for_keyword(keyword), vr, value)


def _new_uid(tag: str) -> str:
    return "2.25." + str(int(tag[:32], 16))


def _stored_range(ds: Dataset, dtype: np.dtype) -> tuple[int, int]:
    """The values BitsStored allows for pixels of this dtype."""
    bits = min(int(ds.get("BitsStored", 0) or 0) or dtype.itemsize * 8, dtype.itemsize * 8)
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dtype.kind == "i" else (0, (1 << bits) - 1)


def _frames(pixels: np.ndarray, channel_axis: int | None, n_frames: int) -> list[np.ndarray]:
    plane_dims = 3 if channel_axis == -1 else 2
    if n_frames > 1 and pixels.ndim == plane_dims + 1:
        return [pixels[i] for i in range(pixels.shape[0])]
    return [pixels]


def encrypt_dicom(ds: Dataset, key: Key | None = None, *, keystore: Any = None, generator: Any = None,
                  policy: str = "series", speckle: float | None = None) -> Dataset:
    """An encrypted copy of ``ds``; ``ds`` itself is not changed.

    Give a ``key``, or a ``keystore`` (and a KeyGenerator, made on demand) to take the
    key of the image's series or study from, or to make one (``policy``: "image",
    "series" or "study"). ``speckle``: add multiplicative speckle of this variance
    before sealing (lossy, for privacy in research use; recorded in the authenticated
    header). The default is lossless.
    """
    return _encrypt(ds, key, keystore, generator, policy, speckle, None)


def encrypt_dicom_file(ds: Dataset, key: Key | None = None, *, keystore: Any = None, generator: Any = None,
                       policy: str = "series", speckle: float | None = None) -> bytes:
    """The bytes :func:`write_dicom` writes for :func:`encrypt_dicom` of ``ds`` (same
    arguments), with each attribute encoded once (for the digest that binds it, and
    for the file)."""
    known: dict[int, bytes] = {}
    enc = _encrypt(ds, key, keystore, generator, policy, speckle, known)
    return _file_data(enc, known)


@_typed_errors
def _encrypt(ds: Dataset, key: Key | None, keystore: Any, generator: Any, policy: str, speckle: float | None,
             known: dict[int, bytes] | None) -> Dataset:
    """encrypt_dicom; ``known`` (if a dict) receives the attributes' encodings made for
    the digest, which stay valid for writing the result (nothing else touches them)."""
    if is_encrypted(ds):
        raise DicomError(f"{_name(ds)}: already encrypted by kedi_edge")
    # Copied before reading: elements still raw stay raw in the output and are written
    # as they were read (see write_dicom).
    out = _copy(ds)
    pixels, channel_axis, photometric = read_pixels(ds)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    frames = _frames(pixels, channel_axis, n_frames)
    lossy: dict[str, Any] = {}
    if speckle is not None:
        if not (isinstance(speckle, (int, float)) and 0 < speckle <= 1):
            raise InvalidInputError(f"speckle variance must be in (0, 1], got {speckle!r}")
        from .ripplet import add_speckle

        lo, hi = _stored_range(ds, pixels.dtype)
        frames = [np.clip(add_speckle(f, float(speckle)), lo, hi) for f in frames]
        lossy = {"speckle": {"var": float(speckle), "model": "J = I + n*I, n ~ N(0, var)"}}
    if key is None:
        key, _ = _key_for(ds, frames[0], channel_axis, keystore, generator, policy)
    study, series = str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", ""))
    if keystore is not None:
        new_study = _new_uid(keystore.scope_tag("study-uid", study)) if study else generate_uid()
        new_series = _new_uid(keystore.scope_tag("series-uid", series)) if series else generate_uid()
    else:
        new_study, new_series = generate_uid(), generate_uid()
    new_sop = generate_uid()
    header = {
        "bits_stored": int(ds.get("BitsStored", pixels.dtype.itemsize * 8)),
        "photometric": photometric, "frames": len(frames), "lossy": lossy, "meta": {},
        "dicom": {"format": DICOM_FORMAT,
                  "study_uid": study, "series_uid": series, "sop_uid": str(ds.get("SOPInstanceUID", "")),
                  "new_study_uid": new_study, "new_series_uid": new_series, "new_sop_uid": new_sop,
                  "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else "",
                  "photometric": str(ds.get("PhotometricInterpretation", "")),
                  "planar_configuration": ds.get("PlanarConfiguration")},
    }
    _put(out, "PhotometricInterpretation", "CS", photometric)
    if channel_axis == -1:
        _put(out, "PlanarConfiguration", "US", 0)
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):  # encapsulated data only
        if keyword in out:
            del out[keyword]
    _put(out, "SOPInstanceUID", "UI", new_sop)
    if study:
        _put(out, "StudyInstanceUID", "UI", new_study)
    if series:
        _put(out, "SeriesInstanceUID", "UI", new_series)
    _set_file_meta(out, new_sop)
    # Every other attribute of the output is bound to the pixels: changing the patient's
    # name or any other element after encryption fails authentication.
    header["dicom"]["attributes_sha256"] = _attributes_digest(out, known)
    nonces, tags, bodies, common = [], [], [], None
    for i, frame in enumerate(frames):
        prefix, nonce, sealed = seal_parts(frame, key, {**header, "frame": i}, channel_axis)
        if common is None:
            common = json.loads(prefix[_FIXED:])  # the header just authenticated
            common.pop("frame")
        nonces.append(nonce)
        tags.append(bytes(sealed[-TAG_BYTES:]))
        bodies.append(memoryview(sealed)[:-TAG_BYTES])
    body = b"".join(bodies)
    _put(out, "PixelData", "OB" if pixels.dtype.itemsize == 1 else "OW",
         body + b"\x00" if len(body) % 2 else body)  # DICOM values have even length
    block = out.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(_E_FORMAT, "LO", DICOM_FORMAT)
    block.add_new(_E_KEY_ID, "LO", key.key_id)
    block.add_new(_E_HEADER, "OB", json.dumps(common, sort_keys=True, separators=(",", ":")).encode())
    block.add_new(_E_NONCES, "OB", b"".join(nonces))
    block.add_new(_E_TAGS, "OB", b"".join(tags))
    return out


def _attributes_digest(ds: Dataset, known: dict[int, bytes] | None = None) -> str:
    """SHA-256 of an encrypted dataset's attributes: every element except PixelData
    (sealed itself), kedi_edge's private block and group lengths, encoded as Explicit VR
    Little Endian, then the file meta's SOP class, SOP instance and transfer syntax UIDs.
    The preamble and the writer's own file meta elements (version, implementation) are
    not covered: readers ignore them and writers rewrite them. ``known`` (if a dict)
    receives the encodings, by tag."""
    own = {int(t) for t in _own_tags(ds)}

    def left_out(tag: int) -> bool:
        return tag == _PIXEL_DATA or tag & 0xFFFF == 0 or tag in own

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = encode_elements(ds, left_out)
            if parts is None:  # a source pydicom re-encodes as a whole
                part = _copy(ds)
                for tag in [t for t in part.keys() if left_out(int(t))]:
                    del part[tag]
                if hasattr(part, "file_meta"):
                    del part.file_meta  # its UIDs are added below; the rest is the writer's
                part.preamble = None
                buf = io.BytesIO()
                pydicom.dcmwrite(buf, part, enforce_file_format=False, implicit_vr=False, little_endian=True)
                parts = [(0, buf.getvalue())]
            elif known is not None:
                known.update(parts)
    except Exception as e:  # pydicom's encoders raise many types
        raise DicomError(f"{_name(ds)}: cannot encode its attributes ({type(e).__name__}: {e})") from e
    digest = hashlib.sha256()
    for _, data in parts:
        digest.update(data)
    meta = ds.file_meta if hasattr(ds, "file_meta") else Dataset()
    for keyword in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"):
        digest.update(b"|" + str(meta.get(keyword, "")).encode())
    return digest.hexdigest()


def _set_file_meta(ds: Dataset, sop_uid: str) -> None:
    old = ds.file_meta if hasattr(ds, "file_meta") else {}
    meta = pydicom.dataset.FileMetaDataset({tag: old[tag] for tag in old.keys()})
    _put(meta, "TransferSyntaxUID", "UI", ExplicitVRLittleEndian)
    _put(meta, "MediaStorageSOPInstanceUID", "UI", sop_uid)
    if "SOPClassUID" in ds:
        _put(meta, "MediaStorageSOPClassUID", "UI", ds.SOPClassUID)
    ds.file_meta = meta


def _key_for(ds: Dataset, first: np.ndarray, channel_axis: int | None, keystore: Any, generator: Any,
             policy: str) -> tuple[Key, Any]:
    """The key for ``ds`` by policy, and the generator (made here if it was needed)."""
    if keystore is None:
        raise InvalidInputError("encrypt_dicom: give a key or a keystore")
    if policy not in ("image", "series", "study"):
        raise InvalidInputError(f"policy must be image, series or study, got {policy!r}")

    def make(scope: dict[str, Any] | None) -> Key:
        nonlocal generator
        if generator is None:
            from .keygen import KeyGenerator

            generator = KeyGenerator()
        image = first if channel_axis is None else first.astype(np.float32).mean(axis=-1)
        return keystore.new_key(generator, image.shape, image, scope=scope)

    # Whatever fails from here on is the key store's or the generator's problem, never
    # the dataset's: it must not be reported (or quarantined) as a bad DICOM file.
    uid = _scope_uid(ds, policy)
    try:
        if policy == "image" or not uid:
            return make({"policy": "image"}), generator
        return keystore.key_for_scope(policy, uid, make), generator
    except (KediError, MemoryError):
        raise
    except OSError as e:
        raise KeyStoreError(f"{getattr(keystore, 'path', 'key store')}: cannot read or write the key "
                            f"store ({type(e).__name__}: {e})") from e
    except Exception as e:  # the generator's runtime raises its own types
        raise ModelError(f"cannot make a key for {_name(ds)} ({type(e).__name__}: {str(e)[:200]})") from e


def _scope_uid(ds: Dataset, policy: str) -> str:
    """The UID a series or study key is filed under: the Series Instance UID for policy
    "series", else the Study Instance UID ("" when the dataset has none)."""
    return str(ds.get("SeriesInstanceUID" if policy == "series" else "StudyInstanceUID", ""))


def key_for_dataset(ds: Dataset, keystore: Any, generator: Any = None,
                    policy: str = "series") -> tuple[Key, Any]:
    """The key encrypt_dicom would use for ``ds`` (made now if its series or study has
    none), and the KeyGenerator used (None if no key had to be made)."""
    pixels, channel_axis, _ = read_pixels(ds)
    first = _frames(pixels, channel_axis, int(ds.get("NumberOfFrames", 1) or 1))[0]
    return _key_for(ds, first, channel_axis, keystore, generator, policy)


@_typed_errors
def decrypt_dicom(ds: Dataset, key: Any, *, despeckle: bool = False) -> Dataset:
    """The original dataset back from an encrypted one: pixels bit-exact, original UIDs.

    ``key``: the Key, or a key store to find it in. AuthenticationError if the file
    was modified or the key is wrong (KeyNotFoundError if the store lacks it); no pixel
    is returned unless every frame authenticates. If speckle was added before sealing
    the sealed (speckled) pixels come back and a warning says so; with ``despeckle``
    they are despeckled with the recorded variance (still not the original pixels).
    """
    pristine = _copy(ds)  # before the reads below turn raw elements into decoded ones
    block = _block(ds)
    if block is None:
        raise DicomError(f"{_name(ds)}: not encrypted by kedi_edge (no private block)")
    try:
        if block[_E_FORMAT].value != DICOM_FORMAT:
            raise AuthenticationError(_FAILED)
        # DICOM pads an odd-length value with one NUL. The header must be exactly the
        # canonical JSON that was written: no other padding, spacing or key order.
        raw = bytes(block[_E_HEADER].value)
        raw = raw[:-1] if len(raw) % 2 == 0 and raw.endswith(b"\x00") else raw
        common = json.loads(raw.decode("utf-8"))
        if json.dumps(common, sort_keys=True, separators=(",", ":")).encode() != raw:
            raise AuthenticationError(_FAILED)
        nonces, tags = bytes(block[_E_NONCES].value), bytes(block[_E_TAGS].value)
        key_id = block[_E_KEY_ID].value
        n = common["frames"]
        if type(n) is not int or n < 1:
            raise AuthenticationError(_FAILED)
        data = memoryview(ds.PixelData)
        # The unit header's checks, before any size is computed from it: a crafted
        # shape costs nothing (see envelope._header_nbytes).
        frame_bytes = _header_nbytes(common, len(data) // n)
    except AuthenticationError:
        raise
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, RecursionError) as e:
        raise AuthenticationError(_FAILED) from e
    if (common.get("format") != FORMAT or key_id != common.get("key_id")
            or len(nonces) != n * NONCE_BYTES or len(tags) != n * TAG_BYTES
            or len(data) not in (n * frame_bytes, n * frame_bytes + 1)):
        raise AuthenticationError(_FAILED)
    frames, header = [], None
    for i in range(n):
        prefix = _prefix({**common, "frame": i}, body_align=BODY_ALIGN)
        blob = b"".join((prefix, nonces[i * 12:(i + 1) * 12], data[i * frame_bytes:(i + 1) * frame_bytes],
                         tags[i * 16:(i + 1) * 16]))
        pixels, header = unseal(blob, key)
        frames.append(pixels)
    bound = header["dicom"].get("attributes_sha256")  # absent in files from before it existed
    if bound is not None and bound != _attributes_digest(pristine):
        raise AuthenticationError("authentication failed: the encrypted DICOM's attributes were "
                                  "modified after encryption")
    speckle = (header.get("lossy") or {}).get("speckle")
    if speckle:
        warnings.warn(f"{_name(ds)}: speckle (var {speckle.get('var')}) was added before encryption; "
                      f"the decrypted pixels are {'despeckled, ' if despeckle else ''}not the original ones",
                      LossyWarning, stacklevel=2)
        if despeckle:
            frames = [_despeckle_frame(f, float(speckle["var"]), header["channel_axis"]) for f in frames]
    pixels = frames[0] if n == 1 and int(ds.get("NumberOfFrames", 1) or 1) == 1 else np.stack(frames)
    info = header["dicom"]
    out = pristine
    for tag in _own_tags(out):
        del out[tag]
    planar = header["channel_axis"] == -1 and info.get("planar_configuration") == 1 and \
        info.get("transfer_syntax") in _NATIVE_LE
    if planar:  # the source stored its colour planes one after another: so does the result
        pixels = np.moveaxis(pixels, -1, -3)
        _put(out, "PlanarConfiguration", "US", 1)
    raw = np.ascontiguousarray(pixels, pixels.dtype.newbyteorder("<")).tobytes()
    _put(out, "PixelData", "OB" if pixels.dtype.itemsize == 1 else "OW", raw + b"\x00" if len(raw) % 2 else raw)
    _put(out, "SOPInstanceUID", "UI", info["sop_uid"])
    if info["study_uid"]:
        _put(out, "StudyInstanceUID", "UI", info["study_uid"])
    if info["series_uid"]:
        _put(out, "SeriesInstanceUID", "UI", info["series_uid"])
    _set_file_meta(out, info["sop_uid"])
    return out


class LossyWarning(UserWarning):
    """Decrypted pixels differ from the original because a lossy stage (speckle) was used."""


def _despeckle_frame(frame: np.ndarray, var: float, channel_axis: int | None) -> np.ndarray:
    from .ripplet import despeckle

    if channel_axis == -1:
        return np.stack([despeckle(frame[..., k], var=var) for k in range(frame.shape[-1])], axis=-1)
    planes = frame.reshape((-1,) + frame.shape[-2:])
    return np.stack([despeckle(p, var=var) for p in planes]).reshape(frame.shape)


def write_dicom(ds: Dataset, path: Any) -> None:
    """Write ``ds`` as a DICOM file (preamble and file meta) in Explicit VR Little Endian.

    The bytes are what ``pydicom.dcmwrite(path, ds, enforce_file_format=True,
    implicit_vr=False, little_endian=True)`` writes; elements still raw from an
    Explicit VR Little Endian source are copied without pydicom's per-element work.
    """
    data = _file_data(ds)
    if hasattr(path, "write"):
        path.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def _file_data(ds: Dataset, known: dict[int, bytes] | None = None) -> bytes:
    """The bytes write_dicom writes for ``ds`` (``known``: see encode_elements)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's complaints about the source's own values
            data = file_bytes(ds, known)
            if data is None:
                buf = io.BytesIO()
                pydicom.dcmwrite(buf, ds, enforce_file_format=True, implicit_vr=False, little_endian=True)
                data = buf.getvalue()
    except Exception as e:  # an element pydicom cannot encode; it raises many types
        raise DicomError(f"{_name(ds)}: cannot write as DICOM ({type(e).__name__}: {str(e)[:200]})") from e
    return data
