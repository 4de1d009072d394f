"""kedi_edge._fsutil.write_atomic(_many): whole files or none, modes, and no silent
replacement, for both the native group write (GIL released) and its Python twin."""

import errno
import functools
import os

import numpy as np
import pytest

from kedi_edge import _fsutil, _native
from kedi_edge._fsutil import write_atomic

HAS_NATIVE = hasattr(_native, "_write_files")


class Faults:
    """Puts one implementation in place, and simulates file systems and disks that fail."""

    def __init__(self, kind, monkeypatch):
        self.kind, self.mp = kind, monkeypatch
        self.native = {}
        if kind == "python":
            monkeypatch.setattr(_fsutil, "_NATIVE_WRITE", None)
        self._apply()

    def _apply(self):
        if self.kind == "native":
            self.mp.setattr(_fsutil, "_NATIVE_WRITE", functools.partial(self._native_call, **self.native))

    @staticmethod
    def _native_call(named, mode, syncfs, **faults):
        if faults.pop("syncfs_fails", False) and syncfs:
            syncfs = 2
        return _native._write_files(named, mode, syncfs, **faults)

    def placement(self, how):
        """'renameat2', 'link' (no renameat2), or 'neither' (check, then rename)."""
        if self.kind == "native":
            self.native.update(renameat2=how == "renameat2", links=how != "neither")
            return self._apply()
        if how != "renameat2":
            self.mp.setattr(_fsutil, "_renameat2_noreplace", lambda src, dst: False)
        if how == "neither":
            def no_link(src, dst):
                raise OSError(errno.EPERM, "Operation not permitted")

            self.mp.setattr(_fsutil.os, "link", no_link)

    def fsync_fails(self, nth, err=errno.EIO):
        """The fsync of the nth file (0-based) reports err (native: EIO)."""
        if self.kind == "native":
            self.native["fail_fsync"] = nth
            return self._apply()
        real, calls = os.fsync, []

        def fsync(fd):
            calls.append(fd)
            if len(calls) == nth + 1:
                raise OSError(err, os.strerror(err))
            real(fd)

        self.mp.setattr(_fsutil.os, "fsync", fsync)

    def syncfs(self, state):
        """'fails' or 'missing'."""
        if state == "missing":
            self.mp.setattr(_fsutil, "_SYNCFS", None)
        elif self.kind == "native":
            self.native["syncfs_fails"] = True
            self._apply()
        else:
            self.mp.setattr(_fsutil, "_SYNCFS", lambda fd: -1)


@pytest.fixture(params=["native", "python"])
def impl(request, monkeypatch):
    if request.param == "native" and not HAS_NATIVE:
        pytest.skip("the extension has no native group write on this platform")
    return Faults(request.param, monkeypatch)


def leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_mode_follows_the_umask(tmp_path, umask, impl):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "a", b"x")
        write_atomic(tmp_path / "b", b"x", mode=0o600, overwrite=False)
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600 & ~umask


def test_no_overwrite_keeps_the_existing_file(tmp_path, impl):
    write_atomic(tmp_path / "a", b"old")
    with pytest.raises(FileExistsError) as info:
        write_atomic(tmp_path / "a", b"new", overwrite=False)
    assert info.value.filename == str(tmp_path / "a")
    assert (tmp_path / "a").read_bytes() == b"old" and not leftovers(tmp_path)
    write_atomic(tmp_path / "a", b"new")
    assert (tmp_path / "a").read_bytes() == b"new"


@pytest.mark.parametrize("how", ["renameat2", "link", "neither"])
def test_every_way_of_placing_a_new_file_refuses_an_existing_one(tmp_path, impl, how):
    """renameat2(RENAME_NOREPLACE) first; os.link where it is missing; on file systems
    with neither (FAT, some network shares), a check, then a rename."""
    impl.placement(how)
    write_atomic(tmp_path / "a", b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "a", b"second", overwrite=False)
    assert (tmp_path / "a").read_bytes() == b"first" and not leftovers(tmp_path)


def test_a_failed_write_leaves_nothing(tmp_path, impl):
    impl.fsync_fails(0, errno.ENOSPC)
    with pytest.raises(OSError) as info:
        write_atomic(tmp_path / "a", b"data", overwrite=False)
    assert info.value.errno in (errno.ENOSPC, errno.EIO)
    assert not list(tmp_path.iterdir())


def test_many_files_with_one_flush(tmp_path, impl):
    (tmp_path / "old").write_bytes(b"old")
    entries = [(tmp_path / "a", b"A" * 100_000, False), (tmp_path / "missing" / "b", b"B", False),
               (tmp_path / "old", b"new?", False), (tmp_path / "c", memoryview(b"C" * 7), True),
               (tmp_path / "d", np.arange(6, dtype=np.uint16), False), (tmp_path / "e", b"", False)]
    errors = _fsutil.write_atomic_many(entries)
    assert errors[0] is None and errors[3] is None and errors[4] is None and errors[5] is None
    assert isinstance(errors[1], FileNotFoundError) and isinstance(errors[2], FileExistsError)
    assert errors[1].filename.startswith(str(tmp_path / "missing" / ".b."))  # the temporary file
    assert errors[2].filename == str(tmp_path / "old")
    assert (tmp_path / "a").read_bytes() == b"A" * 100_000 and (tmp_path / "c").read_bytes() == b"C" * 7
    assert (tmp_path / "d").read_bytes() == np.arange(6, dtype=np.uint16).tobytes()
    assert (tmp_path / "e").read_bytes() == b""
    assert (tmp_path / "old").read_bytes() == b"old" and not leftovers(tmp_path)
    assert _fsutil.write_atomic_many([(tmp_path / "old", b"new", True)]) == [None]
    assert (tmp_path / "old").read_bytes() == b"new"


@pytest.mark.parametrize("syncfs", ["fails", "missing"])
def test_many_files_fall_back_to_fsync_and_report_the_failing_one(tmp_path, impl, syncfs):
    """Without a working syncfs each file is fsynced, so a write-back error is the
    file's own: that file fails and leaves nothing, the others are written."""
    impl.syncfs(syncfs)
    impl.fsync_fails(1)
    errors = _fsutil.write_atomic_many([(tmp_path / n, n.encode(), False) for n in "xyz"])
    assert [type(e) for e in errors] == [type(None), OSError, type(None)]
    assert errors[1].errno == errno.EIO
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x", "z"]


def test_a_name_with_a_null_byte_is_refused(tmp_path, impl):
    with pytest.raises(ValueError, match="null byte"):
        write_atomic(tmp_path / "a\x00b", b"x")
    assert not list(tmp_path.iterdir())


def test_one_name_twice_in_a_group(tmp_path, impl):
    """The first of two entries with one name wins without overwrite; with it, the last."""
    errors = _fsutil.write_atomic_many([(tmp_path / "a", b"1", False), (tmp_path / "a", b"2", False)])
    assert errors[0] is None and isinstance(errors[1], FileExistsError)
    assert (tmp_path / "a").read_bytes() == b"1"
    assert _fsutil.write_atomic_many([(tmp_path / "b", b"1", True), (tmp_path / "b", b"2", True)]) == [None, None]
    assert (tmp_path / "b").read_bytes() == b"2" and not leftovers(tmp_path)


@pytest.mark.skipif(not HAS_NATIVE, reason="no native group write on this platform")
def test_native_and_python_write_the_same_files(tmp_path, monkeypatch):
    """The twins on one random batch: the same files with the same bytes and modes, and
    the same failures (type and errno) for the same entries."""
    rng = np.random.default_rng(7)
    outcomes = []
    for kind in ("native", "python"):
        root = tmp_path / kind
        (root / "sub").mkdir(parents=True)
        for name in ("x0", "sub/x1", "x2"):
            (root / name).write_bytes(b"existing")
        with monkeypatch.context() as mp:
            if kind == "python":
                mp.setattr(_fsutil, "_NATIVE_WRITE", None)
            entries = []
            for i in range(40):
                folder = ("", "sub/", "gone/")[int(rng.integers(0, 3))] if i else ""
                name = f"{folder}x{int(rng.integers(0, 12))}"
                data = rng.integers(0, 256, int(rng.integers(0, 300_000)), dtype=np.uint8).tobytes()
                entries.append((root / name, data, bool(rng.integers(0, 2))))
            errors = _fsutil.write_atomic_many(entries, mode=0o640)
        files = {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o777)
                 for p in sorted(root.rglob("*")) if p.is_file()}
        outcomes.append(([None if e is None else (type(e), e.errno) for e in errors], files))
        rng = np.random.default_rng(7)  # the same batch for the twin
        assert not leftovers(root)
    assert outcomes[0] == outcomes[1]
    assert any(e is None for e in outcomes[0][0]) and any(e is not None for e in outcomes[0][0])


@pytest.mark.skipif(not HAS_NATIVE, reason="no native group write on this platform")
def test_native_write_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="contiguous"):
        _native._write_files([(b"t", b"p", b".", memoryview(b"abcd")[::2], False)], 0o666)
    with pytest.raises(ValueError, match="entries"):
        _native._write_files([(b"t", b"p", b".")], 0o666)
    with pytest.raises(ValueError, match="syncfs"):
        _native._write_files([], 0o666, 3)
    assert not list(tmp_path.iterdir())
