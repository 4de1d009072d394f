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


# --- keys, encrypt, decrypt, verify -------------------------------------------------

import shutil
from pathlib import Path

import pydicom


def store_args(tmp_path):
    return ["--keys", str(tmp_path / "store"), "--kek-file", str(tmp_path / "kek.key")]


@pytest.fixture
def series(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name, dest in (("CT_small.dcm", "a.dcm"), ("MR_small.dcm", "sub/b.dcm"), ("rtdose.dcm", "c.dcm")):
        shutil.copy(pydicom.data.get_testdata_file(name, download=False), src / dest)
    assert kedi("keys", "init", *store_args(tmp_path)).returncode == 0
    return src


def snapshot(folder):
    return {p: p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def test_keys_new_and_list(tmp_path, series):
    r = kedi("keys", "new", "--shape", "32x48", "--count", "2", "--device", "cpu", *store_args(tmp_path))
    assert r.returncode == 0, r.stderr
    ids = r.stdout.split()
    assert len(ids) == 2
    listing = kedi("keys", "list", *store_args(tmp_path)).stdout
    assert all(i in listing for i in ids) and "32x48" in listing


def test_encrypt_decrypt_verify_folder(tmp_path, series):
    before = snapshot(series)
    r = kedi("encrypt", str(series), "-r", "-o", str(tmp_path / "enc"), "--no-progress", *store_args(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "encrypted 3" in r.stderr
    assert snapshot(series) == before  # inputs untouched
    assert (tmp_path / "enc" / "sub" / "b.dcm").is_file()
    assert kedi("verify", str(tmp_path / "enc"), "-r", "--no-progress", *store_args(tmp_path)).returncode == 0
    r = kedi("decrypt", str(tmp_path / "enc"), "-r", "-o", str(tmp_path / "dec"), "--no-progress",
             *store_args(tmp_path))
    assert r.returncode == 0, r.stderr
    for rel in ("a.dcm", "sub/b.dcm", "c.dcm"):
        orig = pydicom.dcmread(series / rel)
        back = pydicom.dcmread(tmp_path / "dec" / rel)
        assert (back.pixel_array == orig.pixel_array).all() and back.SOPInstanceUID == orig.SOPInstanceUID


def test_rerun_skips_verified_outputs_and_never_overwrites(tmp_path, series):
    args = [str(series), "-r", "-o", str(tmp_path / "enc"), "--no-progress", *store_args(tmp_path)]
    assert kedi("encrypt", *args).returncode == 0
    first = snapshot(tmp_path / "enc")
    r = kedi("encrypt", *args)
    assert r.returncode == 0 and "already done 3" in r.stderr
    assert snapshot(tmp_path / "enc") == first
    (tmp_path / "enc" / "a.dcm").write_bytes(b"junk")  # an output that does not verify
    r = kedi("encrypt", *args)
    assert r.returncode == 7 and "--overwrite" in r.stderr
    assert (tmp_path / "enc" / "a.dcm").read_bytes() == b"junk"
    assert kedi("encrypt", *args, "--overwrite").returncode == 0


def test_tampered_file_is_8_and_bad_input_is_3(tmp_path, series):
    assert kedi("encrypt", str(series / "a.dcm"), "-o", str(tmp_path / "enc"), "--no-progress",
                *store_args(tmp_path)).returncode == 0
    enc = tmp_path / "enc" / "a.dcm"
    data = bytearray(enc.read_bytes())
    pixel_data = bytes(pydicom.dcmread(enc).PixelData)
    data[data.index(pixel_data[:64]) + 1000] ^= 1  # inside PixelData
    enc.write_bytes(bytes(data))
    r = kedi("decrypt", str(enc), "-o", str(tmp_path / "dec"), "--no-progress", *store_args(tmp_path))
    assert r.returncode == 8 and "authentication failed" in r.stderr
    assert not (tmp_path / "dec" / "a.dcm").exists()
    (tmp_path / "notdicom.dcm").write_bytes(b"hello")
    r = kedi("encrypt", str(tmp_path / "notdicom.dcm"), "-o", str(tmp_path / "e2"), "--no-progress",
             *store_args(tmp_path))
    assert r.returncode == 3 and "notdicom.dcm" in r.stderr
    r = kedi("encrypt", str(tmp_path / "missing.dcm"), "-o", str(tmp_path / "e2"), *store_args(tmp_path))
    assert r.returncode == 3 and "missing.dcm" in r.stderr


def test_quarantine_moves_failed_inputs(tmp_path, series):
    (series / "bad.dcm").write_bytes(b"\x00" * 200)
    r = kedi("encrypt", str(series), "-r", "-o", str(tmp_path / "enc"), "--quarantine", str(tmp_path / "q"),
             "--no-progress", *store_args(tmp_path))
    assert r.returncode == 3 and "encrypted 3" in r.stderr
    assert (tmp_path / "q" / "bad.dcm").exists() and not (series / "bad.dcm").exists()


def test_key_store_errors_are_9(tmp_path, series):
    enc_args = [str(series / "a.dcm"), "-o", str(tmp_path / "enc"), "--no-progress"]
    r = kedi("encrypt", *enc_args, "--keys", str(tmp_path / "nostore"), "--kek-file", str(tmp_path / "kek.key"))
    assert r.returncode == 9 and "no key store" in r.stderr
    os.chmod(tmp_path / "kek.key", 0o644)
    r = kedi("encrypt", *enc_args, *store_args(tmp_path))
    assert r.returncode == 9 and "chmod 600" in r.stderr
    os.chmod(tmp_path / "kek.key", 0o600)
    assert kedi("encrypt", *enc_args, *store_args(tmp_path)).returncode == 0
    other = tmp_path / "other"
    assert kedi("keys", "init", "--keys", str(other / "store"), "--kek-file", str(other / "kek.key")).returncode == 0
    r = kedi("decrypt", str(tmp_path / "enc" / "a.dcm"), "-o", str(tmp_path / "dec"), "--no-progress",
             "--keys", str(other / "store"), "--kek-file", str(other / "kek.key"))
    assert r.returncode == 9 and "no key" in r.stderr


def test_arrays_seal_to_kedi_and_back(tmp_path, series):
    import numpy as np

    a = np.arange(40 * 30, dtype=np.uint16).reshape(40, 30)
    np.save(tmp_path / "x.npy", a)
    assert kedi("encrypt", str(tmp_path / "x.npy"), "-o", str(tmp_path / "enc"), "--no-progress",
                "--device", "cpu", *store_args(tmp_path)).returncode == 0
    assert (tmp_path / "enc" / "x.npy.kedi").is_file()
    assert kedi("decrypt", str(tmp_path / "enc" / "x.npy.kedi"), "-o", str(tmp_path / "dec"), "--no-progress",
                *store_args(tmp_path)).returncode == 0
    assert (np.load(tmp_path / "dec" / "x.npy") == a).all()


def test_passphrase_never_on_the_command_line(tmp_path):
    env_code = "import os; os.environ['KEDI_PASSPHRASE'] = 'pw'; "
    assert kedi("keys", "init", "--keys", str(tmp_path / "p"), "--passphrase", code_prefix=env_code).returncode == 0
    assert kedi("keys", "list", "--keys", str(tmp_path / "p"), "--passphrase", code_prefix=env_code).returncode == 0
    wrong = "import os; os.environ['KEDI_PASSPHRASE'] = 'nope'; "
    assert kedi("keys", "list", "--keys", str(tmp_path / "p"), "--passphrase", code_prefix=wrong).returncode == 9
    assert kedi("keys", "init", "--keys", str(tmp_path / "q"), "--passphrase", "pw").returncode == 2


def test_speckle_on_encrypt_and_despeckle_on_decrypt(tmp_path, series):
    assert kedi("encrypt", str(series / "a.dcm"), "-o", str(tmp_path / "enc"), "--speckle", "0.04",
                "--no-progress", *store_args(tmp_path)).returncode == 0
    r = kedi("decrypt", str(tmp_path / "enc" / "a.dcm"), "-o", str(tmp_path / "dec"), "--despeckle",
             "--no-progress", *store_args(tmp_path))
    assert r.returncode == 0 and "warning" in r.stderr and "despeckled" in r.stderr
    assert (tmp_path / "dec" / "a.dcm").is_file()


@pytest.fixture
def big_series(tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(10):
        name = ("CT_small.dcm", "MR_small.dcm", "rtdose.dcm")[i % 3]
        shutil.copy(pydicom.data.get_testdata_file(name, download=False), src / f"{i:02d}.dcm")
    (src / "zz_broken.dcm").write_bytes(b"\x00" * 300)
    assert kedi("keys", "init", *store_args(tmp_path)).returncode == 0
    return src


def test_worker_processes_give_the_same_results(tmp_path, big_series):
    before = snapshot(big_series)
    r = kedi("encrypt", str(big_series), "-r", "-o", str(tmp_path / "enc"), "--jobs", "2", "--no-progress",
             "--quarantine", str(tmp_path / "q"), *store_args(tmp_path))
    assert r.returncode == 3 and "encrypted 10" in r.stderr and "zz_broken.dcm" in r.stderr
    assert (tmp_path / "q" / "zz_broken.dcm").exists()
    assert {p: b for p, b in snapshot(big_series).items()} == {p: b for p, b in before.items()
                                                                 if p.name != "zz_broken.dcm"}
    listing = kedi("keys", "list", *store_args(tmp_path)).stdout
    assert listing.startswith("3 key(s)")  # one per series, made before the workers started
    r = kedi("decrypt", str(tmp_path / "enc"), "-r", "-o", str(tmp_path / "dec"), "--jobs", "2",
             "--no-progress", *store_args(tmp_path))
    assert r.returncode == 0 and "decrypted 10" in r.stderr
    for i in range(10):
        orig = pydicom.dcmread(big_series / f"{i:02d}.dcm")
        assert (pydicom.dcmread(tmp_path / "dec" / f"{i:02d}.dcm").pixel_array == orig.pixel_array).all()
    enc = tmp_path / "enc" / "03.dcm"
    data = bytearray(enc.read_bytes())
    data[data.index(bytes(pydicom.dcmread(enc).PixelData)[:64]) + 500] ^= 4
    enc.write_bytes(bytes(data))
    r = kedi("verify", str(tmp_path / "enc"), "-r", "--jobs", "2", "--no-progress", *store_args(tmp_path))
    assert r.returncode == 8 and "03.dcm" in r.stderr and "verified 9" in r.stderr


# --- outputs that must not be written, and inputs that must not stop a batch --------


def test_outputs_with_the_same_name_fail_and_resume_checks_the_input(tmp_path, series):
    """Two inputs named alike fail together (nothing written for either); an output left
    by another input is not taken for this input's."""
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(pydicom.data.get_testdata_file("MR_small.dcm", download=False), other / "a.dcm")
    out = tmp_path / "enc"
    r = kedi("encrypt", str(series), str(other), "-r", "-o", str(out), "--no-progress", *store_args(tmp_path))
    assert r.returncode == 7 and "encrypted 2" in r.stderr and "failed 2" in r.stderr, r.stderr
    assert str(series / "a.dcm") in r.stderr and str(other / "a.dcm") in r.stderr
    assert not (out / "a.dcm").exists()
    assert kedi("encrypt", str(series / "a.dcm"), "-o", str(out), "--no-progress",
                *store_args(tmp_path)).returncode == 0
    first = (out / "a.dcm").read_bytes()
    # The MR named a.dcm into the same folder: a.dcm there is the CT's, not this file's.
    r = kedi("encrypt", str(other / "a.dcm"), "-o", str(out), "--no-progress", *store_args(tmp_path))
    assert r.returncode == 7 and "not this input's output" in r.stderr, r.stderr
    assert (out / "a.dcm").read_bytes() == first
    r = kedi("encrypt", str(series / "a.dcm"), "-o", str(out), "--no-progress", *store_args(tmp_path))
    assert r.returncode == 0 and "already done 1" in r.stderr
    # Decryption: the same bytes count as done, other bytes are kept and reported.
    dec = tmp_path / "dec"
    args = [str(out / "a.dcm"), "-o", str(dec), "--no-progress", *store_args(tmp_path)]
    assert kedi("decrypt", *args).returncode == 0
    r = kedi("decrypt", *args)
    assert r.returncode == 0 and "already done 1" in r.stderr
    shutil.copy(other / "a.dcm", dec / "a.dcm")
    r = kedi("decrypt", *args)
    assert r.returncode == 7 and (dec / "a.dcm").read_bytes() == (other / "a.dcm").read_bytes()


def test_output_folder_inside_the_input_folder_and_the_input_itself(tmp_path, series):
    out = series / "enc"
    args = [str(series), "-r", "-o", str(out), "--no-progress", *store_args(tmp_path)]
    r = kedi("encrypt", *args)
    assert r.returncode == 0 and "encrypted 3" in r.stderr, r.stderr
    r = kedi("encrypt", *args)  # its own outputs are not inputs
    assert r.returncode == 0 and "already done 3" in r.stderr, r.stderr
    before = snapshot(series)
    r = kedi("decrypt", str(out / "a.dcm"), "-o", str(out), "--overwrite", "--no-progress", *store_args(tmp_path))
    assert r.returncode == 7 and "is the input itself" in r.stderr
    assert snapshot(series) == before


def test_bad_arrays_and_missing_paths_do_not_stop_the_batch(tmp_path, series):
    import numpy as np

    (series / "pickled.npy").write_bytes(b"\x93NUMPY\x01\x00" + b"{'descr': '|O'}".ljust(118) + b"\n")
    np.save(series / "floats.npy", np.zeros((8, 8), np.float32))
    np.save(series / "good.npy", np.arange(64, dtype=np.uint16).reshape(8, 8))
    r = kedi("encrypt", str(series), str(tmp_path / "typo"), "-r", "-o", str(tmp_path / "enc"), "--device", "cpu",
             "--no-progress", *store_args(tmp_path))
    assert r.returncode == 3 and "encrypted 4" in r.stderr and "failed 3" in r.stderr, r.stderr
    assert "pickled.npy" in r.stderr and "floats.npy" in r.stderr and "typo" in r.stderr
    assert "internal error" not in r.stderr
    listing = kedi("keys", "list", *store_args(tmp_path)).stdout
    assert listing.startswith("4 key(s)")  # three series and good.npy: none for the refused arrays


def test_quarantine_that_cannot_be_made_is_7_and_moves_nothing(tmp_path, series):
    (tmp_path / "q").write_bytes(b"a file")
    (series / "bad.dcm").write_bytes(b"\x00" * 200)
    r = kedi("encrypt", str(series), "-r", "-o", str(tmp_path / "enc"), "--quarantine", str(tmp_path / "q"),
             "--no-progress", *store_args(tmp_path))
    assert r.returncode == 7 and "quarantine" in r.stderr and (series / "bad.dcm").exists()


def test_bad_key_shape_is_a_usage_error(tmp_path, series):
    r = kedi("keys", "new", "--shape", "abc", *store_args(tmp_path))
    assert r.returncode == 2 and "HxW" in r.stderr


@pytest.mark.skipif(_cuda_driver_present(), reason="this machine has a CUDA driver")
def test_provider_error_stops_the_batch_and_quarantines_nothing(tmp_path, series):
    before = snapshot(series)
    r = kedi("encrypt", str(series), "-r", "-o", str(tmp_path / "enc"), "--device", "cuda", "--quarantine",
             str(tmp_path / "q"), "--no-progress", *store_args(tmp_path))
    assert r.returncode == 5 and "cuda" in r.stderr, r.stderr
    assert snapshot(series) == before and not list((tmp_path / "q").iterdir())


def test_decoder_errors_are_one_line(tmp_path, series):
    from pydicom.encaps import encapsulate, generate_frames

    src = tmp_path / "jpeg"
    src.mkdir()
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("JPEG-lossy.dcm", download=False))
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1))))
    ds.PixelData = encapsulate([f[: len(f) // 3] + b"\xff" * 64 for f in frames])
    ds.save_as(src / "broken.dcm")
    r = kedi("encrypt", str(src / "broken.dcm"), "-o", str(tmp_path / "enc"), "--no-progress",
             *store_args(tmp_path))
    assert r.returncode == 3
    errors = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("encrypted ")]
    assert len(errors) == 1 and "broken.dcm" in errors[0], r.stderr


def test_a_batch_returns_its_most_severe_failure(tmp_path, series):
    """8 (authentication) over 7 (output) over 3 (input), whatever the order of files."""
    enc = tmp_path / "enc"
    assert kedi("encrypt", str(series / "a.dcm"), str(series / "sub" / "b.dcm"), "-o", str(enc), "--no-progress",
                *store_args(tmp_path)).returncode == 0
    data = bytearray((enc / "b.dcm").read_bytes())
    data[data.index(bytes(pydicom.dcmread(enc / "b.dcm").PixelData)[:64]) + 100] ^= 1
    (enc / "b.dcm").write_bytes(bytes(data))
    (enc / "c_junk.dcm").write_bytes(b"not dicom")
    dec = tmp_path / "dec"
    dec.mkdir()
    (dec / "a.dcm").write_bytes(b"someone else's file")  # a.dcm's output: exists, not its own
    args = ["-o", str(dec), "--no-progress", *store_args(tmp_path)]
    r = kedi("decrypt", str(enc / "c_junk.dcm"), str(enc / "a.dcm"), str(enc / "b.dcm"), *args)
    assert r.returncode == 8 and "failed 3" in r.stderr, r.stderr
    r = kedi("decrypt", str(enc / "a.dcm"), str(enc / "c_junk.dcm"), *args)
    assert r.returncode == 7 and "failed 2" in r.stderr, r.stderr
    r = kedi("decrypt", str(enc / "c_junk.dcm"), *args)
    assert r.returncode == 3
