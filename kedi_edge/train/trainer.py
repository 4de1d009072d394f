"""ZZ-GAN training loop (torch only).

Loss terms of the generator, all computed on its own key bytes ``raw`` (before the pad):

- ``adv``: least-squares GAN loss; the discriminator sees raw key planes and uniform
  random planes from a ChaCha20 keystream (a CSPRNG), so G learns cipher-like texture.
- ``hist``: ln(256) minus the entropy of a soft (Gaussian, sigma 0.5 bin) 256-bin
  histogram of the key bytes; zero for a perfectly flat histogram.
- ``corr``: mean squared Pearson correlation of horizontally, vertically and
  diagonally adjacent key bytes; zero for uncorrelated neighbours.
- ``dep``: image dependence. Samples 2k and 2k+1 share their noise but not their
  image; (1/3 - mean |k1 - k2| / 255)^2 is zero when their keys differ as much as two
  independent uniform keys do (UACI 33.46%), so the key cannot ignore the image.

Training is deterministic for a given seed, data and thread count.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from .._prng import keystream
from ..exceptions import KediError
from .data import PatchSampler, bundled_planes, load_folder, make_phantom
from .model import KEY_PLANES, NOISE_PLANES, Discriminator, Generator, generator_macs

__all__ = ["TrainConfig", "load_generator", "train"]


@dataclass
class TrainConfig:
    """Everything that determines a training run."""

    steps: int = 3000
    batch: int = 8  # even: samples 2k and 2k+1 share noise
    crop: int = 96  # a multiple of the generator stride (4)
    seed: int = 0
    width: int = 40
    head: int = 8
    head_gain: float = 32.0
    lr: float = 2e-4
    phantoms: int = 64
    weights: dict = field(default_factory=lambda: {"adv": 1.0, "hist": 20.0, "corr": 20.0, "dep": 20.0})


def _soft_entropy(v: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """Entropy (nats) of a Gaussian-binned 256-bin histogram of n sampled bytes of v."""
    flat = v.reshape(-1)
    idx = torch.randint(0, flat.numel(), (n,), generator=gen)
    centres = torch.arange(256, dtype=v.dtype)
    w = torch.exp(-0.5 * ((flat[idx, None] - centres[None, :]) / 0.5) ** 2)
    p = (w / w.sum(dim=1, keepdim=True)).mean(dim=0)
    return -(p * torch.log(p + 1e-12)).sum()


def _neighbour_corr(v: torch.Tensor) -> torch.Tensor:
    """Pearson r of adjacent pixels, shape (3, N*C): horizontal, vertical, diagonal."""
    x = v.reshape(-1, *v.shape[-2:])
    pairs = [(x[:, :, :-1], x[:, :, 1:]), (x[:, :-1, :], x[:, 1:, :]), (x[:, :-1, :-1], x[:, 1:, 1:])]
    rs = []
    for a, b in pairs:
        a = a.reshape(a.shape[0], -1)
        b = b.reshape(b.shape[0], -1)
        a = a - a.mean(dim=1, keepdim=True)
        b = b - b.mean(dim=1, keepdim=True)
        rs.append((a * b).mean(dim=1) / (a.std(dim=1) * b.std(dim=1) + 1e-8))
    return torch.stack(rs)


def _planes_for(data: str | os.PathLike | None, cfg: TrainConfig) -> tuple[list[np.ndarray], str]:
    rng = np.random.default_rng(cfg.seed)
    phantoms = [make_phantom(rng, int(rng.choice([128, 256]))) for _ in range(cfg.phantoms)]
    if data is None:
        real = bundled_planes()
        desc = f"{len(real)} planes of pydicom's bundled DICOM files + {len(phantoms)} phantoms"
    else:
        real = load_folder(data)
        desc = f"{len(real)} planes from {data} + {len(phantoms)} phantoms"
    return real + phantoms, desc


def _noise(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    z = torch.randint(0, 256, (n // 2, NOISE_PLANES, h, w), generator=gen).float().add_(0.5).div_(256)
    return z.repeat_interleave(2, dim=0)


def train(
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    config: TrainConfig | None = None,
    threads: int | None = None,
    resume: bool = False,
    progress: bool = True,
    log_every: int = 50,
    ckpt_every: int = 500,
) -> dict:
    """Train the ZZ-GAN; writes ``out/zzgan.pt``, ``out/checkpoint.pt``, ``out/train_log.jsonl``.

    ``data``: a folder of DICOM or PNG images, or None for pydicom's bundled DICOM files.
    Both are mixed with synthetic phantoms. Returns the summary written into zzgan.pt.
    """
    cfg = config or TrainConfig()
    if cfg.batch < 2 or cfg.batch % 2 or cfg.crop % 4 or cfg.crop < 16:
        raise KediError("batch must be even and >= 2; crop a multiple of 4 and >= 16")
    planes, data_desc = _planes_for(data, cfg)  # bad data fails before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(cfg.seed)
    sampler = PatchSampler(planes, cfg.crop, cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    G, D = Generator(cfg.width, cfg.head, cfg.head_gain), Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    seed_bytes = cfg.seed.to_bytes(32, "little")
    start, elapsed = 0, 0.0
    ckpt_path, log_path = out / "checkpoint.pt", out / "train_log.jsonl"
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        G.load_state_dict(ck["G"]), D.load_state_dict(ck["D"])
        opt_g.load_state_dict(ck["opt_g"]), opt_d.load_state_dict(ck["opt_d"])
        sampler.rng.bit_generator.state = ck["sampler"]
        gen.set_state(ck["gen"])
        start, elapsed = ck["step"], ck["elapsed"]
    elif log_path.exists():
        log_path.unlink()
    w = cfg.weights
    t0 = time.perf_counter() - elapsed
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress,
               desc="zzgan", unit="step")
    rec: dict = {}
    for step in bar:
        n, c = cfg.batch, cfg.crop
        x = torch.from_numpy(sampler.batch(n))
        z = _noise(n, c, c, gen)
        pad = torch.zeros(n, KEY_PLANES, c, c)
        real = keystream(seed_bytes, b"zzgan-real-%d" % step, n * KEY_PLANES * c * c)
        real = torch.from_numpy(real.astype(np.float32) / 255).reshape(n * KEY_PLANES, 1, c, c)

        _, raw, _ = G(x, z, pad)
        v = raw / 255.0
        fake = v.reshape(n * KEY_PLANES, 1, c, c)
        d_real, d_fake = D(real), D(fake.detach())
        loss_d = F.mse_loss(d_real, torch.ones_like(d_real)) + F.mse_loss(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        g_fake = D(fake)
        adv = F.mse_loss(g_fake, torch.ones_like(g_fake))
        hist = math.log(256) - _soft_entropy(raw, 16384, gen)
        r = _neighbour_corr(v)
        corr = (r**2).mean()
        uaci = (v[0::2] - v[1::2]).abs().mean()
        dep = (1.0 / 3.0 - uaci) ** 2
        loss_g = w["adv"] * adv + w["hist"] * hist + w["corr"] * corr + w["dep"] * dep
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            rec = {"step": step + 1, "seconds": round(time.perf_counter() - t0, 1),
                   "d": round(loss_d.item(), 4), "adv": round(adv.item(), 4),
                   "hist": round(hist.item(), 5), "corr": round(corr.item(), 6),
                   "max_abs_r": round(r.abs().max().item(), 4), "dep": round(dep.item(), 6),
                   "uaci_pairs": round(uaci.item(), 4)}
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            bar.set_postfix(d=rec["d"], adv=rec["adv"], hist=rec["hist"], r=rec["max_abs_r"],
                            uaci=rec["uaci_pairs"])
        if (step + 1) % ckpt_every == 0 or step + 1 == cfg.steps:
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(),
                        "opt_d": opt_d.state_dict(), "sampler": sampler.rng.bit_generator.state,
                        "gen": gen.get_state(), "step": step + 1,
                        "elapsed": time.perf_counter() - t0}, tmp)
            os.replace(tmp, ckpt_path)
    summary = {
        "config": asdict(cfg),
        "data": data_desc,
        "steps": cfg.steps,
        "threads": torch.get_num_threads(),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
        "params": sum(p.numel() for p in G.parameters()),
        "macs_512": generator_macs(G, 512, 512),
        "last_log": rec,
    }
    tmp = out / "zzgan.pt.tmp"
    torch.save({"summary": summary, "generator": G.state_dict()}, tmp)
    os.replace(tmp, out / "zzgan.pt")
    return summary


def load_generator(path: str | os.PathLike) -> tuple[Generator, dict]:
    """The generator and summary saved by :func:`train` in ``path`` (a zzgan.pt file)."""
    ck = torch.load(path, weights_only=False)
    cfg = ck["summary"]["config"]
    G = Generator(cfg["width"], cfg["head"])
    G.load_state_dict(ck["generator"])
    G.eval()
    return G, ck["summary"]
