"""Zigzag + XOR throughput against memcpy and the numpy two-pass reference.

    python benchmarks/bench_zigzag_xor.py [--paths all] [--threads 1,2] [--shapes S] [--json FILE]

For 512x512 and 4096x4096 uint16 images, and a stack of 32 512x512 frames (a series
whose arrays, 16 MiB each, do not stay in cache between calls as one 512x512 image's
do), or for the uint16 shapes given (--shapes 512x512,8x256x256), it prints the median
time per call (memcpy: its fastest round) and the throughput in GB/s of image bytes (one
image's nbytes per call) of: memcpy (np.copyto), the numpy two-pass references
(forward: fancy index with a cached order, then bitwise_xor into out; inverse:
bitwise_xor, then a scatter through the order), native zigzag_xor and xor_unzigzag for
each pattern, and native xor_into, each on 1 thread and on the threads the runtime uses
by default (path "avx2 x2" = AVX2 on 2 threads); then the ratios native/numpy
(speed-up) and native/memcpy (fraction of single-thread copy bandwidth). Every figure
comes from the same run, and the operations of one thread count (with memcpy) are timed
in ROUNDS rounds taken in turn (each figure is the median of an operation's round
medians, but memcpy's is its fastest round: see bench_shape), so a slow phase of a
shared machine falls on all of them alike and the ratios hold. Under each shape's
table: memcpy's spread, and a warning when memcpy ran nearly as slow as xor_into or
slower (baseline_warning). When 512x512 is among the shapes, a last line per pattern
gives the verdict on the targets; a target met only against a suspect baseline is
marked UNRELIABLE, not met.
"""

from __future__ import annotations

import argparse
import json
import math
import platform

import numpy as np
from _timing import median_seconds

import kedi_edge
from kedi_edge import _native

SHAPES = [(512, 512), (4096, 4096), (32, 512, 512)]
TARGET_SPEEDUP = 3.0  # fused zigzag_xor vs the numpy two-pass, 512x512 uint16
TARGET_MEMCPY = 0.5  # fraction of memcpy bandwidth, 512x512 uint16
BASELINE_LIMIT = 0.85  # memcpy's time over one-thread xor_into's above which memcpy is suspect


ROUNDS = 7  # each operation is timed in every round, so slow phases of a shared machine
# fall on all of them alike


def bench_shape(shape, paths, thread_counts) -> list[dict]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 2**16, size=shape, dtype=np.uint16)
    key = rng.integers(0, 2**16, size=shape, dtype=np.uint16)
    out = np.empty_like(image)
    nbytes = image.nbytes
    ops = []  # (name, path label, SIMD path or None, threads, fn)

    def add(name, fn, path=None, threads=1, label="-"):
        ops.append((name, label, path, threads, fn))

    add("memcpy (np.copyto)", lambda: np.copyto(out, image))
    # One row per frame (a 2-D image is one frame): the order applies to each.
    frames = int(np.prod(shape[:-2], dtype=np.int64))
    flat_image, flat_key, flat_out = (a.reshape(frames, -1) for a in (image, key, out))
    tmp = np.empty_like(flat_image)
    for pattern in kedi_edge.PATTERNS:
        order = kedi_edge.zigzag_order(*shape[-2:], pattern)
        add(f"numpy two-pass {pattern}",
            lambda order=order: np.bitwise_xor(flat_image[:, order], flat_key, out=flat_out))

        def inverse(order=order):
            np.bitwise_xor(flat_image, flat_key, out=tmp)
            flat_out[:, order] = tmp

        add(f"numpy inverse {pattern}", inverse)
    for path in paths:
        for n in thread_counts:
            label = path if n == 1 else f"{path} x{n}"
            for pattern in kedi_edge.PATTERNS:
                add(f"zigzag_xor {pattern}",
                    lambda pattern=pattern: kedi_edge.zigzag_xor(image, key, pattern, out), path, n,
                    label)
                add(f"xor_unzigzag {pattern}",
                    lambda pattern=pattern: kedi_edge.xor_unzigzag(image, key, pattern, out), path,
                    n, label)
            add("xor_into", lambda: kedi_edge.xor_into(image, key, out), path, n, label)

    # About 0.3 s of calls per operation in all, cut into ROUNDS bursts taken in turn.
    reps = max(3, min(400, int(3e8 / max(nbytes, 1))) // ROUNDS)
    times = [[] for _ in ops]
    active, threads0 = _native.simd_info()["active"], _native.simd_info()["threads"]
    # The rounds go over the operations of one thread count at a time: a second thread
    # left idle for a while comes back slowly on a virtual machine. memcpy is timed with
    # every group.
    groups = [[i for i, op in enumerate(ops) if op[3] == n or i == 0]
              for n in sorted({op[3] for op in ops})]
    try:
        for group in groups:
            for _ in range(ROUNDS):
                for i in group:
                    _, _, path, n, fn = ops[i]
                    _native._set_simd(path or active)
                    _native._set_threads(n)
                    times[i].append(median_seconds(fn, reps, warmup=2))
    finally:
        _native._set_simd(active)
        _native._set_threads(threads0)

    rows = []
    for i, ((name, label, _, n, _), t) in enumerate(zip(ops, times, strict=True)):
        # memcpy's figure is its fastest round: np.copyto's rounds run up to 2.3x slower in
        # bursts that leave every kernel's rounds within 1-2% (RESULTS.md, 2026-12-07 sixth
        # session), so its median can be far off the copy speed. The kernels keep their
        # median; against memcpy's best they can only come out lower.
        seconds = float(min(t) if i == 0 else np.median(t))
        rows.append({"shape": "x".join(map(str, shape)), "op": name, "path": label, "threads": n,
                     "seconds": seconds, "rounds": t,
                     "gb_per_s": nbytes / seconds / 1e9})
    memcpy = rows[0]["seconds"]
    # Each native kernel against the numpy pass doing the same thing: zigzag_xor against
    # the forward two-pass, xor_unzigzag against the inverse.
    numpy_by_op = {("xor_unzigzag" if r["op"].startswith("numpy inverse") else "zigzag_xor",
                    r["op"].split()[-1]): r["seconds"] for r in rows if r["op"].startswith("numpy")}
    for r in rows:
        r["vs_memcpy"] = memcpy / r["seconds"]
        op = (r["op"].split()[0], r["op"].split()[-1])
        if r["path"] != "-" and op in numpy_by_op:
            r["vs_numpy"] = numpy_by_op[op] / r["seconds"]
    return rows


def baseline_warning(rows: list[dict]) -> str | None:
    """Why the 512x512 memcpy figure cannot be trusted as a baseline, or None.

    xor_into on one thread reads two arrays and writes a third, 1.5x the bytes memcpy
    moves; at 512x512 memcpy has taken 0.62-0.77x its time on every SIMD path in every run
    in RESULTS.md. memcpy's figure is already its fastest round (bench_shape); this
    catches a run in which every round of it was slow, as np.copyto has been for seconds
    at a time on the 2-vCPU build VM (22-25 us against 12) while the kernels ran as fast
    as ever. So a memcpy over BASELINE_LIMIT of xor_into's time is taken for an anomaly,
    whose x memcpy ratios are too high. Only the target shape is checked: with tiny
    arrays call overhead dominates both, and with arrays far larger than the caches both
    wait on memory and come close (4096x4096: memcpy at 0.61-1.02x xor_into's time).
    """
    memcpy = rows[0]
    xor = [r for r in rows if r["op"] == "xor_into" and r["threads"] == 1]
    if memcpy["shape"] != "512x512" or not xor:
        return None
    ratio = memcpy["seconds"] / xor[0]["seconds"]
    if ratio <= BASELINE_LIMIT:
        return None
    return (f"WARNING {memcpy['shape']}: memcpy ({memcpy['seconds'] * 1e6:.1f} us) took "
            f"{ratio:.2f}x the time of xor_into on one thread ({xor[0]['seconds'] * 1e6:.1f} us), "
            f"which moves 1.5x its bytes (normally 0.62-0.77x, limit {BASELINE_LIMIT}): the "
            "baseline is anomalous and the x memcpy ratios are too high; rerun")


def parse_shape(text: str) -> tuple[int, ...]:
    """'512x512' -> (512, 512); 2-D or 3-D (frames x rows x columns), every side >= 1."""
    try:
        shape = tuple(int(side) for side in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: expected e.g. 512x512") from None
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: expected 2 or 3 sides, each >= 1")
    return shape


def target_line(r: dict, suspect: bool = False) -> str:
    """The verdict on the 512x512 targets for one fused-kernel row.

    ``suspect``: the memcpy baseline failed baseline_warning(); a target met against it is
    then not claimed ("UNRELIABLE"). One not met stays not met (the true ratio is lower).
    """
    ok = r["vs_numpy"] >= TARGET_SPEEDUP and r["vs_memcpy"] >= TARGET_MEMCPY
    verdict = ("UNRELIABLE (met only against a suspect memcpy baseline)" if ok and suspect
               else "met" if ok else "NOT met")
    threads = r["path"].split()[1][1:] if " " in r["path"] else "1"
    # Rounded down, so that a ratio just short of its target never prints as the target.
    speedup = math.floor(r["vs_numpy"] * 10) / 10
    vs_memcpy = math.floor(r["vs_memcpy"] * 1000) / 1000
    return (f"target 512x512 {r['op']} ({r['path']}): {speedup:.1f}x numpy (>= {TARGET_SPEEDUP}), "
            f"{vs_memcpy:.3f}x memcpy (>= {TARGET_MEMCPY}; kernel on {threads} thread(s), memcpy on "
            f"one): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", default="active",
                        help="SIMD paths to run: 'active' (default), 'all', or a comma list")
    parser.add_argument("--threads", default=None,
                        help="comma list of thread counts (default: 1 and the runtime's default)")
    parser.add_argument("--shapes", default=None,
                        type=lambda text: [parse_shape(t) for t in text.split(",")],
                        help="comma list of uint16 shapes, e.g. 512x512,8x256x256 (default: "
                             + ", ".join("x".join(map(str, s)) for s in SHAPES) + ")")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    info = kedi_edge.runtime_info()
    if args.paths == "active":
        paths = [info["simd"]]
    elif args.paths == "all":
        paths = info["simd_supported"]
    else:
        paths = args.paths.split(",")
    threads = ([int(t) for t in args.threads.split(",")] if args.threads
               else sorted({1, info["threads"]}))
    print(f"kedi_edge {info['version']}, numpy {np.__version__}, {platform.machine()}, "
          f"SIMD supported {info['simd_supported']}, active {info['simd']}, "
          f"default threads {info['threads']}")
    print("GB/s = image bytes per second; x numpy = speed-up over the numpy two-pass doing the same "
          "(forward or inverse) for the same pattern; x memcpy = fraction of the bandwidth of np.copyto, "
          "which runs on one thread, also for the 'xN' rows that run on N threads\n")
    all_rows, suspect = [], set()
    for shape in args.shapes or SHAPES:
        rows = bench_shape(shape, paths, threads)
        all_rows += rows
        warning = baseline_warning(rows)
        if warning:
            suspect.add(rows[0]["shape"])
        print(f"{'shape':>10}  {'operation':<26} {'path':<9} {'median':>10} {'GB/s':>7} "
              f"{'x numpy':>8} {'x memcpy':>9}")
        for r in rows:
            vs_numpy = f"{r['vs_numpy']:.1f}" if "vs_numpy" in r else ""
            print(f"{r['shape']:>10}  {r['op']:<26} {r['path']:<9} {r['seconds'] * 1e6:8.1f}us "
                  f"{r['gb_per_s']:7.2f} {vs_numpy:>8} {r['vs_memcpy']:9.2f}")
        rounds = rows[0]["rounds"]
        print(f"{rows[0]['shape']:>10}  memcpy above is its fastest of {len(rounds)} rounds "
              f"(median {np.median(rounds) * 1e6:.1f}us, slowest {max(rounds) * 1e6:.1f}us); "
              "the rest are medians")
        if warning:
            print(warning)
        print()
    fused = [r for r in all_rows if r["shape"] == "512x512" and r["op"].startswith("zigzag_xor")
             and r["path"].split()[0] == info["simd"]]
    for r in fused:
        print(target_line(r, r["shape"] in suspect))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runtime": info, "rows": all_rows}, f, indent=1)


if __name__ == "__main__":
    main()
