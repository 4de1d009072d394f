"""kedi_edge.batch: worker processes, keys made by the parent, and the default job count."""

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from kedi_edge import KeyGenerator, KeyStore, batch
from kedi_edge.dicom import decrypt_dicom
from kedi_edge.exceptions import InvalidInputError, ModelError

NAMES = ("CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm")


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        shutil.copy(pydicom.data.get_testdata_file(NAMES[i % 3], download=False), src / f"{i:02d}.dcm")
    return src


@pytest.fixture
def store(tmp_path):
    return KeyStore.init(tmp_path / "keys", kek_file=tmp_path / "kek.key")


def inputs(folder):
    return [(f, Path(f.name)) for f in sorted(folder.iterdir())]


class FailingGenerator:
    """A generator that fails with ``error`` (a ModelError unless set)."""

    sha256 = None
    calls = 0
    error = ModelError("model file is corrupt (test)")

    def generate(self, *args, **kwargs):
        FailingGenerator.calls += 1
        raise self.error


class RefusingGenerator(FailingGenerator):
    """A generator that refuses the images it is given (a failure of those files only)."""

    error = InvalidInputError("image: refused (test)")


def test_default_jobs():
    assert batch.default_jobs(1) == 1
    assert batch.default_jobs(15) == 1
    assert 1 <= batch.default_jobs(16) <= 4


def test_workers_leave_missing_keys_to_the_parent(tmp_path, folder, store):
    """A fresh store: every file first comes back for its key; the parent makes one key
    per series from the series' first file, then the workers encrypt them all."""
    gen = KeyGenerator(device="cpu")
    report = batch.run("encrypt", inputs(folder), store, outdir=tmp_path / "enc", progress=False,
                       opts={"generator": gen}, jobs=2)
    assert not report.failed and len(report.done) == 12
    assert len(store.list()) == 3
    for f in sorted(folder.iterdir()):
        enc = pydicom.dcmread(tmp_path / "enc" / f.name)
        dec = decrypt_dicom(enc, store)
        assert np.array_equal(dec.pixel_array, pydicom.dcmread(f).pixel_array)
    # The same files again into another folder: the keys exist, nothing comes back.
    FailingGenerator.calls = 0
    report = batch.run("encrypt", inputs(folder), store, outdir=tmp_path / "enc2", progress=False,
                       opts={"generator": FailingGenerator()}, jobs=2)
    assert not report.failed and len(report.done) == 12 and FailingGenerator.calls == 0


def test_a_key_the_parent_cannot_make_fails_its_files_only(tmp_path, folder, store):
    FailingGenerator.calls = 0
    report = batch.run("encrypt", inputs(folder), store, outdir=tmp_path / "enc", progress=False,
                       opts={"generator": RefusingGenerator()}, jobs=2)
    assert len(report.failed) == 12 and not report.done
    assert FailingGenerator.calls == 3  # once per series, not once per file
    assert all("refused (test)" in f.message and f.path.name in f.message for f in report.failed)
    assert not list((tmp_path / "enc").iterdir())  # nothing written, not even a temporary file


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_broken_model_stops_the_batch(tmp_path, folder, store, jobs):
    """Every file would fail the same way: the batch stops at the first, and no input is
    reported (or quarantined) as bad."""
    FailingGenerator.calls = 0
    with pytest.raises(ModelError, match="corrupt"):
        batch.run("encrypt", inputs(folder), store, outdir=tmp_path / "enc", progress=False,
                  quarantine=tmp_path / "q", opts={"generator": FailingGenerator()}, jobs=jobs)
    assert FailingGenerator.calls == 1
    assert not list((tmp_path / "enc").iterdir()) and not list((tmp_path / "q").iterdir())
    assert len(list(folder.iterdir())) == 12


def test_workers_never_run_the_parents_destructors(tmp_path, folder):
    """Garbage of the parent's (here ONNX Runtime sessions in reference cycles) must not
    be collected in a forked worker: a session's destructor waits for threads the child
    does not have, and the batch hung. Run in a child process with a time limit."""
    script = f"""
import gc, os
from pathlib import Path
from kedi_edge import KeyGenerator, KeyStore, batch
gc.disable()  # the garbage below stays uncollected here ...
os.register_at_fork(after_in_child=lambda: (gc.set_threshold(50), gc.enable()))  # ... and children collect
for _ in range(4):
    gen = KeyGenerator(device="cpu", threads=2)
    gen.generate((64, 64))  # its thread pool now exists, its threads wait for work
    cycle = {{}}
    cycle["self"], cycle["session"] = cycle, gen.session
    del cycle, gen
store = KeyStore.init(Path({str(tmp_path / "k2")!r}), kek_file=Path({str(tmp_path / "kek2.key")!r}))
files = sorted(Path({str(folder)!r}).iterdir()) * 4
inputs = [(f, Path(f"{{i:02d}}_" + f.name)) for i, f in enumerate(files)]
report = batch.run("encrypt", inputs, store, outdir=Path({str(tmp_path / "out")!r}), progress=False, jobs=2)
print("done", len(report.done), "failed", len(report.failed))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "done 48 failed 0" in r.stdout


def test_files_without_a_series_get_their_own_key_from_the_parent(tmp_path, folder, store):
    """policy "series" falls back to a key per image when a file has no Series Instance
    UID; only the parent has the GAN, so those files are encrypted there."""
    for f in sorted(folder.iterdir())[:3]:
        ds = pydicom.dcmread(f)
        del ds.SeriesInstanceUID
        ds.save_as(f)
    gen = KeyGenerator(device="cpu")
    report = batch.run("encrypt", inputs(folder), store, outdir=tmp_path / "enc", progress=False,
                       opts={"generator": gen}, jobs=2)
    assert not report.failed and len(report.done) == 12
    assert len(store.list()) == 3 + 3  # one per series of the other 9 files, one per loose file
    for f in sorted(folder.iterdir()):
        dec = decrypt_dicom(pydicom.dcmread(tmp_path / "enc" / f.name), store)
        assert np.array_equal(dec.pixel_array, pydicom.dcmread(f).pixel_array)


def test_array_outputs_named_alike_and_resumed(tmp_path, store):
    """a.kedi and a.npy.kedi both decrypt to a.npy: neither is written. An existing
    a.npy.kedi counts as done only if it seals this a.npy."""
    import kedi_edge

    key = store.new_key(KeyGenerator(device="cpu"), (16, 16))
    src = tmp_path / "in"
    src.mkdir()
    a = np.arange(256, dtype=np.uint16).reshape(16, 16)
    (src / "a.kedi").write_bytes(kedi_edge.seal(a, key))
    (src / "a.npy.kedi").write_bytes(kedi_edge.seal(a + 1, key))
    items = [(p, Path(p.name)) for p in sorted(src.iterdir())]
    report = batch.run("decrypt", items, store, outdir=tmp_path / "dec", progress=False, jobs=1)
    assert len(report.failed) == 2 and all(f.category == batch.OUTPUT for f in report.failed)
    assert not (tmp_path / "dec" / "a.npy").exists()

    np.save(src / "x.npy", a)
    opts = {"key_for_array": lambda array: key}
    run = lambda: batch.run("encrypt", [(src / "x.npy", Path("x.npy"))], store, outdir=tmp_path / "enc",
                            progress=False, opts=opts, jobs=1)
    assert len(run().done) == 1
    assert len(run().skipped) == 1
    np.save(src / "x.npy", a + 1)  # another array under the same name
    report = run()
    assert [f.category for f in report.failed] == [batch.OUTPUT] and "not this input's output" in report.failed[0].message
    assert np.array_equal(kedi_edge.open((tmp_path / "enc" / "x.npy.kedi").read_bytes(), store), a)


def test_wrong_input_kind_is_an_input_error_even_with_an_output_there(tmp_path, store):
    """A container to encrypt is refused as input, not blamed on whatever already has
    the output's name."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "a.kedi").write_bytes(b"KEDI")
    np.save(out / "a.npy", np.zeros(3))
    report = batch.run("encrypt", [(src / "a.kedi", Path("a.kedi"))], store, outdir=out, progress=False, jobs=1)
    assert [(f.category, "already a sealed container" in f.message) for f in report.failed] == [(batch.INPUT, True)]


def test_outputs_are_written_in_groups_and_at_once_when_the_batch_ends(tmp_path, monkeypatch):
    """Files submitted quickly share flushes (groups of at least group_min but the
    last); closing writes what is queued without waiting for a group to fill."""
    groups = []
    real = batch.write_atomic_many

    def recording(entries):
        groups.append(len(entries))
        return real(entries)

    monkeypatch.setattr(batch, "write_atomic_many", recording)
    monkeypatch.setattr(batch._GroupWriter, "GROUP_WAIT", 600.0)  # only a full group or close starts one
    writer = batch._GroupWriter(overwrite=False, group_min=4)
    futures = [writer.submit(tmp_path / "out" / f"{i:02d}", bytes([i]) * 100) for i in range(10)]
    closer = threading.Thread(target=writer.close)
    closer.start()
    closer.join(timeout=300)  # far below GROUP_WAIT: close must not wait for it
    assert not closer.is_alive()
    assert all(f.result(timeout=0) is None for f in futures)
    assert sum(groups) == 10 and all(n >= 4 for n in groups[:-1])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i:02d}" for i in range(10)]
    assert (tmp_path / "out" / "07").read_bytes() == bytes([7]) * 100


def test_a_big_output_does_not_wait_for_a_group(tmp_path, monkeypatch):
    """GROUP_BYTES of queued data starts a group however few files it is."""
    monkeypatch.setattr(batch._GroupWriter, "GROUP_WAIT", 600.0)
    monkeypatch.setattr(batch._GroupWriter, "GROUP_BYTES", 1000)
    writer = batch._GroupWriter(overwrite=False, group_min=8)
    try:
        fut = writer.submit(tmp_path / "big", b"x" * 1000)
        assert fut.result(timeout=300) is None  # written before close, though the group has one file
        assert (tmp_path / "big").read_bytes() == b"x" * 1000
    finally:
        writer.close()
