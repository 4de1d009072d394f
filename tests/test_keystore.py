"""kedi_edge.keystore: KEK handling, wrapped entries, scopes, atomic and concurrent writes."""

import json
import multiprocessing
import os

import numpy as np
import pytest

import kedi_edge
from kedi_edge import KeyNotFoundError, KeyStore, KeyStoreError


@pytest.fixture
def store(tmp_path):
    return KeyStore.init(tmp_path / "store", kek_file=tmp_path / "kek.key")


def key_image(seed=0, shape=(16, 24)):
    return np.random.default_rng(seed).integers(0, 2**32, shape, dtype=np.uint32)


def test_init_creates_private_kek_and_reopens(tmp_path, store):
    kek = tmp_path / "kek.key"
    assert kek.stat().st_mode & 0o777 == 0o600 and len(kek.read_bytes()) == 32
    key = store.add(key_image(), model_sha256="ab" * 32)
    again = KeyStore.open(tmp_path / "store", kek_file=kek)
    got = again.get(key.key_id)
    np.testing.assert_array_equal(got.image, key.image)
    [entry] = again.list()
    assert entry["key_id"] == key.key_id and entry["shape"] == [16, 24] and entry["model_sha256"] == "ab" * 32
    assert "wrapped" not in json.dumps(entry)


def test_entries_do_not_hold_the_key_in_clear(store):
    key = store.add(key_image())
    raw = (store.path / "keys" / f"{key.key_id}.json").read_bytes()
    assert key.image.tobytes()[:16].hex() not in raw.decode()
    assert key.image.tobytes()[:16] not in raw


def test_group_readable_kek_is_refused(tmp_path, store):
    kek = tmp_path / "kek.key"
    os.chmod(kek, 0o640)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        KeyStore.open(store.path, kek_file=kek)


def test_wrong_kek_is_refused(tmp_path, store):
    other = tmp_path / "other.key"
    KeyStore.init(tmp_path / "s2", kek_file=other)
    with pytest.raises(KeyStoreError, match="wrong KEK"):
        KeyStore.open(store.path, kek_file=other)


def test_passphrase_store(tmp_path):
    s = KeyStore.init(tmp_path / "p", passphrase="correct horse")
    key = s.add(key_image())
    assert KeyStore.open(tmp_path / "p", passphrase="correct horse").get(key.key_id).key_id == key.key_id
    with pytest.raises(KeyStoreError, match="wrong KEK"):
        KeyStore.open(tmp_path / "p", passphrase="wrong")
    with pytest.raises(KeyStoreError, match="passphrase"):
        KeyStore.open(tmp_path / "p")


def test_missing_store_missing_key_and_corrupt_entry(tmp_path, store):
    with pytest.raises(KeyStoreError, match="no key store"):
        KeyStore.open(tmp_path / "nowhere", kek_file=tmp_path / "kek.key")
    with pytest.raises(KeyNotFoundError):
        store.get("k" + "00" * 12)
    with pytest.raises(KeyNotFoundError):
        store.get("../../etc/passwd")
    key = store.add(key_image())
    path = store.path / "keys" / f"{key.key_id}.json"
    entry = json.loads(path.read_text())
    entry["shape"] = [24, 16]  # authenticated metadata changed
    path.write_text(json.dumps(entry))
    fresh = KeyStore.open(store.path, kek_file=tmp_path / "kek.key")
    with pytest.raises(KeyStoreError, match="corrupt"):
        fresh.get(key.key_id)


def test_init_refuses_an_existing_store(tmp_path, store):
    with pytest.raises(KeyStoreError, match="already exists"):
        KeyStore.init(store.path, kek_file=tmp_path / "kek.key")


def test_seal_and_open_through_the_store(store):
    key = store.add(key_image())
    a = np.arange(300, dtype=np.uint16).reshape(15, 20)
    np.testing.assert_array_equal(kedi_edge.open(kedi_edge.seal(a, key), store), a)


def test_new_key_uses_the_generator(store):
    gen = kedi_edge.KeyGenerator(device="cpu")
    img = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64)
    key = store.new_key(gen, img.shape, img, seed=b"s" * 32)
    np.testing.assert_array_equal(key.image, gen.generate(img.shape, np.uint32, img, b"s" * 32))
    assert store.list()[0]["model_sha256"] == gen.sha256


def test_one_key_per_scope(store):
    made = []

    def make(scope):
        made.append(scope)
        return store.add(key_image(len(made)), scope=scope)

    a = store.key_for_scope("series", "1.2.3", make)
    b = store.key_for_scope("series", "1.2.3", make)
    c = store.key_for_scope("series", "1.2.4", make)
    assert a.key_id == b.key_id != c.key_id and len(made) == 2
    assert "1.2.3" not in "".join(p.name for p in (store.path / "scopes").iterdir())


def _race(args):
    path, kek, uid, seed = args
    s = KeyStore.open(path, kek_file=kek)
    return s.key_for_scope("series", uid, lambda scope: s.add(key_image(seed), scope=scope)).key_id


def test_concurrent_processes_agree_on_a_scope_key(tmp_path, store):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        ids = pool.map(_race, [(store.path, tmp_path / "kek.key", "9.9.9", i) for i in range(8)])
    assert len(set(ids)) == 1
    assert len(list((store.path / "scopes").iterdir())) == 1
    assert not [p for p in (store.path / "keys").iterdir() if p.name.startswith(".")]  # no temp files


def _set_store_meta(store, meta):
    (store.path / "store.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("label, change", [
    ("a list", lambda m: []),
    ("null", lambda m: None),
    ("other format", lambda m: {**m, "format": "kedi-keystore/9"}),
    ("kek a string", lambda m: {**m, "kek": "file"}),
    ("unknown kek kind", lambda m: {**m, "kek": {"kind": "hsm"}}),
    ("numeric check", lambda m: {**m, "check": 7}),
    ("check not base64", lambda m: {**m, "check": "!!!"}),
    ("short check nonce", lambda m: {**m, "check_nonce": "AAAA"}),
    ("missing check", lambda m: {k: v for k, v in m.items() if k != "check"}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_store_json_is_a_key_store_error(tmp_path, store, label, change):
    meta = json.loads((store.path / "store.json").read_text())
    _set_store_meta(store, change(meta))
    with pytest.raises(KeyStoreError, match="store.json: not a readable key store"):
        KeyStore.open(store.path, kek_file=tmp_path / "kek.key")


def test_store_json_not_json_or_not_utf8(tmp_path, store):
    for raw in (b"{", b"\xff\xfe", b"[" * 100_000):
        (store.path / "store.json").write_bytes(raw)
        with pytest.raises(KeyStoreError, match="store.json: not a readable key store"):
            KeyStore.open(store.path, kek_file=tmp_path / "kek.key")


@pytest.mark.parametrize("scrypt, problem", [
    ({"n": 2**15, "r": 8, "p": 1}, "'salt' must be a string, got missing"),
    ({"n": 2**15, "r": 8, "p": 1, "salt": "AAAA"}, "'salt' holds 3 bytes"),
    ({"n": 3, "r": 8, "p": 1, "salt": "A" * 24}, "out of range"),
    ({"n": 2, "r": 1, "p": 1, "salt": "A" * 24}, "out of range"),  # too weak
    ({"n": 2**22, "r": 64, "p": 1, "salt": "A" * 24}, "out of range"),  # 32 GiB
    ({"n": 2**20, "r": 16, "p": 1, "salt": "A" * 24}, "out of range"),  # 2 GiB
    ({"n": 2**15, "r": 8, "p": 1000, "salt": "A" * 24}, "out of range"),
    ({"n": 2.0**15, "r": 8, "p": 1, "salt": "A" * 24}, "'n' must be an integer, got a number"),
    ({"n": 2**15, "r": True, "p": 1, "salt": "A" * 24}, "'r' must be an integer, got a boolean"),
    ("scrypt", "'kek.scrypt' must be an object"),
])
def test_stored_scrypt_parameters_are_checked(tmp_path, scrypt, problem):
    """Out-of-range or mistyped parameters are refused before scrypt runs (no 32 GiB
    allocation, no MemoryError or ValueError from the KDF)."""
    s = KeyStore.init(tmp_path / "p", passphrase="pw")
    meta = json.loads((s.path / "store.json").read_text())
    meta["kek"]["scrypt"] = scrypt
    _set_store_meta(s, meta)
    with pytest.raises(KeyStoreError, match=problem):
        KeyStore.open(s.path, passphrase="pw")


def test_scrypt_parameters_in_range_are_used(tmp_path):
    """A store written with other in-range parameters opens (and a wrong passphrase,
    as ever, is a wrong KEK)."""
    import base64

    from kedi_edge import keystore

    salt = b"s" * 16
    kek = keystore._scrypt("pw", salt, {"n": 2**16, "r": 8, "p": 2})
    s = KeyStore.init(tmp_path / "p", passphrase="pw")
    meta = json.loads((s.path / "store.json").read_text())
    meta["kek"]["scrypt"] = {"n": 2**16, "r": 8, "p": 2, "salt": base64.b64encode(salt).decode()}
    nonce = os.urandom(12)
    meta["check_nonce"] = base64.b64encode(nonce).decode()
    meta["check"] = base64.b64encode(keystore.AESGCM(kek).encrypt(nonce, keystore._CHECK,
                                                                    b"kedi-keystore/1")).decode()
    _set_store_meta(s, meta)
    assert KeyStore.open(s.path, passphrase="pw").meta["kek"]["scrypt"]["p"] == 2


@pytest.mark.parametrize("text", ['"x"', "null", "[]", "{", b"\xff", "[" * 100_000],
                         ids=["a string", "null", "a list", "not JSON", "not UTF-8", "deep nesting"])
def test_entry_that_is_not_an_object_is_a_key_store_error(tmp_path, store, text):
    key = store.add(key_image())
    path = store.path / "keys" / f"{key.key_id}.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    fresh = KeyStore.open(store.path, kek_file=tmp_path / "kek.key")
    with pytest.raises(KeyStoreError, match=f"{key.key_id}.json: corrupt key store entry"):
        fresh.get(key.key_id)
    assert fresh.list() == [{"key_id": key.key_id, "error": "unreadable entry"}]


@pytest.mark.parametrize("field, value, problem", [
    ("wrapped", 5, "'wrapped' must be a string, got an integer"),
    ("wrapped", "!!", "'wrapped' is not base64"),
    ("wrapped", "AAAA", "'wrapped' holds 3 bytes"),
    ("nonce", None, "'nonce' must be a string, got null"),
    ("shape", "16x24", "'shape' must be an array, got a string"),
    ("shape", [16, 24, 1], "not that of a 2-D uint32 key"),
    ("shape", [16.0, 24], "not that of a 2-D uint32 key"),
    ("shape", [-16, -24], "not that of a 2-D uint32 key"),
    ("dtype", "<u2", "not that of a 2-D uint32 key"),
    ("format", "kedi-key/9", "format or key id"),
    ("key_id", "k" + "00" * 12, "format or key id"),
])
def test_malformed_entry_fields_are_named(tmp_path, store, field, value, problem):
    key = store.add(key_image())
    path = store.path / "keys" / f"{key.key_id}.json"
    entry = json.loads(path.read_text())
    entry[field] = value
    path.write_text(json.dumps(entry))
    fresh = KeyStore.open(store.path, kek_file=tmp_path / "kek.key")
    with pytest.raises(KeyStoreError, match=problem):
        fresh.get(key.key_id)


def _scope_maker(store):
    return lambda scope: store.add(key_image(len(scope["tag"]) + os.getpid()), scope=scope)


def test_repointed_scope_link_is_refused(tmp_path, store):
    """Someone who can write the store but has no KEK points series B's link at series
    A's key: B's files must not be encrypted with A's key, and no new key is made."""
    ka = store.key_for_scope("series", "1.2.3.A", _scope_maker(store))
    kb = store.key_for_scope("series", "1.2.3.B", _scope_maker(store))
    link_b = store.path / "scopes" / store.scope_tag("series", "1.2.3.B")
    link_b.write_text(ka.key_id)
    fresh = KeyStore.open(store.path, kek_file=tmp_path / "kek.key")
    made = []
    with pytest.raises(KeyStoreError, match=f"{link_b.name}: scope link names key {ka.key_id}, which was made "
                                            "for another series"):
        fresh.key_for_scope("series", "1.2.3.B", made.append)
    assert made == [] and len(list((store.path / "keys").iterdir())) == 2
    link_b.write_text(kb.key_id)
    assert KeyStore.open(store.path, kek_file=tmp_path / "kek.key").key_for_scope(
        "series", "1.2.3.B", made.append).key_id == kb.key_id


def test_scope_link_to_another_policy_or_an_image_key_is_refused(tmp_path, store):
    series = store.key_for_scope("series", "1.2.3", _scope_maker(store))
    image_key = store.add(key_image())
    study_link = store.path / "scopes" / store.scope_tag("study", "1.2.3")
    for target in (series, image_key):
        study_link.write_text(target.key_id)
        fresh = KeyStore.open(store.path, kek_file=tmp_path / "kek.key")
        with pytest.raises(KeyStoreError, match="made for the (series|image) policy, not for this study"):
            fresh.key_for_scope("study", "1.2.3", _scope_maker(fresh))


def test_scope_link_to_a_missing_key_or_garbage(tmp_path, store):
    link = store.path / "scopes" / store.scope_tag("series", "9.9")
    for text, problem in (("k" + "00" * 12, "which is not in the store"), ("../store", "which is not in the store"),
                          ("\xe9", "unreadable scope link")):
        link.write_text(text, encoding="latin-1")
        fresh = KeyStore.open(store.path, kek_file=tmp_path / "kek.key")
        with pytest.raises(KeyStoreError, match=problem):
            fresh.key_for_scope("series", "9.9", _scope_maker(fresh))


def test_make_must_use_the_scope_it_is_given(store):
    with pytest.raises(kedi_edge.InvalidInputError, match="make"):
        store.key_for_scope("series", "1.2.3", lambda scope: store.add(key_image()))
    assert not list((store.path / "scopes").iterdir())


def test_key_cache_is_bounded_by_count(tmp_path, store):
    """--policy image makes a key per file: the store keeps only the most recently used."""
    keys = [store.add(key_image(i, (8, 8))) for i in range(store.cache_keys + 10)]
    assert list(store._cache) == [k.key_id for k in keys[-store.cache_keys:]]
    again = store.get(keys[0].key_id)  # dropped: read and unwrapped again
    assert again is not keys[0]
    np.testing.assert_array_equal(again.image, keys[0].image)
    assert len(store._cache) == store.cache_keys and next(reversed(store._cache)) == keys[0].key_id


def test_key_cache_is_bounded_by_bytes_including_key_arrays(store):
    store.cache_bytes = 3 * 2**20
    a = np.zeros((512, 512), np.uint16)  # a 512 KiB key array per key, beside its 256 KiB image
    for i in range(12):
        kedi_edge.seal(a, store.add(key_image(i, (256, 256))))
    store.get(next(reversed(store._cache)))  # a hit trims too: the key arrays grew after add()
    kept = [k for k, _ in store._cache.values()]
    assert 1 < len(kept) < 12
    assert sum(k.image.nbytes + k._arrays.nbytes for k in kept) <= store.cache_bytes


def test_key_in_use_stays_cached(store):
    """The key of a series is used for each of its files, between other keys: it is
    never dropped, so never unwrapped twice; nor is a key larger than the byte limit."""
    store.cache_keys = 4
    made = []
    series = store.key_for_scope("series", "1.2.3", lambda scope: made.append(1) or store.add(key_image(), scope=scope))
    for i in range(20):
        store.add(key_image(i, (8, 8)))  # an image-policy file between two of the series
        assert store.key_for_scope("series", "1.2.3", made.append) is series
    assert made == [1]
    store.cache_bytes = 1
    assert store.get(series.key_id) is series and store.get(series.key_id) is series
    assert list(store._cache) == [series.key_id]


def test_kek_file_through_a_symbolic_link_is_refused(tmp_path, store):
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "kek.key")
    with pytest.raises(KeyStoreError, match="symbolic link; give the path of the file itself"):
        KeyStore.open(store.path, kek_file=link)
    link.unlink()
    link.symlink_to(tmp_path / "nowhere.key")  # dangling: never followed to create a file either
    with pytest.raises(KeyStoreError, match="symbolic link"):
        KeyStore.init(tmp_path / "s2", kek_file=link)
    assert not (tmp_path / "nowhere.key").exists()


def test_kek_file_of_another_user_is_refused(tmp_path, store, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(tmp_path / "kek.key").st_uid + 1)
    with pytest.raises(KeyStoreError, match="belongs to user id .*, not to this user"):
        KeyStore.open(store.path, kek_file=tmp_path / "kek.key")


@pytest.mark.parametrize("kind", ["folder", "fifo", "empty", "long"])
def test_kek_file_that_is_not_a_32_byte_regular_file(tmp_path, store, kind):
    bad = tmp_path / "bad.key"
    if kind == "folder":
        bad.mkdir(mode=0o700)
    elif kind == "fifo":
        os.mkfifo(bad, 0o600)  # opening must not block waiting for a writer
    else:
        bad.write_bytes(b"" if kind == "empty" else b"k" * 64)
        bad.chmod(0o600)
    problem = {"folder": "not a regular file", "fifo": "not a regular file", "empty": "this one 0",
               "long": "this one more"}[kind]
    with pytest.raises(KeyStoreError, match=problem):
        KeyStore.open(store.path, kek_file=bad)


def test_kek_file_is_created_atomically_and_never_replaced(tmp_path, monkeypatch):
    from kedi_edge import keystore

    kek = tmp_path / "cfg" / "kek.key"
    written = []
    real = keystore.write_atomic
    monkeypatch.setattr(keystore, "write_atomic", lambda p, d, **kw: written.append((p, kw)) or real(p, d, **kw))
    created = keystore.create_kek_file(kek)
    assert written == [(kek, {"overwrite": False, "mode": 0o600})]
    assert kek.read_bytes() == created and kek.stat().st_mode & 0o777 == 0o600
    assert (kek.parent.stat().st_mode & 0o777) == 0o700 and os.listdir(kek.parent) == ["kek.key"]
    with pytest.raises(KeyStoreError, match="already exists; not replacing it"):
        keystore.create_kek_file(kek)
    assert kek.read_bytes() == created
    s = KeyStore.init(tmp_path / "store", kek_file=kek)  # init uses an existing KEK file
    assert kek.read_bytes() == created and KeyStore.open(s.path, kek_file=kek).path == s.path


@pytest.mark.parametrize("image", [np.full((4, 4), 255, np.uint8), np.full((4, 4), -1, np.int64),
                                   np.full((4, 4), 3.9), np.full((4, 4), 7, np.int32), np.ones((4, 4), bool),
                                   np.full((4, 4), 2**40, np.uint64), [[1, 2, 3, 4], [5, 6, 7, 8]]],
                         ids=["uint8", "int64", "float", "int32", "bool", "uint64", "list"])
def test_add_refuses_key_images_that_are_not_uint32(store, image):
    """Nothing is converted: uint8 255 used to become 0x000000ff, float 3.9 became 3."""
    with pytest.raises(kedi_edge.InvalidInputError, match="must be a uint32 array"):
        store.add(image)
    assert not list((store.path / "keys").iterdir())


def test_add_takes_either_byte_order_exactly(store):
    image = key_image(3, (4, 4))
    key = store.add(image.astype(">u4"))
    np.testing.assert_array_equal(key.image, image)
    np.testing.assert_array_equal(KeyStore.open(store.path, kek_file=store.path.parent / "kek.key")
                                  .get(key.key_id).image, image)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 3), (7, 1), (4,), (2, 4, 4)])
def test_add_refuses_keys_under_256_bits(store, shape):
    with pytest.raises(kedi_edge.InvalidInputError, match="2-D with at least 8 pixels"):
        store.add(np.ones(shape, np.uint32))
    store.add(np.arange(8, dtype=np.uint32).reshape(1, 8))  # 8 pixels: accepted


def test_existing_small_keys_still_open(tmp_path, store):
    """Only making a key under 8 pixels is refused: a stored one (from before the
    minimum) still opens, and seals and opens images."""
    import base64

    from kedi_edge import keystore

    key = store.add(key_image(0, (2, 4)))
    path = store.path / "keys" / f"{key.key_id}.json"
    entry = json.loads(path.read_text())
    del entry["nonce"], entry["wrapped"]
    entry["shape"] = [1, 1]
    nonce = os.urandom(12)
    wrapped = store._aead.encrypt(nonce, np.array([[0xDEADBEEF]], "<u4").tobytes(), keystore._canonical(entry))
    path.write_text(json.dumps({**entry, "nonce": base64.b64encode(nonce).decode(),
                                "wrapped": base64.b64encode(wrapped).decode()}))
    small = KeyStore.open(store.path, kek_file=tmp_path / "kek.key").get(key.key_id)
    assert small.image.tolist() == [[0xDEADBEEF]]
    a = np.arange(12, dtype=np.uint16).reshape(3, 4)
    np.testing.assert_array_equal(kedi_edge.open(kedi_edge.seal(a, small), small), a)


@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (2, 3), (7, 1)])
def test_new_key_for_a_tiny_image_is_made_at_least_8_pixels(store, shape):
    """A key for a tiny image (a small .npy plane, keys new --shape 1x1) gets more rows
    instead of being refused; it is tiled and cropped to the image when sealing."""
    gen = kedi_edge.KeyGenerator(device="cpu")
    img = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    for image in (img, None):
        key = store.new_key(gen, shape, image)
        assert key.image.shape[1] == shape[1] and key.image.shape[0] >= shape[0] and key.image.size >= 8
        np.testing.assert_array_equal(kedi_edge.open(kedi_edge.seal(img, key), key), img)


NFC, NFD = "caf\u00e9 \u00c5ngstr\u00f6m", "cafe\u0301 A\u030angstro\u0308m"


def test_passphrase_is_normalised_to_nfc(tmp_path):
    """The same passphrase typed as composed or decomposed characters (macOS and Linux
    keyboards differ) opens the store."""
    s = KeyStore.init(tmp_path / "p", passphrase=NFD)
    assert KeyStore.open(s.path, passphrase=NFC).path == s.path
    assert KeyStore.open(s.path, passphrase=NFD).path == s.path
    with pytest.raises(KeyStoreError, match="wrong KEK"):
        KeyStore.open(s.path, passphrase="cafe")


def test_store_made_with_a_non_nfc_passphrase_before_normalisation_still_opens(tmp_path, monkeypatch):
    """Before passphrases were normalised, the KEK came from the UTF-8 of the passphrase
    as typed: such a store opens with that same passphrase."""
    from kedi_edge import keystore

    monkeypatch.setattr(keystore, "_scrypt", lambda pw, salt, params: keystore.Scrypt(
        salt=salt, length=32, **params).derive(pw.encode("utf-8") if isinstance(pw, str) else pw))
    s = KeyStore.init(tmp_path / "p", passphrase=NFD)  # the old derivation: raw UTF-8
    monkeypatch.undo()
    assert KeyStore.open(s.path, passphrase=NFD).path == s.path
    with pytest.raises(KeyStoreError, match="wrong KEK"):
        KeyStore.open(s.path, passphrase=NFC)  # as before: the composed form never opened it


def test_passphrase_that_is_not_utf8_is_a_key_store_error(tmp_path):
    """os.environ holds bytes that are not UTF-8 as lone surrogates; encoding them
    raised UnicodeEncodeError (quoting part of the passphrase)."""
    bad = os.fsdecode(b"secret\xff")
    with pytest.raises(KeyStoreError, match="not valid UTF-8") as e:
        KeyStore.init(tmp_path / "p", passphrase=bad)
    assert "secret" not in str(e.value) and e.value.__cause__ is None
    KeyStore.init(tmp_path / "q", passphrase="pw")
    with pytest.raises(KeyStoreError, match="not valid UTF-8"):
        KeyStore.open(tmp_path / "q", passphrase=bad)
    assert not (tmp_path / "p").exists()


def test_scope_tags_are_hmac_sha256_under_a_key_from_the_kek(tmp_path, store):
    """The tag scheme is pinned: stores and DICOM UIDs made earlier must keep matching."""
    import hashlib
    import hmac

    kek = (tmp_path / "kek.key").read_bytes()
    scope_key = hmac.new(kek, b"kedi-edge scope tags", hashlib.sha256).digest()
    for policy, uid in (("series", "1.2.3"), ("study", "1.2"), ("series-uid", "1.2.840.99\u00e9")):
        assert store.scope_tag(policy, uid) == hmac.new(scope_key, f"{policy}:{uid}".encode(),
                                                        hashlib.sha256).hexdigest()
