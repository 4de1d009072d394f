"""Per-call latency of zigzag_xor on a quiet machine and beside busy processes.

    python benchmarks/bench_contention.py [--shape 512x512 | 8x512x512] [--pattern vertical]
        [--threads 1,2] [--busy N] [--calls 3000] [--rounds 3] [--json FILE]

Times each call of kedi_edge.zigzag_xor (a uint16 image or stack of frames, out=
given) on 1 thread and on the threads the runtime uses by default: first with the
machine otherwise idle, then with N processes spinning in a loop beside it (default:
one fewer than the default thread count, at least one), as other software on an
imaging workstation would. Prints the percentiles of the call times and their mean,
and each mean and 99.9th percentile against one thread's in the same state. The states
and thread counts are timed in turn, `--rounds` times, so that a slow phase of a shared
machine falls on all of them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from bench_zigzag_xor import parse_shape

import kedi_edge
from kedi_edge import _native

PERCENTILES = (50, 90, 99, 99.9)


def start_busy(n: int) -> list[subprocess.Popen]:
    """n processes that spin until killed (none left behind if starting them fails)."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        time.sleep(0.3)  # started and spinning
    except BaseException:
        stop_busy(procs)
        raise
    return procs


def stop_busy(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def call_times(fn, calls: int) -> np.ndarray:
    """Microseconds of each of `calls` calls of fn (after 10 untimed ones)."""
    for _ in range(10):
        fn()
    t = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        t[i] = time.perf_counter_ns() - t0
    return t / 1e3


def run(shape, pattern, threads, busy, calls, rounds) -> dict:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 2**16, size=shape, dtype=np.uint16)
    key = rng.integers(0, 2**16, size=shape, dtype=np.uint16)
    out = np.empty_like(image)
    want = kedi_edge.zigzag_xor(image, key, pattern)
    fn = lambda: kedi_edge.zigzag_xor(image, key, pattern, out)  # noqa: E731
    times = {(b, n): [] for b in (0, busy) for n in threads}
    pids = []
    threads0 = _native.simd_info()["threads"]
    try:
        for _ in range(rounds):
            for b in (0, busy):
                procs = start_busy(b)
                pids += [p.pid for p in procs]
                try:
                    for n in threads:
                        _native._set_threads(n)
                        times[(b, n)].append(call_times(fn, calls))
                        if not np.array_equal(out, want):
                            raise AssertionError(f"wrong output on {n} thread(s), {b} busy")
                finally:
                    stop_busy(procs)
    finally:
        _native._set_threads(threads0)
    rows = []
    for (b, n), parts in times.items():
        t = np.concatenate(parts)
        pct = np.percentile(t, PERCENTILES)
        rows.append({"busy": b, "threads": n, "calls": int(t.size), "mean_us": float(t.mean()),
                     "max_us": float(t.max()),
                     **{f"p{p:g}_us": float(v) for p, v in zip(PERCENTILES, pct, strict=True)}})
    for r in rows:
        one = next(o for o in rows if o["busy"] == r["busy"] and o["threads"] == 1)
        r["mean_vs_1"] = one["mean_us"] / r["mean_us"]
        r["p99.9_vs_1"] = one["p99.9_us"] / r["p99.9_us"]
    return {"shape": list(shape), "pattern": pattern, "busy_pids": pids, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=parse_shape, default=(512, 512))
    parser.add_argument("--pattern", choices=kedi_edge.PATTERNS, default="vertical")
    parser.add_argument("--threads", default=None,
                        help="comma list of thread counts (1 is always timed; default: 1 and "
                             "the runtime's default)")
    parser.add_argument("--busy", type=int, default=None,
                        help="busy processes beside the calls (default: the default thread "
                             "count - 1, at least 1)")
    parser.add_argument("--calls", type=int, default=3000,
                        help="timed calls per state, thread count and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    default = _native.simd_info()["threads"]
    try:
        counts = {int(t) for t in args.threads.split(",")} if args.threads else {default}
    except ValueError:
        parser.error(f"--threads {args.threads!r}: expected a comma list of integers")
    threads = sorted(counts | {1})
    busy = args.busy if args.busy is not None else max(1, default - 1)
    if busy < 1 or args.calls < 1 or args.rounds < 1 or not 1 <= threads[0] <= threads[-1] <= 256:
        parser.error("--busy, --calls and --rounds must be at least 1, --threads from 1 to 256")
    result = run(args.shape, args.pattern, threads, busy, args.calls, args.rounds)
    simd = kedi_edge.runtime_info()["simd"]
    print(f"zigzag_xor {args.pattern}, {'x'.join(map(str, args.shape))} uint16, "
          f"{args.calls} calls x {args.rounds} rounds per row; SIMD {simd}")
    print(f"{'busy':>4} {'threads':>7} {'p50':>8} {'p90':>8} {'p99':>8} {'p99.9':>8} {'max':>8} "
          f"{'mean':>8} {'mean x1':>8} {'p99.9 x1':>8}"
          "   (us; 'x1': one thread's figure / this one)")
    for r in result["rows"]:
        figures = [r[k] for k in ("p50_us", "p90_us", "p99_us", "p99.9_us", "max_us", "mean_us")]
        print(f"{r['busy']:>4} {r['threads']:>7} " + " ".join(f"{v:8.1f}" for v in figures)
              + f" {r['mean_vs_1']:8.2f} {r['p99.9_vs_1']:8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)

if __name__ == "__main__":
    main()
