"""Native zigzag kernels against their numpy twins, on every SIMD path."""

import numpy as np
import pytest
from conftest import SIMD_LEVELS, random_array, simd_path
from hypothesis import given
from hypothesis import strategies as st

import kedi_edge
from kedi_edge import reference

PATTERNS = kedi_edge.PATTERNS
DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32]
# Edge cases of every tile size: single rows and columns, odd and prime sizes, sizes
# one below and above multiples of 8, 16 and 32, and wide and tall planes.
SHAPES = [
    (1, 1), (1, 2), (2, 1), (1, 37), (37, 1), (2, 2), (3, 5), (5, 3), (7, 9), (8, 8),
    (15, 17), (16, 16), (17, 33), (31, 64), (32, 32), (33, 31), (47, 48), (64, 31),
    (100, 37), (129, 130), (3, 300), (300, 3), (127, 200),
    (530, 70), (270, 300),  # more than one 256-row block
]

# Written out by hand from the definitions in the issue, for a 3 x 5 plane.
ORDERS_3x5 = {
    "horizontal": [0, 1, 2, 3, 4, 9, 8, 7, 6, 5, 10, 11, 12, 13, 14],
    "vertical": [0, 5, 10, 11, 6, 1, 2, 7, 12, 13, 8, 3, 4, 9, 14],
    "diagonal": [0, 1, 5, 10, 6, 2, 3, 7, 11, 12, 8, 4, 9, 13, 14],
}


@pytest.mark.parametrize("impl", [kedi_edge, reference], ids=["native", "reference"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_order_3x5_by_hand(impl, pattern):
    assert impl.zigzag_order(3, 5, pattern).tolist() == ORDERS_3x5[pattern]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_order_native_matches_reference(pattern):
    shapes = [(h, w) for h in range(1, 14) for w in range(1, 14)] + SHAPES + [(513, 257)]
    for h, w in shapes:
        native = kedi_edge.zigzag_order(h, w, pattern)
        ref = reference.zigzag_order(h, w, pattern)
        assert native.dtype == np.int64 and native.shape == (h * w,)
        np.testing.assert_array_equal(native, ref, err_msg=f"{h}x{w}")
        assert np.array_equal(np.sort(native), np.arange(h * w)), "not a permutation"


def test_order_is_cached_and_read_only():
    a = kedi_edge.zigzag_order(40, 30, "diagonal")
    assert kedi_edge.zigzag_order(40, 30, "diagonal") is a
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 1


def test_single_row_and_column_scans():
    # A 1 x N plane is scanned left to right by every pattern, an N x 1 plane top to bottom.
    for pattern in PATTERNS:
        assert kedi_edge.zigzag_order(1, 6, pattern).tolist() == list(range(6))
        assert kedi_edge.zigzag_order(6, 1, pattern).tolist() == list(range(6))


def _check_kernels(rng, shape, dtype, pattern):
    image = random_array(rng, shape, dtype)
    key = random_array(rng, shape, dtype)
    for name, args in [
        ("zigzag", (image, pattern)),
        ("unzigzag", (image, pattern)),
        ("zigzag_xor", (image, key, pattern)),
        ("xor_unzigzag", (image, key, pattern)),
    ]:
        got = getattr(kedi_edge, name)(*args)
        want = getattr(reference, name)(*args)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=f"{name} {shape} {np.dtype(dtype)} {pattern}")
    cipher = kedi_edge.zigzag_xor(image, key, pattern)
    np.testing.assert_array_equal(kedi_edge.xor_unzigzag(cipher, key, pattern), image)
    np.testing.assert_array_equal(kedi_edge.unzigzag(kedi_edge.zigzag(image, pattern), pattern), image)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_kernels_match_reference(simd_level, pattern, dtype):
    rng = np.random.default_rng([PATTERNS.index(pattern), np.dtype(dtype).num])
    for shape in SHAPES:
        _check_kernels(rng, shape, dtype, pattern)


@given(
    h=st.integers(1, 90),
    w=st.integers(1, 90),
    planes=st.integers(1, 3),
    dtype=st.sampled_from(DTYPES),
    pattern=st.sampled_from(PATTERNS),
    level=st.sampled_from(SIMD_LEVELS),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernels_match_reference_property(h, w, planes, dtype, pattern, level, seed):
    with simd_path(level):
        _check_kernels(np.random.default_rng(seed), (planes, h, w), dtype, pattern)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_round_trip_large_bit_exact(simd_level, pattern):
    rng = np.random.default_rng(7)
    image = random_array(rng, (1031, 1024), np.uint16)
    key = random_array(rng, image.shape, np.uint16)
    cipher = kedi_edge.zigzag_xor(image, key, pattern)
    assert not np.array_equal(cipher, image ^ key)  # the pixels really moved
    np.testing.assert_array_equal(kedi_edge.xor_unzigzag(cipher, key, pattern), image)
    np.testing.assert_array_equal(cipher.ravel(), image.ravel()[kedi_edge.zigzag_order(1031, 1024, pattern)] ^ key.ravel())


@pytest.mark.parametrize("pattern", PATTERNS)
def test_frames_are_planes(pattern):
    rng = np.random.default_rng(3)
    frames = random_array(rng, (4, 21, 34), np.int16)
    key = random_array(rng, frames.shape, np.int16)
    cipher = kedi_edge.zigzag_xor(frames, key, pattern)
    for f in range(4):
        np.testing.assert_array_equal(cipher[f], kedi_edge.zigzag_xor(frames[f], key[f], pattern))
    np.testing.assert_array_equal(cipher, reference.zigzag_xor(frames, key, pattern))


@pytest.mark.parametrize("shape", [(21, 34, 3), (2, 9, 11, 4)])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_channel_last_moves_whole_pixels(shape, pattern):
    rng = np.random.default_rng(4)
    rgb = random_array(rng, shape, np.uint8)
    key = random_array(rng, shape, np.uint8)
    h, w = shape[-3:-1]
    order = kedi_edge.zigzag_order(h, w, pattern)
    for name, args in [("zigzag", (rgb, pattern)), ("zigzag_xor", (rgb, key, pattern))]:
        got = getattr(kedi_edge, name)(*args, channel_axis=-1)
        np.testing.assert_array_equal(got, getattr(reference, name)(*args, channel_axis=-1))
    moved = kedi_edge.zigzag(rgb, pattern, channel_axis=-1)
    pixels = rgb.reshape(*shape[:-3], h * w, shape[-1])
    np.testing.assert_array_equal(moved.reshape(pixels.shape), pixels[..., order, :])
    cipher = kedi_edge.zigzag_xor(rgb, key, pattern, channel_axis=-1)
    out = np.empty_like(rgb)
    assert kedi_edge.xor_unzigzag(cipher, key, pattern, out, channel_axis=-1) is out
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_out_argument_and_aliasing(simd_level, pattern):
    rng = np.random.default_rng(5)
    image = random_array(rng, (37, 70), np.uint16)
    key = random_array(rng, image.shape, np.uint16)
    want = reference.zigzag_xor(image, key, pattern)

    out = np.zeros_like(image)
    assert kedi_edge.zigzag_xor(image, key, pattern, out) is out
    np.testing.assert_array_equal(out, want)

    in_place = image.copy()  # out is the image itself
    kedi_edge.zigzag_xor(in_place, key, pattern, in_place)
    np.testing.assert_array_equal(in_place, want)
    kedi_edge.xor_unzigzag(in_place, key, pattern, in_place)
    np.testing.assert_array_equal(in_place, image)

    key_out = key.copy()  # out is the key
    kedi_edge.xor_unzigzag(want, key_out, pattern, key_out)
    np.testing.assert_array_equal(key_out, image)

    buf = np.concatenate([image.ravel(), image.ravel()])  # out overlaps image, shifted
    src, dst = buf[:image.size].reshape(image.shape), buf[5:5 + image.size].reshape(image.shape)
    kedi_edge.zigzag(src, pattern, dst)
    np.testing.assert_array_equal(dst, reference.zigzag(image, pattern))


def test_patterns_differ():
    image = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    scans = [kedi_edge.zigzag(image, p) for p in PATTERNS]
    assert not np.array_equal(scans[0], scans[1])
    assert not np.array_equal(scans[1], scans[2])
    assert not np.array_equal(scans[0], scans[2])


@pytest.mark.parametrize("name", ["zigzag", "unzigzag", "zigzag_xor", "xor_unzigzag"])
@pytest.mark.parametrize(
    "pattern, exc",
    [(b"horizontal", TypeError), (None, TypeError), (3, TypeError), ("Horizontal", ValueError),
     ("horizontal\0", ValueError)],
)
def test_pattern_errors_match_reference(name, pattern, exc):
    """The native kernels take the pattern as any object and reject a non-str (bytes
    included) with the twin's TypeError, an unknown str with its ValueError."""
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    args = (image, pattern) if "xor" not in name else (image, image, pattern)
    with pytest.raises(exc) as native:
        getattr(kedi_edge, name)(*args)
    with pytest.raises(exc) as ref:
        getattr(reference, name)(*args)
    assert str(native.value) == str(ref.value)
    assert str(native.value).startswith(f"{name}: ")
