"""Crash-safe file writes: a temporary file in the target's folder, fsync, then rename."""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
from pathlib import Path

__all__ = ["write_atomic"]

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


def write_atomic(path: str | os.PathLike, data: bytes | bytearray | memoryview, *,
                 overwrite: bool = True, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The file gets ``mode`` less the process's umask, as ``open()`` would give it. With
    ``overwrite=False`` an existing ``path`` raises FileExistsError and is left alone.
    """
    path = Path(path)
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _place_new(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
