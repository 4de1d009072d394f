"""The kernels' thread pool and the native module's resource bounds."""

import os
import subprocess
import sys

import numpy as np
import pytest

import kedi_edge
from kedi_edge import _native


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


@pytest.mark.parametrize("n", [0, 257, 2**62])
def test_thread_count_is_bounded(n):
    before = kedi_edge.runtime_info()["threads"]
    with pytest.raises(ValueError, match="from 1 to 256"):
        _native._set_threads(n)
    assert kedi_edge.runtime_info()["threads"] == before


@pytest.mark.parametrize("value", ["257", "99999999999999999999", "2x"])
def test_bad_thread_setting_is_ignored_with_a_warning(value):
    r = run_python("import warnings; warnings.simplefilter('error')\n"
                   "try:\n import kedi_edge\nexcept RuntimeWarning as w: print('warned', w)",
                   KEDI_NUM_THREADS=value)
    assert "warned" in r.stdout and "from 1 to 256" in r.stdout, r.stdout + r.stderr


def test_raising_the_thread_count_grows_one_pool():
    """Each increase adds the missing workers to the pool: 17 threads allowed means 16
    workers, however the count got there (it used to leak a whole pool per step)."""
    code = """
import os, numpy as np, kedi_edge
from kedi_edge import _native
a = np.zeros((1024, 1024), np.uint8)
base = len(os.listdir('/proc/self/task'))
for n in range(2, 18):
    _native._set_threads(n)
    kedi_edge.zigzag(a, 'vertical')
print(len(os.listdir('/proc/self/task')) - base)
"""
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs /proc")
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == 16


def test_single_row_and_column_planes_need_no_diagonal_table():
    """Every pattern scans a 1 x N or N x 1 plane in order; the diagonal path used to
    build an 8-byte-per-diagonal table, eight times a uint8 plane."""
    code = """
import resource, numpy as np, kedi_edge
a = np.arange(1 << 24, dtype=np.uint8)
out = np.empty_like(a)
kedi_edge.zigzag(a.reshape(1, -1), 'horizontal', out=out.reshape(1, -1))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
words = a.view(np.uint64)  # comparisons in 8-byte words: small temporaries
for shape in ((1, a.size), (a.size, 1)):
    kedi_edge.zigzag(a.reshape(shape), 'diagonal', out=out.reshape(shape))
    assert np.array_equal(out.view(np.uint64), words)
    assert not kedi_edge.xor_unzigzag(a.reshape(shape), a.reshape(shape), 'diagonal',
                                      out=out.reshape(shape)).any()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / a.size)
"""
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) < 1.0  # peak memory grew by less than one plane


def test_ripplet_box_origins_are_bounded():
    from kedi_edge.ripplet import _plan

    plan = _plan((16, 16), 4, 1.0, 2.0, 8)
    spec = np.zeros((16, 9), np.complex128)
    grids = [np.zeros(plan.coeff_shape(i), np.complex128) for i in range(len(plan.boxes))]
    far = plan.boxes.copy()
    far[1, 0] = 2**63 - 1  # y0 + row would overflow int64
    with pytest.raises(ValueError, match="box 1 has an origin"):
        _native.ripplet_wrap(spec, 16, far, plan.offsets, plan.windows, grids)
