"""benchmarks/bench_zigzag_xor.py runs, and its ratios and verdicts are what it says.

No timing is asserted: the figures come from a shared machine. Only their arithmetic is.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kedi_edge

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_zigzag_xor.py"


def load_bench():
    """The script as a module (its folder on sys.path, for its _timing import)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_zigzag_xor", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def run_bench(*args, tmp_path):
    out = tmp_path / "figures.json"
    result = subprocess.run([sys.executable, str(SCRIPT), *args, "--json", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(out.read_text())


def test_small_shapes_every_path_and_thread_count(tmp_path):
    stdout, figures = run_bench("--shapes", "64x48,2x16x8", "--threads", "1,2", "--paths", "all",
                                tmp_path=tmp_path)
    paths = kedi_edge.runtime_info()["simd_supported"]
    rows = figures["rows"]
    for shape, nbytes in (("64x48", 64 * 48 * 2), ("2x16x8", 2 * 16 * 8 * 2)):
        mine = [r for r in rows if r["shape"] == shape]
        by_key = {(r["op"], r["path"]): r for r in mine}
        assert len(by_key) == len(mine)  # no row twice
        expected = {("memcpy (np.copyto)", "-")}
        for pattern in kedi_edge.PATTERNS:
            expected |= {(f"numpy two-pass {pattern}", "-"), (f"numpy inverse {pattern}", "-")}
        for path in paths:
            for label in (path, f"{path} x2"):
                expected.add(("xor_into", label))
                for pattern in kedi_edge.PATTERNS:
                    expected |= {(f"zigzag_xor {pattern}", label), (f"xor_unzigzag {pattern}", label)}
        assert set(by_key) == expected
        memcpy = by_key[("memcpy (np.copyto)", "-")]["seconds"]
        for (op, label), r in by_key.items():
            assert r["seconds"] > 0
            assert r["gb_per_s"] == pytest.approx(nbytes / r["seconds"] / 1e9)
            assert r["vs_memcpy"] == pytest.approx(memcpy / r["seconds"])
            kind, pattern = op.split()[0], op.split()[-1]
            if kind in ("zigzag_xor", "xor_unzigzag"):
                # Forward kernels against the forward two-pass, inverse against inverse.
                numpy_op = f"numpy {'two-pass' if kind == 'zigzag_xor' else 'inverse'} {pattern}"
                assert r["vs_numpy"] == pytest.approx(by_key[(numpy_op, "-")]["seconds"] / r["seconds"])
            else:
                assert "vs_numpy" not in r
        assert shape in stdout
    assert "target 512x512" not in stdout  # the verdicts are for 512x512 only


def test_512x512_prints_one_verdict_per_pattern(tmp_path):
    stdout, figures = run_bench("--shapes", "512x512", "--threads", "1", tmp_path=tmp_path)
    verdicts = [line for line in stdout.splitlines() if line.startswith("target 512x512")]
    simd = kedi_edge.runtime_info()["simd"]
    assert [v.split()[3] for v in verdicts] == list(kedi_edge.PATTERNS)
    bench = load_bench()
    rows = figures["rows"]
    warning = bench.baseline_warning(rows)
    if warning:
        assert warning in stdout
    else:
        assert "WARNING" not in stdout
    for line in verdicts:
        pattern = line.split()[3]
        row = next(r for r in rows if r["op"] == f"zigzag_xor {pattern}" and r["path"] == simd)
        assert line == bench.target_line(row, warning is not None)
    # Each figure is the median of its rounds, memcpy's its fastest round.
    assert rows[0]["op"] == "memcpy (np.copyto)"
    assert rows[0]["seconds"] == min(rows[0]["rounds"])
    for r in rows:
        assert len(r["rounds"]) == bench.ROUNDS
        if r is not rows[0]:
            assert r["seconds"] == pytest.approx(float(np.median(r["rounds"])))
    memcpy = rows[0]["rounds"]
    assert (f"memcpy above is its fastest of {bench.ROUNDS} rounds (median "
            f"{np.median(memcpy) * 1e6:.1f}us, slowest {max(memcpy) * 1e6:.1f}us)") in stdout


def bench_rows(shape, memcpy_us, xor_us, xor_threads=1):
    """The two rows baseline_warning() looks at."""
    return [{"shape": shape, "op": "memcpy (np.copyto)", "threads": 1, "seconds": memcpy_us * 1e-6},
            {"shape": shape, "op": "xor_into", "threads": xor_threads, "seconds": xor_us * 1e-6}]


def test_baseline_warning_when_memcpy_is_nearly_as_slow_as_xor_into():
    bench = load_bench()
    warning = bench.baseline_warning(bench_rows("512x512", 22.2, 17.4))
    assert warning.startswith("WARNING 512x512: memcpy (22.2 us) took 1.28x the time of "
                              "xor_into on one thread (17.4 us)")
    assert bench.baseline_warning(bench_rows("512x512", 15.2, 17.3)) is not None  # 0.88x
    assert bench.baseline_warning(bench_rows("512x512", 11.8, 17.4)) is None  # the usual 0.68x
    limit = 17.4 * bench.BASELINE_LIMIT
    assert bench.baseline_warning(bench_rows("512x512", limit, 17.4)) is None
    assert bench.baseline_warning(bench_rows("512x512", limit * 1.001, 17.4)) is not None
    # Two threads' xor_into may well beat one thread's memcpy.
    assert bench.baseline_warning(bench_rows("512x512", 11.8, 8.6, xor_threads=2)) is None
    # Other shapes are not checked: call overhead (tiny arrays), memory-bound (huge ones).
    assert bench.baseline_warning(bench_rows("64x48", 0.9, 0.6)) is None
    assert bench.baseline_warning(bench_rows("4096x4096", 3238.0, 3174.3)) is None


@pytest.mark.parametrize(("vs_memcpy", "verdict"), [
    (0.635, "UNRELIABLE (met only against a suspect memcpy baseline)"),
    (0.499, "NOT met"),  # below the target even against a too-slow baseline
])
def test_target_line_against_a_suspect_baseline(vs_memcpy, verdict):
    line = load_bench().target_line({"op": "zigzag_xor vertical", "path": "avx2",
                                     "vs_numpy": 10.6, "vs_memcpy": vs_memcpy}, suspect=True)
    assert line.endswith(f"memcpy on one): {verdict}")


@pytest.mark.parametrize(("vs_numpy", "vs_memcpy", "shown", "verdict"), [
    (19.27, 0.49996, "19.2x numpy (>= 3.0), 0.499x memcpy", "NOT met"),  # not rounded up to 0.500
    (3.0, 0.5, "3.0x numpy (>= 3.0), 0.500x memcpy", "met"),
    (2.99, 0.9, "2.9x numpy (>= 3.0), 0.900x memcpy", "NOT met"),
])
def test_target_line_rounds_down(vs_numpy, vs_memcpy, shown, verdict):
    line = load_bench().target_line({"op": "zigzag_xor diagonal", "path": "avx2 x2",
                                     "vs_numpy": vs_numpy, "vs_memcpy": vs_memcpy})
    assert line == (f"target 512x512 zigzag_xor diagonal (avx2 x2): {shown} (>= 0.5; kernel on 2 "
                    f"thread(s), memcpy on one): {verdict}")


@pytest.mark.parametrize("shapes", ["5", "0x4", "4xfour", "1x2x3x4"])
def test_bad_shape_is_refused(shapes):
    result = subprocess.run([sys.executable, str(SCRIPT), "--shapes", shapes],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"bad shape {shapes!r}" in result.stderr
