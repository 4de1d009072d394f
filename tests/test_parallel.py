"""Kernels split over threads: same bytes as the numpy reference, safe under concurrency and fork."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import simd_path

import kedi_edge
from kedi_edge import _native, reference

# Each at least 256 KiB, the size from which the kernels use threads; odd sides leave
# edges that no whole tile covers. The next two have no whole tile at all: their
# diagonal shares are cut from triangles and edge rows alone. The last three have rows a
# multiple of 128 bytes long (and runs that are not), so the vertical and diagonal walks
# take several strips at once, and shares end inside a group.
SHAPES = [((512, 520), np.uint8), ((300, 437), np.uint16), ((257, 263), np.uint32),
          ((517, 263), np.int16), ((4, 200, 200), np.uint16), ((9, 8, 2000), np.uint16),
          ((3, 50001), np.uint16), ((30011, 5), np.uint16),
          ((520, 896), np.uint8), ((701, 192), np.uint16), ((261, 288), np.uint32)]


@pytest.fixture
def threads():
    before = _native.simd_info()["threads"]
    yield _native._set_threads
    _native._set_threads(before)


def _pair(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    return (rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True),
            rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True))


@pytest.mark.parametrize("n_threads", [1, 2, 3, 7])
@pytest.mark.parametrize("shape, dtype", SHAPES)
def test_threaded_kernels_match_reference(threads, simd_level, n_threads, shape, dtype):
    threads(n_threads)
    image, key = _pair(shape, dtype, 1)
    with simd_path(simd_level):
        for pattern in kedi_edge.PATTERNS:
            cipher = kedi_edge.zigzag_xor(image, key, pattern)
            np.testing.assert_array_equal(cipher, reference.zigzag_xor(image, key, pattern))
            np.testing.assert_array_equal(kedi_edge.xor_unzigzag(cipher, key, pattern), image)
            scan = kedi_edge.zigzag(image, pattern)
            np.testing.assert_array_equal(scan, reference.zigzag(image, pattern))
            np.testing.assert_array_equal(kedi_edge.unzigzag(scan, pattern),
                                          reference.unzigzag(scan, pattern))
        out = np.empty_like(image)
        kedi_edge.xor_into(image, key, out)
        np.testing.assert_array_equal(out, image ^ key)


def _at_offset(array: np.ndarray, offset: int) -> np.ndarray:
    """A copy of array whose data starts `offset` bytes past a 64-byte boundary."""
    raw = np.empty(array.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    view = raw[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
    view[...] = array
    return view


# Where an image starts within its cache lines decides how the vertical scans stage it
# (16-byte aligned images: by line) or group its strips (others). Rows a multiple of
# 1 KiB long are staged, rows a multiple of 128 bytes grouped; where the scan starts
# decides which rows the staged tiles start on. On one thread, small planes; on three,
# planes of at least 256 KiB (a smaller call stays on one thread), so each plane is cut
# into shares, at fewer offsets to keep the time down.
_ALIGNED_ONE = [((72, 1024), np.uint8), ((40, 512), np.uint16), ((301, 512), np.uint16),
                ((24, 256), np.uint32), ((130, 512), np.uint32), ((40, 192), np.uint16)]
_ALIGNED_THREE = [((264, 1024), np.uint8), ((264, 512), np.uint16), ((301, 512), np.uint16),
                  ((264, 256), np.uint32), ((130, 512), np.uint32), ((701, 192), np.uint16)]


@pytest.mark.parametrize("n_threads, shape, dtype", [(1, *case) for case in _ALIGNED_ONE]
                         + [(3, *case) for case in _ALIGNED_THREE])
def test_kernels_at_every_alignment(threads, simd_level, n_threads, shape, dtype):
    threads(n_threads)
    image, key = _pair(shape, dtype, 4)
    offsets = (0, 16, 32, 48, 4, 6 * np.dtype(dtype).itemsize)
    if n_threads > 1:
        assert image.nbytes >= 1 << 18  # kParallelMinBytes: smaller calls use one thread
        offsets = (0, 16, 48, 6 * np.dtype(dtype).itemsize)
    with simd_path(simd_level):
        for offset in offsets:
            src, k = _at_offset(image, offset), _at_offset(key, (offset * 3) % 64)
            out = _at_offset(np.zeros_like(image), (offset + 16) % 64)
            back = _at_offset(np.zeros_like(image), offset)
            for pattern in kedi_edge.PATTERNS:
                out[...] = 0  # nothing left over from the last pattern
                kedi_edge.zigzag_xor(src, k, pattern, out=out)
                np.testing.assert_array_equal(out, reference.zigzag_xor(image, key, pattern))
                back[...] = 0
                kedi_edge.xor_unzigzag(out, k, pattern, out=back)
                np.testing.assert_array_equal(back, image)
                # The keyless kernels, from and into the same buffers
                scan = reference.zigzag(image, pattern)
                out[...] = 0
                kedi_edge.zigzag(src, pattern, out=out)
                np.testing.assert_array_equal(out, scan)
                back[...] = 0
                kedi_edge.unzigzag(out, pattern, out=back)
                np.testing.assert_array_equal(back, image)


# Scan runs a multiple of 4 KiB apart (all in one L1 set): with rows a multiple of 2 KiB
# long the vertical scans stage the image lines and buffer the runs' pieces; with rows
# of 1 KiB only the inverse does, the forward scan walks strips; rows of 2080 bytes are
# not staged, and the inverse prefetches ahead (a plane of 4 MiB or more). Offset 4
# leaves the image off the 16-byte grid, so nothing is staged.
_ONE_SET_RUNS = [((2048, 1024), np.uint16), ((1024, 512), np.uint32), ((4096, 2048), np.uint8),
                 ((1024, 1024), np.uint32), ((2048, 512), np.uint16), ((2048, 1040), np.int16)]


def _check_scans(image, key, pattern, offsets):
    """Keyed and keyless scans, both ways, with the image (read by the forward, written by
    the inverse), key and output at these offsets past a 64-byte boundary."""
    want = reference.zigzag_xor(image, key, pattern)
    plain = reference.zigzag(image, pattern)
    for offset in offsets:
        src, k = _at_offset(image, offset), _at_offset(key, (offset * 3) % 64)
        out = _at_offset(np.zeros_like(image), (offset + 16) % 64)
        back = _at_offset(np.zeros_like(image), offset)
        kedi_edge.zigzag_xor(src, k, pattern, out=out)
        np.testing.assert_array_equal(out, want)
        kedi_edge.xor_unzigzag(out, k, pattern, out=back)
        np.testing.assert_array_equal(back, image)
        out[...] = 0
        back[...] = 0
        kedi_edge.zigzag(src, pattern, out=out)
        np.testing.assert_array_equal(out, plain)
        kedi_edge.unzigzag(out, pattern, out=back)
        np.testing.assert_array_equal(back, image)


@pytest.mark.parametrize("n_threads", [1, 3])
@pytest.mark.parametrize("shape, dtype", _ONE_SET_RUNS)
def test_vertical_scan_with_runs_in_one_set(threads, simd_level, n_threads, shape, dtype):
    threads(n_threads)
    _check_scans(*_pair(shape, dtype, 5), "vertical", (0, 16, 48, 4))


# Planes of 4 MiB or more, whose inverse diagonal scans (keyed, and keyless with the
# cipher alone) prefetch the next strips' runs ahead (diagonal_tiles() with Ahead):
# exactly 4 MiB, odd sides, long rows and tall columns, every pixel size.
_AHEAD_PLANES = [((2048, 1024), np.uint16), ((1031, 2053), np.uint16), ((4099, 1025), np.uint8),
                 ((1025, 1030), np.uint32), ((521, 4111), np.int16)]


@pytest.mark.parametrize("n_threads", [1, 3])
@pytest.mark.parametrize("shape, dtype", _AHEAD_PLANES)
def test_diagonal_scan_of_large_planes(threads, simd_level, n_threads, shape, dtype):
    threads(n_threads)
    _check_scans(*_pair(shape, dtype, 6), "diagonal", (0, 4))


# The inverse diagonal scan gives each thread's shares a group of bands of rows (tile
# rows: 16 for uint16 with AVX2, 8 with SSE2; 32 or 16 for uint8; 8 or 4 for uint32)
# when there are two bands a thread or more, and cuts by anti-diagonals otherwise.
# Planes of at least 256 KiB (so they are cut into shares) at and around those counts on
# two and three threads, with rows no whole band covers.
_ROW_GROUP_PLANES = [((69, 2000), np.uint16), ((63, 2100), np.uint16), ((101, 1400), np.uint16),
                     ((133, 2000), np.uint8), ((127, 2100), np.uint8), ((37, 1800), np.uint32),
                     ((49, 1400), np.int32)]


@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("shape, dtype", _ROW_GROUP_PLANES)
def test_inverse_diagonal_by_row_groups(threads, simd_level, n_threads, shape, dtype):
    threads(n_threads)
    _check_scans(*_pair(shape, dtype, 7), "diagonal", (0, 16))


# The scalar path walks the vertical scans in bands of rows, as many as fit in L1 at the
# row pitch (8 at a 4 KiB pitch, up to 128); its vertical inverse cuts shares by rows,
# and its inverse diagonal gives each thread a group of rows (bands of one row) when
# there are two rows a thread or more. Heights that leave a part band at pitches of
# 64 KiB, 4, 2 and 1 KiB, 256 bytes and 2800 bytes, and fewer rows than shares; planes
# of at least 256 KiB, on one thread and on three.
_BANDED_PLANES = [((5, 16384), np.uint32), ((77, 2048), np.uint16), ((139, 1024), np.uint16),
                  ((261, 512), np.uint16), ((1100, 256), np.uint8), ((129, 700), np.uint32)]


@pytest.mark.parametrize("n_threads", [1, 3])
@pytest.mark.parametrize("shape, dtype", _BANDED_PLANES)
def test_scans_by_bands_of_rows(threads, simd_level, n_threads, shape, dtype):
    threads(n_threads)
    image, key = _pair(shape, dtype, 8)
    assert image.nbytes >= 1 << 18
    for pattern in ("vertical", "diagonal"):
        _check_scans(image, key, pattern, (0, 4))


def test_odd_byte_counts_split_by_line(threads):
    threads(3)
    a, b = _pair((262144 + 77,), np.uint8, 2)
    out = np.empty_like(a)
    kedi_edge.xor_into(a, b, out)
    np.testing.assert_array_equal(out, a ^ b)


def test_thread_count_changes_between_calls(threads):
    # The pool keeps the workers of its largest job; a smaller job must leave the
    # workers beyond its thread count out, and a larger one give each its own range.
    image, key = _pair((700, 700), np.uint16, 4)
    expected = {p: reference.zigzag_xor(image, key, p) for p in kedi_edge.PATTERNS}
    for n_threads in [6, 2, 5, 1, 3, 6, 4]:
        threads(n_threads)
        for pattern in kedi_edge.PATTERNS:
            for _ in range(3):
                np.testing.assert_array_equal(kedi_edge.zigzag_xor(image, key, pattern), expected[pattern])


@pytest.fixture
def series_bytes():
    yield _native._set_series_bytes
    _native._set_series_bytes(0)


# A stack whose arrays exceed the series size (16 MiB by default) is read ahead a plane at
# a time, each plane whole on one thread (module.cpp), for planes of at most 1 MiB with
# 1- or 2-byte pixels. A size of 1 byte sends every such stack that way; the uint32 stack
# must take the usual path and agree all the same.
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("shape, dtype", [((5, 64, 72), np.uint8), ((3, 300, 437), np.uint16),
                                          ((4, 512, 512), np.int16), ((2, 3, 70, 90), np.uint16),
                                          ((3, 1024, 512), np.uint8), ((3, 80, 60), np.uint32)])
def test_series_of_planes_match_reference(threads, series_bytes, simd_level, n_threads, shape, dtype):
    threads(n_threads)
    series_bytes(1)
    image, key = _pair(shape, dtype, 5)
    with simd_path(simd_level):
        for pattern in kedi_edge.PATTERNS:
            expected = reference.zigzag_xor(image, key, pattern)
            cipher = kedi_edge.zigzag_xor(image, key, pattern)
            np.testing.assert_array_equal(cipher, expected)
            back = np.zeros_like(image)
            kedi_edge.xor_unzigzag(cipher, key, pattern, out=back)
            np.testing.assert_array_equal(back, image)
            np.testing.assert_array_equal(kedi_edge.zigzag(image, pattern), reference.zigzag(image, pattern))
            in_place = image.copy()  # out is the image: the kernel reads a copy
            kedi_edge.zigzag_xor(in_place, key, pattern, out=in_place)
            np.testing.assert_array_equal(in_place, expected)


def test_series_at_the_default_size(threads):
    # 12 planes of 512x512 uint16: 18 MiB in image, key and output, over the 16 MiB default.
    threads(2)
    image, key = _pair((12, 512, 512), np.uint16, 6)
    for pattern in kedi_edge.PATTERNS:
        cipher = kedi_edge.zigzag_xor(image, key, pattern)
        np.testing.assert_array_equal(cipher, reference.zigzag_xor(image, key, pattern))
        np.testing.assert_array_equal(kedi_edge.xor_unzigzag(cipher, key, pattern), image)


def test_set_series_bytes_rejects_negative():
    with pytest.raises(ValueError, match="must not be negative"):
        _native._set_series_bytes(-1)


def test_concurrent_python_threads(threads):
    threads(2)
    image, key = _pair((600, 600), np.uint16, 3)
    expected = {p: reference.zigzag_xor(image, key, p) for p in kedi_edge.PATTERNS}
    errors = []

    def work(pattern):
        try:
            for _ in range(20):
                np.testing.assert_array_equal(kedi_edge.zigzag_xor(image, key, pattern), expected[pattern])
        except AssertionError as e:  # reported in the main thread
            errors.append(e)

    workers = [threading.Thread(target=work, args=(p,)) for p in kedi_edge.PATTERNS * 2]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_threaded_kernels_work_after_fork():
    code = (
        "import os, numpy as np, kedi_edge\n"
        "from kedi_edge import _native, reference\n"
        "_native._set_threads(2)\n"
        "x = np.arange(512 * 512, dtype=np.uint16).reshape(512, 512); k = x[::-1].copy()\n"
        "kedi_edge.zigzag_xor(x, k, 'vertical')\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = np.array_equal(kedi_edge.zigzag_xor(x, k, 'diagonal'), reference.zigzag_xor(x, k, 'diagonal'))\n"
        "    os._exit(0 if ok else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "assert os.waitstatus_to_exitcode(status) == 0\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_thread_count_from_environment():
    code = "import kedi_edge; print(kedi_edge.runtime_info()['threads'])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "KEDI_NUM_THREADS": "3"})
    assert r.stdout.strip() == "3", r.stderr
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "KEDI_NUM_THREADS": "many"})
    assert r.returncode != 0 and "KEDI_NUM_THREADS" in r.stderr and "many" in r.stderr


def test_set_threads_rejects_zero():
    with pytest.raises(ValueError, match="from 1 to 256, got 0"):
        _native._set_threads(0)
