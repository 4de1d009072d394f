"""NIST SP 800-22 randomness tests of ZZ-GAN keys and sealed ciphertext.

    pip install sp80022suite          (builds the NIST C code with gcc)
    python benchmarks/nist_sp800_22.py [--sequences 32] [--json FILE]

For each source, 32 sequences of 1,000,000 bits (125,000 bytes): runtime ZZ-GAN keys
(256x256, 16-bit, fresh seeds, for a real CT slice), the network's own bytes without
the ChaCha20 pad (for comparison), the sealed ciphertext (AES-256-GCM body) of that
slice sealed 32 times, and the bare layer's cipher (zigzag + XOR) of the slice under
each key. Each of the 15 tests is judged by NIST's proportion rule at alpha = 0.01: with
32 sequences at least 30 must have p >= 0.01 (0.99 - 3 sqrt(0.99 * 0.01 / 32) = 0.937).
The p-value uniformity check (chi-square over 10 bins, NIST asks for p >= 0.0001) needs
55 or more sequences and is reported only then, and only for the single-p-value tests:
the corrected minimum of correlated sub-tests (random excursions variant) is not uniform.
Parameters: block frequency M = 128, templates m = 9, approximate entropy m = 10,
serial m = 16, linear complexity M = 500. The non-overlapping template test uses one
template, 000000001 (the sp80022suite wrapper returns the minimum p over all templates
in its file, which the proportion rule cannot judge). For the tests with several
p-values (cumulative sums 2, serial 2, random excursions 8, its variant 18) the wrapper
also returns the minimum, which is Sidak-corrected to 1 - (1 - p_min)^k before the rule
is applied. Random excursions (variant) are skipped for a sequence with too few cycles,
as NIST specifies.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pydicom
import sp80022suite as nist
from scipy import stats

import kedi_edge
from kedi_edge.envelope import Key

N_BYTES = 125_000  # 1,000,000 bits
# Tests with several p-values: the wrapper returns their minimum. Sidak-corrected,
# 1 - (1 - p_min)^k is uniform under randomness (for independent sub-tests), so the
# proportion rule applies to it.
SUBTESTS = {"cumulative_sums": 2, "serial": 2, "random_excursions": 8, "random_excursions_variant": 18}
TESTS = {
    "frequency": (), "block_frequency": (128,), "cumulative_sums": (), "runs": (),
    "longest_run_of_ones": (), "rank": (), "discrete_fourier_transform": (),
    "non_overlapping_template_matchings": (9,), "overlapping_template_matchings": (9,),
    "universal": (), "approximate_entropy": (10,), "random_excursions": (),
    "random_excursions_variant": (), "serial": (16,), "linear_complexity": (500,),
}


def sources(n: int) -> dict[str, list[bytes]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = pydicom.dcmread(pydicom.data.get_testdata_file("693_J2KI.dcm", download=False)).pixel_array
    ct = np.ascontiguousarray(ct[128:384, 128:384])
    gen = kedi_edge.KeyGenerator()
    keys, raw, sealed, bare = [], [], [], []
    for i in range(n):
        seed = i.to_bytes(4, "little") * 8
        image = gen.generate(ct.shape, np.uint32, ct, seed)
        key = Key("nist", image)
        k16 = key.array_for(ct.shape, ct.dtype, None)
        keys.append(k16.tobytes()[:N_BYTES])
        raw.append(gen.generate(ct.shape, np.uint16, ct, seed, raw=True).tobytes()[:N_BYTES])
        blob = kedi_edge.seal(ct, key)
        sealed.append(bytes(blob[len(blob) - 16 - ct.nbytes:len(blob) - 16])[:N_BYTES])
        bare.append(kedi_edge.zigzag_xor(ct, k16, "diagonal").tobytes()[:N_BYTES])
    return {"ZZ-GAN keys (runtime)": keys, "sealed ciphertext": sealed, "bare layer cipher": bare,
            "ZZ-GAN raw network bytes (no pad)": raw}


def run_tests(sequences: list[bytes]) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {t: [] for t in TESTS}
    for seq in sequences:
        bits = np.unpackbits(np.frombuffer(seq, np.uint8)).tobytes()
        for name, args in TESTS.items():
            try:
                p = float(getattr(nist, name)(*args, bits))
                out[name].append(1 - (1 - p) ** SUBTESTS.get(name, 1))
            except ValueError:  # random excursions: too few cycles (not applicable)
                out[name].append(None)
    return out


def verdict(ps: list[float | None], uniform: bool, alpha: float = 0.01) -> dict:
    valid = [p for p in ps if p is not None]
    s = len(valid)
    passed = sum(p >= alpha for p in valid)
    need = math.ceil(s * ((1 - alpha) - 3 * math.sqrt(alpha * (1 - alpha) / s))) if s else 0
    row = {"applicable": s, "passed": passed, "needed": need, "ok": bool(s and passed >= need)}
    if uniform and s >= 55:
        counts = np.histogram(valid, bins=10, range=(0, 1))[0]
        row["uniformity_p"] = float(stats.chisquare(counts).pvalue)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequences", type=int, default=32)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = sources(args.sequences)
    results = {}
    with tempfile.TemporaryDirectory() as td:
        (Path(td) / "templates").mkdir()
        # The NIST code reads its 148 slots for m = 9 from this file; all hold one template.
        (Path(td) / "templates" / "template9").write_text("0 0 0 0 0 0 0 0 1\n" * 148)
        cwd = os.getcwd()
        os.chdir(td)  # the NIST code reads templates/template9 from the working folder
        try:
            for name, seqs in data.items():
                results[name] = {t: verdict(ps, t not in SUBTESTS) for t, ps in run_tests(seqs).items()}
        finally:
            os.chdir(cwd)
    print(f"NIST SP 800-22, {args.sequences} sequences of 1,000,000 bits per source; "
          "passed/applicable (needed), alpha = 0.01")
    names = list(results)
    print(f"{'test':<36}" + "".join(f"{n[:26]:>28}" for n in names))
    for t in TESTS:
        cells = []
        for n in names:
            r = results[n][t]
            cells.append(f"{r['passed']}/{r['applicable']} ({r['needed']}) {'ok' if r['ok'] else 'FAIL'}")
        print(f"{t:<36}" + "".join(f"{c:>28}" for c in cells))
    for n in names:
        unif = {t: r["uniformity_p"] for t, r in results[n].items() if "uniformity_p" in r}
        if unif:
            worst = min(unif, key=unif.get)
            print(f"{n}: p-value uniformity, lowest {unif[worst]:.4f} ({worst}); "
                  f"{'ok' if unif[worst] >= 1e-4 else 'FAIL'} (>= 0.0001)")
    for n in names:
        fails = [t for t in TESTS if not results[n][t]["ok"]]
        print(f"{n}: {len(TESTS) - len(fails)} of {len(TESTS)} tests pass the proportion rule"
              + (f"; failing: {', '.join(fails)}" if fails else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
