"""Short runs of the atheris fuzz targets (fuzz/run.py); the long runs are in fuzz/README.md."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

RUN = Path(__file__).resolve().parents[1] / "fuzz" / "run.py"


@pytest.mark.parametrize("target, runs", [("container", 3000), ("kernels", 3000), ("dicom_decrypt", 400),
                                          ("dicom_encrypt", 150)])
def test_short_fuzz_run(target, runs, tmp_path):
    r = subprocess.run([sys.executable, str(RUN), target, "--runs", str(runs), "--corpus", str(tmp_path / "c")],
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Done {runs} runs" in r.stderr


def test_targets_reject_only_with_documented_errors():
    sys.path.insert(0, str(RUN.parent))
    import targets

    for name, fn in targets.TARGETS.items():
        for seed in targets.seeds(name):
            fn(seed)
            fn(seed[: len(seed) // 2])  # truncated
            fn(bytes(b ^ 0x55 for b in seed[:300]) + seed[300:])  # scrambled header
