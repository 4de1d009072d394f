"""kedi_edge.train (torch) and export/: smoke training, determinism, resume, ONNX export."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from kedi_edge import KediError, KeyGenerator
from kedi_edge.train import Generator, TrainConfig, generator_macs, load_generator, train
from kedi_edge.train.data import load_folder, load_planes, make_phantom
from kedi_edge.train.trainer import _neighbour_corr, _soft_entropy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "export"))
import export_onnx
from onnx_macs import count_macs

TINY = {"steps": 4, "batch": 2, "crop": 32, "phantoms": 4, "width": 8, "head": 4}


def _state(path):
    return torch.load(path, weights_only=False)["generator"]


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A folder with one real DICOM file, one PNG and one broken file."""
    import pydicom
    from PIL import Image

    d = tmp_path_factory.mktemp("data")
    shutil.copy(pydicom.data.get_testdata_file("MR_small.dcm", download=False), d / "mr.dcm")
    phantom = (make_phantom(np.random.default_rng(1), 48) * 255).astype(np.uint8)
    Image.fromarray(phantom).save(d / "phantom.png")
    (d / "broken.dcm").write_bytes(b"not a dicom file")
    return d


def test_load_folder_reads_dicom_and_png_and_skips_broken(data_dir):
    with pytest.warns(RuntimeWarning, match="skipped 1 unreadable"):
        planes = load_folder(data_dir)
    assert len(planes) == 2
    for p in planes:
        assert p.dtype == np.float32 and p.min() == 0.0 and p.max() == 1.0


def test_bad_training_data_is_a_clear_error(tmp_path):
    with pytest.raises(KediError, match="not found"):
        load_folder(tmp_path / "nope")
    with pytest.raises(KediError, match="no readable"):
        load_folder(tmp_path)
    (tmp_path / "x.dcm").write_bytes(b"junk")
    with pytest.raises(KediError, match="x.dcm"):
        load_planes(tmp_path / "x.dcm")


def test_smoke_training_is_deterministic(tmp_path, data_dir):
    cfg = TrainConfig(**TINY)
    with pytest.warns(RuntimeWarning):
        s1 = train(tmp_path / "a", data=data_dir, config=cfg, threads=1, progress=False, log_every=2)
    with pytest.warns(RuntimeWarning):
        train(tmp_path / "b", data=data_dir, config=cfg, threads=1, progress=False, log_every=2)
    assert s1["steps"] == 4 and "2 planes" in s1["data"]
    log = [json.loads(line) for line in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    assert {"adv", "hist", "corr", "dep", "d"} <= set(log[0])
    assert _same(_state(tmp_path / "a" / "zzgan.pt"), _state(tmp_path / "b" / "zzgan.pt"))
    other = TrainConfig(**{**TINY, "seed": 1})
    with pytest.warns(RuntimeWarning):
        train(tmp_path / "c", data=data_dir, config=other, threads=1, progress=False)
    assert not _same(_state(tmp_path / "a" / "zzgan.pt"), _state(tmp_path / "c" / "zzgan.pt"))


def test_resume_gives_the_same_model(tmp_path):
    full = TrainConfig(**TINY)
    train(tmp_path / "full", config=full, threads=1, progress=False, ckpt_every=2)
    half = TrainConfig(**{**TINY, "steps": 2})
    train(tmp_path / "resumed", config=half, threads=1, progress=False, ckpt_every=2)
    train(tmp_path / "resumed", config=full, threads=1, progress=False, ckpt_every=2, resume=True)
    assert _same(_state(tmp_path / "full" / "zzgan.pt"), _state(tmp_path / "resumed" / "zzgan.pt"))


def test_loss_terms_measure_what_they_claim():
    gen = torch.Generator().manual_seed(0)
    uniform = torch.randint(0, 256, (1, 1, 128, 128), generator=gen).float()
    assert abs(_soft_entropy(uniform, 16384, gen).item() - np.log(256)) < 0.02
    assert _soft_entropy(torch.full((1, 1, 64, 64), 7.0), 4096, gen).item() < 1.0
    ramp = torch.arange(64.0)[None, :].repeat(64, 1)[None, None] + torch.arange(64.0)[:, None]
    assert torch.all(_neighbour_corr(ramp) > 0.99)
    assert torch.all(_neighbour_corr(uniform / 255).abs() < 0.05)


def test_generator_is_light_and_pads_to_stride():
    g = Generator().eval()
    assert generator_macs(g, 512, 512) <= 1.5e9
    x = torch.rand(1, 1, 20, 28)
    key, raw, _ = g(x, torch.rand(1, 2, 20, 28), torch.zeros(1, 4, 20, 28))
    assert key.shape == (1, 4, 20, 28) and torch.equal(key, raw)
    assert torch.equal(raw, raw.round()) and raw.min() >= 0 and raw.max() <= 255


def test_export_matches_torch_and_counts_macs(tmp_path):
    train(tmp_path / "run", config=TrainConfig(**TINY), threads=1, progress=False)
    model, _ = load_generator(tmp_path / "run" / "zzgan.pt")
    onnx_path = tmp_path / "g.onnx"
    export_onnx.export(model, onnx_path, opset=18)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx", "run"]  # no external data
    rows = export_onnx.check_against_torch(model, onnx_path)
    assert {r["size"] for r in rows} == {f"{h}x{w}" for h, w in export_onnx.CHECK_SIZES}
    assert all(r["u_max_rel_diff"] <= export_onnx.U_RTOL for r in rows)
    import onnx

    m = onnx.load(str(onnx_path))
    assert m.opset_import[0].version >= 17
    shapes = {"image": [1, 1, 512, 512], "noise": [1, 2, 512, 512], "pad": [1, 4, 512, 512]}
    assert count_macs(m, shapes) == generator_macs(model, 512, 512)
    k = KeyGenerator(onnx_path, device="cpu").generate((30, 50), np.uint16, seed=4)
    assert k.shape == (30, 50)


def test_shipped_model_card_is_true():
    import hashlib

    import onnx

    onnx_path = ROOT / "models" / "zzgan_generator.onnx"
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    shapes = {"image": [1, 1, 512, 512], "noise": [1, 2, 512, 512], "pad": [1, 4, 512, 512]}
    macs = count_macs(onnx.load(str(onnx_path)), shapes)
    assert round(macs / 1e9, 4) == card["gmac_512x512"] and macs <= 1.5e9
    assert card["opset"] >= 17
