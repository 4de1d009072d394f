"""benchmarks/bench_contention.py runs, kills its busy processes, and its figures add up.

No timing is asserted: the figures come from a shared machine. Only their arithmetic is.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_contention.py"


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120)


def test_rows_percentiles_and_ratios(tmp_path):
    out = tmp_path / "figures.json"
    r = run_script("--shape", "512x512", "--threads", "2", "--busy", "1", "--calls", "20",
                   "--rounds", "2", "--json", str(out))
    assert r.returncode == 0, r.stderr
    figures = json.loads(out.read_text())
    rows = {(row["busy"], row["threads"]): row for row in figures["rows"]}
    assert set(rows) == {(0, 1), (0, 2), (1, 1), (1, 2)}
    for (busy, threads), row in rows.items():
        assert row["calls"] == 40  # 20 calls in each of 2 rounds
        steps = [row["p50_us"], row["p90_us"], row["p99_us"], row["p99.9_us"], row["max_us"]]
        assert 0 < steps[0] and steps == sorted(steps)
        assert 0 < row["mean_us"] <= row["max_us"]
        one = rows[(busy, 1)]
        assert row["mean_vs_1"] == pytest.approx(one["mean_us"] / row["mean_us"])
        assert row["p99.9_vs_1"] == pytest.approx(one["p99.9_us"] / row["p99.9_us"])
        assert f"{busy:>4} {threads:>7} {row['p50_us']:8.1f}" in r.stdout
    # One busy process per busy round, each killed before the script ended.
    assert len(figures["busy_pids"]) == 2
    if os.path.isdir("/proc/self"):
        for pid in figures["busy_pids"]:
            assert not os.path.exists(f"/proc/{pid}")


@pytest.mark.parametrize("args", [["--shape", "512"], ["--shape", "0x4"], ["--busy", "0"],
                                  ["--threads", "two"], ["--threads", "0"], ["--calls", "0"]])
def test_bad_arguments_exit_2(args):
    r = run_script(*args, "--calls", "1") if "--calls" not in args else run_script(*args)
    assert r.returncode == 2
    assert "error:" in r.stderr
