"""Crash safety of the batch: SIGKILL at random moments, a full disk, a vanished input.

After every kill each output is absent or complete and decrypts, no input has changed,
and a plain re-run finishes the batch.
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from kedi_edge import KeyStore, batch, cli
from kedi_edge.dicom import decrypt_dicom

NAMES = ("CT_small.dcm", "MR_small.dcm", "rtdose.dcm")
N_FILES = 48


def store_args(root: Path) -> list[str]:
    return ["--keys", str(root / "store"), "--kek-file", str(root / "kek.key")]


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(N_FILES):
        shutil.copy(pydicom.data.get_testdata_file(NAMES[i % 3], download=False), src / f"{i:02d}.dcm")
    assert cli.main(["keys", "init", *store_args(tmp_path)]) == 0
    return src


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def outputs_are_whole(out: Path, store) -> int:
    """Every visible output decrypts (temporary files are hidden: .name.*.tmp)."""
    n = 0
    for p in sorted(out.glob("*.dcm")) if out.exists() else []:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decrypt_dicom(pydicom.dcmread(p), store)
        n += 1
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in out.iterdir()
               if p.suffix != ".dcm") if out.exists() else True
    return n


def test_sigkill_at_random_moments_loses_nothing(tmp_path, folder):
    before = snapshot(folder)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "kedi_edge.cli", "encrypt", str(folder), "-r", "-o", str(out), "--no-progress",
           "--device", "cpu", *store_args(tmp_path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # One whole run to make the series keys, then one to time a run like the killed ones
    # on this machine (with the keys made, as they will be).
    subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=True)
    shutil.rmtree(out)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=True)
    whole = time.perf_counter() - t0
    shutil.rmtree(out)
    rng = np.random.default_rng(11)
    # Start-up is most of a run (about 0.6 of 1.0 s here), so the kills are drawn from a
    # window of the run around `centre` (a fraction of `whole`). The window moves later
    # after a kill that found nothing written and earlier after one that found the batch
    # done, so that kills keep landing mid-batch on a machine whose speed changes.
    centre, partial, kills = 0.775, 0, 0
    while kills < 20 or (partial < 3 and kills < 40):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(rng.uniform(centre - 0.325, centre + 0.325)) * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        store = KeyStore.open(tmp_path / "store", kek_file=tmp_path / "kek.key")
        done = outputs_are_whole(out, store)
        assert snapshot(folder) == before
        if done == 0:
            centre = min(centre + 0.1, 2.0)
        elif done == N_FILES:  # finished before the kill: start the next batch afresh
            centre = max(centre - 0.1, 0.4)
            shutil.rmtree(out)
        else:
            partial += 1
    assert partial >= 3, (partial, kills)  # kills landed in the middle of batches
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    store = KeyStore.open(tmp_path / "store", kek_file=tmp_path / "kek.key")
    assert outputs_are_whole(out, store) == N_FILES
    assert cli.main(["verify", str(out), "-r", "--no-progress", *store_args(tmp_path)]) == 0
    assert snapshot(folder) == before


def children(pid: int) -> list[int]:
    """Live processes whose parent is pid (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_stop_with_a_killed_batch(tmp_path, folder):
    """The batch of 48 files runs in worker processes; when its process is killed they
    die with it at once instead of finishing the files they hold."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "kedi_edge.cli", "encrypt", str(folder), "-r", "-o", str(out), "--no-progress",
           "--device", "cpu", "--jobs", "2", *store_args(tmp_path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=True)  # the series keys
    shutil.rmtree(out)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = children(proc.pid)
        time.sleep(0.001)
    assert len(workers) == 2
    while time.monotonic() < deadline and len(list(out.glob("*.dcm")) if out.exists() else []) < 2:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.02)
    first = sorted(p.name for p in out.iterdir())
    time.sleep(1.0)
    assert sorted(p.name for p in out.iterdir()) == first  # nothing written after the kill
    assert 2 <= sum(n.endswith(".dcm") for n in first) < N_FILES
    assert not any(alive(w) for w in workers)
    store = KeyStore.open(tmp_path / "store", kek_file=tmp_path / "kek.key")
    outputs_are_whole(out, store)


def test_disk_full_is_an_output_error_and_leaves_nothing(tmp_path, folder, monkeypatch):
    def full(entries, **kw):
        return [OSError(errno.ENOSPC, "No space left on device") for _ in entries]

    monkeypatch.setattr(batch, "write_atomic_many", full)
    out = tmp_path / "out"
    before = snapshot(folder)
    assert cli.main(["encrypt", str(folder), "-r", "-o", str(out), "--no-progress", *store_args(tmp_path)]) == cli.EXIT_OUTPUT
    assert not list(out.glob("*.dcm")) if out.exists() else True
    assert snapshot(folder) == before


def test_unwritable_destination_is_an_output_error(tmp_path, folder):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = ["encrypt", str(folder / "00.dcm"), "-o", str(blocker / "out"), "--no-progress", *store_args(tmp_path)]
    assert cli.main(args) == cli.EXIT_OUTPUT
    assert blocker.read_text() == "not a folder"


def test_vanished_input_is_an_input_error_and_the_rest_completes(tmp_path, folder, monkeypatch):
    read = batch._read_dicom
    victim = folder / "05.dcm"

    def vanishing(path):
        if Path(str(path)) == victim:
            victim.unlink()  # deleted between listing and reading
        return read(path)

    monkeypatch.setattr(batch, "_read_dicom", vanishing)
    out = tmp_path / "out"
    assert cli.main(["encrypt", str(folder), "-r", "-o", str(out), "--no-progress", *store_args(tmp_path)]) == cli.EXIT_INPUT
    assert len(list(out.glob("*.dcm"))) == N_FILES - 1 and not (out / "05.dcm").exists()
