"""Argument checks and the plane convention shared by the native and reference kernels.

Convention: an array is a stack of 2-D planes over its last two axes, (..., H, W); for
example (H, W) is one plane and (F, H, W) is F frames. Channel-last colour data, (H, W, C)
or (F, H, W, C), is passed with ``channel_axis=-1``: every channel is reordered with the
same pixel order, so each pixel moves as a unit.

The checks raise the same exception types and messages as the native module, so that
both implementations fail alike on bad input.
"""

from __future__ import annotations

import operator

import numpy as np

PATTERNS = ("horizontal", "vertical", "diagonal")
PLANE_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32))
_PLANE_DTYPE_NAMES = "uint8, int8, uint16, int16, uint32 or int32"


def _shape(a: np.ndarray) -> str:
    return str(tuple(a.shape))


def as_ndarray(obj: object, fn: str, what: str) -> np.ndarray:
    if not isinstance(obj, np.ndarray):
        raise TypeError(f"{fn}: {what} must be a numpy.ndarray, got {type(obj).__name__}")
    return obj


def check_pattern(pattern: object, fn: str) -> str:
    if not isinstance(pattern, str):
        raise TypeError(f"{fn}: pattern must be a str, got {type(pattern).__name__}")
    if pattern not in PATTERNS:
        raise ValueError(
            f"{fn}: unknown pattern '{pattern}'; expected 'horizontal', 'vertical' or 'diagonal'"
        )
    return pattern


def check_native_order(a: np.ndarray, fn: str, what: str) -> None:
    if a.dtype.itemsize > 1 and not a.dtype.isnative:
        raise TypeError(
            f"{fn}: {what} has non-native byte order ({a.dtype}); "
            "convert it with a.astype(a.dtype.newbyteorder('='))"
        )


def check_layout(a: np.ndarray, fn: str, what: str, writeable: bool = False) -> None:
    if a.size == 0:
        raise ValueError(f"{fn}: {what} is empty (shape {_shape(a)})")
    if not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {what} must be C-contiguous; pass np.ascontiguousarray({what})")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{fn}: {what} is read-only")


def check_same(ref: np.ndarray, ref_name: str, a: np.ndarray, fn: str, what: str) -> None:
    if a.dtype != ref.dtype:
        raise TypeError(
            f"{fn}: {what} has dtype {a.dtype}, expected {ref.dtype} (the dtype of {ref_name})"
        )
    if a.shape != ref.shape:
        raise ValueError(
            f"{fn}: {what} has shape {_shape(a)}, expected {_shape(ref)} (the shape of {ref_name})"
        )


def check_planes(obj: object, fn: str, what: str) -> np.ndarray:
    """An (..., H, W) array of a supported dtype, C-contiguous and not empty."""
    a = as_ndarray(obj, fn, what)
    if a.dtype.kind not in "ui" or a.dtype.itemsize not in (1, 2, 4):
        raise TypeError(f"{fn}: {what} has dtype {a.dtype}, expected {_PLANE_DTYPE_NAMES}")
    check_native_order(a, fn, what)
    if a.ndim < 2:
        raise ValueError(
            f"{fn}: {what} must have at least 2 dimensions (..., H, W), got shape {_shape(a)}"
        )
    check_layout(a, fn, what)
    return a


def check_key(ref: np.ndarray, ref_name: str, obj: object, fn: str) -> np.ndarray:
    key = as_ndarray(obj, fn, "key")
    check_same(ref, ref_name, key, fn, "key")
    check_layout(key, fn, "key")
    return key


def check_out(ref: np.ndarray, ref_name: str, obj: object, fn: str) -> np.ndarray | None:
    if obj is None:
        return None
    out = as_ndarray(obj, fn, "out")
    check_same(ref, ref_name, out, fn, "out")
    check_layout(out, fn, "out", writeable=True)
    return out


def check_size(h: object, w: object, fn: str) -> tuple[int, int]:
    h, w = operator.index(h), operator.index(w)
    if h < 1 or w < 1:
        raise ValueError(f"{fn}: h and w must be at least 1, got h={h}, w={w}")
    if h > 2**31 or w > 2**31:
        raise ValueError(f"{fn}: h and w must be at most 2**31")
    return h, w


def check_channel_axis(a: np.ndarray, channel_axis: object, fn: str) -> None:
    if channel_axis is None:
        return
    if channel_axis not in (-1, a.ndim - 1) or isinstance(channel_axis, bool):
        raise ValueError(f"{fn}: channel_axis must be None or -1 (channels last), got {channel_axis!r}")
    if a.ndim < 3:
        raise ValueError(
            f"{fn}: channel_axis=-1 needs an (..., H, W, C) array, got shape {_shape(a)}"
        )


def channels_first(a: np.ndarray) -> np.ndarray:
    """(..., H, W, C) -> a C-contiguous (C, ..., H, W) copy."""
    return np.ascontiguousarray(np.moveaxis(a, -1, 0))


def channels_last(planes: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """(C, ..., H, W) -> (..., H, W, C), written into out when given."""
    result = np.moveaxis(planes, 0, -1)
    if out is None:
        return np.ascontiguousarray(result)
    np.copyto(out, result)
    return out
