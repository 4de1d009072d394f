"""Zigzag reordering of image planes, and the paper's fused reorder-and-XOR layer.

A pattern is a permutation ``order`` of the flat indices ``r*W + c`` of an H x W plane;
reordering computes ``reordered.ravel() = image.ravel()[order]``:

- ``horizontal``: rows top to bottom; even rows left to right, odd rows right to left.
- ``vertical``: columns left to right; even columns top to bottom, odd ones bottom to top.
- ``diagonal``: JPEG-style zigzag over the anti-diagonals ``s = r + c``; on even ``s``
  the row decreases, on odd ``s`` it increases. For 8 x 8 this is the JPEG order.

Arrays are stacks of planes over their last two axes; pass ``channel_axis=-1`` for
channel-last colour data (see :mod:`kedi_edge._layout`). Supported dtypes: uint8, int8,
uint16, int16, uint32, int32. Inputs must be C-contiguous.

Security: ``zigzag_xor`` is the Deep-KEDI cipher layer and is *not* encryption on its
own. One known plaintext gives the key (``K = C ^ zigzag(P)``) and a reused key leaks
``P1 ^ P2``; the three patterns add under two bits. Seal images with the authenticated
envelope instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import _native
from ._cache import ArrayCache
from ._layout import (
    PATTERNS,
    channels_first,
    channels_last,
    check_channel_axis,
    check_key,
    check_out,
    check_pattern,
    check_planes,
    check_size,
)

__all__ = ["PATTERNS", "unzigzag", "xor_unzigzag", "zigzag", "zigzag_order", "zigzag_xor"]

#: Scan orders are kept while their total size stays under this many bytes.
ORDER_CACHE_BYTES = 256 * 2**20
_orders = ArrayCache(ORDER_CACHE_BYTES)


def zigzag_order(h: int, w: int, pattern: str) -> np.ndarray:
    """Scan order of an ``h`` x ``w`` plane: a read-only int64 array of flat indices.

    Cached per ``(h, w, pattern)``.
    """
    h, w = check_size(h, w, "zigzag_order")
    pattern = check_pattern(pattern, "zigzag_order")
    return _orders.get((h, w, pattern), lambda: _native.zigzag_order(h, w, pattern))


def zigzag(
    image: np.ndarray, pattern: str, out: np.ndarray | None = None, *, channel_axis: int | None = None
) -> np.ndarray:
    """Reorder each plane of ``image`` into the scan of ``pattern``."""
    if channel_axis is None:
        return _native.zigzag(image, pattern, out)
    return _per_channel(_native.zigzag, "zigzag", "image", image, None, pattern, out, channel_axis)


def unzigzag(
    image: np.ndarray, pattern: str, out: np.ndarray | None = None, *, channel_axis: int | None = None
) -> np.ndarray:
    """Inverse of :func:`zigzag`: put scanned values back at their pixels."""
    if channel_axis is None:
        return _native.unzigzag(image, pattern, out)
    return _per_channel(_native.unzigzag, "unzigzag", "image", image, None, pattern, out, channel_axis)


def zigzag_xor(
    image: np.ndarray,
    key: np.ndarray,
    pattern: str,
    out: np.ndarray | None = None,
    *,
    channel_axis: int | None = None,
) -> np.ndarray:
    """``zigzag(image, pattern) ^ key`` in one pass. ``key`` has the image's dtype and shape.

    Not encryption on its own (see the module docstring).
    """
    if channel_axis is None:
        return _native.zigzag_xor(image, key, pattern, out)
    return _per_channel(_native.zigzag_xor, "zigzag_xor", "image", image, key, pattern, out, channel_axis)


def xor_unzigzag(
    cipher: np.ndarray,
    key: np.ndarray,
    pattern: str,
    out: np.ndarray | None = None,
    *,
    channel_axis: int | None = None,
) -> np.ndarray:
    """``unzigzag(cipher ^ key, pattern)`` in one pass: the inverse of :func:`zigzag_xor`."""
    if channel_axis is None:
        return _native.xor_unzigzag(cipher, key, pattern, out)
    return _per_channel(
        _native.xor_unzigzag, "xor_unzigzag", "cipher", cipher, key, pattern, out, channel_axis
    )


def _per_channel(
    kernel: Callable[..., np.ndarray],
    fn: str,
    src_name: str,
    src: object,
    key: object | None,
    pattern: str,
    out: object | None,
    channel_axis: int,
) -> np.ndarray:
    """Runs a plane kernel on channel-last data by moving the channels to the front."""
    src = check_planes(src, fn, src_name)
    check_channel_axis(src, channel_axis, fn)
    check_pattern(pattern, fn)
    args = [channels_first(src)]
    if key is not None:
        args.append(channels_first(check_key(src, src_name, key, fn)))
    out = check_out(src, src_name, out, fn)
    return channels_last(kernel(*args, pattern), out)
