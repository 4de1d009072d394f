"""Key problems through the command line: each a clear error and exit code 9."""

import errno
import os
import shutil

import pydicom
import pytest

from kedi_edge import cli, keystore


def store_args(root):
    return ["--keys", str(root / "store"), "--kek-file", str(root / "kek.key")]


@pytest.fixture
def encrypted(tmp_path):
    shutil.copy(pydicom.data.get_testdata_file("CT_small.dcm", download=False), tmp_path / "a.dcm")
    assert cli.main(["keys", "init", *store_args(tmp_path)]) == 0
    assert cli.main(["encrypt", str(tmp_path / "a.dcm"), "-o", str(tmp_path / "enc"), "--no-progress",
                     *store_args(tmp_path)]) == 0
    return tmp_path / "enc" / "a.dcm"


def decrypt(tmp_path, enc, *extra):
    return cli.main(["decrypt", str(enc), "-o", str(tmp_path / "dec"), "--no-progress", *store_args(tmp_path),
                     *extra])


def test_corrupt_entry_is_9(tmp_path, encrypted, capsys):
    (entry,) = (tmp_path / "store" / "keys").glob("k*.json")
    entry.write_text(entry.read_text().replace('"wrapped": "', '"wrapped": "AAAA'))
    assert decrypt(tmp_path, encrypted) == cli.EXIT_KEYS
    assert entry.stem in capsys.readouterr().err
    assert not (tmp_path / "dec" / "a.dcm").exists()


def test_wrong_kek_is_9(tmp_path, encrypted, capsys):
    (tmp_path / "kek.key").write_bytes(b"\x01" * 32)
    assert decrypt(tmp_path, encrypted) == cli.EXIT_KEYS
    assert "KEK" in capsys.readouterr().err


def test_read_only_store_is_9_and_writes_nothing(tmp_path, monkeypatch, capsys):
    shutil.copy(pydicom.data.get_testdata_file("CT_small.dcm", download=False), tmp_path / "a.dcm")
    assert cli.main(["keys", "init", *store_args(tmp_path)]) == 0

    def read_only(path, data, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(keystore, "write_atomic", read_only)
    assert cli.main(["encrypt", str(tmp_path / "a.dcm"), "-o", str(tmp_path / "enc"), "--no-progress",
                     *store_args(tmp_path)]) == cli.EXIT_KEYS
    assert "Read-only file system" in capsys.readouterr().err
    assert not list((tmp_path / "enc").glob("*.dcm")) if (tmp_path / "enc").exists() else True


@pytest.mark.parametrize("text", ["null", "[]", '{"format": "kedi-key/1"}'])
def test_malformed_entry_is_9(tmp_path, encrypted, capsys, text):
    """An entry that is valid JSON but not a key entry is a key error, not an internal one."""
    (entry,) = (tmp_path / "store" / "keys").glob("k*.json")
    entry.write_text(text)
    assert decrypt(tmp_path, encrypted) == cli.EXIT_KEYS
    err = capsys.readouterr().err
    assert entry.name in err and "corrupt key store entry" in err
    assert not (tmp_path / "dec" / "a.dcm").exists()


def test_malformed_store_json_is_9(tmp_path, encrypted, capsys):
    (tmp_path / "store" / "store.json").write_text("[]")
    assert decrypt(tmp_path, encrypted) == cli.EXIT_KEYS
    assert "store.json: not a readable key store" in capsys.readouterr().err


def test_passphrase_that_is_not_utf8_is_9(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KEDI_PASSPHRASE", os.fsdecode(b"pass\xffword"))
    assert cli.main(["keys", "init", "--passphrase", "--keys", str(tmp_path / "store")]) == cli.EXIT_KEYS
    assert "not valid UTF-8" in capsys.readouterr().err
