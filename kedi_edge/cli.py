"""The ``kedi-edge`` command.

    kedi-edge keys init|new|list          the key store (--keys DIR, --kek-file F or --passphrase)
    kedi-edge encrypt PATH... -o OUTDIR   DICOM files -> encrypted DICOM; .npy -> .kedi
    kedi-edge decrypt PATH... -o OUTDIR   encrypted DICOM -> DICOM; .kedi -> .npy
    kedi-edge verify PATH...              authenticate without writing any plaintext
    kedi-edge demo [--out DIR]            the end-to-end demo on bundled real images
    kedi-edge evaluate --out DIR          the paper's tables and figures (needs the eval extra)
    kedi-edge info                        what this machine runs (SIMD path, ONNX providers)
    kedi-edge train [--data DIR] ...      train the ZZ-GAN (needs torch)

Exit codes: 0 success; 1 unexpected internal error; 2 usage error; 3 bad input (not
DICOM, truncated, no pixel data, unsupported pixel format, missing file); 4 model
error (missing, corrupt or wrong ONNX generator); 5 execution provider not available;
6 an optional dependency is missing (e.g. torch for ``train``, matplotlib for
``evaluate``); 7 output error (exists without --overwrite, cannot write, two inputs
with one output name); 8 authentication failed (wrong key, tampered file); 9 key store
error (no store, unreadable, wrong KEK, KEK file too open, missing key). A batch
returns the code of its most severe failure (8, 9, 7, then 3); a model or provider
failure stops it with 4 or 5. Errors are one line on stderr; add ``--verbose`` for
the traceback.

The KEK comes from --kek-file (or KEDI_KEK_FILE, default ~/.config/kedi-edge/kek.key),
or with --passphrase from KEDI_PASSPHRASE or a prompt; never from the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from .exceptions import (
    KediError,
    KeyStoreError,
    ModelError,
    ProviderError,
)

(EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INPUT, EXIT_MODEL, EXIT_PROVIDER, EXIT_MISSING_DEP,
 EXIT_OUTPUT, EXIT_AUTH, EXIT_KEYS) = range(10)


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


def _one_line(message: str) -> str:
    """A message on one line (decoders' errors span several)."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _shape(text: str) -> tuple[int, ...]:
    """An HxW size from the command line."""
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW with positive integers, e.g. 512x512, got {text!r}")
    return shape


def _category_exit() -> dict[str, int]:
    from . import batch

    return {batch.AUTH: EXIT_AUTH, batch.KEYS: EXIT_KEYS, batch.OUTPUT: EXIT_OUTPUT, batch.INPUT: EXIT_INPUT}


def _passphrase(args: argparse.Namespace, confirm: bool = False) -> str | None:
    if not getattr(args, "passphrase", False):
        return None
    env = os.environ.get("KEDI_PASSPHRASE")
    if env:
        return env
    import getpass

    first = getpass.getpass("key store passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise KeyStoreError("the passphrases differ")
    return first


def _open_store(args: argparse.Namespace):
    from .keystore import KeyStore

    return KeyStore.open(args.keys, kek_file=args.kek_file, passphrase=_passphrase(args))


def _cmd_keys(args: argparse.Namespace) -> int:
    from .keystore import KeyStore, default_store_path

    if args.keys_command == "init":
        store = KeyStore.init(args.keys, kek_file=args.kek_file, passphrase=_passphrase(args, confirm=True))
        print(f"key store created at {store.path} (KEK: {store.meta['kek']['kind']})")
        return EXIT_OK
    store = _open_store(args)
    if args.keys_command == "new":
        from .keygen import KeyGenerator

        gen = KeyGenerator(device=args.device)
        image = None
        if args.like:
            from .batch import _read_dicom
            from .dicom import read_pixels

            ds = _read_dicom(Path(args.like))
            if ds is None:
                raise KediError(f"{args.like}: not a DICOM file")
            pixels, axis, _ = read_pixels(ds)
            image = pixels.reshape((-1,) + pixels.shape[-3 if axis == -1 else -2:])[0]
            image = image.mean(axis=-1) if axis == -1 else image
            shape = image.shape
        else:
            shape = args.shape
        for _ in range(args.count):
            key = store.new_key(gen, shape, image)
            print(key.key_id)
        return EXIT_OK
    rows = store.list()
    print(f"{len(rows)} key(s) in {store.path if args.keys is None else args.keys or default_store_path()}")
    for r in rows:
        scope = (r.get("scope") or {}).get("policy", "?")
        shape = "x".join(map(str, r.get("shape") or [])) or "?"
        print(f"{r['key_id']}  {r.get('created', '?')}  {shape:>9}  {scope:<6}  model {str(r.get('model_sha256'))[:12]}")
    return EXIT_OK


class _LazyGenerator:
    """A KeyGenerator made on first use (most runs find their keys in the store)."""

    def __init__(self, device: str) -> None:
        self.device, self._gen = device, None

    def _get(self):
        if self._gen is None:
            from .keygen import KeyGenerator

            self._gen = KeyGenerator(device=self.device)
        return self._gen

    @property
    def sha256(self) -> str:
        return self._get().sha256

    def generate(self, *args, **kwargs):
        return self._get().generate(*args, **kwargs)


def _batch(args: argparse.Namespace, action: str) -> int:
    from . import batch

    outdir = Path(args.output) if action != "verify" else None
    quarantine = Path(args.quarantine) if args.quarantine else None
    inputs, missing = batch.collect(args.paths, args.recursive,
                                    exclude=[f for f in (outdir, quarantine) if f is not None])
    store = _open_store(args)
    opts: dict = {"policy": getattr(args, "policy", "series"), "speckle": getattr(args, "speckle", None),
                  "despeckle": getattr(args, "despeckle", False)}
    if action == "encrypt":
        from .keygen import KeyGenerator

        generator = None
        if args.key:
            opts["key"] = store.get(args.key)

        def key_for_array(a):
            nonlocal generator
            if args.key:
                return opts["key"]
            generator = generator or KeyGenerator(device=args.device)
            return store.new_key(generator, a.shape[-2:], a.reshape((-1,) + a.shape[-2:])[0])

        opts["key_for_array"] = key_for_array
        opts["generator"] = _LazyGenerator(args.device)
    report = batch.run(action, inputs, store, outdir=outdir, overwrite=getattr(args, "overwrite", False),
                       quarantine=quarantine, progress=not args.no_progress, opts=opts, jobs=args.jobs)
    report.failed[:0] = missing
    for w in report.warnings:
        print(f"kedi-edge {action}: warning: {_one_line(w)}", file=sys.stderr)
    for f in report.failed:
        where = "" if str(f.path) in f.message else f"{f.path}: "  # every line names its file
        print(f"kedi-edge {action}: {where}{_one_line(f.message)}", file=sys.stderr)
    verb = {"encrypt": "encrypted", "decrypt": "decrypted", "verify": "verified"}[action]
    print(f"{verb} {len(report.done)}, already done {len(report.skipped)}, failed {len(report.failed)} "
          f"({report.seconds:.1f} s)", file=sys.stderr)
    worst = report.worst()
    return _category_exit()[worst] if worst else EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    demo.run(out=Path(args.out) if args.out else None)
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .batch import _OutputError

    try:
        from .evaluate import evaluate

        report = evaluate(Path(args.out), data=Path(args.data) if args.data else None,
                          per_modality=args.per_modality, var=args.var, progress=not args.no_progress)
    except ModuleNotFoundError as e:
        raise MissingDependency(f"{e} (missing: {e.name})") from e
    except OSError as e:
        raise _OutputError(f"{args.out}: cannot write the report ({e.strerror or e})") from e
    exact = all(i["lossless"]["bit_exact"] for i in report["images"])
    print(f"{len(report['images'])} images evaluated; lossless round trips bit-exact: "
          f"{'yes' if exact else 'NO'}; report in {Path(args.out) / 'report.md'}")
    return EXIT_OK if exact else EXIT_INTERNAL


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keys", default=None, help="key store folder (default: KEDI_KEYS or "
                   "~/.local/share/kedi-edge/keys)")
    p.add_argument("--kek-file", default=None, help="KEK file (default: KEDI_KEK_FILE or "
                   "~/.config/kedi-edge/kek.key)")
    p.add_argument("--passphrase", action="store_true",
                   help="derive the KEK from a passphrase (KEDI_PASSPHRASE, else prompted)")


def _batch_options(p: argparse.ArgumentParser, output: bool) -> None:
    p.add_argument("paths", nargs="+", help="files or folders")
    if output:
        p.add_argument("-o", "--output", required=True, help="output folder")
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--recursive", "-r", action="store_true", help="descend into folders")
    p.add_argument("--quarantine", default=None, help="move inputs that fail here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="worker processes (default: one per CPU, at most 4, for 16 files or more; "
                        "else 1)")
    _store_options(p)


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

    p = sub.add_parser("keys", help="create and list keys")
    ks = p.add_subparsers(dest="keys_command", required=True)
    q = ks.add_parser("init", help="create a key store (and a KEK file unless --passphrase)")
    _store_options(q)
    q = ks.add_parser("new", help="make keys with the shipped ZZ-GAN generator")
    _store_options(q)
    q.add_argument("--shape", type=_shape, default=(512, 512), help="key size HxW (default 512x512)")
    q.add_argument("--like", default=None, help="a DICOM file whose size and image the key follows")
    q.add_argument("--count", type=int, default=1)
    q.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    q = ks.add_parser("list", help="list the keys (no key material)")
    _store_options(q)
    p.set_defaults(func=_cmd_keys)

    p = sub.add_parser("encrypt", help="encrypt DICOM files (and .npy arrays) into OUTDIR")
    _batch_options(p, output=True)
    p.add_argument("--policy", choices=["image", "series", "study"], default="series",
                   help="one key per image, series (default) or study")
    p.add_argument("--key", default=None, help="use this key id instead of the policy")
    p.add_argument("--speckle", type=float, default=None, metavar="VAR",
                   help="add multiplicative speckle of this variance before sealing (lossy; "
                        "recorded in the header; default: lossless)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.set_defaults(func=lambda a: _batch(a, "encrypt"))

    p = sub.add_parser("decrypt", help="decrypt encrypted DICOM files and .kedi containers into OUTDIR")
    _batch_options(p, output=True)
    p.add_argument("--despeckle", action="store_true",
                   help="despeckle images that were speckled before sealing (ripplet shrinkage)")
    p.set_defaults(func=lambda a: _batch(a, "decrypt"))

    p = sub.add_parser("verify", help="authenticate encrypted files without writing plaintext")
    _batch_options(p, output=False)
    p.set_defaults(func=lambda a: _batch(a, "verify"))

    p = sub.add_parser("demo", help="encrypt and decrypt real DICOM images bundled with pydicom")
    p.add_argument("--out", default=None, help="also write plain, cipher and decrypted PNGs here")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("evaluate", help="the paper's tables and figures on real images (needs the eval extra)")
    p.add_argument("--out", required=True, help="folder for report.md, report.json and figures/")
    p.add_argument("--data", default=None, help="folder of DICOM files (default: pydicom's bundled real images)")
    p.add_argument("--per-modality", type=int, default=3, help="images per modality (default 3)")
    p.add_argument("--var", type=float, default=0.01, help="speckle variance (default 0.01)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

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
        print(f"kedi-edge {args.command}: error: {_one_line(str(e))}", file=sys.stderr)
        if isinstance(e, MissingDependency):
            return EXIT_MISSING_DEP
        if isinstance(e, ModelError):
            return EXIT_MODEL
        if isinstance(e, ProviderError):
            return EXIT_PROVIDER
        from .batch import category  # authentication, key store, output or input

        return _category_exit()[category(e)]
    except KeyboardInterrupt:
        print(f"kedi-edge {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: say so plainly
        if args.verbose:
            traceback.print_exc()
        print(f"kedi-edge {args.command}: internal error: {type(e).__name__}: {_one_line(str(e))} "
              "(run with --verbose for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
