"""kedi_edge.envelope: sealed containers, bit-exact round trips, tampering, the frozen vector."""

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import kedi_edge
from kedi_edge import AuthenticationError, InvalidInputError, Key
from kedi_edge.envelope import _derive, _parse, open_parts, peek_header, seal_parts, unseal

VECTORS = Path(__file__).parent / "vectors"


def make_key(key_id="k" + "ab" * 12, shape=(32, 48), seed=0):
    rng = np.random.default_rng(seed)
    return Key(key_id, rng.integers(0, 2**32, shape, dtype=np.uint32))


def rand(shape, dtype, seed=1):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32])
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (37, 101), (64, 32), (2, 40, 50)])
def test_round_trip_bit_exact(dtype, shape):
    key, a = make_key(), rand(shape, dtype)
    blob = kedi_edge.seal(a, key)
    out = kedi_edge.open(blob, key)
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


def test_channels_last_and_big_endian_input():
    key = make_key()
    rgb = rand((3, 20, 30, 3), np.uint8)
    np.testing.assert_array_equal(kedi_edge.open(kedi_edge.seal(rgb, key, channel_axis=-1), key), rgb)
    be = rand((10, 12), np.uint16).astype(">u2")
    out = kedi_edge.open(kedi_edge.seal(be, key), key)
    assert out.dtype == np.dtype("=u2")
    np.testing.assert_array_equal(out, be)


def test_header_records_what_the_issue_asks():
    key = make_key()
    blob = kedi_edge.seal(rand((2, 8, 8), np.uint16), key, bits_stored=12, photometric="MONOCHROME2",
                          lossy={"speckle": {"var": 0.01}})
    h = peek_header(blob)
    assert h["format"] == "kedi/1" and h["key_id"] == key.key_id
    assert h["shape"] == [2, 8, 8] and h["dtype"] == "<u2" and h["frames"] == 2
    assert h["bits_stored"] == 12 and h["photometric"] == "MONOCHROME2"
    assert h["lossy"] == {"speckle": {"var": 0.01}}
    assert len(blob) == len(_parse(memoryview(blob))[0]) + 12 + 2 * 8 * 8 * 2 + 16


def test_remembered_headers_are_the_ones_computed():
    """seal() remembers the prefix of plain headers: it must be byte for byte the one it
    would compute, and headers differing in any field must not share it."""
    from kedi_edge import envelope

    key, a = make_key(), rand((16, 24), np.uint16)
    envelope._prefixes.clear()
    first = kedi_edge.seal(a, key, bits_stored=12, photometric="MONOCHROME2")
    again = kedi_edge.seal(a, key, bits_stored=12, photometric="MONOCHROME2")  # from the memo
    n = len(_parse(memoryview(first))[0])
    assert first[:n] == again[:n] and first[n:] != again[n:]
    for kwargs in ({"bits_stored": 11, "photometric": "MONOCHROME2"}, {"bits_stored": 12, "photometric": None},
                   {"bits_stored": 12, "photometric": "MONOCHROME2", "meta": {"site": "x"}}):
        h = peek_header(kedi_edge.seal(a, key, **kwargs))
        assert h["bits_stored"] == kwargs["bits_stored"] and h["photometric"] == kwargs["photometric"]
        assert h["meta"] == kwargs.get("meta", {})
    h = peek_header(kedi_edge.seal(a.astype(np.int16), key, bits_stored=12, photometric="MONOCHROME2"))
    assert h["dtype"] == "<i2"
    h = peek_header(kedi_edge.seal(np.stack([a, a]), key, bits_stored=12, photometric="MONOCHROME2"))
    assert h["shape"] == [2, 16, 24] and h["frames"] == 2
    np.testing.assert_array_equal(kedi_edge.open(again, key), a)


def test_same_image_same_key_gives_different_ciphertexts():
    key, a = make_key(), rand((64, 64), np.uint16)
    b1, b2 = kedi_edge.seal(a, key), kedi_edge.seal(a, key)
    off = len(_parse(memoryview(b1))[0])
    assert b1[off:off + 12] != b2[off:off + 12]  # fresh nonces
    c1, c2 = np.frombuffer(b1[off + 12:-16], np.uint8), np.frombuffer(b2[off + 12:-16], np.uint8)
    assert (c1 != c2).mean() > 0.99


def test_patterns_come_from_the_nonce():
    key = make_key()
    prefix = b"KEDI\x01" + struct.pack("<I", 2) + b"{}"
    patterns = {_derive(key, bytes([i]) * 12, prefix)[1] for i in range(64)}
    assert patterns == set(kedi_edge.PATTERNS)


def test_every_single_bit_flip_is_rejected():
    key = make_key(shape=(4, 4))
    blob = kedi_edge.seal(rand((3, 5), np.uint8), key)
    for i in range(len(blob) * 8):
        bad = bytearray(blob)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(AuthenticationError):
            kedi_edge.open(bytes(bad), key)


def test_truncation_and_extension_are_rejected():
    key = make_key()
    blob = kedi_edge.seal(rand((6, 7), np.uint16), key)
    for n in range(len(blob)):
        with pytest.raises(AuthenticationError):
            kedi_edge.open(blob[:n], key)
    with pytest.raises(AuthenticationError):
        kedi_edge.open(blob + b"\x00", key)


def test_wrong_key_is_rejected_without_pixels():
    a = rand((16, 16), np.uint16)
    blob = kedi_edge.seal(a, make_key())
    with pytest.raises(AuthenticationError, match="authentication failed"):
        kedi_edge.open(blob, make_key(seed=9))  # same id, other image
    with pytest.raises(AuthenticationError):
        kedi_edge.open(blob, make_key(key_id="k" + "cd" * 12))


def test_swapped_bodies_and_headers_are_rejected():
    key = make_key()
    p1, n1, s1 = seal_parts(rand((8, 8), np.uint8, 1), key, {"meta": {"n": 1}})
    p2, n2, s2 = seal_parts(rand((8, 8), np.uint8, 2), key, {"meta": {"n": 2}})
    for prefix, nonce, body in ((p1, n1, s2), (p2, n1, s1), (p1, n2, s1)):
        with pytest.raises(AuthenticationError):
            open_parts(prefix, nonce, body, key)
    assert open_parts(p1, n1, s1, key)[0].shape == (8, 8)


def test_bad_inputs_to_seal():
    key = make_key()
    with pytest.raises(InvalidInputError, match="integers"):
        kedi_edge.seal(np.zeros((4, 4), np.float32), key)
    with pytest.raises(InvalidInputError, match="planes"):
        kedi_edge.seal(np.zeros(5, np.uint8), key)
    with pytest.raises(InvalidInputError, match="channel_axis"):
        kedi_edge.seal(np.zeros((4, 4), np.uint8), key, channel_axis=0)
    with pytest.raises(InvalidInputError, match="uint32"):
        Key("k1", np.zeros((4, 4), np.uint16))


def test_key_arrays_tile_and_rotate_bytes():
    key = make_key(shape=(3, 5))
    k8 = key.array_for((2, 7, 11), np.dtype(np.uint8), None)
    tiled = np.tile(key.image, (3, 3))[:7, :11]
    np.testing.assert_array_equal(k8[0], (tiled & 0xFF).astype(np.uint8))
    np.testing.assert_array_equal(k8[1], ((tiled >> 8) & 0xFF).astype(np.uint8))
    assert not k8.flags.writeable


def test_frozen_vector_opens():
    desc = json.loads((VECTORS / "seal_v1.json").read_text())
    image = np.frombuffer(bytes.fromhex(desc["key_image_hex"]), "<u4").reshape(desc["key_shape"])
    key = Key(desc["key_id"], image.astype(np.uint32))
    pixels, header = unseal((VECTORS / "seal_v1.kedi").read_bytes(), key)
    assert hashlib.sha256(pixels.astype(desc["dtype"]).tobytes()).hexdigest() == desc["pixels_sha256"]
    assert list(pixels.shape) == desc["shape"] and header == desc["header"]


def container(header: bytes, body: int = 64) -> bytes:
    """A container with this raw header and a zero nonce, body and tag (never authentic)."""
    return b"KEDI\x01" + struct.pack("<I", len(header)) + header + bytes(12 + body + 16)


_GOOD = '"format":"kedi/1","key_id":"k' + "ab" * 12 + '","dtype":"|u1","channel_axis":null'


def hdr(rest: str, fields: str = _GOOD) -> bytes:
    """A header object: the well-formed fields above, then ``rest``."""
    return ("{" + fields + "," + rest + "}").encode("latin-1")


CRAFTED = {
    "deep nesting": b"[" * 100_000,
    "deep nesting in a field": hdr('"meta":' + "[" * 50_000 + ',"shape":[8,8]'),
    "Infinity": hdr('"shape":[Infinity,8]'),
    "NaN": hdr('"shape":[NaN,8]'),
    "1e400": hdr('"shape":[1e400,8]'),
    "float": hdr('"shape":[8.0,8]'),
    "bool": hdr('"shape":[true,64]'),
    "5000-digit int": hdr('"shape":[' + "9" * 5000 + ",8]"),
    "4300-digit ints": hdr('"shape":[' + ",".join(["9" * 4300] * 50) + "]"),
    "2**31": hdr(f'"shape":[{2**31},8]'),
    "zero": hdr('"shape":[0,8]'),
    "negative": hdr('"shape":[-8,-8]'),
    "one axis": hdr('"shape":[64]'),
    "nine axes": hdr('"shape":[1,1,1,1,1,1,1,8,8]'),
    "shape a string": hdr('"shape":"8,8"'),
    "shape an object": hdr('"shape":{"0":8,"1":8}'),
    "channel_axis -1.0": hdr('"shape":[8,8,1]', _GOOD.replace("null", "-1.0")),
    "dtype a list": hdr('"shape":[8,8]', _GOOD.replace('"|u1"', '["|u1"]')),
    "header a list": b"[1,2]",
    "not UTF-8": hdr('"shape":[8,8],"meta":"\xff"'),
    "size not the body's": hdr('"shape":[8,9]'),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_headers_fail_authentication(name):
    """An unauthenticated header is parsed before anything else: whatever it holds,
    peek_header and open raise AuthenticationError and nothing else (no OverflowError,
    RecursionError, TypeError)."""
    blob = container(CRAFTED[name])
    with pytest.raises(AuthenticationError):
        peek_header(blob)
    with pytest.raises(AuthenticationError):
        kedi_edge.open(blob, make_key(key_id="k" + "ab" * 12))


def test_a_well_formed_crafted_header_parses():
    """The crafted cases above fail for the reason named, not because the frame is wrong."""
    assert peek_header(container(hdr('"shape":[8,8]')))["shape"] == [8, 8]


def test_shape_limits():
    """Real ints 1 <= d < 2**31, 2 to 8 axes, and a size checked against the body after
    each axis (so a crafted shape never costs a big multiplication)."""
    from kedi_edge.envelope import MAX_DIM, MAX_DIMS, _header_nbytes

    def nbytes(shape, limit=2**300, dtype="|u1"):
        return _header_nbytes({"format": "kedi/1", "key_id": "k", "dtype": dtype, "channel_axis": None,
                               "shape": shape}, limit)

    assert MAX_DIMS == 8 and MAX_DIM == 2**31
    assert nbytes([MAX_DIM - 1] * 8) == (MAX_DIM - 1) ** 8
    assert nbytes([3, 5], dtype="<u4") == 60
    for bad in ([MAX_DIM, 1], [1] * 9, [1], [2, True], [2, 2.0], [2, 0], [10**4000, 2]):
        with pytest.raises(AuthenticationError):
            nbytes(bad)
    with pytest.raises(AuthenticationError):
        nbytes([3, 5], limit=59, dtype="<u4")
    with pytest.raises(AuthenticationError):
        nbytes([2, 1] + [10**30] * 6, limit=10)  # refused at the third axis


def test_header_is_read_once_from_the_buffer(monkeypatch):
    """The header parsed is the one authenticated even if the caller's buffer changes
    after it was read (a shared mmap rewritten by someone else)."""
    from kedi_edge import envelope

    key = make_key(shape=(4, 4))
    blob = bytearray(kedi_edge.seal(np.zeros((4, 4), np.uint8), key, photometric="MONOCHROME2"))
    pos = blob.index(b"MONOCHROME2") + 10
    blob[pos] = ord("1")  # a forged header ...
    real_loads = json.loads

    def loads_then_restore(*args, **kwargs):
        header = real_loads(*args, **kwargs)
        blob[pos] = ord("2")  # ... swapped back for the sealed one once it has been parsed
        return header

    monkeypatch.setattr(envelope.json, "loads", loads_then_restore)
    with pytest.raises(AuthenticationError):  # the forged header is what gets authenticated
        unseal(memoryview(blob), key)


def test_ciphertext_is_read_once_from_a_shared_buffer(monkeypatch):
    """An mmap is copied before GCM reads it: a change made while opening does not
    reach the decryption (GCM reads some blocks twice)."""
    import mmap

    from kedi_edge import envelope

    key, a = make_key(), rand((16, 16), np.uint16)
    sealed = kedi_edge.seal(a, key)
    blob = mmap.mmap(-1, len(sealed))
    blob[:] = sealed
    real_derive = envelope._derive

    def derive_then_tamper(*args):
        out = real_derive(*args)
        blob[-40] ^= 1  # a ciphertext byte, after unseal took its copy
        return out

    monkeypatch.setattr(envelope, "_derive", derive_then_tamper)
    np.testing.assert_array_equal(kedi_edge.open(blob, key), a)
    with pytest.raises(AuthenticationError):  # the change itself is not accepted
        kedi_edge.open(blob, key)


@pytest.mark.parametrize("first, second", [({"frames": True}, {"frames": 1}), ({"frames": 1.0}, {"frames": 1}),
                                           ({"lossy": None}, {"lossy": {}}), ({"meta": []}, {"meta": {}}),
                                           ({"bits_stored": 8.0}, {"bits_stored": 8})])
def test_remembered_prefix_is_exact(first, second):
    """Values equal to Python but written differently never share a remembered prefix."""
    from kedi_edge import envelope

    key, a = make_key(shape=(4, 4)), np.zeros((4, 4), np.uint8)

    def header(**kw):
        return {"bits_stored": 8, "photometric": None, "frames": 1, "lossy": {}, "meta": {}, **kw}

    envelope._prefixes.clear()
    p1, _, _ = seal_parts(a, key, header(**first))
    p2, n2, s2 = seal_parts(a, key, header(**second))
    (name, value), = second.items()
    got = unseal(p2 + n2 + bytes(s2), key)[1][name]
    assert got == value and type(got) is type(value)
    assert json.loads(p1[9:])[name] == first[name] and type(json.loads(p1[9:])[name]) is type(first[name])


def test_channel_axis_is_exactly_none_or_minus_one():
    key, rgb = make_key(), rand((6, 5, 3), np.uint8)
    assert peek_header(kedi_edge.seal(rgb, key, channel_axis=np.int64(-1)))["channel_axis"] == -1
    for bad in (-1.0, True, 2):
        with pytest.raises(InvalidInputError, match="channel_axis"):
            kedi_edge.seal(rgb, key, channel_axis=bad)


def test_key_digest_is_sha256_of_the_key_bytes():
    """ikm = SHA-256 of the little-endian key image (FORMAT.md step 4), whichever library computes it."""
    key = make_key(shape=(5, 7))
    assert key._ikm == hashlib.sha256(key.image.astype("<u4").tobytes()).digest()
    assert make_key(shape=(5, 7))._ikm == key._ikm != make_key(shape=(5, 7), seed=1)._ikm
