"""Native xor_into against numpy's bitwise_xor, on every SIMD path."""

import numpy as np
import pytest
from conftest import random_array

import kedi_edge
from kedi_edge import reference

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_numpy_all_lengths(simd_level, dtype):
    rng = np.random.default_rng(np.dtype(dtype).num)
    # Every length around the 16/32-byte vectors and the 4x-unrolled loop, plus large.
    for n in [*range(1, 300), 1023, 4096, 65537, 1 << 20]:
        a = random_array(rng, n, dtype)
        b = random_array(rng, n, dtype)
        out = np.empty_like(a)
        assert kedi_edge.xor_into(a, b, out) is out
        np.testing.assert_array_equal(out, np.bitwise_xor(a, b), err_msg=f"n={n}")


def test_misaligned_and_multidimensional(simd_level):
    rng = np.random.default_rng(1)
    buf = random_array(rng, 3 * 4096 + 64, np.uint8)
    for offset in range(1, 33):
        a = buf[offset:offset + 4096]
        b = buf[4096 + 2 * offset:8192 + 2 * offset]
        out = np.empty(4096 + 7, np.uint8)[7:]
        kedi_edge.xor_into(a, b, out)
        np.testing.assert_array_equal(out, a ^ b)
    img = random_array(rng, (3, 17, 29), np.uint16)
    key = random_array(rng, img.shape, np.uint16)
    np.testing.assert_array_equal(kedi_edge.xor_into(img, key, np.empty_like(img)), img ^ key)


def test_aliasing(simd_level):
    rng = np.random.default_rng(2)
    a = random_array(rng, 1000, np.uint32)
    b = random_array(rng, 1000, np.uint32)
    want = a ^ b
    x = a.copy()
    kedi_edge.xor_into(x, b, x)  # out is a
    np.testing.assert_array_equal(x, want)
    y = b.copy()
    kedi_edge.xor_into(a, y, y)  # out is b
    np.testing.assert_array_equal(y, want)
    z = a.copy()
    kedi_edge.xor_into(z, z, z)
    assert not z.any()
    # out overlaps a, shifted either way: the result is as if a had been copied first
    for shift in (1, 3, 8, 17):
        for out_first in (True, False):
            buf = random_array(rng, 1000 + shift, np.uint32)
            src = buf[shift:] if out_first else buf[:1000]
            out = buf[:1000] if out_first else buf[shift:]
            want = src.copy() ^ b
            kedi_edge.xor_into(src, b, out)
            np.testing.assert_array_equal(out, want, err_msg=f"shift={shift} out_first={out_first}")


def test_reference_twin_agrees():
    rng = np.random.default_rng(3)
    a = random_array(rng, (40, 41), np.int16)
    b = random_array(rng, (40, 41), np.int16)
    np.testing.assert_array_equal(
        kedi_edge.xor_into(a, b, np.empty_like(a)), reference.xor_into(a, b, np.empty_like(a))
    )
