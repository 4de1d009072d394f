"""kedi_edge._fsutil.write_atomic: whole files or none, modes, and no silent replacement."""

import errno
import os

import pytest

from kedi_edge import _fsutil
from kedi_edge._fsutil import write_atomic


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "a", b"x")
        write_atomic(tmp_path / "b", b"x", mode=0o600, overwrite=False)
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600 & ~umask


def test_no_overwrite_keeps_the_existing_file(tmp_path):
    write_atomic(tmp_path / "a", b"old")
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "a", b"new", overwrite=False)
    assert (tmp_path / "a").read_bytes() == b"old" and not leftovers(tmp_path)
    write_atomic(tmp_path / "a", b"new")
    assert (tmp_path / "a").read_bytes() == b"new"


@pytest.mark.parametrize("renameat2", [True, False])
def test_file_systems_without_hard_links(tmp_path, monkeypatch, renameat2):
    """FAT and some network shares refuse os.link: the no-replace rename is done with
    renameat2, or, where even that is missing, by checking first."""
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(_fsutil.os, "link", no_link)
    if not renameat2:
        monkeypatch.setattr(_fsutil, "_renameat2_noreplace", lambda src, dst: False)
    write_atomic(tmp_path / "a", b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "a", b"second", overwrite=False)
    assert (tmp_path / "a").read_bytes() == b"first" and not leftovers(tmp_path)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_fsutil.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(tmp_path / "a", b"data", overwrite=False)
    assert not list(tmp_path.iterdir())


def test_many_files_with_one_flush(tmp_path):
    (tmp_path / "old").write_bytes(b"old")
    entries = [(tmp_path / "a", b"A" * 100_000, False), (tmp_path / "missing" / "b", b"B", False),
               (tmp_path / "old", b"new?", False), (tmp_path / "c", memoryview(b"C" * 7), True)]
    errors = _fsutil.write_atomic_many(entries)
    assert errors[0] is None and errors[3] is None
    assert isinstance(errors[1], FileNotFoundError) and isinstance(errors[2], FileExistsError)
    assert (tmp_path / "a").read_bytes() == b"A" * 100_000 and (tmp_path / "c").read_bytes() == b"C" * 7
    assert (tmp_path / "old").read_bytes() == b"old" and not leftovers(tmp_path)
    assert _fsutil.write_atomic_many([(tmp_path / "old", b"new", True)]) == [None]
    assert (tmp_path / "old").read_bytes() == b"new"


@pytest.mark.parametrize("syncfs", ["fails", "missing"])
def test_many_files_fall_back_to_fsync_and_report_the_failing_one(tmp_path, monkeypatch, syncfs):
    """Without a working syncfs each file is fsynced, so a write-back error is the
    file's own: that file fails and leaves nothing, the others are written."""
    monkeypatch.setattr(_fsutil, "_SYNCFS", (lambda fd: -1) if syncfs == "fails" else None)
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(_fsutil.os, "fsync", fsync)
    errors = _fsutil.write_atomic_many([(tmp_path / n, n.encode(), False) for n in "xyz"])
    assert [type(e) for e in errors] == [type(None), OSError, type(None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x", "z"]
