"""The shipped ZZ-GAN generator on ONNX Runtime's CUDA provider, against its CPU provider.

    python benchmarks/cuda_check.py [--model models/zzgan_generator.onnx] [--json FILE]

Needs only numpy and an ONNX Runtime with the CUDA provider (onnxruntime-gpu), so it
runs on a GPU machine without the rest of kedi_edge. The inputs have the generator's
layout (image in [0, 1], noise (b + 0.5) / 256, pad bytes) but come from numpy's
seeded generator, not from kedi_edge's keystream. It reports:

1. the providers the sessions really use (CUDA first, or it stops with exit code 5);
2. agreement: the fraction of key bytes equal between the CPU provider and the CUDA
   provider, with TF32 convolutions (use_tf32=1) and without (use_tf32=0, what
   kedi_edge's KeyGenerator asks for), and whether every CUDA key value is a whole
   number 0..255;
3. the byte entropy of the CUDA keys (8 bits is ideal);
4. median latency per call for one 512x512 key and for a batch of 16, on each provider,
   host-to-device copies included (as kedi_edge's KeyGenerator calls it);
5. where kedi_edge.keygen imports: which provider KeyGenerator picks for device="auto"
   and "cuda", the fraction of equal bytes between its CPU and CUDA keys for the same
   seed and image, and the median time of generate() for a 512x512 uint32 key on each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent


def inputs(n: int, h: int, w: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = 0.5 + 0.25 * np.sin(x / 17.0) * np.cos(y / 23.0) + 0.05 * rng.standard_normal((n, 1, h, w))
    image = (image - image.min()) / (image.max() - image.min())
    noise = (rng.integers(0, 256, (n, 2, h, w)).astype(np.float32) + 0.5) / 256
    pad = rng.integers(0, 256, (n, 4, h, w)).astype(np.float32)
    return {"image": image.astype(np.float32), "noise": noise, "pad": pad}


def session(model: bytes, providers: list) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=providers)


def median_ms(sess: ort.InferenceSession, feed: dict, reps: int) -> float:
    for _ in range(5):
        sess.run(["key"], feed)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        sess.run(["key"], feed)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def entropy(b: np.ndarray) -> float:
    p = np.bincount(b.ravel(), minlength=256) / b.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def keygenerator(model: str) -> dict | None:
    try:
        from kedi_edge.keygen import KeyGenerator
    except ImportError as e:
        print(f"kedi_edge.keygen not importable here ({e}): KeyGenerator not checked")
        return None
    gens = {d: KeyGenerator(model, device=d) for d in ("cpu", "cuda", "auto")}
    out: dict = {"providers": {d: g.providers for d, g in gens.items()}, "device": {d: g.device for d, g in gens.items()}}
    image = inputs(1, 512, 512)["image"][0, 0]
    keys = {d: gens[d].generate((512, 512), np.uint32, image, seed=7) for d in ("cpu", "cuda")}
    out["equal_bytes_cpu_cuda"] = float(np.mean(keys["cpu"].view(np.uint8) == keys["cuda"].view(np.uint8)))
    out["same_again_cuda"] = bool(np.array_equal(keys["cuda"], gens["cuda"].generate((512, 512), np.uint32, image, seed=7)))
    out["generate_ms"] = {}
    for d in ("cpu", "cuda"):
        for _ in range(3):
            gens[d].generate((512, 512), np.uint32, image)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            gens[d].generate((512, 512), np.uint32, image)
            times.append(time.perf_counter() - t0)
        out["generate_ms"][d] = float(np.median(times) * 1e3)
    print(f"KeyGenerator: auto -> {out['device']['auto']} {out['providers']['auto']}; CPU and CUDA keys share "
          f"{out['equal_bytes_cpu_cuda']:.2%} of bytes; same again on CUDA: {out['same_again_cuda']}; "
          f"generate() 512x512 uint32: CPU {out['generate_ms']['cpu']:.2f} ms, CUDA {out['generate_ms']['cuda']:.2f} ms")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "zzgan_generator.onnx"))
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels, where installed
    model = Path(args.model).read_bytes()
    report: dict = {"onnxruntime": ort.__version__, "available": ort.get_available_providers()}
    print(f"onnxruntime {ort.__version__}, available providers {report['available']}")
    if "CUDAExecutionProvider" not in report["available"]:
        print("no CUDA provider in this ONNX Runtime")
        return 5
    cpu = session(model, ["CPUExecutionProvider"])
    cuda = session(model, [("CUDAExecutionProvider", {"use_tf32": 1}), "CPUExecutionProvider"])
    cuda32 = session(model, [("CUDAExecutionProvider", {"use_tf32": 0}), "CPUExecutionProvider"])
    report["providers"] = {"cuda": cuda.get_providers(), "cuda_no_tf32": cuda32.get_providers()}
    print(f"sessions use: {report['providers']}")
    if cuda.get_providers()[0] != "CUDAExecutionProvider":
        print("ONNX Runtime fell back from CUDA (CUDA or cuDNN libraries missing?)")
        return 5

    feed = inputs(4, 512, 512)
    k_cpu = cpu.run(["key"], feed)[0]
    agree = {}
    for name, sess in (("cuda_tf32", cuda), ("cuda_no_tf32", cuda32)):
        k = sess.run(["key"], feed)[0]
        whole = bool(np.all((k == np.round(k)) & (k >= 0) & (k <= 255)))
        agree[name] = {"equal_bytes": float(np.mean(k == k_cpu)), "whole_numbers_0_255": whole,
                       "entropy_bits": entropy(k.astype(np.uint8)),
                       "repeatable": bool(np.array_equal(k, sess.run(["key"], feed)[0]))}
        print(f"{name:13s} key bytes equal to CPU: {agree[name]['equal_bytes']:.4%}, whole 0..255: {whole}, "
              f"entropy {agree[name]['entropy_bits']:.4f} bits, same again: {agree[name]['repeatable']}")
    agree["cpu_entropy_bits"] = entropy(k_cpu.astype(np.uint8))
    report["agreement"] = agree

    timing = {}
    for label, n in (("512x512 x1", 1), ("512x512 x16", 16)):
        f = inputs(n, 512, 512, seed=1)
        row = {p: median_ms(s, f, 30 if n == 1 else 10) for p, s in
               (("cpu", cpu), ("cuda_tf32", cuda), ("cuda_no_tf32", cuda32))}
        row["mpixel_per_s_cuda"] = n * 512 * 512 / row["cuda_tf32"] / 1e3
        timing[label] = row
        print(f"{label:12s} CPU {row['cpu']:8.2f} ms   CUDA {row['cuda_tf32']:7.2f} ms   "
              f"CUDA no TF32 {row['cuda_no_tf32']:7.2f} ms   ({row['mpixel_per_s_cuda']:.0f} Mpixel/s on CUDA)")
    report["timing_ms"] = timing
    report["keygenerator"] = keygenerator(args.model)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
