"""Statistics of keys from an ONNX ZZ-GAN generator, run through kedi_edge.KeyGenerator.

    python export/key_quality.py [--model models/zzgan_generator.onnx] [--keys 16]

For 512x512 keys made for a real CT image (pydicom's CT_small.dcm, 128x128, enlarged
4x by pixel repetition) with different seeds, it reports for the keys the runtime uses
(``key``: the network's bytes plus a keystream pad, mod 256) and, separately, for the
network's own bytes (``raw``): byte entropy, chi-square against a flat histogram,
adjacent-pixel correlation (all pairs), NPCR/UACI between keys of different seeds with
the Wu et al. 2011 critical values at alpha 0.05, the same for 16-bit keys, and image
dependence: NPCR/UACI between raw keys of two different images, and of two images that
differ in one pixel, under one seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import pydicom

from kedi_edge import metrics
from kedi_edge.keygen import KeyGenerator

SIZE = 512


def _test_image(name: str) -> np.ndarray:
    root = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    a = pydicom.dcmread(os.path.join(root, name)).pixel_array
    reps = -(-SIZE // a.shape[0]), -(-SIZE // a.shape[1])
    return np.kron(a, np.ones(reps, a.dtype))[:SIZE, :SIZE]


def _stats(keys: list[np.ndarray]) -> dict:
    ent = [metrics.entropy(k) for k in keys]
    chi = [metrics.chi_square(k) for k in keys]
    corr = [metrics.adjacent_correlation(k) for k in keys]
    pairs = [metrics.npcr_uaci_test(keys[i], keys[i + 1]) for i in range(0, len(keys) - 1, 2)]
    return {
        "entropy_min": round(min(ent), 5),
        "entropy_mean": round(float(np.mean(ent)), 5),
        "chi_square_mean": round(float(np.mean([c[0] for c in chi])), 1),
        "chi_square_max": round(float(max(c[0] for c in chi)), 1),
        "chi_square_p_min": float(min(c[1] for c in chi)),
        "max_abs_correlation": round(max(abs(v) for c in corr for v in c.values()), 5),
        "correlation_first_key": {k: round(v, 5) for k, v in corr[0].items()},
        "npcr_between_seeds": [round(p["npcr"], 4) for p in pairs],
        "uaci_between_seeds": [round(p["uaci"], 4) for p in pairs],
        "npcr_critical": round(pairs[0]["npcr_critical"], 4),
        "uaci_interval": [round(pairs[0]["uaci_lower"], 4), round(pairs[0]["uaci_upper"], 4)],
        "pairs_passing": f"{sum(p['npcr_pass'] and p['uaci_pass'] for p in pairs)}/{len(pairs)}",
    }


def key_quality(model: str | None = None, n_keys: int = 16) -> dict:
    """Key statistics of ``model`` (default: the shipped generator) as a dict."""
    gen = KeyGenerator(model, device="cpu")
    ct, mr = _test_image("CT_small.dcm"), _test_image("MR_small.dcm")
    seeds = [1000 + i for i in range(n_keys)]
    report = {"size": f"{SIZE}x{SIZE}", "image": "CT_small.dcm enlarged 4x", "keys": n_keys,
              "note": "NPCR/UACI tests at alpha 0.05 reject about 5% of pairs of ideal random keys; "
                      "'csprng' is os.urandom bytes measured the same way, for reference"}
    for name, raw in (("key", False), ("raw", True)):
        keys = [gen.generate(ct.shape, np.uint8, ct, s, raw=raw) for s in seeds]
        report[name] = _stats(keys)
    rng_keys = [np.frombuffer(os.urandom(SIZE * SIZE), np.uint8).reshape(SIZE, SIZE) for _ in seeds]
    report["csprng"] = _stats(rng_keys)
    k16 = [gen.generate(ct.shape, np.uint16, ct, s) for s in seeds[:4]]
    t16 = [metrics.npcr_uaci_test(k16[0], k16[1]), metrics.npcr_uaci_test(k16[2], k16[3])]
    report["key_uint16"] = {
        "byte_entropy": round(float(np.mean([metrics.byte_entropy(k) for k in k16])), 5),
        "npcr": [round(t["npcr"], 4) for t in t16], "uaci": [round(t["uaci"], 4) for t in t16],
        "npcr_critical": round(t16[0]["npcr_critical"], 4),
        "uaci_interval": [round(t16[0]["uaci_lower"], 4), round(t16[0]["uaci_upper"], 4)],
        "pairs_passing": f"{sum(t['npcr_pass'] and t['uaci_pass'] for t in t16)}/{len(t16)}",
    }
    one = ct.copy()
    one[SIZE // 2, SIZE // 2] += 1
    raw_ct, raw_mr, raw_one = (gen.generate(ct.shape, np.uint8, im, seeds[0], raw=True) for im in (ct, mr, one))
    d_img, d_one = metrics.npcr_uaci_test(raw_ct, raw_mr), metrics.npcr_uaci_test(raw_ct, raw_one)
    report["image_dependence_raw"] = {
        "ct_vs_mr_same_seed": {"npcr": round(d_img["npcr"], 4), "uaci": round(d_img["uaci"], 4)},
        "one_pixel_change_same_seed": {"npcr": round(d_one["npcr"], 4), "uaci": round(d_one["uaci"], 4)},
    }
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX generator (default: the shipped one)")
    ap.add_argument("--keys", type=int, default=16, help="keys per statistic (even, >= 2)")
    args = ap.parse_args(argv)
    if args.keys < 2 or args.keys % 2:
        ap.error("--keys must be even and >= 2")
    print(json.dumps(key_quality(args.model, args.keys), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
