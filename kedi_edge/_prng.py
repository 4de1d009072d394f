"""Deterministic keystreams from a seed (HKDF-SHA256 then ChaCha20, from `cryptography`)."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["keystream"]

_NONCE = bytes(16)  # ChaCha20's 16-byte counter||nonce block; each key is used once


def keystream(seed: bytes, info: bytes, nbytes: int) -> np.ndarray:
    """``nbytes`` pseudo-random bytes from ``seed``, domain-separated by ``info``.

    The ChaCha20 key is HKDF-SHA256(seed, info=info); the same (seed, info) always gives
    the same bytes, and different ``info`` strings give independent streams.
    """
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)
    out = np.zeros(nbytes, dtype=np.uint8)
    enc = Cipher(algorithms.ChaCha20(key, _NONCE), mode=None).encryptor()
    if nbytes:
        enc.update_into(out, out)  # keystream XOR zeros, in place
    return out
