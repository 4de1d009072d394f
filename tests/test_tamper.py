"""Tampering and truncation: every modified encrypted file is rejected or changes nothing.

Exhaustive single-bit flips and every truncation of a small encrypted DICOM file, 10,000
random multi-bit flips of a larger one and of a sealed container. A flip may only be
accepted where it changes no value the file carries: the 128-byte preamble, reserved bytes
and some VR letters of element headers, padding that reads back the same (a NUL pad
turned space), and the writer's own file meta elements (group length, version,
implementation UID and name); then the decrypted output must equal the untouched
file's, bit for bit. Everything else must raise a kedi_edge error.
"""

import io
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

import kedi_edge
from kedi_edge import batch
from kedi_edge.dicom import decrypt_dicom, encrypt_dicom, write_dicom
from kedi_edge.envelope import Key
from kedi_edge.exceptions import KediError

KEY = Key("tamper", np.random.default_rng(0).integers(0, 2**32, (8, 8), dtype=np.uint32))


def small_dataset() -> Dataset:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.Modality, ds.StudyDate = "Doe^Jane", "123", "CT", "20261128"
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, "1.2.3.4"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.3.5"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(64, dtype="<u2") * 37 % 4096).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def encrypted_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    write_dicom(encrypt_dicom(ds, KEY), buf)
    return buf.getvalue()


def attempt(raw: bytes):
    """The decrypted dataset, or None when the file is rejected with a kedi_edge error
    (or is not DICOM at all); any other exception fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = batch._read_dicom(io.BytesIO(raw))
            return None if ds is None else decrypt_dicom(ds, KEY)
    except KediError:
        return None


def values(raw: bytes) -> dict:
    """Every value the file carries that decryption binds: the dataset's elements and the
    file meta's SOP class, SOP instance and transfer syntax UIDs (padding stripped, as
    DICOM readers do)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(raw))
        out = {int(e.tag): e.value for e in ds.iterall()}
        for kw in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"):
            out[kw] = str(ds.file_meta.get(kw, ""))
    return out


def same(a: Dataset, b: Dataset) -> bool:
    return a == b and a.PixelData == b.PixelData


def check_accepted(out, ref, raw, bad) -> None:
    assert values(bad) == values(raw), "a value changed and the file was accepted"
    assert same(out, ref), "accepted with a different result"


@pytest.fixture(scope="module")
def small_files():
    """Two small encrypted files: one whose header JSON has odd length (written with a NUL
    pad) and one with even length; the new UIDs' random lengths decide which."""
    found = {}
    while len(found) < 2:
        raw = encrypted_bytes(small_dataset())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = pydicom.dcmread(io.BytesIO(raw))[0x4B451003].value
        found.setdefault(header.endswith(b"\x00"), raw)
    return [(raw, attempt(raw)) for raw in found.values()]


@pytest.fixture(scope="module")
def small(small_files):
    return small_files[0]


@pytest.mark.parametrize("which", [0, 1], ids=["padded-header", "unpadded-header"])
def test_every_single_bit_flip_of_a_small_encrypted_dicom(small_files, which):
    raw, ref = small_files[which]
    assert ref is not None
    rejected = 0
    for bit in range(len(raw) * 8):
        bad = bytearray(raw)
        bad[bit // 8] ^= 1 << (bit % 8)
        out = attempt(bytes(bad))
        if out is None:
            rejected += 1
        else:
            check_accepted(out, ref, raw, bytes(bad))
    # Nearly all of the file is values; the preamble alone is 1024 of the bits.
    assert rejected > 0.8 * len(raw) * 8


def test_every_truncation_of_a_small_encrypted_dicom(small):
    raw, _ = small
    for n in range(len(raw)):
        assert attempt(raw[:n]) is None, n


@pytest.fixture(scope="module")
def larger():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small.dcm", download=False))
    raw = encrypted_bytes(ds)
    return raw, attempt(raw)


def flipped(raw: bytes, rng: np.random.Generator) -> bytes:
    """``raw`` with 2 to 16 distinct random bits flipped."""
    bad = bytearray(raw)
    for b in rng.choice(len(raw) * 8, size=int(rng.integers(2, 17)), replace=False):
        bad[b // 8] ^= 1 << (b % 8)
    return bytes(bad)


def test_random_multi_bit_flips_of_an_encrypted_dicom(larger):
    raw, ref = larger
    rng = np.random.default_rng(7)
    for _ in range(10_000):
        bad = flipped(raw, rng)
        out = attempt(bad)
        if out is not None:
            check_accepted(out, ref, raw, bad)


def test_dense_truncation_of_an_encrypted_dicom(larger):
    raw, _ = larger
    for n in list(range(0, len(raw), 37)) + list(range(len(raw) - 300, len(raw))):
        assert attempt(raw[:n]) is None, n


def test_random_multi_bit_flips_of_a_sealed_container():
    image = np.random.default_rng(1).integers(0, 2**16, (2, 64, 64), dtype=np.uint16)
    blob = bytes(kedi_edge.seal(image, KEY, photometric="MONOCHROME2"))
    np.testing.assert_array_equal(kedi_edge.open(blob, KEY), image)
    rng = np.random.default_rng(8)
    for _ in range(10_000):
        with pytest.raises(KediError):
            kedi_edge.open(flipped(blob, rng), KEY)
