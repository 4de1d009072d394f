"""Sealed images: the paper's zigzag + XOR layer inside AES-256-GCM.

One sealed unit (an array, or one frame of a DICOM image):

    header   canonical JSON (sorted keys, no spaces), UTF-8
    prefix   MAGIC b"KEDI" | version (1 byte) | len(header) (u32 LE) | header
    nonce    12 fresh random bytes
    ikm      SHA-256(key image bytes), computed once per key
    okm      HKDF-SHA256(ikm, salt=nonce, info=INFO + prefix), 33 bytes
    data key okm[0:32];  pattern = PATTERNS[okm[32] % 3]
    body     zigzag_xor(pixels, key array, pattern)         (native fused kernel)
    sealed   AES-256-GCM(data key, nonce, body, associated data = prefix) -> ciphertext, tag

A ``.kedi`` container is ``prefix | nonce | ciphertext | tag``; FORMAT.md has the
details. The header and the nonce are authenticated (the prefix is the associated
data, the nonce feeds both HKDF and GCM), so a changed bit anywhere makes opening fail
with :class:`AuthenticationError` and no pixels are returned.
"""

from __future__ import annotations

import json
import math
import os
import struct
import threading
from typing import Any, NoReturn, Protocol

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _native
from ._cache import ArrayCache
from .exceptions import AuthenticationError, InvalidInputError
from .zigzag import PATTERNS, xor_unzigzag, zigzag_xor

__all__ = ["FORMAT", "Key", "KeySource", "open", "peek_header", "seal", "unseal"]

MAGIC = b"KEDI"
VERSION = 1
FORMAT = "kedi/1"
INFO = b"kedi-edge/seal/v1\x00"
NONCE_BYTES, TAG_BYTES = 12, 16
KEY_ARRAY_CACHE_BYTES = 64 * 2**20  # per key: the XOR key arrays of recent image shapes
BODY_ALIGN = 16  # the body starts 16-byte aligned in a container (header padded with spaces)
_FIXED = len(MAGIC) + 1 + 4
_DTYPES = ("|u1", "|i1", "<u2", "<i2", "<u4", "<i4")
MAX_DIMS = 8  # a sealed array has 2 to 8 axes ...
MAX_DIM = 2**31  # ... each shorter than this
_MAX_INT_DIGITS = 4300  # longest integer literal a header may hold (Python 3.11's int/str limit)
_FAILED = "authentication failed: wrong key, or the data is not a kedi seal or was modified"


class Key:
    """A key image and its id. ``image``: (H, W) uint32, four key bytes per pixel.

    For an array of itemsize b, 2-D plane j (planes counted over every axis but the
    last two, channels last when ``channel_axis=-1``) uses bytes (j + i) mod 4,
    i < b, of each key pixel (little-endian), the key image tiled to the plane's size.
    """

    def __init__(self, key_id: str, image: np.ndarray) -> None:
        image = np.asarray(image)
        if image.ndim != 2 or image.dtype != np.uint32 or image.size == 0:
            raise InvalidInputError(f"key {key_id!r}: image must be a non-empty 2-D uint32 array, "
                                    f"got {image.dtype} {image.shape}")
        if not key_id or not isinstance(key_id, str):
            raise InvalidInputError("key id must be a non-empty string")
        self.key_id = key_id
        self.image = np.ascontiguousarray(image, dtype="<u4").copy()
        self.image.flags.writeable = False
        digest = hashes.Hash(hashes.SHA256())
        digest.update(memoryview(self.image).cast("B"))
        self._ikm = digest.finalize()
        self._arrays = ArrayCache(KEY_ARRAY_CACHE_BYTES)

    def __repr__(self) -> str:
        return f"Key({self.key_id!r}, {self.image.shape[0]}x{self.image.shape[1]})"

    def array_for(self, shape: tuple[int, ...], dtype: np.dtype, channel_axis: int | None) -> np.ndarray:
        """The XOR key for an array of this shape, dtype and channel layout (cached, read-only)."""
        dtype = np.dtype(dtype)
        return self._arrays.get((tuple(shape), dtype.str, channel_axis),
                                lambda: self._make_array(tuple(shape), dtype, channel_axis))

    def _make_array(self, shape: tuple[int, ...], dtype: np.dtype, channel_axis: int | None) -> np.ndarray:
        planes_shape = shape if channel_axis is None else shape[:-3] + (shape[-1],) + shape[-3:-1]
        h, w = planes_shape[-2:]
        kh, kw = self.image.shape
        tiled = np.tile(self.image, (-(-h // kh), -(-w // kw)))[:h, :w]
        bytes4 = tiled.view(np.uint8).reshape(h, w, 4)
        b = dtype.itemsize
        n_planes = math.prod(planes_shape[:-2])
        distinct = [np.ascontiguousarray(bytes4[:, :, [(j + i) % 4 for i in range(b)]])
                    .view(f"<u{b}").reshape(h, w).view(dtype.newbyteorder("<")).astype(dtype)
                    for j in range(min(4, n_planes))]
        planes = np.stack([distinct[j % 4] for j in range(n_planes)]).reshape(planes_shape)
        return np.ascontiguousarray(planes if channel_axis is None else np.moveaxis(planes, -3, -1))


class KeySource(Protocol):
    """Anything that finds a Key by id (a KeyStore)."""

    def get(self, key_id: str) -> Key: ...


_local = threading.local()
_PLAIN_HEADER = {"bits_stored", "photometric", "frames", "lossy", "meta"}  # what seal() passes
_prefixes: dict[tuple, bytes] = {}


def _scratch(n: int, name: str = "buf") -> np.ndarray:
    """The first n bytes of a per-thread reusable buffer (warm pages, no page faults)."""
    buf = getattr(_local, name, None)
    if buf is None or buf.size < n:
        buf = np.empty(n, np.uint8)
        setattr(_local, name, buf)
    return buf[:n]


def _prefix(header: dict[str, Any], body_align: int = 1) -> bytes:
    """MAGIC | version | length | header JSON, padded with spaces (valid JSON) so that the
    body, after the nonce, starts at a multiple of ``body_align`` bytes."""
    hb = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    hb += b" " * (-(_FIXED + len(hb) + NONCE_BYTES) % body_align)
    return MAGIC + bytes([VERSION]) + struct.pack("<I", len(hb)) + hb


def _derive(key: Key, nonce: bytes, prefix: bytes) -> tuple[bytes, str]:
    okm = HKDF(algorithm=hashes.SHA256(), length=33, salt=nonce, info=INFO + prefix).derive(key._ikm)
    return okm[:32], PATTERNS[okm[32] % 3]


def _check_array(array: np.ndarray, channel_axis: int | None) -> tuple[np.ndarray, int | None]:
    """The pixels as a little-endian C-contiguous array, and channel_axis as None or int -1."""
    a = np.asarray(array)
    if a.dtype.kind not in "ui" or a.dtype.itemsize > 4:
        raise InvalidInputError(f"seal: pixels must be integers of at most 4 bytes, got {a.dtype}")
    # Exactly None or the int -1: the value is written to the header, where -1.0 or
    # True would read differently (and -1.0 == -1 would share a remembered prefix).
    if channel_axis is not None and (isinstance(channel_axis, bool) or not isinstance(channel_axis, int | np.integer)
                                     or channel_axis != -1):
        raise InvalidInputError(f"seal: channel_axis must be None or -1, got {channel_axis!r}")
    channel_axis = None if channel_axis is None else -1
    if a.ndim < (3 if channel_axis == -1 else 2) or a.size == 0:
        raise InvalidInputError(f"seal: need a non-empty array of planes (..., H, W), got shape {a.shape}")
    if a.ndim > MAX_DIMS or max(a.shape) >= MAX_DIM:
        raise InvalidInputError(f"seal: at most {MAX_DIMS} axes, each shorter than 2**31, got shape {a.shape}")
    # Sealed bodies are little-endian whatever the machine.
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")), channel_axis


def _seal_container(array: np.ndarray, key: Key, header: dict[str, Any],
                    channel_axis: int | None) -> tuple[bytearray, int]:
    """The whole container in one buffer, and the offset of its nonce.

    The zigzag + XOR body goes to a per-thread scratch buffer, which AES-GCM encrypts
    straight into the container: the pixels are touched twice, and no byte of the
    container is written twice.
    """
    a, channel_axis = _check_array(array, channel_axis)
    # A plain seal's header depends on a few values only: its prefix is remembered. The
    # memo key must tell apart every pair of values that serialise differently, so only
    # exact types qualify (True == 1 == 1.0 and None/{} are all alike to a dict).
    plain = (header.keys() == _PLAIN_HEADER and header["lossy"] == {} and type(header["lossy"]) is dict
             and header["meta"] == {} and type(header["meta"]) is dict
             and (header["photometric"] is None or type(header["photometric"]) is str)
             and type(header["bits_stored"]) is int and type(header["frames"]) is int)
    memo = (key.key_id, a.shape, a.dtype.str, channel_axis, header["bits_stored"], header["photometric"],
            header["frames"]) if plain else None
    prefix = _prefixes.get(memo) if plain else None
    if prefix is None:
        full = dict(header)
        full.update(format=FORMAT, key_id=key.key_id, shape=list(a.shape), dtype=a.dtype.str,
                    channel_axis=channel_axis)
        prefix = _prefix(full, body_align=BODY_ALIGN)
        if plain:
            if len(_prefixes) >= 256:
                _prefixes.clear()
            _prefixes[memo] = prefix
    nonce = os.urandom(NONCE_BYTES)
    data_key, pattern = _derive(key, nonce, prefix)
    off, n = len(prefix) + NONCE_BYTES, a.nbytes
    buf = _native._empty_bytearray(off + n + TAG_BYTES)  # every byte is written below
    buf[: len(prefix)] = prefix
    buf[len(prefix) : off] = nonce
    scratch = _scratch(n)
    zigzag_xor(a, key.array_for(a.shape, a.dtype, channel_axis), pattern,
               out=scratch.view(a.dtype).reshape(a.shape), channel_axis=channel_axis)
    AESGCM(data_key).encrypt_into(nonce, memoryview(scratch), prefix, memoryview(buf)[off:])
    return buf, len(prefix)


def seal_parts(array: np.ndarray, key: Key, header: dict[str, Any],
               channel_axis: int | None = None) -> tuple[bytes, bytes, memoryview]:
    """Seal one unit; returns (prefix, nonce, ciphertext + tag). ``header`` is extended
    with the format, key id, shape, dtype and channel layout, and authenticated."""
    buf, n = _seal_container(array, key, header, channel_axis)
    return bytes(buf[:n]), bytes(buf[n : n + NONCE_BYTES]), memoryview(buf)[n + NONCE_BYTES :]


def seal(array: np.ndarray, key: Key, *, channel_axis: int | None = None,
         bits_stored: int | None = None, photometric: str | None = None,
         lossy: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> bytearray:
    """Seal an integer image array into a ``.kedi`` container (a bytearray).

    ``array``: (..., H, W), or (..., H, W, C) with ``channel_axis=-1``. The optional
    fields are recorded in the authenticated header: ``bits_stored`` (default the full
    itemsize), ``photometric`` (e.g. "MONOCHROME2", "RGB"), ``lossy`` (the lossy stages
    applied before sealing, e.g. speckle parameters; default none) and free ``meta``.
    """
    a = np.asarray(array)
    frames = math.prod(a.shape[: a.ndim - (3 if channel_axis == -1 else 2)])
    header = {"bits_stored": int(bits_stored or a.dtype.itemsize * 8), "photometric": photometric,
              "frames": frames, "lossy": lossy or {}, "meta": meta or {}}
    return _seal_container(a, key, header, channel_axis)[0]


def peek_header(blob: bytes | bytearray | memoryview) -> dict[str, Any]:
    """The header of a container, NOT authenticated (for finding its key); see unseal."""
    return _parse(memoryview(blob))[1]


def _fail() -> NoReturn:
    raise AuthenticationError(_FAILED)


def _json_int(literal: str) -> int:
    if len(literal) > _MAX_INT_DIGITS:  # int() of a long literal is quadratic (before Python 3.11)
        raise ValueError("integer literal too long")
    return int(literal)


def _header_nbytes(header: Any, limit: int) -> int:
    """The body size ``header`` describes, if it is a well-formed unit header whose
    body is at most ``limit`` bytes; AuthenticationError otherwise.

    ``shape`` must be a list of 2 to MAX_DIMS real ints (not bool or float), each
    1 <= d < MAX_DIM; the size is checked against ``limit`` after every axis, so a
    crafted shape costs no more than a few small multiplications.
    """
    if not isinstance(header, dict):
        _fail()
    channel_axis, shape = header.get("channel_axis"), header.get("shape")
    if (header.get("format") != FORMAT or type(header.get("key_id")) is not str
            or type(header.get("dtype")) is not str or header["dtype"] not in _DTYPES
            or not (channel_axis is None or (type(channel_axis) is int and channel_axis == -1))
            or type(shape) is not list or not (3 if channel_axis == -1 else 2) <= len(shape) <= MAX_DIMS):
        _fail()
    nbytes = np.dtype(header["dtype"]).itemsize
    for d in shape:
        if type(d) is not int or not 1 <= d < MAX_DIM:
            _fail()
        nbytes *= d
        if nbytes > limit:
            _fail()
    return nbytes


def _parse(mv: memoryview) -> tuple[bytes, dict[str, Any], int]:
    """(prefix, header, offset of the nonce); AuthenticationError on any malformation,
    including a header that does not describe the ciphertext's length.

    The prefix is read from ``mv`` once, and the header parsed from that copy: a buffer
    that changes meanwhile (a shared mmap) cannot make the parsed header differ from the
    prefix that is authenticated.
    """
    n = len(mv)
    if n < _FIXED:
        _fail()
    fixed = bytes(mv[:_FIXED])
    if fixed[:4] != MAGIC or fixed[4] != VERSION:
        _fail()
    (hlen,) = struct.unpack_from("<I", fixed, 5)
    end = _FIXED + hlen
    if end + NONCE_BYTES + TAG_BYTES > n:
        _fail()
    prefix = fixed + bytes(mv[_FIXED:end])
    try:
        header = json.loads(prefix[_FIXED:].decode("utf-8"), parse_int=_json_int)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        _fail()
    body = n - end - NONCE_BYTES - TAG_BYTES
    if _header_nbytes(header, body) != body:
        _fail()
    return prefix, header, end


def open_parts(prefix: bytes, nonce: bytes, sealed: bytes | bytearray | memoryview,
               key: Key | KeySource) -> tuple[np.ndarray, dict[str, Any]]:
    """Open one unit from its parts (as from seal_parts); returns (pixels, header)."""
    blob = memoryview(b"".join((prefix, nonce, sealed)))
    return unseal(blob, key)


def unseal(blob: bytes | bytearray | memoryview, key: Key | KeySource) -> tuple[np.ndarray, dict[str, Any]]:
    """Authenticate and decrypt a container: (pixels, authenticated header).

    ``key``: the Key it was sealed with, or a key source (a KeyStore) to look it up in.
    Raises AuthenticationError (KeyNotFoundError when the store lacks its key).
    """
    mv = memoryview(blob).cast("B")
    prefix, header, off = _parse(mv)  # prefix: a copy, from which header was parsed
    if isinstance(key, Key):
        if key.key_id != header["key_id"]:
            _fail()
    else:
        key = key.get(header["key_id"])
    dtype = np.dtype(header["dtype"])
    shape = tuple(header["shape"])  # ints, checked by _parse
    nbytes = len(mv) - off - NONCE_BYTES - TAG_BYTES  # equals the shape's size, checked by _parse
    nonce = bytes(mv[off : off + NONCE_BYTES])  # one copy, for both HKDF and GCM
    sealed = mv[off + NONCE_BYTES :]  # ciphertext + tag
    if type(mv.obj) not in (bytes, bytearray):
        # A buffer another process may change (a shared mmap, shared memory) is copied
        # first: GCM may read a block twice (once for the tag, once to decrypt), and the
        # two reads must agree. A bytearray is this process's own memory: only its own
        # code could change it, and copying 512 KiB would add a quarter to an open.
        sealed = _scratch(nbytes + TAG_BYTES, "sealed")
        sealed[:] = mv[off + NONCE_BYTES :]
    data_key, pattern = _derive(key, nonce, prefix)
    body = _scratch(nbytes)
    try:
        AESGCM(data_key).decrypt_into(nonce, sealed, prefix, body)
    except InvalidTag:
        raise AuthenticationError(_FAILED) from None
    body = body.view(dtype).reshape(shape)
    channel_axis = header["channel_axis"]
    pixels = xor_unzigzag(body, key.array_for(shape, dtype, channel_axis), pattern, channel_axis=channel_axis)
    return pixels.astype(dtype.newbyteorder("="), copy=False), header


def open(blob: bytes | bytearray | memoryview, key: Key | KeySource) -> np.ndarray:
    """The pixels of a ``.kedi`` container, bit-exact; AuthenticationError if anything is off."""
    return unseal(blob, key)[0]
