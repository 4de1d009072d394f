"""Sealed images: the paper's zigzag + XOR layer inside AES-256-GCM.

One sealed unit (an array, or one frame of a DICOM image):

    header   canonical JSON (sorted keys, no spaces), UTF-8
    prefix   MAGIC b"KEDI" | version (1 byte) | len(header) (u32 LE) | header
    nonce    12 fresh random bytes
    ikm      SHA-256(key image bytes), computed once per key
    okm      HKDF-SHA256(ikm, salt=nonce, info=INFO + prefix), 33 bytes
    data key okm[0:32];  pattern = PATTERNS[okm[32] % 3]
    body     zigzag_xor(pixels, key array, pattern)         (native fused kernel)
    sealed   AES-256-GCM(data key, nonce, body, associated data = prefix) -> ciphertext, tag

A ``.kedi`` container is ``prefix | nonce | ciphertext | tag``; FORMAT.md has the
details. The header and the nonce are authenticated (the prefix is the associated
data, the nonce feeds both HKDF and GCM), so a changed bit anywhere makes opening fail
with :class:`AuthenticationError` and no pixels are returned.
"""

from __future__ import annotations

import json
import math
import os
import struct
import threading
from hashlib import sha256
from typing import Any, Protocol

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _native
from ._cache import ArrayCache
from .exceptions import AuthenticationError, InvalidInputError
from .zigzag import PATTERNS, xor_unzigzag, zigzag_xor

__all__ = ["FORMAT", "Key", "KeySource", "open", "peek_header", "seal", "unseal"]

MAGIC = b"KEDI"
VERSION = 1
FORMAT = "kedi/1"
INFO = b"kedi-edge/seal/v1\x00"
NONCE_BYTES, TAG_BYTES = 12, 16
KEY_ARRAY_CACHE_BYTES = 64 * 2**20  # per key: the XOR key arrays of recent image shapes
BODY_ALIGN = 16  # the body starts 16-byte aligned in a container (header padded with spaces)
_FIXED = len(MAGIC) + 1 + 4
_DTYPES = ("|u1", "|i1", "<u2", "<i2", "<u4", "<i4")
_FAILED = "authentication failed: wrong key, or the data is not a kedi seal or was modified"


class Key:
    """A key image and its id. ``image``: (H, W) uint32, four key bytes per pixel.

    For an array of itemsize b, 2-D plane j (planes counted over every axis but the
    last two, channels last when ``channel_axis=-1``) uses bytes (j + i) mod 4,
    i < b, of each key pixel (little-endian), the key image tiled to the plane's size.
    """

    def __init__(self, key_id: str, image: np.ndarray) -> None:
        image = np.asarray(image)
        if image.ndim != 2 or image.dtype != np.uint32 or image.size == 0:
            raise InvalidInputError(f"key {key_id!r}: image must be a non-empty 2-D uint32 array, "
                                    f"got {image.dtype} {image.shape}")
        if not key_id or not isinstance(key_id, str):
            raise InvalidInputError("key id must be a non-empty string")
        self.key_id = key_id
        self.image = np.ascontiguousarray(image, dtype="<u4").copy()
        self.image.flags.writeable = False
        self._ikm = sha256(self.image.tobytes()).digest()
        self._arrays = ArrayCache(KEY_ARRAY_CACHE_BYTES)

    def __repr__(self) -> str:
        return f"Key({self.key_id!r}, {self.image.shape[0]}x{self.image.shape[1]})"

    def array_for(self, shape: tuple[int, ...], dtype: np.dtype, channel_axis: int | None) -> np.ndarray:
        """The XOR key for an array of this shape, dtype and channel layout (cached, read-only)."""
        dtype = np.dtype(dtype)
        return self._arrays.get((tuple(shape), dtype.str, channel_axis),
                                lambda: self._make_array(tuple(shape), dtype, channel_axis))

    def _make_array(self, shape: tuple[int, ...], dtype: np.dtype, channel_axis: int | None) -> np.ndarray:
        planes_shape = shape if channel_axis is None else shape[:-3] + (shape[-1],) + shape[-3:-1]
        h, w = planes_shape[-2:]
        kh, kw = self.image.shape
        tiled = np.tile(self.image, (-(-h // kh), -(-w // kw)))[:h, :w]
        bytes4 = tiled.view(np.uint8).reshape(h, w, 4)
        b = dtype.itemsize
        n_planes = math.prod(planes_shape[:-2])
        distinct = [np.ascontiguousarray(bytes4[:, :, [(j + i) % 4 for i in range(b)]])
                    .view(f"<u{b}").reshape(h, w).view(dtype.newbyteorder("<")).astype(dtype)
                    for j in range(min(4, n_planes))]
        planes = np.stack([distinct[j % 4] for j in range(n_planes)]).reshape(planes_shape)
        return np.ascontiguousarray(planes if channel_axis is None else np.moveaxis(planes, -3, -1))


class KeySource(Protocol):
    """Anything that finds a Key by id (a KeyStore)."""

    def get(self, key_id: str) -> Key: ...


_local = threading.local()
_PLAIN_HEADER = {"bits_stored", "photometric", "frames", "lossy", "meta"}  # what seal() passes
_prefixes: dict[tuple, bytes] = {}


def _scratch(n: int) -> np.ndarray:
    """A per-thread reusable buffer of at least n bytes (warm pages, no page faults)."""
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < n:
        buf = _local.buf = np.empty(n, np.uint8)
    return buf[:n]


def _prefix(header: dict[str, Any], body_align: int = 1) -> bytes:
    """MAGIC | version | length | header JSON, padded with spaces (valid JSON) so that the
    body, after the nonce, starts at a multiple of ``body_align`` bytes."""
    hb = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    hb += b" " * (-(_FIXED + len(hb) + NONCE_BYTES) % body_align)
    return MAGIC + bytes([VERSION]) + struct.pack("<I", len(hb)) + hb


def _derive(key: Key, nonce: bytes, prefix: bytes) -> tuple[bytes, str]:
    okm = HKDF(algorithm=hashes.SHA256(), length=33, salt=nonce, info=INFO + prefix).derive(key._ikm)
    return okm[:32], PATTERNS[okm[32] % 3]


def _check_array(array: np.ndarray, channel_axis: int | None) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype.kind not in "ui" or a.dtype.itemsize > 4:
        raise InvalidInputError(f"seal: pixels must be integers of at most 4 bytes, got {a.dtype}")
    if channel_axis not in (None, -1):
        raise InvalidInputError(f"seal: channel_axis must be None or -1, got {channel_axis}")
    if a.ndim < (3 if channel_axis == -1 else 2) or a.size == 0:
        raise InvalidInputError(f"seal: need a non-empty array of planes (..., H, W), got shape {a.shape}")
    # Sealed bodies are little-endian whatever the machine.
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))


def _seal_container(array: np.ndarray, key: Key, header: dict[str, Any],
                    channel_axis: int | None) -> tuple[bytearray, int]:
    """The whole container in one buffer, and the offset of its nonce.

    The zigzag + XOR body goes to a per-thread scratch buffer, which AES-GCM encrypts
    straight into the container: the pixels are touched twice, and no byte of the
    container is written twice.
    """
    a = _check_array(array, channel_axis)
    # A plain seal's header depends on a few values only: its prefix is remembered.
    plain = (header.keys() == _PLAIN_HEADER and not header["lossy"] and not header["meta"]
             and isinstance(header["photometric"], str | None) and type(header["bits_stored"]) is int)
    memo = (key.key_id, a.shape, a.dtype.str, channel_axis, header["bits_stored"], header["photometric"],
            header["frames"]) if plain else None
    prefix = _prefixes.get(memo) if plain else None
    if prefix is None:
        full = dict(header)
        full.update(format=FORMAT, key_id=key.key_id, shape=list(a.shape), dtype=a.dtype.str,
                    channel_axis=channel_axis)
        prefix = _prefix(full, body_align=BODY_ALIGN)
        if plain:
            if len(_prefixes) >= 256:
                _prefixes.clear()
            _prefixes[memo] = prefix
    nonce = os.urandom(NONCE_BYTES)
    data_key, pattern = _derive(key, nonce, prefix)
    off, n = len(prefix) + NONCE_BYTES, a.nbytes
    buf = _native._empty_bytearray(off + n + TAG_BYTES)  # every byte is written below
    buf[: len(prefix)] = prefix
    buf[len(prefix) : off] = nonce
    scratch = _scratch(n)
    zigzag_xor(a, key.array_for(a.shape, a.dtype, channel_axis), pattern,
               out=scratch.view(a.dtype).reshape(a.shape), channel_axis=channel_axis)
    AESGCM(data_key).encrypt_into(nonce, memoryview(scratch), prefix, memoryview(buf)[off:])
    return buf, len(prefix)


def seal_parts(array: np.ndarray, key: Key, header: dict[str, Any],
               channel_axis: int | None = None) -> tuple[bytes, bytes, memoryview]:
    """Seal one unit; returns (prefix, nonce, ciphertext + tag). ``header`` is extended
    with the format, key id, shape, dtype and channel layout, and authenticated."""
    buf, n = _seal_container(array, key, header, channel_axis)
    return bytes(buf[:n]), bytes(buf[n : n + NONCE_BYTES]), memoryview(buf)[n + NONCE_BYTES :]


def seal(array: np.ndarray, key: Key, *, channel_axis: int | None = None,
         bits_stored: int | None = None, photometric: str | None = None,
         lossy: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> bytearray:
    """Seal an integer image array into a ``.kedi`` container (a bytearray).

    ``array``: (..., H, W), or (..., H, W, C) with ``channel_axis=-1``. The optional
    fields are recorded in the authenticated header: ``bits_stored`` (default the full
    itemsize), ``photometric`` (e.g. "MONOCHROME2", "RGB"), ``lossy`` (the lossy stages
    applied before sealing, e.g. speckle parameters; default none) and free ``meta``.
    """
    a = np.asarray(array)
    frames = math.prod(a.shape[: a.ndim - (3 if channel_axis == -1 else 2)])
    header = {"bits_stored": int(bits_stored or a.dtype.itemsize * 8), "photometric": photometric,
              "frames": frames, "lossy": lossy or {}, "meta": meta or {}}
    return _seal_container(a, key, header, channel_axis)[0]


def peek_header(blob: bytes | bytearray | memoryview) -> dict[str, Any]:
    """The header of a container, NOT authenticated (for finding its key); see unseal."""
    return _parse(memoryview(blob))[1]


def _parse(mv: memoryview) -> tuple[bytes, dict[str, Any], int]:
    """(prefix, header, offset of the nonce); AuthenticationError on any malformation."""
    if len(mv) < _FIXED or bytes(mv[:4]) != MAGIC or mv[4] != VERSION:
        raise AuthenticationError(_FAILED)
    (hlen,) = struct.unpack("<I", mv[5:9])
    end = _FIXED + hlen
    if end + NONCE_BYTES + TAG_BYTES > len(mv):
        raise AuthenticationError(_FAILED)
    try:
        header = json.loads(bytes(mv[_FIXED:end]).decode("utf-8"))
        shape = [int(s) for s in header["shape"]]
        ok = (isinstance(header, dict) and header.get("format") == FORMAT
              and isinstance(header.get("key_id"), str) and header.get("dtype") in _DTYPES
              and header.get("channel_axis") in (None, -1) and min(shape) >= 1
              and len(shape) >= (3 if header.get("channel_axis") == -1 else 2))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise AuthenticationError(_FAILED)
    return bytes(mv[:end]), header, end


def open_parts(prefix: bytes, nonce: bytes, sealed: bytes | bytearray | memoryview,
               key: Key | KeySource) -> tuple[np.ndarray, dict[str, Any]]:
    """Open one unit from its parts (as from seal_parts); returns (pixels, header)."""
    blob = memoryview(b"".join((prefix, nonce, sealed)))
    return unseal(blob, key)


def unseal(blob: bytes | bytearray | memoryview, key: Key | KeySource) -> tuple[np.ndarray, dict[str, Any]]:
    """Authenticate and decrypt a container: (pixels, authenticated header).

    ``key``: the Key it was sealed with, or a key source (a KeyStore) to look it up in.
    Raises AuthenticationError (KeyNotFoundError when the store lacks its key).
    """
    mv = memoryview(blob).cast("B")
    prefix, header, off = _parse(mv)
    if isinstance(key, Key):
        if key.key_id != header["key_id"]:
            raise AuthenticationError(_FAILED)
    else:
        key = key.get(header["key_id"])
    dtype = np.dtype(header["dtype"])
    shape = tuple(int(s) for s in header["shape"])
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow from a crafted shape
    nonce = bytes(mv[off : off + NONCE_BYTES])
    if len(mv) - off - NONCE_BYTES - TAG_BYTES != nbytes:
        raise AuthenticationError(_FAILED)
    data_key, pattern = _derive(key, nonce, prefix)
    body = _scratch(nbytes)
    try:
        AESGCM(data_key).decrypt_into(nonce, mv[off + NONCE_BYTES :], prefix, body)  # ciphertext + tag
    except InvalidTag:
        raise AuthenticationError(_FAILED) from None
    body = body.view(dtype).reshape(shape)
    channel_axis = header["channel_axis"]
    pixels = xor_unzigzag(body, key.array_for(shape, dtype, channel_axis), pattern, channel_axis=channel_axis)
    return pixels.astype(dtype.newbyteorder("="), copy=False), header


def open(blob: bytes | bytearray | memoryview, key: Key | KeySource) -> np.ndarray:
    """The pixels of a ``.kedi`` container, bit-exact; AuthenticationError if anything is off."""
    return unseal(blob, key)[0]
