"""numpy twins of the zigzag kernels in :mod:`kedi_edge.zigzag`.

The scan orders are built here from their definitions with numpy alone (no loop shared
with the native code): boustrophedon rows, boustrophedon columns, and anti-diagonals
sorted by ``(s, r)`` or ``(s, -r)``.
"""

from __future__ import annotations

import numpy as np

from .._cache import ArrayCache
from .._layout import (
    channels_first,
    channels_last,
    check_channel_axis,
    check_key,
    check_out,
    check_pattern,
    check_planes,
    check_size,
)

__all__ = ["unzigzag", "xor_unzigzag", "zigzag", "zigzag_order", "zigzag_xor"]

_orders = ArrayCache(256 * 2**20)


def _make_order(h: int, w: int, pattern: str) -> np.ndarray:
    index = np.arange(h * w, dtype=np.int64).reshape(h, w)
    if pattern == "horizontal":
        rows = index.copy()
        rows[1::2] = rows[1::2, ::-1]
        return rows.ravel()
    if pattern == "vertical":
        cols = index.T.copy()  # row c of cols is column c of the image
        cols[1::2] = cols[1::2, ::-1]
        return cols.ravel()
    r, c = np.divmod(index.ravel(), w)
    s = r + c
    along = np.where(s % 2 == 1, r, -r)  # odd s: row increasing; even s: decreasing
    return np.lexsort((along, s)).astype(np.int64)


def zigzag_order(h: int, w: int, pattern: str) -> np.ndarray:
    """Scan order of an ``h`` x ``w`` plane: a read-only int64 array of flat indices."""
    h, w = check_size(h, w, "zigzag_order")
    pattern = check_pattern(pattern, "zigzag_order")
    return _orders.get((h, w, pattern), lambda: _make_order(h, w, pattern))


def _apply(
    fn: str,
    src_name: str,
    src: object,
    key: object | None,
    pattern: str,
    out: object | None,
    channel_axis: int | None,
    inverse: bool,
) -> np.ndarray:
    src = check_planes(src, fn, src_name)
    check_pattern(pattern, fn)
    if key is not None:
        key = check_key(src, src_name, key, fn)
    out = check_out(src, src_name, out, fn)
    check_channel_axis(src, channel_axis, fn)
    if channel_axis is not None:
        src = channels_first(src)
        key = None if key is None else channels_first(key)
    h, w = src.shape[-2:]
    order = zigzag_order(h, w, pattern)
    flat = src.reshape(-1, h * w)
    if not inverse:
        result = flat[:, order]
        if key is not None:
            result ^= key.reshape(-1, h * w)
    else:
        scanned = flat if key is None else flat ^ key.reshape(-1, h * w)
        result = np.empty_like(flat)
        result[:, order] = scanned
    result = result.reshape(src.shape)
    if channel_axis is not None:
        return channels_last(result, out)
    if out is None:
        return result
    np.copyto(out, result)
    return out


def zigzag(image, pattern, out=None, *, channel_axis=None):
    """Reorder each plane of ``image`` into the scan of ``pattern``."""
    return _apply("zigzag", "image", image, None, pattern, out, channel_axis, inverse=False)


def unzigzag(image, pattern, out=None, *, channel_axis=None):
    """Inverse of :func:`zigzag`."""
    return _apply("unzigzag", "image", image, None, pattern, out, channel_axis, inverse=True)


def zigzag_xor(image, key, pattern, out=None, *, channel_axis=None):
    """``zigzag(image, pattern) ^ key``, two passes (fancy index, then XOR)."""
    return _apply("zigzag_xor", "image", image, key, pattern, out, channel_axis, inverse=False)


def xor_unzigzag(cipher, key, pattern, out=None, *, channel_axis=None):
    """``unzigzag(cipher ^ key, pattern)``."""
    return _apply("xor_unzigzag", "cipher", cipher, key, pattern, out, channel_axis, inverse=True)
