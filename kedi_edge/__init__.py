"""kedi_edge: the Deep-KEDI medical image encryption system as an edge runtime.

The building blocks live in named modules and are re-exported here: zigzag reordering
(:mod:`kedi_edge.zigzag`) and SIMD XOR (:mod:`kedi_edge.xor`), backed by the native
module ``kedi_edge._native``; ZZ-GAN key images on ONNX Runtime
(:class:`kedi_edge.KeyGenerator`). Every native kernel has a numpy twin of the same name and
signature in :mod:`kedi_edge.reference`. Importing kedi_edge never imports torch.
"""

from ._version import __version__
from .envelope import Key, open, seal
from .exceptions import (
    AuthenticationError,
    InvalidInputError,
    KediError,
    KeyNotFoundError,
    KeyStoreError,
    ModelError,
    ProviderError,
)
from .keygen import KeyGenerator
from .keystore import KeyStore
from .runtime import _warn_unknown_simd_names, runtime_info
from .xor import xor_into
from .zigzag import PATTERNS, unzigzag, xor_unzigzag, zigzag, zigzag_order, zigzag_xor

__all__ = [
    "PATTERNS",
    "AuthenticationError",
    "InvalidInputError",
    "KediError",
    "Key",
    "KeyGenerator",
    "KeyNotFoundError",
    "KeyStore",
    "KeyStoreError",
    "ModelError",
    "ProviderError",
    "__version__",
    "add_speckle",
    "despeckle",
    "open",
    "ripplet_forward",
    "ripplet_inverse",
    "runtime_info",
    "seal",
    "unzigzag",
    "xor_into",
    "xor_unzigzag",
    "zigzag",
    "zigzag_order",
    "zigzag_xor",
]

_warn_unknown_simd_names()

_LAZY = {"add_speckle", "despeckle", "ripplet_forward", "ripplet_inverse"}


def __getattr__(name: str):
    # The ripplet functions load scipy.fft (a quarter of a second) only when first used.
    if name in _LAZY:
        from . import ripplet

        return getattr(ripplet, name)
    raise AttributeError(f"module 'kedi_edge' has no attribute {name!r}")
