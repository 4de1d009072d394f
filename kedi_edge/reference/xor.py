"""numpy twin of :func:`kedi_edge.xor_into`."""

from __future__ import annotations

import numpy as np

from .._layout import as_ndarray, check_layout, check_native_order, check_same

__all__ = ["xor_into"]


def xor_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a ^ b`` elementwise; returns ``out``."""
    fn = "xor_into"
    a = as_ndarray(a, fn, "a")
    b = as_ndarray(b, fn, "b")
    out = as_ndarray(out, fn, "out")
    if a.dtype.kind not in "ui":
        raise TypeError(f"{fn}: a has dtype {a.dtype}, expected an integer dtype")
    check_native_order(a, fn, "a")
    check_layout(a, fn, "a")
    check_same(a, "a", b, fn, "b")
    check_layout(b, fn, "b")
    check_same(a, "a", out, fn, "out")
    check_layout(out, fn, "out", writeable=True)
    return np.bitwise_xor(a, b, out=out)
