"""The ``kedi-edge`` command.

    kedi-edge info                      what this machine runs (SIMD path, ONNX providers)
    kedi-edge train [--data DIR] [--out DIR] [--steps N] ...   train the ZZ-GAN (needs torch)

Exit codes: 0 success; 1 unexpected internal error; 2 usage error; 3 bad input (file,
folder, argument); 4 model error (missing, corrupt or wrong ONNX generator); 5
execution provider not available; 6 an optional dependency is missing (e.g. torch for
``train``: ``pip install 'kedi_edge[train]'``). Errors are one line on stderr; add
``--verbose`` for the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from .exceptions import KediError, ModelError, ProviderError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INPUT, EXIT_MODEL, EXIT_PROVIDER, EXIT_MISSING_DEP = range(7)


class MissingDependency(KediError):
    """An optional package a command needs is not installed."""


def _cmd_info(args: argparse.Namespace) -> int:
    from .runtime import runtime_info

    info = runtime_info()
    if args.device:
        from .keygen import KeyGenerator

        gen = KeyGenerator(args.model, device=args.device)
        info = runtime_info() | {"model": str(gen.path), "model_sha256": gen.sha256}
    print(json.dumps(info, indent=2))
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        from .train import TrainConfig, train
    except ImportError as e:
        raise MissingDependency(f"train: {e.name or 'torch'} is not installed; "
                                "pip install 'kedi_edge[train]'") from e
    cfg = TrainConfig(steps=args.steps, batch=args.batch, crop=args.crop, seed=args.seed)
    summary = train(args.out, data=args.data, config=cfg, threads=args.threads,
                    resume=args.resume, progress=not args.no_progress)
    print(f"trained {summary['steps']} steps in {summary['train_seconds']} s on "
          f"{summary['data']}; wrote {args.out}/zzgan.pt (export it with "
          "python export/export_onnx.py --checkpoint ...)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kedi-edge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of errors")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="versions, SIMD path and ONNX Runtime providers")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                   help="also load the generator on this device and report the active provider")
    p.add_argument("--model", default=None, help="ONNX generator (default: the shipped one)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train the ZZ-GAN key generator (needs the train extra)")
    p.add_argument("--data", default=None,
                   help="folder of DICOM/PNG images (default: pydicom's bundled DICOM files)")
    p.add_argument("--out", default="runs/zzgan", help="output folder (checkpoints, zzgan.pt, log)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8, help="even")
    p.add_argument("--crop", type=int, default=96, help="square crop side, a multiple of 4")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KediError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"kedi-edge {args.command}: error: {e}", file=sys.stderr)
        if isinstance(e, MissingDependency):
            return EXIT_MISSING_DEP
        if isinstance(e, ModelError):
            return EXIT_MODEL
        if isinstance(e, ProviderError):
            return EXIT_PROVIDER
        return EXIT_INPUT  # InvalidInputError and every other KediError: bad input
    except KeyboardInterrupt:
        print(f"kedi-edge {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: say so plainly
        if args.verbose:
            traceback.print_exc()
        print(f"kedi-edge {args.command}: internal error: {type(e).__name__}: {e} "
              "(run with --verbose for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
