"""What each generator loss term does: short trainings with one term switched off.

    python -m kedi_edge.train.ablation [--steps 300] [--out runs/ablation] [--threads 2]

Trains the default configuration and one variant per term (weight 0), then measures the
network's own key bytes (``raw``, no pad) for a real CT image (pydicom's CT_small.dcm
enlarged to 256x256): entropy, chi-square, the largest adjacent-pixel |r|, UACI between
keys of two seeds and between the keys of the CT and an MR image under one seed (ideal
33.46%), and the discriminator's final loss (0.5 when it cannot tell keys from random
bytes). Writes ``OUT/ablation.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pydicom
import torch

from .. import metrics
from .model import KEY_PLANES, NOISE_PLANES
from .trainer import TrainConfig, load_generator, train

TERMS = ("adv", "hist", "corr", "dep")


def _image(name: str, size: int) -> np.ndarray:
    a = pydicom.dcmread(pydicom.data.get_testdata_file(name, download=False)).pixel_array.astype(np.float32)
    a = np.kron(a, np.ones((size // a.shape[0], size // a.shape[1]), np.float32))
    return (a - a.min()) / (a.max() - a.min())


def evaluate(path: str | os.PathLike, size: int = 256) -> dict:
    """Raw-key statistics of the generator saved at ``path`` (a zzgan.pt)."""
    G, summary = load_generator(path)
    gen = torch.Generator().manual_seed(123)
    ct, mr = (torch.from_numpy(_image(n, size))[None, None] for n in ("CT_small.dcm", "MR_small.dcm"))
    pad = torch.zeros(1, KEY_PLANES, size, size)

    def noise():
        return torch.randint(0, 256, (1, NOISE_PLANES, size, size), generator=gen).float().add(0.5).div(256)

    z1, z2 = noise(), noise()
    with torch.no_grad():
        k1, k2, k_mr = (G(x, z, pad)[1][0, 0].numpy().astype(np.uint8) for x, z in ((ct, z1), (ct, z2), (mr, z1)))
    return {
        "entropy": round(metrics.entropy(k1), 5),
        "chi_square": round(metrics.chi_square(k1)[0], 1),
        "max_abs_r": round(max(abs(v) for v in metrics.adjacent_correlation(k1).values()), 4),
        "uaci_seeds": round(metrics.npcr_uaci(k1, k2)[1], 3),
        "uaci_ct_vs_mr": round(metrics.npcr_uaci(k1, k_mr)[1], 3),
        "d_loss": summary["last_log"].get("d"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--head-gain", type=float, default=TrainConfig.head_gain)
    args = ap.parse_args(argv)
    out = Path(args.out)
    base = TrainConfig(steps=args.steps, head_gain=args.head_gain)
    results = {}
    for variant in ("all terms",) + tuple(f"no {t}" for t in TERMS):
        weights = dict(base.weights)
        if variant != "all terms":
            weights[variant[3:]] = 0.0
        cfg = TrainConfig(steps=args.steps, head_gain=args.head_gain, weights=weights)
        run = out / variant.replace(" ", "_")
        train(run, config=cfg, threads=args.threads, progress=False)
        results[variant] = evaluate(run / "zzgan.pt")
        print(variant, results[variant], flush=True)
    (out / "ablation.json").write_text(json.dumps({"steps": args.steps, "head_gain": args.head_gain,
                                                   "results": results}, indent=1) + "\n")
    cols = list(next(iter(results.values())))
    print("\n| variant | " + " | ".join(cols) + " |")
    print("|" + "---|" * (len(cols) + 1))
    for k, v in results.items():
        print(f"| {k} | " + " | ".join(str(v[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
