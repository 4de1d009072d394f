"""Crash-safe file writes: a temporary file in the target's folder, fsync, then rename."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import secrets
from collections.abc import Sequence
from pathlib import Path

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


def _renameat2_noreplace(src: str, dst: str) -> bool:
    """Linux's renameat2(RENAME_NOREPLACE): True if done, False where unsupported.
    Raises FileExistsError if ``dst`` exists."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc 2.28+ / not Linux
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), dst)


def _place_new(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` exists (FileExistsError)."""
    try:
        os.link(tmp, path)  # atomic, and refuses an existing name
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in _NO_LINKS:
            raise
        if not _renameat2_noreplace(tmp, str(path)):
            # Neither primitive exists here: check, then rename (a racing writer of the
            # same name between the two could be replaced).
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
            os.rename(tmp, path)
        return
    os.unlink(tmp)


def _syncfs_reports_errors() -> bool:
    """Whether this is Linux 5.8 or later, whose syncfs() reports write-back errors."""
    if platform.system() != "Linux":
        return False
    try:
        major, minor = (int(v) for v in platform.release().split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 8)


_SYNCFS = None
if _syncfs_reports_errors():
    try:
        _SYNCFS = ctypes.CDLL(None, use_errno=True).syncfs
        _SYNCFS.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        _SYNCFS = None


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
    entry leaves nothing behind, and never stops the others."""
    n = len(entries)
    errors: list[BaseException | None] = [None] * n
    tmps: list[str | None] = [None] * n
    fds: list[int | None] = [None] * n
    try:
        for i, (path, data, _) in enumerate(entries):
            path = Path(path)
            try:
                tmps[i] = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
                fds[i] = os.open(tmps[i], os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                                 mode)
                view = memoryview(data).cast("B")
                while view:
                    view = view[os.write(fds[i], view):]
            except OSError as e:
                errors[i] = e
        live = [i for i in range(n) if errors[i] is None]
        for i, e in zip(live, _sync_files([fds[i] for i in live]), strict=True):
            errors[i] = e
        for i in range(n):
            if fds[i] is not None:
                os.close(fds[i])
                fds[i] = None
        folders = set()
        for i, (path, _, overwrite) in enumerate(entries):
            if errors[i] is not None:
                continue
            try:
                if overwrite:
                    os.replace(tmps[i], path)
                else:
                    _place_new(tmps[i], Path(path))
                tmps[i] = None  # in place (or linked and unlinked)
                folders.add(Path(path).parent)
            except OSError as e:
                errors[i] = e
        for folder in folders:
            _fsync_dir(folder)
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
