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
