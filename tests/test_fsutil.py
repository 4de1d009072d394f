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
