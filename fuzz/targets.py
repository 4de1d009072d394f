"""Fuzz targets: each takes one input (bytes) and may raise only its documented errors.

Shared by the atheris runner (fuzz/run.py) and the short runs in tests/test_fuzz.py.
Anything else escaping a target is a bug: atheris stops there and saves the input.
"""

from __future__ import annotations

import io
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

import kedi_edge
from kedi_edge import batch
from kedi_edge import reference as ref
from kedi_edge.dicom import decrypt_dicom, encrypt_dicom, write_dicom
from kedi_edge.envelope import Key, peek_header
from kedi_edge.exceptions import KediError

KEY = Key("fuzz", np.random.default_rng(0).integers(0, 2**32, (8, 8), dtype=np.uint32))
SEED_FILES = ["CT_small.dcm", "MR_small.dcm", "ExplVR_BigEnd.dcm", "rtdose.dcm", "examples_rgb_color.dcm",
              "JPEG2000.dcm", "SC_rgb_rle_2frame.dcm", "OBXXXX1A.dcm", "image_dfl.dcm"]


def _dataset(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return batch._read_dicom(io.BytesIO(data))


def _quietly(fn, *args) -> None:
    """fn(*args) with warnings off; kedi_edge's documented errors are accepted outcomes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args)
    except KediError:
        pass


def _open_container(data: bytes) -> None:
    peek_header(data)
    kedi_edge.open(data, KEY)


def container(data: bytes) -> None:
    """peek_header and open of a .kedi container: only KediError."""
    _quietly(_open_container, data)


def _on_dicom(data: bytes, action) -> None:
    ds = _dataset(data)
    if ds is not None:
        action(ds)


def dicom_decrypt(data: bytes) -> None:
    """Reading and decrypting an encrypted DICOM file: only KediError."""
    _quietly(_on_dicom, data, lambda ds: decrypt_dicom(ds, KEY))


def dicom_encrypt(data: bytes) -> None:
    """Reading, encrypting and writing a plain DICOM file: only KediError."""
    _quietly(_on_dicom, data, lambda ds: write_dicom(encrypt_dicom(ds, KEY), io.BytesIO()))


_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.int64, np.bool_]


def kernels(data: bytes) -> None:
    """The native kernels through their Python entry points, on arrays of fuzzed dtype,
    shape and layout: ValueError/TypeError for bad arguments, else equal to numpy."""
    if len(data) < 6:
        return
    dtype = np.dtype(_DTYPES[data[0] % len(_DTYPES)])
    h, w = data[1] % 40, data[2] % 40
    pattern = ("horizontal", "vertical", "diagonal", "zigzag")[data[3] % 4]
    layout = data[4] % 6  # 0-2 plain 2-D, 3 transposed view, 4 stack of planes, 5 with channels
    shape = {4: (2, h, w), 5: (h, w, 3)}.get(layout, (h, w))
    n = int(np.prod(shape))
    raw = np.frombuffer((data[5:] * (n * dtype.itemsize // max(len(data) - 5, 1) + 1))[:n * dtype.itemsize]
                        or b"\0" * (n * dtype.itemsize), dtype=np.uint8)
    img = raw.view(dtype).reshape(shape) if n else np.zeros(shape, dtype)
    if layout == 3:
        img = img.T
    key = img[::-1].copy() if img.size else img.copy()
    axis = -1 if layout == 5 else None
    try:
        out = kedi_edge.zigzag_xor(img, key, pattern, channel_axis=axis)
    except (ValueError, TypeError):
        return
    if axis is None and img.ndim == 2:
        np.testing.assert_array_equal(out, ref.zigzag_xor(img, key, pattern))
    np.testing.assert_array_equal(kedi_edge.xor_unzigzag(out, key, pattern, channel_axis=axis), img)
    both = np.empty_like(img)
    kedi_edge.xor_into(img, key, both)
    np.testing.assert_array_equal(both, img ^ key)


TARGETS = {"container": container, "dicom_decrypt": dicom_decrypt, "dicom_encrypt": dicom_encrypt,
           "kernels": kernels}


@lru_cache(maxsize=1)
def _bundled() -> Path:
    import pydicom

    return Path(pydicom.__file__).parent / "data" / "test_files"


def seeds(target: str) -> list[bytes]:
    """Valid inputs to start from: pydicom's files, their encrypted forms, containers."""
    files = [p.read_bytes() for name in SEED_FILES if (p := _bundled() / name).is_file()]
    if target == "dicom_encrypt":
        return files
    if target == "dicom_decrypt":
        out = []
        for raw in files:
            try:
                buf = io.BytesIO()
                write_dicom(encrypt_dicom(_dataset(raw), KEY), buf)
                out.append(buf.getvalue())
            except KediError:
                continue
        return out
    if target == "container":
        rng = np.random.default_rng(0)
        return [bytes(kedi_edge.seal(rng.integers(0, 255, s, dtype=np.uint8).astype(dt), KEY))
                for s, dt in (((4, 4), np.uint8), ((3, 5), np.uint16), ((2, 6, 6), np.int16))]
    return [bytes([d, h, w, p, lay]) + bytes(range(40)) for d, h, w, p, lay in
            ((2, 8, 8, 2, 0), (0, 3, 17, 1, 4), (4, 5, 1, 0, 5), (7, 0, 4, 2, 0), (3, 9, 9, 2, 3))]


__all__ = ["TARGETS", "seeds"]
