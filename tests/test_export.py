"""export/export_onnx.py: the model and its card replace the old pair together."""

import hashlib
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from kedi_edge import KeyGenerator
from kedi_edge.keygen import default_model_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "export"))
import export_onnx

SHIPPED = default_model_path().read_bytes()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def old_pair(tmp_path):
    """An installed model (stand-in bytes) and its card; returns the model's path."""
    out = tmp_path / "g.onnx"
    out.write_bytes(b"old model")
    out.with_suffix(".json").write_text(json.dumps({"sha256": _sha(b"old model")}))
    return out


def _unchanged(out: Path) -> None:
    assert out.read_bytes() == b"old model"
    assert json.loads(out.with_suffix(".json").read_text())["sha256"] == _sha(b"old model")
    assert sorted(p.name for p in out.parent.iterdir()) == ["g.json", "g.onnx"]  # no leftovers


def test_install_replaces_model_and_card(old_pair):
    tmp = old_pair.with_suffix(".tmp.onnx")
    tmp.write_bytes(SHIPPED)
    card_path = export_onnx.install(tmp, {"sha256": _sha(SHIPPED)}, old_pair)
    assert card_path == old_pair.with_suffix(".json")
    assert old_pair.read_bytes() == SHIPPED
    assert json.loads(card_path.read_text())["sha256"] == _sha(SHIPPED)
    assert sorted(p.name for p in old_pair.parent.iterdir()) == ["g.json", "g.onnx"]
    assert KeyGenerator(old_pair, device="cpu").sha256 == _sha(SHIPPED)  # card checked


def test_install_that_fails_leaves_the_old_pair(old_pair):
    tmp = old_pair.with_suffix(".tmp.onnx")
    tmp.write_bytes(SHIPPED)
    with pytest.raises(TypeError):  # the card cannot be written
        export_onnx.install(tmp, {"sha256": _sha(SHIPPED), "bad": object()}, old_pair)
    _unchanged(old_pair)


def _stub_export(monkeypatch, quality):
    """main() with training, torch export and measurement stubbed: the 'export' writes
    the shipped model's bytes; key_quality is ``quality``."""
    summary = {"config": {"seed": 1, "width": 8, "head": 4, "head_gain": 32.0}, "params": 1,
               "data": "stub", "steps": 0, "threads": 1, "train_seconds": 0.0, "last_log": {}}
    monkeypatch.setattr(export_onnx, "load_generator", lambda path: (None, summary))
    monkeypatch.setattr(export_onnx, "export", lambda model, path, opset: Path(path).write_bytes(SHIPPED))
    monkeypatch.setattr(export_onnx, "check_against_torch", lambda model, path: [])
    monkeypatch.setattr(export_onnx, "count_macs", lambda model, shapes: 0)
    monkeypatch.setattr(export_onnx, "key_quality", quality)


def test_export_that_fails_leaves_the_old_pair(old_pair, monkeypatch):
    def quality(path):
        raise RuntimeError("measurement failed")

    _stub_export(monkeypatch, quality)
    with pytest.raises(RuntimeError, match="measurement failed"):
        export_onnx.main(["--checkpoint", "unused.pt", "--out", str(old_pair)])
    _unchanged(old_pair)


def test_export_measures_the_new_file_before_it_replaces_the_old(old_pair, monkeypatch):
    measured = []

    def quality(path):
        measured.append(path)
        assert old_pair.read_bytes() == b"old model"  # not replaced yet
        KeyGenerator(path, device="cpu")  # loads: no card of its name to disagree with
        return {"stub": True}

    _stub_export(monkeypatch, quality)
    assert export_onnx.main(["--checkpoint", "unused.pt", "--out", str(old_pair)]) == 0
    assert [Path(p).name for p in measured] == ["g.tmp.onnx", "g.tmp.untrained.onnx"]
    card = json.loads(old_pair.with_suffix(".json").read_text())
    assert card["sha256"] == _sha(old_pair.read_bytes()) == _sha(SHIPPED) and card["file"] == "g.onnx"
    assert sorted(p.name for p in old_pair.parent.iterdir()) == ["g.json", "g.onnx"]
    KeyGenerator(old_pair, device="cpu")
