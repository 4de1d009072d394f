"""Export a trained ZZ-GAN generator to one ONNX file, check it, write its model card.

    python export/export_onnx.py --checkpoint runs/zzgan/zzgan.pt \
        [--out models/zzgan_generator.onnx] [--opset 18]

1. torch -> ONNX (dynamo exporter, opset >= 17, dynamic batch/height/width as
   multiples of 4, weights inside the file: no external data).
2. ONNX Runtime (CPU) against torch on several sizes. The continuous pre-wrap value u
   must agree within a relative 1e-4 (float32 rounding through the layers), and a key
   byte may differ only by 1 (mod 256) and only where torch's value lies within that
   rounding of a quantisation boundary. Keys wrap a value of magnitude ~100 modulo
   1/256, so such bytes are a few per thousand: keys are stored, never regenerated.
3. Key quality measured through the runtime (kedi_edge.KeyGenerator) on the file
   just written, and on the same architecture untrained (what training added);
   everything goes into the model card (same name, .json).

The model and its card are written as temporary files next to ``--out`` and renamed
over the old pair only when both are complete (see :func:`install`): a failure on
the way leaves the old model and card as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from key_quality import key_quality
from onnx_macs import count_macs

import kedi_edge
from kedi_edge.train import KEY_PLANES, NOISE_PLANES, STRIDE, Generator, load_generator

CHECK_SIZES = [(16, 16), (64, 96), (128, 128), (256, 200), (512, 512)]
U_RTOL = 1e-4


def export(model: torch.nn.Module, path: Path, opset: int) -> None:
    n = torch.export.Dim("n", min=1, max=1024)
    h4 = torch.export.Dim("h4", min=1, max=8192)
    w4 = torch.export.Dim("w4", min=1, max=8192)
    dims = {0: n, 2: STRIDE * h4, 3: STRIDE * w4}
    args = (torch.rand(1, 1, 64, 64), torch.rand(1, NOISE_PLANES, 64, 64),
            torch.zeros(1, KEY_PLANES, 64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter about axis names
        torch.onnx.export(model, args, str(path), input_names=["image", "noise", "pad"],
                          output_names=["key", "raw", "u"], opset_version=opset,
                          dynamic_shapes={"image": dims, "noise": dims, "pad": dims},
                          external_data=False, dynamo=True)
    if path.with_suffix(path.suffix + ".data").exists():
        raise SystemExit(f"{path}: exporter wrote external data; expected a single file")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def check_against_torch(model: torch.nn.Module, path: Path) -> list[dict]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    rows = []
    for h, w in CHECK_SIZES:
        x = rng.random((2, 1, h, w), dtype=np.float32)
        z = ((rng.integers(0, 256, (2, NOISE_PLANES, h, w)) + 0.5) / 256).astype(np.float32)
        p = rng.integers(0, 256, (2, KEY_PLANES, h, w)).astype(np.float32)
        with torch.no_grad():
            key_t, raw_t, u_t = (t.double().numpy() for t in model(*(torch.from_numpy(a) for a in (x, z, p))))
        key_o, raw_o, u_o = (a.astype(np.float64) for a in sess.run(["key", "raw", "u"], {"image": x, "noise": z, "pad": p}))
        du = np.abs(u_t - u_o)
        rel = float((du / np.maximum(1.0, np.abs(u_t))).max())
        row = {"size": f"{h}x{w}", "u_max_rel_diff": rel}
        if rel > U_RTOL:
            raise SystemExit(f"ONNX Runtime differs from torch at {h}x{w}: u relative diff {rel:.2e}")
        # Distance of torch's byte-scaled value to the nearest quantisation boundary.
        v = (u_t - np.floor(u_t)) * 256
        to_boundary = np.abs(v - np.round(v))
        for name, a, b in (("key", key_t, key_o), ("raw", raw_t, raw_o)):
            d = np.abs(a - b)
            circ = np.minimum(d, 256 - d)
            row[f"{name}_differing_fraction"] = float((d > 0).mean())
            unexplained = (d > 0) & (to_boundary > 256 * du + 1e-3)
            if circ.max() > 1 or unexplained.any():
                raise SystemExit(f"ONNX Runtime differs from torch at {h}x{w} ({name}): "
                                 f"{int(unexplained.sum())} bytes away from a boundary, "
                                 f"max circular diff {circ.max()}")
        rows.append(row)
    return rows


def _export_and_describe(model: torch.nn.Module, summary: dict, tmp: Path, name: str,
                         opset: int) -> dict:
    """Exports ``model`` to ``tmp``, checks it against torch, measures it; its card."""
    export(model, tmp, opset)
    checks = check_against_torch(model, tmp)
    data = tmp.read_bytes()
    m = onnx.load(str(tmp))
    macs = count_macs(m, {"image": [1, 1, 512, 512], "noise": [1, NOISE_PLANES, 512, 512],
                          "pad": [1, KEY_PLANES, 512, 512]})
    t0 = time.perf_counter()
    quality = key_quality(str(tmp))
    # The same architecture before any training, for comparison: what the GAN added.
    cfg = summary["config"]
    torch.manual_seed(cfg["seed"])
    untrained = Generator(cfg["width"], cfg["head"], cfg.get("head_gain", 32.0)).eval()
    tmp_untrained = tmp.with_suffix(".untrained.onnx")
    try:
        export(untrained, tmp_untrained, opset)
        quality_untrained = key_quality(str(tmp_untrained))
    finally:
        tmp_untrained.unlink(missing_ok=True)
    return {
        "name": "ZZ-GAN key generator (kedi_edge)",
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "opset": opset,
        "inputs": {"image": "(N, 1, H, W) float32 in [0, 1]; H, W multiples of 4",
                   "noise": f"(N, {NOISE_PLANES}, H, W) float32, keystream bytes (b + 0.5) / 256",
                   "pad": f"(N, {KEY_PLANES}, H, W) float32, keystream bytes 0..255"},
        "outputs": {"raw": "(N, 4, H, W) the network's own key bytes 0..255",
                    "key": "(N, 4, H, W) (raw + pad) mod 256, the key bytes the runtime uses",
                    "u": "(N, 4, H, W) the value before the wrap, raw = floor(256 frac(u)); for checks"},
        "architecture": (
            "image + noise -> pixel-unshuffle 4 -> conv3x3 48->{w} -> residual conv3x3 {w} -> "
            "+ global context (mean-pool, linear, tanh) -> residual conv3x3 {w} -> conv1x1 "
            "{w}->64 -> pixel-shuffle 4 -> concat image+noise -> conv1x1 7->{h} -> conv1x1 "
            "{h}->4 -> frac (mod 1) -> bytes; LeakyReLU 0.2"
        ).format(w=summary["config"]["width"], h=summary["config"]["head"]),
        "parameters": summary["params"],
        "gmac_512x512": round(macs / 1e9, 4),
        "training": {k: summary[k] for k in ("data", "steps", "threads", "train_seconds", "config", "last_log")},
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": __import__("onnxruntime").__version__,
                     "kedi_edge": kedi_edge.__version__},
        "export_check": {"u_relative_tolerance": U_RTOL,
                         "rule": "bytes may differ by 1 (mod 256) only where torch's value is within "
                                 "the measured u difference of a quantisation boundary",
                         "rows": checks},
        "key_quality": quality,
        "key_quality_untrained_same_architecture": quality_untrained,
        "key_quality_seconds": round(time.perf_counter() - t0, 1),
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(model_tmp: Path, card: dict, out: Path) -> Path:
    """Puts the checked model ``model_tmp`` and its ``card`` in place as ``out`` and
    ``out`` with suffix .json; returns the card's path.

    ``model_tmp`` must be in ``out``'s folder. The card is written in full next to it
    and both are flushed to disk before the two renames (os.replace, atomic within a
    file system), model first; the temporary files are removed whatever happens. A
    failure before the renames leaves the old pair untouched; only a crash between the
    two renames can leave a new model with the old card, which the runtime refuses
    (the sha256 differs).
    """
    card_path = out.with_suffix(".json")
    card_tmp = model_tmp.with_suffix(".json")
    try:
        text = json.dumps(card, indent=2) + "\n"
        with open(card_tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        _fsync(model_tmp)
        os.replace(model_tmp, out)
        os.replace(card_tmp, card_path)
        if hasattr(os, "O_DIRECTORY"):  # the renames themselves, where the OS allows it
            _fsync(out.parent)
    finally:
        model_tmp.unlink(missing_ok=True)
        card_tmp.unlink(missing_ok=True)
    return card_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="zzgan.pt written by `kedi-edge train`")
    ap.add_argument("--out", default=str(ROOT / "models" / "zzgan_generator.onnx"))
    ap.add_argument("--opset", type=int, default=18)
    args = ap.parse_args(argv)
    if args.opset < 17:
        ap.error("--opset must be >= 17")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model, summary = load_generator(args.checkpoint)

    # Everything is measured on a temporary file beside the output; it replaces the old
    # model, with its card, only at the end.
    tmp = out.with_suffix(".tmp.onnx")
    tmp.with_suffix(".json").unlink(missing_ok=True)  # a stale card would be checked against tmp
    try:
        card = _export_and_describe(model, summary, tmp, out.name, args.opset)
        card_path = install(tmp, card, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {out} ({card['bytes']} bytes, {card['gmac_512x512']} GMAC at 512x512) and {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
