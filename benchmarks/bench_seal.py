"""Sealing cost against AES-256-GCM alone, and folder throughput against a plain script.

    python benchmarks/bench_seal.py [--files 120] [--folder-reps 5] [--ct-side N] [--json FILE]

1. A 512x512 uint16 image, key already in memory: median time of kedi_edge.seal and
   kedi_edge.open against AESGCM.encrypt / AESGCM.decrypt of the same bytes (which
   allocate their output, as seal and open do), measured in the same run. The pattern
   is drawn per seal from the nonce, so the medians mix all three. Target: seal
   <= 1.3x AES-GCM alone.
2. A folder of real DICOM files (copies of pydicom's bundled CT, MR and ultrasound
   images): files per second of the batch encryption behind ``kedi-edge encrypt``
   (key of the series already made), in one process and with its default worker
   processes, against a plain pydicom script that only reads each file, AES-GCM-encrypts
   its PixelData, and writes it (no fsync), in one process and in as many processes as
   the default, runs interleaved. Each run starts with nothing dirty in the page cache
   (os.sync() before it, untimed): the batch's flushes to disk would otherwise also
   write out what the plain script left unflushed. Target: >= 0.8x; printed against the plain script as
   written (one process) and like for like (the same number of processes each).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pydicom
from _timing import median_seconds
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import kedi_edge
from kedi_edge import batch

TARGET_SEAL = 1.3
TARGET_FILES = 0.8


def bench_image(reps: int) -> list[dict]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4096, (512, 512), dtype=np.uint16)
    key = kedi_edge.Key("k" + "00" * 12, rng.integers(0, 2**32, (512, 512), dtype=np.uint32))
    aes, nonce, data = AESGCM(os.urandom(32)), os.urandom(12), image.tobytes()
    blob, ct = kedi_edge.seal(image, key), aes.encrypt(nonce, data, b"header")
    rows = []
    t_aes = median_seconds(lambda: aes.encrypt(nonce, data, b"header"), reps, warmup=5)
    t_aes_d = median_seconds(lambda: aes.decrypt(nonce, ct, b"header"), reps, warmup=5)
    t_seal = median_seconds(lambda: kedi_edge.seal(image, key), reps, warmup=5)
    t_open = median_seconds(lambda: kedi_edge.open(blob, key), reps, warmup=5)
    for name, t, base in (("AES-256-GCM encrypt alone", t_aes, t_aes), ("kedi_edge.seal", t_seal, t_aes),
                          ("AES-256-GCM decrypt alone", t_aes_d, t_aes_d), ("kedi_edge.open", t_open, t_aes_d)):
        rows.append({"op": name, "seconds": t, "gb_per_s": image.nbytes / t / 1e9, "vs_aes": t / base})
    return rows


def _plain_script(files: list[Path], outdir: Path) -> None:
    """Read, AES-GCM-encrypt PixelData, write: the baseline a site might script itself."""
    aes = AESGCM(os.urandom(32))
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f)
            nonce = os.urandom(12)
            ds.PixelData = nonce + aes.encrypt(nonce, ds.PixelData, None)
            buf = io.BytesIO()
            pydicom.dcmwrite(buf, ds, enforce_file_format=True, implicit_vr=False, little_endian=True)
        (outdir / f.name).write_bytes(buf.getvalue())


def _plain_script_processes(files: list[Path], outdir: Path, jobs: int) -> None:
    """The plain script in ``jobs`` forked processes, each on its share of the files."""
    import multiprocessing

    shares = [(files[i::jobs], outdir) for i in range(jobs)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        pool.starmap(_plain_script, shares)


def _ct_series(src: Path, n_files: int, side: int) -> None:
    """A series of n CT slices of side x side pixels: pydicom's CT_small (128 x 128)
    enlarged by repeating pixels, each slice with its own SOP Instance UID."""
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False))
    reps = -(-side // ds.Rows)
    pixels = np.kron(ds.pixel_array, np.ones((reps, reps), ds.pixel_array.dtype))[:side, :side]
    ds.Rows, ds.Columns, ds.PixelData = side, side, np.ascontiguousarray(pixels).tobytes()
    for i in range(n_files):
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(src / f"{i:04d}.dcm", enforce_file_format=True)


def bench_folder(n_files: int, reps: int = 3, ct_side: int = 0) -> list[dict]:
    names = ["CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm", "examples_rgb_color.dcm"]
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        src = td / "in"
        src.mkdir()
        if ct_side:
            _ct_series(src, n_files, ct_side)
        else:
            for i in range(n_files):
                shutil.copy(pydicom.data.get_testdata_file(names[i % len(names)], download=False),
                            src / f"{i:04d}.dcm")
        files = sorted(src.iterdir())
        store = kedi_edge.KeyStore.init(td / "keys", kek_file=td / "kek.key")
        gen = kedi_edge.KeyGenerator()
        # Make the series keys first: the benchmark measures sealing, not the GAN.
        batch.run("encrypt", [(f, Path(f.name)) for f in files[: len(names)]], store, outdir=td / "warm",
                  progress=False, opts={"generator": gen})
        inputs = [(f, Path(f.name)) for f in files]
        auto = batch.default_jobs(len(inputs))
        times: dict[str, list[float]] = {"plain": [], "plain_auto": [], "one": [], "auto": []}
        for rep in range(reps):  # interleaved, so that drifts of a shared machine hit all four
            for name, run in (("plain", lambda out: _plain_script(files, out)),
                              ("plain_auto", lambda out: _plain_script_processes(files, out, auto))):
                out_plain = td / f"{name}{rep}"
                out_plain.mkdir()
                os.sync()  # no run pays for flushing what an earlier one wrote
                t0 = time.perf_counter()
                run(out_plain)
                times[name].append(time.perf_counter() - t0)
            for name, jobs in (("one", 1), ("auto", auto)):
                os.sync()
                t0 = time.perf_counter()
                report = batch.run("encrypt", inputs, store, outdir=td / f"{name}{rep}", progress=False,
                                   opts={"generator": gen}, jobs=jobs)
                times[name].append(time.perf_counter() - t0)
                assert not report.failed, report.failed
        t = {k: float(np.median(v)) for k, v in times.items()}
    return [{"op": "plain script (pydicom: read, AES-GCM PixelData, write)", "files_per_s": n_files / t["plain"],
             "ratio": 1.0},
            {"op": f"plain script in {auto} processes", "files_per_s": n_files / t["plain_auto"],
             "ratio": t["plain"] / t["plain_auto"]},
            {"op": "kedi-edge encrypt, 1 process", "files_per_s": n_files / t["one"], "ratio": t["plain"] / t["one"]},
            {"op": f"kedi-edge encrypt, default ({auto} processes)", "files_per_s": n_files / t["auto"],
             "ratio": t["plain"] / t["auto"], "like_for_like": t["plain_auto"] / t["auto"]}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=120)
    ap.add_argument("--folder-reps", type=int, default=5)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--ct-side", type=int, default=0,
                    help="folder of one CT series of this many pixels a side (CT_small enlarged) instead of "
                         "the bundled CT, MR and US files")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    info = kedi_edge.runtime_info()
    print(f"kedi_edge {info['version']}, {platform.machine()}, SIMD {info['simd']} x{info['threads']} threads\n")
    img = bench_image(args.reps)
    print("512x512 uint16 (512 KiB), key in memory")
    for r in img:
        print(f"  {r['op']:<28} {r['seconds'] * 1e6:8.1f} us {r['gb_per_s']:7.2f} GB/s {r['vs_aes']:6.2f}x AES")
    folder = bench_folder(args.files, args.folder_reps, args.ct_side)
    what = f"CT slices, {args.ct_side}x{args.ct_side} int16" if args.ct_side else "CT, MR, US"
    print(f"\nfolder of {args.files} DICOM files ({what})")
    for r in folder:
        print(f"  {r['op']:<56} {r['files_per_s']:8.1f} files/s {r['ratio']:6.2f}x")
    seal_ratio = img[1]["vs_aes"]
    print(f"\ntarget seal <= {TARGET_SEAL}x AES-GCM alone: {seal_ratio:.2f}x: "
          f"{'met' if seal_ratio <= TARGET_SEAL else 'NOT met'}")
    one, auto = folder[2], folder[3]
    print(f"target folder >= {TARGET_FILES}x the plain script: {auto['ratio']:.2f}x by default (against the plain "
          f"script in one process): {'met' if auto['ratio'] >= TARGET_FILES else 'NOT met'}; like for like, "
          f"{one['ratio']:.2f}x in one process each and {auto['like_for_like']:.2f}x in "
          f"{auto['op'].split('(')[1].split()[0]} processes each: "
          f"{'met' if min(one['ratio'], auto['like_for_like']) >= TARGET_FILES else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runtime": info, "image": img, "folder": folder}, f, indent=1)


if __name__ == "__main__":
    main()
