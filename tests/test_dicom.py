"""kedi_edge.dicom: valid encrypted DICOM, bit-exact decryption, tampering rejected."""

import copy
import glob
import os
import shutil
import subprocess
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from kedi_edge import (
    AuthenticationError,
    InvalidInputError,
    Key,
    KeyGenerator,
    KeyNotFoundError,
    KeyStore,
)
from kedi_edge.dicom import (
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    DicomError,
    decrypt_dicom,
    encrypt_dicom,
    pixel_sha256,
    read_pixels,
    write_dicom,
)

FILES = sorted(glob.glob(os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "**", "*.dcm"),
                         recursive=True))


def load(name_or_path):
    path = name_or_path if os.path.isabs(name_or_path) else pydicom.data.get_testdata_file(name_or_path,
                                                                                            download=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("ks")
    return KeyStore.init(d / "store", kek_file=d / "kek.key")


@pytest.fixture(scope="module")
def gen():
    return KeyGenerator(device="cpu")


def fixed_key(seed=0):
    return Key("k" + f"{seed:02x}" * 12, np.random.default_rng(seed).integers(0, 2**32, (64, 64), dtype=np.uint32))


def roundtrip_file(ds, tmp_path, **kw):
    enc = encrypt_dicom(ds, **kw)
    write_dicom(enc, tmp_path / "enc.dcm")
    enc2 = load(str(tmp_path / "enc.dcm"))
    return enc2


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_every_bundled_file_round_trips_or_fails_clearly(path, tmp_path, store, gen):
    try:
        ds = load(path)
    except Exception:
        pytest.skip("pydicom cannot read this file at all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = pixel_sha256(ds)
        except DicomError as e:
            assert os.path.basename(path) in str(e) or "dataset" in str(e)
            return  # no pixel data, 1-bit, undecodable: a clear, typed refusal
        try:
            enc = encrypt_dicom(ds, keystore=store, generator=gen)
            write_dicom(enc, tmp_path / "enc.dcm")
        except DicomError as e:
            # pydicom cannot re-encode one of its elements (found when binding the attributes)
            assert "cannot write" in str(e) or "cannot encode" in str(e)
            return
        enc2 = load(str(tmp_path / "enc.dcm"))
        assert enc2.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        for attr in ("Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation"):
            assert enc2.get(attr) == ds.get(attr)
        assert enc2.SOPInstanceUID != ds.SOPInstanceUID
        pixels, _, _ = read_pixels(ds)
        assert len(enc2.PixelData) in (pixels.nbytes, pixels.nbytes + 1)
        dec = decrypt_dicom(enc2, store)
        write_dicom(dec, tmp_path / "dec.dcm")
        dec2 = load(str(tmp_path / "dec.dcm"))
        assert pixel_sha256(dec2) == want
        np.testing.assert_array_equal(dec2.pixel_array, ds.pixel_array)  # as pydicom decodes them
        assert dec2.SOPInstanceUID == ds.SOPInstanceUID
        assert dec2.get("SeriesInstanceUID") == ds.get("SeriesInstanceUID")
        assert (PRIVATE_GROUP, 0x0010) not in dec2


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmtk is not installed")
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtdose.dcm", "examples_rgb_color.dcm",
                                  "JPEG2000.dcm", "SC_rgb_rle_2frame.dcm"])
def test_encrypted_files_are_valid_for_dcmtk(name, tmp_path):
    write_dicom(encrypt_dicom(load(name), fixed_key()), tmp_path / "e.dcm")
    r = subprocess.run(["dcmdump", "-q", "-dc", "+E", str(tmp_path / "e.dcm")], capture_output=True,
                       timeout=60)
    out = r.stdout.decode("latin-1")
    assert r.returncode == 0, r.stderr.decode("latin-1")
    assert PRIVATE_CREATOR in out and "LittleEndianExplicit" in out


def test_multi_frame_has_a_nonce_per_frame():
    ds = load("rtdose.dcm")
    enc = encrypt_dicom(ds, fixed_key())
    block = enc.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    assert len(block[0x04].value) == 12 * int(ds.NumberOfFrames)
    assert len(set(bytes(block[0x04].value)[i:i + 12] for i in range(0, 12 * 15, 12))) == 15


def test_series_policy_shares_a_key_and_a_new_series_uid(store, gen):
    a, b = load("CT_small.dcm"), load("CT_small.dcm")
    b.SOPInstanceUID = pydicom.uid.generate_uid()
    ea, eb = encrypt_dicom(a, keystore=store, generator=gen), encrypt_dicom(b, keystore=store, generator=gen)
    key_a = ea.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x02].value
    assert key_a == eb.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x02].value
    assert ea.SeriesInstanceUID == eb.SeriesInstanceUID != a.SeriesInstanceUID
    assert ea.SOPInstanceUID != eb.SOPInstanceUID
    assert bytes(ea.PixelData) != bytes(eb.PixelData)  # same pixels, same key, fresh nonces
    ei = encrypt_dicom(a, keystore=store, generator=gen, policy="image")
    assert ei.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x02].value != key_a


def _flip(value, i):
    b = bytearray(bytes(value))
    b[i] ^= 0x01
    return bytes(b)


@pytest.mark.parametrize("where", ["pixels", "nonce", "tag", "header", "key_id", "swap", "frames"])
def test_tampering_is_rejected(where):
    key = fixed_key()
    enc = encrypt_dicom(load("MR_small.dcm"), key)
    other = encrypt_dicom(load("MR_small.dcm"), key)
    bad = copy.deepcopy(enc)
    # Elements by tag: a deep copy shares pydicom's cached private blocks with the original.
    block = {i: bad[PRIVATE_GROUP, 0x1000 + i] for i in (0x02, 0x03, 0x04, 0x05)}
    if where == "pixels":
        bad.PixelData = _flip(bad.PixelData, 100)
    elif where == "nonce":
        block[0x04].value = _flip(block[0x04].value, 3)
    elif where == "tag":
        block[0x05].value = _flip(block[0x05].value, 15)
    elif where == "header":
        block[0x03].value = bytes(block[0x03].value).replace(b'"bits_stored":16', b'"bits_stored":12')
    elif where == "key_id":
        block[0x02].value = "k" + "ee" * 12
    elif where == "swap":
        bad.PixelData = other.PixelData
    else:
        block[0x03].value = bytes(block[0x03].value).replace(b'"frames":1', b'"frames":2')
    with pytest.raises(AuthenticationError):
        decrypt_dicom(bad, key)
    np.testing.assert_array_equal(read_pixels(decrypt_dicom(enc, key))[0], load("MR_small.dcm").pixel_array)


def test_wrong_and_missing_keys(store):
    enc = encrypt_dicom(load("MR_small.dcm"), fixed_key(1))
    with pytest.raises(AuthenticationError):
        decrypt_dicom(enc, fixed_key(2))
    with pytest.raises(KeyNotFoundError):
        decrypt_dicom(enc, store)


def test_refusals_are_clear():
    with pytest.raises(DicomError, match="not encrypted"):
        decrypt_dicom(load("MR_small.dcm"), fixed_key())
    enc = encrypt_dicom(load("MR_small.dcm"), fixed_key())
    with pytest.raises(DicomError, match="already encrypted"):
        encrypt_dicom(enc, fixed_key())
    ds = load("MR_small.dcm")
    del ds.PixelData
    with pytest.raises(DicomError, match="no pixel data"):
        encrypt_dicom(ds, fixed_key())
    with pytest.raises(DicomError, match="BitsAllocated 1"):
        encrypt_dicom(load("liver_1frame.dcm"), fixed_key())


def test_input_dataset_is_not_modified():
    ds = load("CT_small.dcm")
    before = (ds.SOPInstanceUID, bytes(ds.PixelData), ds.file_meta.TransferSyntaxUID)
    encrypt_dicom(ds, fixed_key())
    assert (ds.SOPInstanceUID, bytes(ds.PixelData), ds.file_meta.TransferSyntaxUID) == before


def test_speckle_is_recorded_and_decrypt_warns():
    from kedi_edge.dicom import LossyWarning

    ds, key = load("CT_small.dcm"), fixed_key()
    enc = encrypt_dicom(ds, key, speckle=0.04)
    header = bytes(enc[PRIVATE_GROUP, 0x1003].value)
    assert b'"speckle":{"model"' in header and b'"var":0.04' in header
    with pytest.warns(LossyWarning, match="not the original"):
        plain = read_pixels(decrypt_dicom(enc, key))[0].astype(float)
    with pytest.warns(LossyWarning, match="despeckled"):
        clean = read_pixels(decrypt_dicom(enc, key, despeckle=True))[0].astype(float)
    orig = read_pixels(ds)[0].astype(float)
    assert np.mean((clean - orig) ** 2) < 0.5 * np.mean((plain - orig) ** 2)
    with pytest.raises(InvalidInputError, match="speckle"):
        encrypt_dicom(ds, key, speckle=2.0)


@pytest.mark.parametrize("change", ["name", "date", "added", "removed", "meta uid", "sequence", "private"])
def test_changed_attributes_are_rejected(change, tmp_path):
    key = fixed_key()
    write_dicom(encrypt_dicom(load("CT_small.dcm"), key), tmp_path / "e.dcm")
    ds = load(str(tmp_path / "e.dcm"))
    decrypt_dicom(ds, key)  # untouched: fine
    if change == "name":
        ds.PatientName = "Someone^Else"
    elif change == "date":
        ds.StudyDate = "19990101"
    elif change == "added":
        ds.StudyDescription = "relabelled"
    elif change == "removed":
        del ds.PatientID
    elif change == "meta uid":
        ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    elif change == "sequence":
        ds.ReferencedImageSequence = [pydicom.Dataset()]
    else:  # another creator's block in kedi_edge's private group
        ds.private_block(PRIVATE_GROUP, "SOMEONE ELSE", create=True).add_new(0x01, "LO", "note")
    with pytest.raises(AuthenticationError, match="attributes were modified"):
        decrypt_dicom(ds, key)


def test_planar_colour_comes_back_plane_by_plane(tmp_path):
    """Uncompressed RGB stored plane by plane (PlanarConfiguration 1): the decrypted
    PixelData is the original's, byte for byte."""
    ds = load("SC_rgb_small_odd.dcm")
    rgb = np.tile(ds.pixel_array, (2, 2, 1))[:4, :6]  # 4 x 6 x 3: an even length
    ds.Rows, ds.Columns, ds.PlanarConfiguration = 4, 6, 1
    ds.PixelData = np.ascontiguousarray(np.moveaxis(rgb, -1, 0)).tobytes()
    assert np.array_equal(ds.pixel_array, rgb)
    enc = roundtrip_file(ds, tmp_path, key=fixed_key())
    assert enc.PlanarConfiguration == 0  # the sealed frames are interleaved
    back = decrypt_dicom(enc, fixed_key())
    assert back.PlanarConfiguration == 1 and back.PixelData == ds.PixelData
    assert np.array_equal(back.pixel_array, rgb)


def test_extended_offset_table_is_not_carried_into_uncompressed_files(tmp_path):
    from pydicom.encaps import encapsulate_extended

    ds = load("SC_rgb_rle_2frame.dcm")
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=2))
    ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(frames)
    pixels = ds.pixel_array
    enc = roundtrip_file(ds, tmp_path, key=fixed_key())
    assert "ExtendedOffsetTable" not in enc and "ExtendedOffsetTableLengths" not in enc
    assert np.array_equal(decrypt_dicom(enc, fixed_key()).pixel_array, pixels)


def test_speckle_stays_within_bits_stored():
    ds = load("CT_small.dcm")  # 16 bits allocated, 16 stored: make it 12 stored, near the top
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
    ds.PixelData = np.full((ds.Rows, ds.Columns), 4000, np.uint16).tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = decrypt_dicom(encrypt_dicom(ds, fixed_key(), speckle=0.5), fixed_key())
    values = np.frombuffer(back.PixelData, np.uint16)
    assert values.max() == 4095 and values.min() < 4000  # clipped to 12 bits, and speckled


def test_key_store_failures_are_not_blamed_on_the_file(tmp_path, gen):
    from kedi_edge.exceptions import KeyStoreError, ModelError

    class BrokenStore:
        path = tmp_path / "store"

        def key_for_scope(self, policy, uid, make):
            raise IsADirectoryError(21, "Is a directory", str(self.path / "scopes" / "x"))

    class BrokenGenerator:
        sha256 = None

        def generate(self, *args, **kwargs):
            raise RuntimeError("CUDA out of memory (test)")

    ds = load("CT_small.dcm")
    with pytest.raises(KeyStoreError, match="key store"):
        encrypt_dicom(ds, keystore=BrokenStore(), generator=gen)
    store = KeyStore.init(tmp_path / "s", kek_file=tmp_path / "kek.key")
    with pytest.raises(ModelError, match="out of memory"):
        encrypt_dicom(ds, keystore=store, generator=BrokenGenerator())


@pytest.mark.parametrize("change", ["deep", "many_axes", "float_axis", "infinite_axis", "float_frames",
                                    "bool_frames", "not_an_object"])
def test_crafted_private_headers_fail_authentication(change):
    """The private header is checked before any size is computed from it: every crafted
    one is an AuthenticationError, never another error type or a long computation."""
    import json

    key = fixed_key()
    enc = encrypt_dicom(load("MR_small.dcm"), key)
    element = enc[PRIVATE_GROUP, 0x1003]
    raw = bytes(element.value)
    common = json.loads(raw[:-1] if raw.endswith(b"\x00") else raw)
    if change == "deep":
        text = "[" * 100_000 + "]" * 100_000
    elif change == "not_an_object":
        text = "[1]"
    else:
        common.update({"many_axes": {"shape": [10**4000] * 64}, "float_axis": {"shape": [64.0, 64]},
                       "infinite_axis": {"shape": [float("inf"), 64]}, "float_frames": {"frames": 1.0},
                       "bool_frames": {"frames": True}}[change])
        text = json.dumps(common, sort_keys=True, separators=(",", ":"))
    element.value = text.encode() + (b"" if len(text) % 2 == 0 else b"\x00")
    with pytest.raises(AuthenticationError):
        decrypt_dicom(enc, key)
