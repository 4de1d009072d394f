"""SIMD XOR of two integer arrays.

XOR with a key is not encryption on its own: a reused key leaks ``a1 ^ a2``.
"""

from __future__ import annotations

import numpy as np

from . import _native

__all__ = ["xor_into"]


def xor_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a ^ b`` elementwise, with the SIMD path chosen at import; returns ``out``.

    ``a``, ``b`` and ``out`` are C-contiguous, non-empty integer arrays of one dtype and
    shape; ``out`` may be ``a`` or ``b``.
    """
    return _native.xor_into(a, b, out)
