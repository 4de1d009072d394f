"""The key store: ZZ-GAN key images wrapped with AES-256-GCM under a key-encryption key.

A key store is a folder::

    store.json            format, how the KEK is obtained (file or passphrase + scrypt
                          parameters), and a check value that detects a wrong KEK
    keys/<key id>.json    one entry per key: id, creation time, model sha256, shape,
                          dtype, scope, and the key image wrapped under the KEK
                          (AES-256-GCM, the entry's other fields as associated data)
    scopes/<tag>          the key id made for a series or study; the tag is an HMAC of
                          the scope's UID under the KEK, so UIDs are not stored in clear

The KEK is 32 bytes from a key file (a regular file, not a symbolic link, owned by
this user, no access for group or others) or derived with scrypt from a passphrase
(UTF-8 of its Unicode NFC form; a store made from a non-NFC passphrase before this
normalisation still opens with the passphrase as typed). Every write is atomic
(temporary file in the same folder, fsync, rename), and a scope is claimed with an
exclusive link, so concurrent processes never corrupt the store or make two keys
for one series.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import re
import stat
import threading
import unicodedata
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ._fsutil import write_atomic
from .envelope import Key
from .exceptions import InvalidInputError, KeyNotFoundError, KeyStoreError

__all__ = ["MIN_KEY_PIXELS", "POLICIES", "KeyStore", "default_kek_file", "default_store_path"]

STORE_FORMAT = "kedi-keystore/1"
ENTRY_FORMAT = "kedi-key/1"
POLICIES = ("image", "series", "study")
_KEY_ID = re.compile(r"^k[0-9a-f]{24}$")
_CHECK = b"kedi-edge key store KEK check"
MIN_KEY_PIXELS = 8  # 256 bits: a key image is hashed (SHA-256) into the key material
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}  # what init writes; open accepts the ranges below
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = (2**15, 2**20), (8, 16), (1, 4)
_SCRYPT_MAX_MEMORY = 2**30  # bytes: 128 * n * r


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def default_store_path() -> Path:
    """``KEDI_KEYS``, else ``$XDG_DATA_HOME/kedi-edge/keys`` (~/.local/share/...)."""
    env = os.environ.get("KEDI_KEYS")
    return Path(env) if env else _xdg("XDG_DATA_HOME", ".local/share") / "kedi-edge" / "keys"


def default_kek_file() -> Path:
    """``KEDI_KEK_FILE``, else ``$XDG_CONFIG_HOME/kedi-edge/kek.key`` (~/.config/...)."""
    env = os.environ.get("KEDI_KEK_FILE")
    return Path(env) if env else _xdg("XDG_CONFIG_HOME", ".config") / "kedi-edge" / "kek.key"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode(), validate=True)


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class _Malformed(ValueError):
    """Content of store.json or of an entry that is not what this version writes."""


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number",
               bool: "a boolean", type(None): "null"}


def _field(obj: dict[str, Any], name: str, kind: type) -> Any:
    """obj[name], which must be of exactly this JSON type; _Malformed naming the field."""
    value = obj.get(name)
    if type(value) is not kind:
        got = _JSON_TYPES.get(type(value), type(value).__name__) if name in obj else "missing"
        raise _Malformed(f"{name!r} must be {_JSON_TYPES[kind]}, got {got}")
    return value


def _b64_field(obj: dict[str, Any], name: str, sizes: range) -> bytes:
    """obj[name] decoded from base64, of a length in ``sizes``; _Malformed otherwise."""
    try:
        data = _unb64(_field(obj, name, str))
    except binascii.Error as e:
        raise _Malformed(f"{name!r} is not base64") from e
    if len(data) not in sizes:
        raise _Malformed(f"{name!r} holds {len(data)} bytes, expected {sizes.start}"
                         + (f" to {sizes.stop - 1}" if len(sizes) > 1 else ""))
    return data


def _check_scrypt(sp: Any) -> dict[str, Any]:
    """The scrypt parameters and salt of a passphrase store, checked: a power of two
    2**15 <= n <= 2**20, 8 <= r <= 16, 1 <= p <= 4, memory 128 * n * r at most 1 GiB
    (so at most 128 times the work of what init writes), salt 16 to 64 bytes."""
    if not isinstance(sp, dict):
        raise _Malformed("'kek.scrypt' must be an object")
    n, r, p = (_field(sp, k, int) for k in ("n", "r", "p"))
    if not (_SCRYPT_N[0] <= n <= _SCRYPT_N[1] and n & (n - 1) == 0 and _SCRYPT_R[0] <= r <= _SCRYPT_R[1]
            and _SCRYPT_P[0] <= p <= _SCRYPT_P[1] and 128 * n * r <= _SCRYPT_MAX_MEMORY):
        raise _Malformed(f"scrypt parameters out of range (n={n}, r={r}, p={p}; accepted: n a power of two "
                         f"2**15 to 2**20, r 8 to 16, p 1 to 4, 128 * n * r at most 1 GiB)")
    return {"n": n, "r": r, "p": p, "salt": _b64_field(sp, "salt", range(16, 65))}


def _check_store_meta(meta: Any) -> tuple[str, dict[str, Any], bytes, bytes]:
    """(KEK kind, scrypt parameters with the salt, check nonce, check value) of a parsed
    store.json; _Malformed naming the problem."""
    if not isinstance(meta, dict):
        raise _Malformed(f"not a JSON object but {_JSON_TYPES.get(type(meta), type(meta).__name__)}")
    if meta.get("format") != STORE_FORMAT:
        raise _Malformed(f"format {meta.get('format')!r}, expected {STORE_FORMAT!r}")
    kek = meta.get("kek")
    if not isinstance(kek, dict) or kek.get("kind") not in ("file", "passphrase"):
        raise _Malformed("'kek' must be an object whose 'kind' is \"file\" or \"passphrase\"")
    params = _check_scrypt(kek.get("scrypt")) if kek["kind"] == "passphrase" else {}
    return (kek["kind"], params, _b64_field(meta, "check_nonce", range(12, 13)),
            _b64_field(meta, "check", range(len(_CHECK) + 16, len(_CHECK) + 17)))


def _check_entry(entry: Any, key_id: str) -> tuple[bytes, bytes, bytes, tuple[int, int]]:
    """(associated data, nonce, wrapped key, shape) of a parsed key entry; _Malformed
    naming the problem."""
    if not isinstance(entry, dict):
        raise _Malformed(f"not a JSON object but {_JSON_TYPES.get(type(entry), type(entry).__name__)}")
    if entry.get("format") != ENTRY_FORMAT or entry.get("key_id") != key_id:
        raise _Malformed(f"format or key id is not {ENTRY_FORMAT!r}, {key_id!r}")
    nonce = _b64_field(entry, "nonce", range(12, 13))
    shape = _field(entry, "shape", list)
    if len(shape) != 2 or any(type(d) is not int or not 1 <= d < 2**31 for d in shape) or \
            entry.get("dtype") != "<u4":
        raise _Malformed(f"shape {shape} or dtype {entry.get('dtype')!r} is not that of a 2-D uint32 key")
    wrapped = _b64_field(entry, "wrapped", range(shape[0] * shape[1] * 4 + 16, shape[0] * shape[1] * 4 + 17))
    aad = _canonical({k: v for k, v in entry.items() if k not in ("nonce", "wrapped")})
    return aad, nonce, wrapped, (shape[0], shape[1])


def read_kek_file(path: str | os.PathLike) -> bytes:
    """The 32-byte KEK in ``path``: a regular file, not a symbolic link, that (on POSIX)
    belongs to this user and gives group and others no access; KeyStoreError otherwise.

    The checks are made on the open file (fstat), which is then read: no race between
    checking one file and reading another.
    """
    path = Path(path)
    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block
             | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):  # EMLINK: FreeBSD's O_NOFOLLOW
            raise KeyStoreError(f"{path}: the KEK file is a symbolic link; give the path of the file itself "
                                f"({os.path.realpath(path)})") from e
        raise KeyStoreError(f"{path}: cannot read the KEK file ({e.strerror})") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyStoreError(f"{path}: the KEK file is not a regular file")
        if os.name == "posix":
            if st.st_uid != os.geteuid():
                raise KeyStoreError(f"{path}: the KEK file belongs to user id {st.st_uid}, not to this user "
                                    f"({os.geteuid()}); only its owner may use it")
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyStoreError(f"{path}: KEK file is accessible to group or others "
                                    f"(mode {stat.S_IMODE(st.st_mode):04o}); run chmod 600 {path}")
        data = b""
        while len(data) <= 32:
            chunk = os.read(fd, 33 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as e:
        raise KeyStoreError(f"{path}: cannot read the KEK file ({e.strerror})") from e
    finally:
        os.close(fd)
    if len(data) != 32:
        raise KeyStoreError(f"{path}: a KEK file holds exactly 32 bytes, this one "
                            f"{len(data) if len(data) <= 32 else 'more'}")
    return data


def _new_kek_file(path: Path) -> bytes | None:
    """A new random KEK written to ``path`` (mode 0600, atomically); None if ``path`` exists."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        kek = os.urandom(32)
        # A temporary file with mode 0600 in the same folder, fsynced, then linked to
        # its name only if that is free, and the folder fsynced: the KEK file appears
        # whole or not at all, and an existing one is never replaced.
        write_atomic(path, kek, overwrite=False, mode=0o600)
    except FileExistsError:
        return None
    except OSError as e:
        raise KeyStoreError(f"{path}: cannot create the KEK file ({e.strerror or e})") from e
    return kek


def create_kek_file(path: str | os.PathLike) -> bytes:
    """Create a new random KEK file with mode 0600; refuses to replace an existing one."""
    path = Path(path)
    kek = _new_kek_file(path)
    if kek is None:
        raise KeyStoreError(f"{path}: a KEK file already exists; not replacing it")
    return kek


def _passphrase_forms(passphrase: str) -> list[bytes]:
    """The passphrase's NFC form in UTF-8, then the form as given if it differs (stores
    made before passphrases were normalised derived their KEK from that); KeyStoreError
    if it is empty or not text (lone surrogates: bytes that were not UTF-8)."""
    if not passphrase:
        raise KeyStoreError("empty passphrase")
    try:
        forms = [unicodedata.normalize("NFC", passphrase).encode("utf-8"), passphrase.encode("utf-8")]
    except UnicodeEncodeError:
        raise KeyStoreError("the passphrase is not valid UTF-8 (KEDI_PASSPHRASE holds bytes that are not UTF-8 "
                            "text)") from None  # the error would quote part of the passphrase
    return forms[:1] if forms[0] == forms[1] else forms


def _scrypt(passphrase: str | bytes, salt: bytes, params: dict[str, int]) -> bytes:
    """The KEK from a passphrase (as text, its NFC form in UTF-8 is used) with scrypt."""
    secret = passphrase if isinstance(passphrase, bytes) else _passphrase_forms(passphrase)[0]
    return Scrypt(salt=salt, length=32, **params).derive(secret)


class KeyStore:
    """An opened key store: finds, makes and lists wrapped key images.

    Open one with :meth:`open` (an existing store) or :meth:`init` (a new one).
    Unwrapped keys are kept for reuse, least recently used first out, up to
    ``cache_keys`` keys and ``cache_bytes`` bytes of key images and their cached key
    arrays (the key in use is always kept, so every file of a series reuses it).
    """

    cache_keys = 32
    cache_bytes = 256 * 2**20
    _SCOPES_KEPT = 4096  # scope tag -> key id entries remembered

    def __init__(self, path: Path, kek: bytes, meta: dict[str, Any]) -> None:
        self.path = path
        self._aead = AESGCM(kek)
        self._scope_key = _hmac_sha256(kek, b"kedi-edge scope tags")
        self.meta = meta
        self._cache: OrderedDict[str, tuple[Key, Any]] = OrderedDict()  # key id -> (Key, authenticated scope)
        self._scopes: OrderedDict[str, str] = OrderedDict()  # scope tag -> key id, once checked
        self._lock = threading.Lock()

    def _remember(self, key_id: str, loaded: tuple[Key, Any]) -> tuple[Key, Any]:
        """Put (or keep) a key at the recent end of the cache and drop the least recently
        used ones beyond the limits; returns the cached pair."""
        with self._lock:
            loaded = self._cache.setdefault(key_id, loaded)
            self._cache.move_to_end(key_id)
            total = sum(k.image.nbytes + k._arrays.nbytes for k, _ in self._cache.values())
            while len(self._cache) > 1 and (len(self._cache) > self.cache_keys or total > self.cache_bytes):
                old, _ = self._cache.popitem(last=False)[1]
                total -= old.image.nbytes + old._arrays.nbytes
            return loaded

    # -- opening ---------------------------------------------------------------
    @classmethod
    def init(cls, path: str | os.PathLike | None = None, *, kek_file: str | os.PathLike | None = None,
             passphrase: str | None = None) -> KeyStore:
        """Create a key store. The KEK comes from ``passphrase`` (scrypt) if given, else
        from ``kek_file`` (created with mode 0600 if it does not exist)."""
        path = Path(path) if path is not None else default_store_path()
        if (path / "store.json").exists():
            raise KeyStoreError(f"{path}: a key store already exists here")
        kek_meta: dict[str, Any]
        if passphrase is not None:
            salt = os.urandom(16)
            kek = _scrypt(passphrase, salt, _SCRYPT)
            kek_meta = {"kind": "passphrase", "scrypt": {**_SCRYPT, "salt": _b64(salt)}}
        else:
            kf = Path(kek_file) if kek_file is not None else default_kek_file()
            kek = (None if os.path.lexists(kf) else _new_kek_file(kf)) or read_kek_file(kf)
            kek_meta = {"kind": "file"}
        nonce = os.urandom(12)
        meta = {"format": STORE_FORMAT, "kek": kek_meta, "check_nonce": _b64(nonce),
                "check": _b64(AESGCM(kek).encrypt(nonce, _CHECK, STORE_FORMAT.encode()))}
        try:
            for sub in ("", "keys", "scopes"):
                (path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path / "store.json", json.dumps(meta, indent=1).encode(), overwrite=False,
                         mode=0o600)
        except FileExistsError as e:
            raise KeyStoreError(f"{path}: a key store already exists here") from e
        except OSError as e:
            raise KeyStoreError(f"{path}: cannot create the key store ({e.strerror})") from e
        return cls(path, kek, meta)

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, kek_file: str | os.PathLike | None = None,
             passphrase: str | None = None) -> KeyStore:
        """Open an existing store with its KEK (the file, or the passphrase it was made with)."""
        path = Path(path) if path is not None else default_store_path()
        store_file = path / "store.json"
        try:
            meta = json.loads(store_file.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise KeyStoreError(f"{path}: no key store here (create one with kedi-edge keys init)") from e
        except OSError as e:
            raise KeyStoreError(f"{path}: cannot read the key store ({e.strerror})") from e
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise KeyStoreError(f"{store_file}: not a readable key store (not JSON: {e})") from e
        try:
            kind, params, check_nonce, check = _check_store_meta(meta)
        except ValueError as e:
            raise KeyStoreError(f"{store_file}: not a readable key store ({e})") from e
        if kind == "passphrase":
            if passphrase is None:
                raise KeyStoreError(f"{path}: this key store needs its passphrase (KEDI_PASSPHRASE)")
            salt = params.pop("salt")
            forms = _passphrase_forms(passphrase)
            keks: Any = (_scrypt(form, salt, params) for form in forms)  # the second only if needed
        else:
            keks = [read_kek_file(kek_file if kek_file is not None else default_kek_file())]
        for kek in keks:  # a passphrase: its NFC form, then as given (stores made before NFC)
            try:
                AESGCM(kek).decrypt(check_nonce, check, STORE_FORMAT.encode())
                return cls(path, kek, meta)
            except InvalidTag:
                pass
        raise KeyStoreError(f"{path}: wrong KEK for this key store")

    # -- entries ---------------------------------------------------------------
    def _entry_path(self, key_id: str) -> Path:
        return self.path / "keys" / f"{key_id}.json"

    def get(self, key_id: str) -> Key:
        """The key with this id; KeyNotFoundError if absent, KeyStoreError if damaged."""
        return self._load(key_id)[0]

    def _load(self, key_id: str) -> tuple[Key, Any]:
        """(the key with this id, the scope authenticated with it); errors as get()."""
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is not None:
            return self._remember(key_id, hit)
        if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
            raise KeyNotFoundError(f"no key {key_id!r} in key store {self.path}")
        path = self._entry_path(key_id)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise KeyNotFoundError(f"no key {key_id!r} in key store {self.path}") from e
        except OSError as e:
            raise KeyStoreError(f"{path}: unreadable key store entry ({e.strerror})") from e
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise KeyStoreError(f"{path}: corrupt key store entry (not JSON: {e})") from e
        try:
            aad, nonce, wrapped, (h, w) = _check_entry(entry, key_id)
            raw = self._aead.decrypt(nonce, wrapped, aad)
        except InvalidTag as e:
            raise KeyStoreError(f"{path}: corrupt key store entry (fails authentication)") from e
        except ValueError as e:
            raise KeyStoreError(f"{path}: corrupt key store entry ({e})") from e
        image = np.frombuffer(raw, dtype="<u4").reshape(h, w).astype(np.uint32)
        return self._remember(key_id, (Key(key_id, image), entry.get("scope")))

    def add(self, image: np.ndarray, *, model_sha256: str | None = None,
            scope: dict[str, Any] | None = None) -> Key:
        """Store a key image under a fresh id and return it as a Key.

        ``image``: a 2-D uint32 array (either byte order) of at least MIN_KEY_PIXELS
        pixels; anything else is refused (InvalidInputError), never converted.
        """
        image = np.asarray(image)
        if image.dtype.kind != "u" or image.dtype.itemsize != 4:
            raise InvalidInputError(f"key image must be a uint32 array, got {image.dtype} (a key is four "
                                    f"random bytes per pixel; nothing is converted)")
        if image.ndim != 2 or image.size < MIN_KEY_PIXELS:
            raise InvalidInputError(f"key image must be 2-D with at least {MIN_KEY_PIXELS} pixels "
                                    f"({MIN_KEY_PIXELS * 32} bits), got shape {image.shape}")
        image = np.ascontiguousarray(image, dtype="<u4")
        key_id = "k" + os.urandom(12).hex()
        entry = {"format": ENTRY_FORMAT, "key_id": key_id,
                 "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "model_sha256": model_sha256, "shape": list(image.shape), "dtype": "<u4",
                 "scope": scope or {"policy": "image"}}
        nonce = os.urandom(12)
        wrapped = self._aead.encrypt(nonce, image.tobytes(), _canonical(entry))
        data = json.dumps({**entry, "nonce": _b64(nonce), "wrapped": _b64(wrapped)}).encode()
        try:
            write_atomic(self._entry_path(key_id), data, overwrite=False, mode=0o600)
        except OSError as e:
            raise KeyStoreError(f"{self.path}: cannot write a key ({e.strerror or e})") from e
        return self._remember(key_id, (Key(key_id, image.astype(np.uint32)), entry["scope"]))[0]

    def new_key(self, generator: Any, shape: tuple[int, int], image: np.ndarray | None = None,
                seed: bytes | None = None, scope: dict[str, Any] | None = None) -> Key:
        """Make a key image of ``shape`` with a KeyGenerator (for ``image`` if given) and store it.

        A shape of fewer than MIN_KEY_PIXELS pixels gets more rows (and ``image`` is
        repeated to match): keys are tiled and cropped to the images they seal, so the
        key still fits, and it carries at least MIN_KEY_PIXELS * 32 bits.
        """
        shape = tuple(shape)
        if len(shape) == 2 and all(isinstance(v, int | np.integer) and v >= 1 for v in shape):
            h, w = int(shape[0]), int(shape[1])
            if h * w < MIN_KEY_PIXELS:
                rows = -(-MIN_KEY_PIXELS // w)
                if image is not None and np.shape(image) == (h, w):
                    image = np.tile(np.asarray(image), (-(-rows // h), 1))[:rows]
                shape = (rows, w)
        img = generator.generate(shape, np.uint32, image, seed)
        return self.add(img, model_sha256=getattr(generator, "sha256", None), scope=scope)

    def scope_tag(self, policy: str, uid: str) -> str:
        """The store's name for a series or study: an HMAC of its UID under the KEK."""
        return _hmac_sha256(self._scope_key, f"{policy}:{uid}".encode()).hex()

    def key_for_scope(self, policy: str, uid: str, make: Any) -> Key:
        """The key of this series or study, made with ``make(scope) -> Key`` the first time.

        ``make`` must store its key in this store with the scope it is given. The key a
        scope link names must carry that scope (policy and tag) in its authenticated
        entry, else KeyStoreError: a link repointed by someone without the KEK is
        refused, never followed. Two processes racing for one scope both make a key,
        but only one is linked to the scope; the other process uses the winner's key.
        """
        if policy not in ("series", "study"):
            raise InvalidInputError(f"policy must be 'series' or 'study' here, got {policy!r}")
        tag = self.scope_tag(policy, uid)
        with self._lock:
            known = self._scopes.get(tag)
            if known:
                self._scopes.move_to_end(tag)
        if known:
            return self.get(known)
        link = self.path / "scopes" / tag
        key_id = self._read_link(link)
        if key_id is None:
            made = make({"policy": policy, "tag": tag})
            try:
                self._scoped(made.key_id, policy, tag, link, made=True)
                write_atomic(link, made.key_id.encode(), overwrite=False, mode=0o600)
                key_id = made.key_id
            except FileExistsError:  # another process was first: use its key
                key_id = self._read_link(link)
            except OSError as e:
                raise KeyStoreError(f"{self.path}: cannot record the key of a {policy} ({e.strerror})") from e
            if key_id is None:
                raise KeyStoreError(f"{link}: scope link vanished while it was being made")
        key = self._scoped(key_id, policy, tag, link)
        with self._lock:
            self._scopes[tag] = key.key_id
            if len(self._scopes) > self._SCOPES_KEPT:
                self._scopes.popitem(last=False)
        return key

    def _read_link(self, link: Path) -> str | None:
        """The key id a scope link names; None if there is no link."""
        try:
            return link.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise KeyStoreError(f"{link}: unreadable scope link ({getattr(e, 'strerror', None) or e})") from e

    def _scoped(self, key_id: str, policy: str, tag: str, link: Path, made: bool = False) -> Key:
        """The key ``key_id`` if its authenticated scope is this policy and tag, else KeyStoreError."""
        try:
            key, scope = self._load(key_id)
        except KeyNotFoundError as e:
            raise KeyStoreError(f"{link}: scope link names key {key_id!r}, which is not in the store") from e
        if not (isinstance(scope, dict) and scope.get("policy") == policy and scope.get("tag") == tag):
            if made:
                raise InvalidInputError(f"key_for_scope: make() stored key {key_id} with scope {scope!r}, "
                                        f"not the {policy} scope it was given")
            other = scope.get("policy") if isinstance(scope, dict) else None
            made_for = f"another {policy}" if other == policy else f"the {other or 'no'} policy, not for this {policy}"
            raise KeyStoreError(f"{link}: scope link names key {key_id}, which was made for {made_for}; "
                                f"the link was changed outside kedi-edge")
        return key

    def list(self) -> list[dict[str, Any]]:
        """Metadata of every entry (no key material), oldest first."""
        out = []
        for p in sorted((self.path / "keys").glob("k*.json")):
            try:
                e = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                e = None
            if isinstance(e, dict) and e.get("key_id") == p.stem and isinstance(e.get("created"), str | None):
                out.append({k: e.get(k) for k in ("key_id", "created", "model_sha256", "shape", "dtype", "scope")})
            else:
                out.append({"key_id": p.stem, "error": "unreadable entry"})
        return sorted(out, key=lambda e: (e.get("created") or "", e["key_id"]))
