"""What the runtime chose on this machine."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _native
from ._version import __version__

__all__ = ["runtime_info"]


def runtime_info() -> dict[str, Any]:
    """Versions, the SIMD path and the ONNX Runtime execution providers in use.

    ``simd`` is the active path (``avx2``, ``sse2`` or ``scalar``), ``simd_supported``
    the paths this CPU and build can run, ``simd_disabled`` those switched off through
    the ``KEDI_DISABLE_SIMD`` environment variable (comma-separated names, or ``all``).
    ``threads`` is how many threads the kernels may use on work of 256 KiB or more
    (``KEDI_NUM_THREADS``, default the CPU count capped at 4).
    ``providers_available`` is what ONNX Runtime offers; ``execution_provider`` the
    provider the most recent :class:`~kedi_edge.KeyGenerator` actually runs on (None
    before one is made).
    """
    from .keygen import last_providers

    try:
        import onnxruntime as ort

        ort_version, available = ort.__version__, ort.get_available_providers()
    except ImportError:
        ort_version, available = None, []
    active = last_providers()
    simd = _native.simd_info()
    return {
        "version": __version__,
        "simd": simd["active"],
        "simd_supported": list(simd["supported"]),
        "simd_disabled": list(simd["disabled"]),
        "threads": simd["threads"],
        "compiler": simd.get("compiler", "unknown"),
        "numpy": np.__version__,
        "onnxruntime": ort_version,
        "providers_available": available,
        "execution_provider": active[0] if active else None,
    }


def _warn_unknown_simd_names() -> None:
    info = _native.simd_info()
    if info["bad_threads"]:
        warnings.warn(
            f"KEDI_NUM_THREADS: ignored {info['bad_threads']!r}; expected an integer from 1 to "
            f"256 (using {info['threads']})",
            RuntimeWarning,
            stacklevel=3,
        )
    unknown = info["unknown"]
    if unknown:
        warnings.warn(
            f"KEDI_DISABLE_SIMD: ignored unknown path name(s) {', '.join(map(repr, unknown))}; "
            "expected avx2, sse2 or all",
            RuntimeWarning,
            stacklevel=3,
        )
