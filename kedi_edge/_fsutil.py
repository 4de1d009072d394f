"""Crash-safe file writes: a temporary file in the target's folder, fsync, then rename."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import secrets
from collections.abc import Sequence
from pathlib import Path

from . import _native

__all__ = ["write_atomic", "write_atomic_many"]

# os.link fails with these where the file system has no hard links (FAT, exFAT, some
# network shares): the no-replace rename is then done another way.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform can open a folder
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc_function(name: str, argtypes: list) -> object | None:
    try:
        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):  # not in this C library (not glibc / not Linux)
        return None
    fn.argtypes = argtypes
    return fn


_RENAMEAT2 = _libc_function("renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint])


def _renameat2_noreplace(src: str, dst: str) -> bool:
    """Linux's renameat2(RENAME_NOREPLACE): True if done, False where unsupported.
    Raises FileExistsError if ``dst`` exists."""
    fn = _RENAMEAT2
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), dst)


def _place_new(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` exists (FileExistsError naming ``path``):
    renameat2(RENAME_NOREPLACE), else os.link then unlink (both atomic, both refuse an
    existing name), else a check, then a rename."""
    if _renameat2_noreplace(tmp, str(path)):
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
    except OSError as e:
        if e.errno not in _NO_LINKS:
            raise
        # Neither primitive exists here: check, then rename (a racing writer of the same
        # name between the two could be replaced).
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.rename(tmp, path)
        return
    try:
        os.unlink(tmp)
    except OSError:
        pass  # the file is in place; a temporary name that cannot be removed stays


def _syncfs_reports_errors() -> bool:
    """Whether this is Linux 5.8 or later, whose syncfs() reports write-back errors."""
    if platform.system() != "Linux":
        return False
    try:
        major, minor = (int(v) for v in platform.release().split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 8)


_SYNCFS = _libc_function("syncfs", [ctypes.c_int]) if _syncfs_reports_errors() else None


_NATIVE_WRITE = getattr(_native, "_write_files", None)  # POSIX builds


def _sync_files(fds: list[int]) -> list[OSError | None]:
    """Makes the data of the open files ``fds`` durable: one syncfs() per file system
    holding several of them, where it reports errors (it also flushes other dirty data
    of that file system); else (a lone file, or if syncfs fails) an fsync of each."""
    errors: list[OSError | None] = [None] * len(fds)
    by_dev: dict[int, list[int]] = {}
    for i, fd in enumerate(fds):
        by_dev.setdefault(os.fstat(fd).st_dev, []).append(i)
    for members in by_dev.values():
        if len(members) > 1 and _SYNCFS is not None and _SYNCFS(fds[members[0]]) == 0:
            continue
        for i in members:  # no syncfs, or it failed: find out which file
            try:
                os.fsync(fds[i])
            except OSError as e:
                errors[i] = e
    return errors


def write_atomic_many(entries: Sequence[tuple[str | os.PathLike, bytes | bytearray | memoryview, bool]], *,
                      mode: int = 0o666) -> list[BaseException | None]:
    """:func:`write_atomic` for several files (path, data, overwrite) with one flush to
    disk for all of them: every temporary file is written, their data is made durable
    together (see _sync_files), then each is renamed into place and each folder synced
    once. Returns, for each entry, None or the exception that stopped it; a failed
    entry leaves nothing behind, and never stops the others. A folder whose sync fails
    fails its files, which are in place. Runs in native code, with the GIL released,
    where the extension has it (POSIX); :func:`_write_many_py` is its twin."""
    if _NATIVE_WRITE is None:
        return _write_many_py(entries, mode=mode)
    paths = [Path(path) for path, _, _ in entries]
    tmps = [_temp_name(p) for p in paths]
    named = [(os.fsencode(t), os.fsencode(p), os.fsencode(p.parent), memoryview(data).cast("B"), bool(over))
             for t, p, (_, data, over) in zip(tmps, paths, entries, strict=True)]
    results = _NATIVE_WRITE(named, mode, 1 if _SYNCFS is not None else 0)
    errors: list[BaseException | None] = []
    for (err, where), tmp, path in zip(results, tmps, paths, strict=True):
        name = (None, tmp, str(path), str(path.parent))[where]  # where the native call failed
        errors.append(None if err == 0 else OSError(err, os.strerror(err), name))
    return errors


def _temp_name(path: Path) -> str:
    return str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")


def _write_many_py(entries: Sequence[tuple[str | os.PathLike, bytes | bytearray | memoryview, bool]], *,
                   mode: int = 0o666) -> list[BaseException | None]:
    """write_atomic_many in Python: the reference for the native group write, and the
    write where the extension has none."""
    n = len(entries)
    errors: list[BaseException | None] = [None] * n
    tmps: list[str | None] = [None] * n
    fds: list[int | None] = [None] * n
    try:
        for i, (path, data, _) in enumerate(entries):
            path = Path(path)
            try:
                tmps[i] = _temp_name(path)
                fds[i] = os.open(tmps[i], os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                                 mode)
                view = memoryview(data).cast("B")
                while view:
                    written = os.write(fds[i], view)
                    if written == 0:  # no progress: never loop on it
                        raise OSError(errno.EIO, os.strerror(errno.EIO))
                    view = view[written:]
            except OSError as e:
                errors[i] = e
        live = [i for i in range(n) if errors[i] is None]
        for i, e in zip(live, _sync_files([fds[i] for i in live]), strict=True):
            errors[i] = e
        for i in range(n):
            if fds[i] is not None:
                fd, fds[i] = fds[i], None
                try:
                    os.close(fd)
                except OSError as e:
                    errors[i] = errors[i] or e
        placed: dict[Path, list[int]] = {}
        for i, (path, _, overwrite) in enumerate(entries):
            if errors[i] is not None:
                continue
            try:
                if overwrite:
                    os.replace(tmps[i], path)
                else:
                    _place_new(tmps[i], Path(path))
                tmps[i] = None  # in place (or linked and unlinked)
                placed.setdefault(Path(path).parent, []).append(i)
            except OSError as e:
                errors[i] = e
        for folder, members in placed.items():
            try:
                _fsync_dir(folder)
            except OSError as e:
                for i in members:
                    errors[i] = e
    finally:
        for i in range(n):
            if fds[i] is not None:
                os.close(fds[i])
            if tmps[i] is not None:
                try:
                    os.unlink(tmps[i])
                except FileNotFoundError:
                    pass
    return errors


def write_atomic(path: str | os.PathLike, data: bytes | bytearray | memoryview, *,
                 overwrite: bool = True, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The file gets ``mode`` less the process's umask, as ``open()`` would give it. With
    ``overwrite=False`` an existing ``path`` raises FileExistsError and is left alone.
    """
    (error,) = write_atomic_many([(path, data, overwrite)], mode=mode)
    if error is not None:
        raise error
