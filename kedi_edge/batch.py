"""Encrypt, decrypt or verify many files: the engine behind the kedi-edge command.

Inputs are DICOM files (encrypted DICOM out), ``.npy`` arrays (``.kedi`` containers
out) and ``.kedi`` containers (``.npy`` out on decryption). Each output is written to
a temporary file in the output folder, made durable (one flush to disk for a group of
outputs) and then renamed, so an output is either absent or complete; inputs are
never changed. An existing output is kept: if it is
this input's output (an encryption that authenticates and holds the input's SOP
Instance UID and pixels, or the array; a decryption with the same bytes) it counts as
done, so an interrupted batch resumes; otherwise the file fails unless ``overwrite``
is set. Inputs whose outputs would have the same name fail, and so does an output
that would replace its own input. A file that fails is reported and skipped (or moved
to ``quarantine``), and the batch goes on; a generator or execution-provider failure
(ModelError, ProviderError) stops it, since every later file would fail the same way.
"""

from __future__ import annotations

import gc
import io
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import dicom as kdicom
from ._fsutil import write_atomic_many
from .envelope import _check_array, seal, unseal
from .exceptions import (
    AuthenticationError,
    InvalidInputError,
    KediError,
    KeyNotFoundError,
    KeyStoreError,
    ModelError,
    ProviderError,
)

__all__ = ["Failure", "Report", "category", "collect", "run"]

# Failure categories, most severe first; the CLI maps each to an exit code.
AUTH, KEYS, OUTPUT, INPUT = "authentication", "keys", "output", "input"
SEVERITY = (AUTH, KEYS, OUTPUT, INPUT)


@dataclass
class Failure:
    path: Path
    category: str
    message: str


@dataclass
class Report:
    done: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # outputs already there and verified
    failed: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def worst(self) -> str | None:
        cats = {f.category for f in self.failed}
        return next((c for c in SEVERITY if c in cats), None)


class _OutputError(KediError):
    pass


class _InputError(KediError):
    pass


class _KeyNeeded(KediError):
    """In a worker process: the file's series or study has no key yet (``scope``)."""

    scope = ""


class _NoGenerator:
    """The key generator worker processes see: the parent makes missing keys."""

    sha256 = None

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise _KeyNeeded("no key yet for this series or study")


def collect(paths: Iterable[str | os.PathLike], recursive: bool,
            exclude: Iterable[str | os.PathLike] = ()) -> tuple[list[tuple[Path, Path]], list[Failure]]:
    """(file, path relative to its root) for each input, and a failure for each path
    that is missing or a folder without ``recursive``. Files inside an ``exclude``
    folder (the output and quarantine folders) are left out."""
    skip = [Path(e).resolve() for e in exclude]

    def wanted(f: Path) -> bool:
        real = f.resolve()
        return not any(real == e or e in real.parents for e in skip)

    out, problems = [], []
    for p in map(Path, paths):
        if p.is_dir():
            if not recursive:
                problems.append(Failure(p, INPUT, f"{p}: is a folder (add --recursive)"))
                continue
            out += [(f, f.relative_to(p)) for f in sorted(p.rglob("*")) if f.is_file() and
                    not f.name.startswith(".") and wanted(f)]
        elif p.is_file():
            out.append((p, Path(p.name)))
        else:
            problems.append(Failure(p, INPUT, f"{p}: no such file or folder"))
    return out, problems


def _read_dicom(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path)
    except InvalidDicomError:
        return None
    except Exception as e:  # truncated or malformed files raise many types
        raise _InputError(f"{path}: not readable as DICOM ({type(e).__name__}: {e})") from e


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError/OSError/EOFError for bad files
        raise _InputError(f"{path}: not a readable .npy array ({type(e).__name__}: {e})") from e


def _is_output_of(path: Path, out: Path, store: Any) -> bool:
    """Whether ``out`` is a complete, authentic encryption of the input ``path``: it
    opens with the store, and holds the input's array (a ``.kedi``), or the input's SOP
    Instance UID and pixels (DICOM; the UID only when speckle made it lossy). Errors
    reading the input are the input's failure."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", kdicom.LossyWarning)
            if out.suffix == ".kedi":
                pixels, header = unseal(out.read_bytes(), store)
                lossy = bool(header.get("lossy"))
            else:
                ds = _read_dicom(out)
                if ds is None:
                    return False
                dec = kdicom.decrypt_dicom(ds, store)
                lossy = any(issubclass(w.category, kdicom.LossyWarning) for w in caught)
    except Exception:  # noqa: BLE001 - whatever stops it from opening, it is not a verified output
        return False
    if out.suffix == ".kedi":
        array = _load_npy(path)
        same_type = array.dtype.kind == pixels.dtype.kind and array.dtype.itemsize == pixels.dtype.itemsize
        return same_type and array.shape == pixels.shape and (lossy or np.array_equal(array, pixels))
    source = _read_dicom(path)
    if source is None:
        raise _InputError(f"{path}: not a DICOM file, .npy array or .kedi container")
    if str(source.get("SOPInstanceUID", "")) != str(dec.get("SOPInstanceUID", "")):
        return False
    a, b = kdicom.read_pixels(source)[0], kdicom.read_pixels(dec)[0]
    return a.shape == b.shape and (lossy or np.array_equal(a, b))


def _check_kind(action: str, path: Path) -> None:
    """Refuses a container to encrypt, or a plain array to decrypt or verify."""
    if path.suffix == ".kedi" and action == "encrypt":
        raise _InputError(f"{path}: already a sealed container")
    if path.suffix == ".npy" and action != "encrypt":
        raise _InputError(f"{path}: not encrypted (a plain .npy array)")


def _process(action: str, path: Path, store: Any, opts: dict[str, Any]) -> tuple[str, bytes] | None:
    """(output suffix rule, bytes) for one input; None for verify. The input's kind
    suits the action (see _check_kind)."""
    if path.suffix == ".kedi":
        try:
            blob = path.read_bytes()
        except OSError as e:
            raise _InputError(f"{path}: cannot read ({e.strerror})") from e
        pixels, header = unseal(blob, store)
        speckle = (header.get("lossy") or {}).get("speckle")
        if speckle and action == "decrypt":
            opts["_warnings"].append(f"{path}: speckle (var {speckle['var']}) was added before encryption; the "
                                     f"decrypted pixels are {'despeckled, ' if opts.get('despeckle') else ''}"
                                     "not the original ones")
            if opts.get("despeckle"):
                from .dicom import _despeckle_frame

                planes = pixels.reshape((-1,) + pixels.shape[-2:]) if header["channel_axis"] is None else pixels
                pixels = _despeckle_frame(planes, float(speckle["var"]), header["channel_axis"]).reshape(pixels.shape)
        return None if action == "verify" else (".npy", _npy_bytes(pixels))
    if path.suffix == ".npy":
        array, lossy = _load_npy(path), None
        try:
            _check_array(array, None)
        except InvalidInputError as e:
            raise _InputError(f"{path}: {e}") from e
        key = opts["key_for_array"](array)  # only for an array that can be sealed
        if opts.get("speckle"):
            from .ripplet import add_speckle

            array = add_speckle(array, float(opts["speckle"]))
            lossy = {"speckle": {"var": float(opts["speckle"]), "model": "J = I + n*I, n ~ N(0, var)"}}
        return ".kedi", seal(array, key, lossy=lossy)
    ds = _read_dicom(path)
    if ds is None:
        raise _InputError(f"{path}: not a DICOM file, .npy array or .kedi container")
    if action == "encrypt":
        policy = opts.get("policy", "series")
        try:
            data = kdicom.encrypt_dicom_file(ds, opts.get("key"), keystore=store, generator=opts.get("generator"),
                                             policy=policy, speckle=opts.get("speckle"))
        except _KeyNeeded as e:
            e.scope = kdicom._scope_uid(ds, policy)
            raise
        return "", data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", kdicom.LossyWarning)
        dec = kdicom.decrypt_dicom(ds, store, despeckle=bool(opts.get("despeckle")))
    opts["_warnings"] += [str(w.message) for w in caught if issubclass(w.category, kdicom.LossyWarning)]
    return None if action == "verify" else ("", kdicom._file_data(dec))


def _output_path(rel: Path, suffix: str, outdir: Path) -> Path:
    target = outdir / rel
    if suffix == ".kedi":
        target = target.with_name(target.name + ".kedi")
    elif suffix == ".npy":
        target = target.with_suffix("") if target.suffix == ".kedi" else target
        target = target.with_suffix(".npy") if target.suffix != ".npy" else target
    return target


def _target(action: str, path: Path, rel: Path, outdir: Path) -> Path:
    """Where the output of an input goes (known before the work, for every input kind)."""
    return _output_path(rel, ".kedi" if path.suffix == ".npy" and action == "encrypt" else
                        ".npy" if path.suffix == ".kedi" else "", outdir)


def _clashes(targets: list[tuple[tuple[Path, Path], Path]]) -> dict[tuple[Path, Path], str]:
    """The inputs (of the pairs input, output path) whose outputs would have the same
    name, each with its failure message."""
    by_target: dict[Path, list[tuple[Path, Path]]] = {}
    for item, target in targets:
        by_target.setdefault(target, []).append(item)
    out = {}
    for target, items in by_target.items():
        for item in items if len(items) > 1 else ():
            others = ", ".join(str(p) for p, _ in items if p != item[0])
            out[item] = (f"{item[0]}: its output {target} would also be the output of {others} "
                         f"(give them different output folders)")
    return out


def _existing(targets: Iterable[Path]) -> set[Path]:
    """The output paths among ``targets`` that exist now: one listing per folder instead
    of a lookup per file (a lookup waits while another process creates files there)."""
    by_folder: dict[Path, list[Path]] = {}
    for target in targets:
        by_folder.setdefault(target.parent, []).append(target)
    found: set[Path] = set()
    for folder, members in by_folder.items():
        try:
            names = set(os.listdir(folder))
        except FileNotFoundError:
            continue
        except OSError:  # not a readable folder: each file finds out for itself
            found.update(t for t in members if os.path.lexists(t))
            continue
        found.update(t for t in members if t.name in names)
    return found


def category(e: BaseException) -> str:
    """The failure category of a KediError (AUTH, KEYS, OUTPUT or INPUT)."""
    if isinstance(e, KeyNotFoundError | KeyStoreError):
        return KEYS
    if isinstance(e, AuthenticationError):
        return AUTH
    if isinstance(e, _OutputError):
        return OUTPUT
    return INPUT


def _quarantine(path: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}.{n}{path.suffix}"
        n += 1
    shutil.move(str(path), target)


def _write_error(target: Path, e: BaseException) -> BaseException:
    """The failure of one output as the batch reports it."""
    if isinstance(e, FileExistsError):
        err: BaseException = _OutputError(f"{target}: exists (use --overwrite to replace it)")
    elif isinstance(e, OSError):
        err = _OutputError(f"{target}: cannot write ({e.strerror or e})")
    else:
        return e
    err.__cause__ = e
    return err


class _GroupWriter:
    """Writes outputs on a background thread in groups that share one flush to disk
    (write_atomic_many): a group is what was submitted while the previous one was being
    written, at least ``group_min`` files or GROUP_BYTES bytes (waiting at most
    GROUP_WAIT seconds for them, and not at all once the batch is closing) and at most
    GROUP_FILES files and GROUP_BYTES bytes. Each output still appears only once its
    data is on disk."""

    GROUP_MIN = 8  # fewer journal commits and thread switches than a flush per file
    GROUP_WAIT = 0.03
    GROUP_FILES = 32
    GROUP_BYTES = 64 * 2**20

    def __init__(self, overwrite: bool, group_min: int = GROUP_MIN) -> None:
        self.overwrite = overwrite
        self.group_min = group_min
        self._cv = threading.Condition()
        self._queue: list[tuple[Path, bytes, Future]] = []
        self._queued = 0  # bytes in the queue
        self._closed = False
        self._folders: set[Path] = set()  # folders this writer made or found
        self._thread = threading.Thread(target=self._loop, name="kedi-write", daemon=True)
        self._thread.start()

    def submit(self, target: Path, data: bytes) -> Future:
        fut: Future = Future()
        with self._cv:
            self._queue.append((target, data, fut))
            self._queued += len(data)
            if len(self._queue) == 1 or self._full():  # starts the wait for a group; ends it
                self._cv.notify()
        return fut

    def _full(self) -> bool:
        return len(self._queue) >= self.group_min or self._queued >= self.GROUP_BYTES

    def close(self) -> None:
        """Writes what is queued, then stops."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                deadline = time.monotonic() + self.GROUP_WAIT
                while not self._full() and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                if not self._queue:
                    return
                group = [self._queue.pop(0)]
                size = len(group[0][1])
                while (self._queue and len(group) < self.GROUP_FILES
                       and size + len(self._queue[0][1]) <= self.GROUP_BYTES):
                    group.append(self._queue.pop(0))
                    size += len(group[-1][1])
                self._queued -= size
            self._write(group)

    def _write(self, group: list[tuple[Path, bytes, Future]]) -> None:
        entries, waiting = [], []
        for target, data, fut in group:
            if target.parent not in self._folders:
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    fut.set_exception(_write_error(target, e))
                    continue
                self._folders.add(target.parent)
            entries.append((target, data, self.overwrite))
            waiting.append((target, fut))
        try:
            errors = write_atomic_many(entries)
        except BaseException as e:  # noqa: BLE001 - handed to every file of the group, raised by its caller
            errors = [e] * len(entries)
        for (target, fut), e in zip(waiting, errors, strict=True):
            if e is None:
                fut.set_result(None)
            else:
                fut.set_exception(_write_error(target, e))


def _prepare(action: str, path: Path, rel: Path, store: Any, outdir: Path | None, overwrite: bool,
             opts: dict[str, Any]) -> tuple[str, tuple[Path, bytes] | None]:
    """One input up to its output bytes: ("skipped", None), ("done", None) for verify, or
    ("write", (target, data)). Raises KediError for a failure of this file."""
    _check_kind(action, path)  # before any output is looked at
    if action == "verify":
        _process(action, path, store, opts)
        return "done", None
    target = _target(action, path, rel, outdir)
    existing = opts.get("_existing")  # the outputs that existed when the batch started
    exists = target in existing if existing is not None else os.path.lexists(target)
    if exists and os.path.exists(target) and os.path.samefile(target, path):
        raise _OutputError(f"{target}: is the input itself; choose another output folder")
    if exists and not overwrite and action == "encrypt":  # encryption is not repeatable: check first
        if _is_output_of(path, target, store):
            return "skipped", None
        raise _OutputError(f"{target}: exists and is not this input's output (use --overwrite to replace it)")
    suffix, data = _process(action, path, store, opts)
    if exists and not overwrite:  # decryption is: the same bytes mean it was done
        try:
            with open(target, "rb") as f:
                same = f.read(len(data) + 1) == data
        except OSError:
            same = False
        if same:
            return "skipped", None
        raise _OutputError(f"{target}: exists and is not this input's output (use --overwrite to replace it)")
    return "write", (_output_path(rel, suffix, outdir), data)


CHUNK_FILES = 8  # most files a worker takes at a time
WORKER_GROUP_MIN = 4  # a worker flushes half a chunk while it works on the other half

# State a forked worker inherits from the parent (keys and KEK stay in memory, unpickled).
_WORKER: dict[str, Any] = {}


def _init_worker(parent: int) -> None:
    # Parallelism is across processes here: one native thread each, so no worker spins
    # on a core another process needs.
    from . import _native

    gc.freeze()  # what it inherited is the parent's to collect (see run)
    _native._set_threads(1)
    _die_with(parent)


def _die_with(parent: int) -> None:
    """On Linux, have the kernel kill this worker when the batch's process dies (even by
    SIGKILL), so that no orphan goes on writing outputs after the batch was stopped."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


# One input's outcome: ((path, relative path), status, failure category, message). Status
# is "done", "skipped", "failed", or "needkey" (a worker found no key; message = scope).
_Result = tuple[tuple[Path, Path], str, str, str]


def _run_files(action: str, items: list[tuple[Path, Path]], store: Any, outdir: Path | None, overwrite: bool,
               opts: dict[str, Any], result: Callable[[tuple[Path, Path], str, str, str], None],
               group_min: int = _GroupWriter.GROUP_MIN) -> None:
    """Files one after another in this process. Outputs are written (temporary files,
    one flush to disk per group, renames) by a background thread while the next files
    are processed, so waiting for the disk overlaps the work; ``result`` hears of each
    file once its output is on disk or it failed."""
    writing: list[tuple[Future, tuple[Path, Path], int]] = []
    queued = 0  # bytes of the outputs in `writing`

    def settle(pending: tuple[Future, tuple[Path, Path], int]) -> None:
        nonlocal queued
        fut, item, size = pending
        queued -= size
        try:
            fut.result()
        except KediError as e:
            result(item, "failed", category(e), str(e))
            return
        result(item, "done", "", "")

    writer = _GroupWriter(overwrite, group_min)
    try:
        for item in items:
            try:
                status, out = _prepare(action, item[0], item[1], store, outdir, overwrite, opts)
            except _KeyNeeded as e:
                result(item, "needkey", "", e.scope)
                continue
            except (ModelError, ProviderError):
                raise  # every later file would fail the same way: the batch stops
            except KediError as e:
                result(item, "failed", category(e), str(e))
                continue
            if out is None:
                result(item, status, "", "")
                continue
            writing.append((writer.submit(out[0], out[1]), item, len(out[1])))
            queued += len(out[1])
            # Bound the memory held by queued outputs (two groups' worth).
            while len(writing) > 2 * writer.GROUP_FILES or queued > 2 * writer.GROUP_BYTES:
                settle(writing.pop(0))
    finally:
        writer.close()  # what was queued is written (whole), at once, before the batch stops
    for pending in writing:
        settle(pending)


def _work(items: list[tuple[Path, Path]]) -> tuple[list[_Result], list[str]]:
    """A chunk of files in a worker process: their results, and warnings."""
    w = _WORKER
    opts = dict(w["opts"])
    opts["_warnings"] = []
    results: list[_Result] = []
    _run_files(w["action"], items, w["store"], w["outdir"], w["overwrite"], opts,
               lambda *r: results.append(r), group_min=WORKER_GROUP_MIN)
    return results, opts["_warnings"]


def _parallel_ok(action: str, inputs: list[tuple[Path, Path]], opts: dict[str, Any], jobs: int) -> bool:
    """Whether the batch can run in worker processes: fork is available, and encryption
    never needs a key per image from the GAN (workers leave the GAN to the parent)."""
    import multiprocessing

    if jobs < 2 or len(inputs) < 2 * jobs or "fork" not in multiprocessing.get_all_start_methods():
        return False
    if action != "encrypt" or opts.get("key") is not None:
        return True
    return opts.get("policy", "series") in ("series", "study") and not any(
        p.suffix in (".npy", ".kedi") for p, _ in inputs)


def default_jobs(n_files: int) -> int:
    """Worker processes for a batch of n files: one per usable CPU (at most 4) once there
    are at least 16 files, else 1 (forking costs more than it saves on a few files)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(cpus, 4) if n_files >= 16 else 1


def _make_keys(bounced: list[tuple[tuple[Path, Path], str]], inputs: list[tuple[Path, Path]], store: Any,
               opts: dict[str, Any]) -> tuple[list[tuple[Path, Path]], dict[str, KediError]]:
    """In the parent: make the key of each series (or study) the workers found without
    one, from its first file in input order. Returns the inputs to run again (those whose
    key now exists), and the error of each scope whose key could not be made."""
    order = {item: i for i, item in enumerate(inputs)}
    bounced = sorted(bounced, key=lambda b: order[b[0]])
    tried: set[str] = set()
    errors: dict[str, KediError] = {}
    for (path, _), scope in bounced:
        if scope in tried:
            continue
        tried.add(scope)
        try:
            ds = _read_dicom(path)
            if ds is None:
                raise _InputError(f"{path}: not a DICOM file")
            opts["generator"] = kdicom.key_for_dataset(ds, store, opts.get("generator"),
                                                       opts.get("policy", "series"))[1]
        except (ModelError, ProviderError):
            raise
        except KediError as e:
            errors[scope] = e
    return [item for item, scope in bounced if scope not in errors], errors


def run(action: str, inputs: list[tuple[Path, Path]], store: Any, *, outdir: Path | None = None,
        overwrite: bool = False, quarantine: Path | None = None, progress: bool = True,
        opts: dict[str, Any] | None = None, on_file: Callable[[Path, str], None] | None = None,
        jobs: int | None = None) -> Report:
    """Apply ``action`` ("encrypt", "decrypt" or "verify") to every input.

    ``jobs``: worker processes (forked; default :func:`default_jobs`). Keys a series or
    study lacks are made by this process, which runs the files that needed them again.
    In each process, outputs are written (temporary files, one flush to disk per group,
    renames) by a background thread while the next files are processed. Either way an
    output appears only once it is complete on disk.
    """
    from tqdm import tqdm

    opts = dict(opts or {})
    report = Report()
    opts["_warnings"] = report.warnings
    t0 = time.perf_counter()
    for folder, what in ((outdir, "output"), (quarantine, "quarantine")):
        try:
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # read-only, a file in the way, no permission
            raise _OutputError(f"{folder}: cannot create the {what} folder ({e.strerror or e})") from e
    jobs = default_jobs(len(inputs)) if jobs is None else max(1, int(jobs))

    def fail(path: Path, kind: str, message: str) -> None:
        report.failed.append(Failure(path, kind, message))
        if quarantine is not None and kind in (INPUT, AUTH) and path.exists():
            try:
                _quarantine(path, quarantine)
            except OSError as e:
                report.warnings.append(f"{path}: not moved to {quarantine} ({e.strerror or e})")
        if on_file:
            on_file(path, message)

    def ok(path: Path, status: str) -> None:
        (report.skipped if status == "skipped" else report.done).append(path)
        if on_file:
            on_file(path, "ok")

    def result(item: tuple[Path, Path], status: str, kind: str, message: str) -> None:
        path = item[0]
        bar.update()
        if status == "failed":
            fail(path, kind, message)
        else:
            ok(path, status)

    bar = tqdm(total=len(inputs), desc=action, unit="file", disable=not progress, leave=False)
    if outdir is not None:
        targets = [(item, _target(action, item[0], item[1], outdir)) for item in inputs]
        clashes = _clashes(targets)
        for item, message in clashes.items():
            result(item, "failed", OUTPUT, message)
        inputs = [item for item in inputs if item not in clashes]
        # An output that appears later is still never replaced (the writes refuse it).
        opts["_existing"] = _existing(target for item, target in targets if item not in clashes)
    if _parallel_ok(action, inputs, opts, jobs):
        import multiprocessing

        _WORKER.update(action=action, store=store, outdir=outdir, overwrite=overwrite,
                       opts={**{k: v for k, v in opts.items() if k not in ("_warnings", "generator")},
                             "generator": _NoGenerator()})
        # Freeze every object of this process, garbage included, so that no worker ever
        # runs the destructor of one: an ONNX Runtime session's destructor waits for
        # threads a forked child does not have, and hangs it. (Freezing moves the
        # collector's lists as they are; collecting first cost 25-30 ms a batch.)
        gc.freeze()
        try:
            pool_cm = multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker,
                                                               initargs=(os.getpid(),))
        finally:
            gc.unfreeze()
        try:
            with pool_cm as pool:
                todo, here = inputs, []
                for again in (False, True):  # again: the files whose key the parent just made
                    bounced = []
                    size = max(1, min(CHUNK_FILES, len(todo) // (4 * jobs)))  # small enough to balance the load
                    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
                    for results, warns in pool.imap_unordered(_work, chunks):
                        report.warnings.extend(warns)
                        for item, status, kind, message in results:
                            if status == "needkey":
                                bounced.append((item, message))
                            else:
                                result(item, status, kind, message)
                    if again:  # made, yet not found: another process is changing the store
                        for item, _ in bounced:
                            result(item, "failed", KEYS, f"{item[0]}: the key made for its series or study is gone")
                        break
                    # A file with no series (study) UID gets a key of its own from the GAN:
                    # this process encrypts it, after the pool.
                    here += [item for item, scope in bounced if not scope]
                    bounced = [(item, scope) for item, scope in bounced if scope]
                    todo, errors = _make_keys(bounced, inputs, store, opts)
                    for item, scope in bounced:
                        if scope in errors:
                            e = errors[scope]
                            result(item, "failed", category(e), f"{item[0]}: no key for its series or study ({e})")
                    if not todo:
                        break
            _run_files(action, here, store, outdir, overwrite, opts, result)
        finally:
            _WORKER.clear()
            bar.close()
        report.seconds = time.perf_counter() - t0
        return report

    _run_files(action, inputs, store, outdir, overwrite, opts, result)
    bar.close()
    report.seconds = time.perf_counter() - t0
    return report
