"""Bad arguments raise a clear TypeError/ValueError, the same from the native kernels and
their numpy twins, and never crash or write anything."""

import numpy as np
import pytest

import kedi_edge
from kedi_edge import _native, reference

GOOD = np.arange(6 * 7, dtype=np.uint16).reshape(6, 7)


def _big_endian():
    return GOOD.astype(">u2")


def _read_only(a=GOOD):
    a = a.copy()
    a.flags.writeable = False
    return a


# (name, image, key, pattern, out, exception, words the message must contain)
BAD_CALLS = [
    ("list image", GOOD.tolist(), GOOD, "diagonal", None, TypeError, "numpy.ndarray"),
    ("float image", GOOD.astype(np.float32), GOOD, "diagonal", None, TypeError, "dtype float32"),
    ("bool image", GOOD > 3, GOOD, "diagonal", None, TypeError, "dtype bool"),
    ("int64 image", GOOD.astype(np.int64), GOOD, "diagonal", None, TypeError, "dtype int64"),
    ("big-endian image", _big_endian(), GOOD, "diagonal", None, TypeError, "byte order"),
    ("1-D image", GOOD.ravel(), GOOD, "diagonal", None, ValueError, "at least 2 dimensions"),
    ("0 rows", GOOD[:0], GOOD, "diagonal", None, ValueError, "empty"),
    ("0 columns", GOOD[:, :0], GOOD, "diagonal", None, ValueError, "empty"),
    ("strided image", GOOD[:, ::2], GOOD, "diagonal", None, ValueError, "C-contiguous"),
    ("Fortran image", np.asfortranarray(GOOD), GOOD, "diagonal", None, ValueError, "C-contiguous"),
    ("key shape", GOOD, GOOD[:5], "diagonal", None, ValueError, "key has shape (5, 7)"),
    ("key dtype", GOOD, GOOD.astype(np.int16), "diagonal", None, TypeError, "key has dtype int16"),
    ("key strided", GOOD, np.tile(GOOD, 2)[:, ::2], "diagonal", None, ValueError, "C-contiguous"),
    ("key list", GOOD, GOOD.tolist(), "diagonal", None, TypeError, "numpy.ndarray"),
    ("unknown pattern", GOOD, GOOD, "spiral", None, ValueError, "unknown pattern 'spiral'"),
    ("out shape", GOOD, GOOD, "diagonal", np.empty((7, 6), np.uint16), ValueError, "out has shape"),
    ("out dtype", GOOD, GOOD, "diagonal", np.empty((6, 7), np.int16), TypeError, "out has dtype"),
    ("out read-only", GOOD, GOOD, "diagonal", _read_only(), ValueError, "read-only"),
    ("out strided", GOOD, GOOD, "diagonal", np.empty((6, 14), np.uint16)[:, ::2], ValueError, "C-contiguous"),
]


CALLS = [
    pytest.param(name, case, id=f"{name}-{case[0]}")
    for name in ("zigzag_xor", "xor_unzigzag", "zigzag", "unzigzag")
    for case in BAD_CALLS
    if name.startswith("xor") or name.endswith("xor") or not case[0].startswith("key")
]


@pytest.mark.parametrize("impl", [kedi_edge, reference, _native], ids=["public", "reference", "native"])
@pytest.mark.parametrize("name, case", CALLS)
def test_bad_arguments(impl, name, case):
    _, image, key, pattern, out, exc, words = case
    keyed = name in ("zigzag_xor", "xor_unzigzag")
    before = None if out is None else out.copy()
    args = (image, key, pattern, out) if keyed else (image, pattern, out)
    with pytest.raises(exc) as info:
        getattr(impl, name)(*args)
    assert words in str(info.value) and name in str(info.value)
    if before is not None:
        np.testing.assert_array_equal(out, before)  # nothing written


@pytest.mark.parametrize("impl", [kedi_edge, reference], ids=["public", "reference"])
def test_pattern_must_be_a_string(impl):
    with pytest.raises(TypeError):
        impl.zigzag(GOOD, 1)


@pytest.mark.parametrize("impl", [kedi_edge, reference], ids=["public", "reference"])
@pytest.mark.parametrize("h, w", [(0, 5), (5, 0), (-1, 3)])
def test_order_of_empty_plane(impl, h, w):
    with pytest.raises(ValueError, match="at least 1"):
        impl.zigzag_order(h, w, "diagonal")


@pytest.mark.parametrize("impl", [kedi_edge, reference], ids=["public", "reference"])
def test_order_unknown_pattern(impl):
    with pytest.raises(ValueError, match="unknown pattern"):
        impl.zigzag_order(4, 4, "Diagonal")


@pytest.mark.parametrize("impl", [kedi_edge, reference], ids=["public", "reference"])
@pytest.mark.parametrize(
    "image, channel_axis, words",
    [
        (GOOD, -1, "(..., H, W, C)"),
        (np.zeros((4, 5, 3), np.uint8), 0, "channel_axis must be None or -1"),
        (np.zeros((4, 5, 3), np.uint8), True, "channel_axis must be None or -1"),
    ],
)
def test_bad_channel_axis(impl, image, channel_axis, words):
    with pytest.raises(ValueError) as info:
        impl.zigzag(image, "vertical", channel_axis=channel_axis)
    assert words in str(info.value)


XOR_BAD = [
    ("float", np.zeros(8, np.float64), np.zeros(8, np.float64), np.zeros(8, np.float64), TypeError, "integer dtype"),
    ("shape", np.zeros(8, np.uint8), np.zeros(9, np.uint8), np.zeros(8, np.uint8), ValueError, "b has shape (9,)"),
    ("dtype", np.zeros(8, np.uint8), np.zeros(8, np.int8), np.zeros(8, np.uint8), TypeError, "b has dtype int8"),
    ("out dtype", np.zeros(8, np.uint8), np.zeros(8, np.uint8), np.zeros(8, np.uint16), TypeError, "out has dtype"),
    ("empty", np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(0, np.uint8), ValueError, "empty"),
    ("strided", np.zeros(16, np.uint8)[::2], np.zeros(8, np.uint8), np.zeros(8, np.uint8), ValueError, "C-contiguous"),
    ("read-only out", np.zeros(8, np.uint8), np.zeros(8, np.uint8), _read_only(np.zeros(8, np.uint8)), ValueError, "read-only"),
    ("list", [1, 2], np.zeros(2, np.uint8), np.zeros(2, np.uint8), TypeError, "numpy.ndarray"),
    ("big-endian", np.zeros(8, ">u4"), np.zeros(8, ">u4"), np.zeros(8, ">u4"), TypeError, "byte order"),
]


@pytest.mark.parametrize("impl", [kedi_edge, reference, _native], ids=["public", "reference", "native"])
@pytest.mark.parametrize("case", XOR_BAD, ids=[c[0] for c in XOR_BAD])
def test_xor_bad_arguments(impl, case):
    _, a, b, out, exc, words = case
    with pytest.raises(exc) as info:
        impl.xor_into(a, b, out)
    assert words in str(info.value) and "xor_into" in str(info.value)
