"""What the runtime chose on this machine."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _native
from ._version import __version__

__all__ = ["runtime_info"]


def runtime_info() -> dict[str, Any]:
    """Versions and the SIMD path in use.

    ``simd`` is the active path (``avx2``, ``sse2`` or ``scalar``), ``simd_supported``
    the paths this CPU and build can run, ``simd_disabled`` those switched off through
    the ``KEDI_DISABLE_SIMD`` environment variable (comma-separated names, or ``all``).
    """
    simd = _native.simd_info()
    return {
        "version": __version__,
        "simd": simd["active"],
        "simd_supported": list(simd["supported"]),
        "simd_disabled": list(simd["disabled"]),
        "compiler": simd.get("compiler", "unknown"),
        "numpy": np.__version__,
    }


def _warn_unknown_simd_names() -> None:
    unknown = _native.simd_info()["unknown"]
    if unknown:
        warnings.warn(
            f"KEDI_DISABLE_SIMD: ignored unknown path name(s) {', '.join(map(repr, unknown))}; "
            "expected avx2, sse2 or all",
            RuntimeWarning,
            stacklevel=3,
        )
