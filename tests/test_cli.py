"""The kedi-edge command: output and documented exit codes."""

import json
import os
import subprocess
import sys

import pytest

from kedi_edge.keygen import _cuda_driver_present


def kedi(*args, code_prefix=""):
    code = f"{code_prefix}import sys; from kedi_edge.cli import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_info():
    r = kedi("info", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["execution_provider"] == "CPUExecutionProvider" and len(info["model_sha256"]) == 64


def test_usage_error_is_2():
    assert kedi().returncode == 2
    assert kedi("train", "--steps", "many").returncode == 2


def test_missing_model_is_4(tmp_path):
    r = kedi("info", "--device", "cpu", "--model", str(tmp_path / "gone.onnx"))
    assert r.returncode == 4
    assert "gone.onnx" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(_cuda_driver_present(), reason="this machine has a CUDA driver")
def test_cuda_without_gpu_is_5():
    r = kedi("info", "--device", "cuda")
    assert r.returncode == 5 and "cuda" in r.stderr


def test_bad_training_folder_is_3_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    r = kedi("train", "--data", str(tmp_path / "nowhere"), "--out", str(out), "--no-progress")
    assert r.returncode == 3 and "nowhere" in r.stderr
    assert not out.exists()


def test_train_without_torch_is_6(tmp_path):
    r = kedi("train", "--out", str(tmp_path / "run"), code_prefix="import sys; sys.modules['torch'] = None; ")
    assert r.returncode == 6 and "kedi_edge[train]" in r.stderr


def test_train_smoke(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    r = kedi("train", "--out", str(out), "--steps", "2", "--batch", "2", "--crop", "16", "--threads", "1",
             "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (out / "zzgan.pt").is_file() and "trained 2 steps" in r.stdout
