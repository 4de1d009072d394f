"""ZZ-GAN key generation latency on ONNX Runtime, against a dense-convolution baseline.

    python benchmarks/bench_keygen.py [--model models/zzgan_generator.onnx] [--json FILE]

For 256x256 and 512x512 uint8 keys it prints the median latency of
KeyGenerator.generate (keystream noise and pad, ONNX Runtime run, byte packing) on the
CPU provider with 1 and 2 threads, and on CUDA when it is active; the share of that
spent making the keystream; the model's GMAC (from its card) and the GMAC/s reached.
The baseline, run in the same process on the same provider and threads, is one dense
3x3 convolution 16 -> 16 channels at full resolution (0.6 GMAC at 512x512): the ratio
"x dense" is the generator's GMAC/s over the baseline's, i.e. how well its light layers
use the machine. Target: <= 25 ms for a 512x512 key on 2 CPU threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import onnxruntime as ort

import kedi_edge
from kedi_edge._prng import keystream
from kedi_edge.keygen import KeyGenerator, _cuda_driver_present

SIZES = [256, 512]
TARGET_MS = 25.0


def median_seconds(fn, budget: float = 1.5) -> float:
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    times = []
    for _ in range(max(5, min(200, int(budget / once)))):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def dense_baseline(size: int, providers: list[str], threads: int | None):
    """A one-Conv ONNX graph (16 -> 16, 3x3) and a function that runs it once."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 16, 3, 3), np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, size, size])
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "dense", [x], [y], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=providers)
    feed = {"x": np.random.default_rng(1).random((1, 16, size, size), dtype=np.float32)}
    return size * size * 16 * 16 * 9, lambda: sess.run(None, feed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    setups = [("cpu", 1), ("cpu", 2)]
    if _cuda_driver_present() and "CUDAExecutionProvider" in ort.get_available_providers():
        setups.append(("cuda", None))
    gen0 = KeyGenerator(args.model, device="cpu")
    card_path = gen0.path.with_suffix(".json")
    gmac = json.loads(card_path.read_text())["gmac_512x512"] if card_path.exists() else float("nan")
    print(f"kedi_edge {kedi_edge.__version__}, onnxruntime {ort.__version__}, {platform.machine()}, "
          f"model {gen0.path.name} ({gmac} GMAC at 512x512, sha256 {gen0.sha256[:12]})\n")
    print(f"{'device':<6} {'threads':>7} {'size':>9} {'generate':>10} {'keystream':>10} "
          f"{'GMAC/s':>8} {'dense GMAC/s':>13} {'x dense':>8}")
    rows = []
    for device, threads in setups:
        gen = KeyGenerator(args.model, device=device, threads=threads)
        for n in SIZES:
            image = np.random.default_rng(n).integers(0, 4096, (n, n), dtype=np.uint16)
            t = median_seconds(lambda: gen.generate((n, n), np.uint8, image, seed=7))
            t_ks = median_seconds(lambda: keystream(b"k" * 32, b"bench", 6 * n * n))
            macs, run_dense = dense_baseline(n, gen.providers, threads)
            t_dense = median_seconds(run_dense)
            model_gmacs = gmac * (n * n) / (512 * 512) / t
            dense_gmacs = macs / 1e9 / t_dense
            rows.append({"device": device, "threads": threads, "size": f"{n}x{n}", "seconds": t,
                         "keystream_seconds": t_ks, "gmac_per_s": model_gmacs,
                         "dense_gmac_per_s": dense_gmacs, "vs_dense": model_gmacs / dense_gmacs,
                         "provider": gen.providers[0]})
            print(f"{device:<6} {threads or '-':>7} {n:>4}x{n:<4} {t * 1e3:8.2f}ms {t_ks * 1e3:8.2f}ms "
                  f"{model_gmacs:8.1f} {dense_gmacs:13.1f} {model_gmacs / dense_gmacs:8.2f}")
    for r in rows:
        if r["device"] == "cpu" and r["threads"] == 2 and r["size"] == "512x512":
            ok = r["seconds"] * 1e3 <= TARGET_MS
            print(f"\ntarget 512x512 on 2 CPU threads: {r['seconds'] * 1e3:.1f} ms (<= {TARGET_MS} ms): "
                  f"{'met' if ok else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runtime": kedi_edge.runtime_info(), "gmac_512": gmac, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
