"""Coverage-guided fuzzing of kedi_edge with atheris (pip install atheris).

    python fuzz/run.py TARGET [--seconds S | --runs N] [--corpus DIR] [libFuzzer flags...]

TARGET: container (the .kedi parser and opener), dicom_decrypt (encrypted DICOM files),
dicom_encrypt (plain DICOM files), kernels (the native kernels through Python), or all
(each in turn). Seeds come from pydicom's bundled files; the corpus grows in DIR
(default: a temporary folder). A target may raise only its documented errors
(kedi_edge's KediError types; ValueError/TypeError for the kernels): anything else, a
crash or a hang (over 10 s) stops the run with a non-zero exit and saves the input in
fuzz/artifacts/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"  # inputs that crashed or hung


def fuzz_one(target: str, corpus: Path, extra: list[str]) -> None:
    import atheris

    # pydicom too for the DICOM targets, so that new parser paths count as coverage.
    include = ["kedi_edge", "pydicom"] if target.startswith("dicom") else ["kedi_edge"]
    with atheris.instrument_imports(include=include):
        sys.path.insert(0, str(HERE))
        import targets
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for i, seed in enumerate(targets.seeds(target)):
            (corpus / f"seed-{i}").write_bytes(seed)
    fn = targets.TARGETS[target]
    ARTIFACTS.mkdir(exist_ok=True)
    atheris.Setup([sys.argv[0], "-timeout=10", "-rss_limit_mb=4096", f"-artifact_prefix={ARTIFACTS}/{target}-",
                   *extra, str(corpus)], fn)
    atheris.Fuzz()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", choices=["container", "dicom_decrypt", "dicom_encrypt", "kernels", "all"])
    ap.add_argument("--seconds", type=int, default=None, help="stop after this many seconds")
    ap.add_argument("--runs", type=int, default=None, help="stop after this many executions")
    ap.add_argument("--corpus", default=None, help="corpus folder (default: temporary)")
    args, extra = ap.parse_known_args()
    limits = ([f"-max_total_time={args.seconds}"] if args.seconds else []) + \
             ([f"-runs={args.runs}"] if args.runs else [])
    if args.target == "all":
        code = 0
        for t in ("container", "dicom_decrypt", "dicom_encrypt", "kernels"):
            cmd = [sys.executable, __file__, t, *(["--seconds", str(args.seconds)] if args.seconds else []),
                   *(["--runs", str(args.runs)] if args.runs else []), *extra]
            code = code or subprocess.run(cmd, check=False).returncode
        return code
    with tempfile.TemporaryDirectory() as td:
        corpus = Path(args.corpus) if args.corpus else Path(td) / args.target
        os.environ.setdefault("KEDI_NUM_THREADS", "1")
        fuzz_one(args.target, corpus, [*limits, *extra])
    return 0


if __name__ == "__main__":
    sys.exit(main())
