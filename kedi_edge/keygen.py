"""ZZ-GAN key images from the shipped ONNX generator, on ONNX Runtime (CUDA or CPU).

A key is made once (per series or study) and stored; it is never regenerated for
decryption, because keys are not bit-exact across runtimes or providers.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from ._prng import keystream
from .exceptions import InvalidInputError, ModelError, ProviderError

__all__ = ["KeyGenerator", "default_model_path"]

MODEL_FILE = "zzgan_generator.onnx"
STRIDE = 4  # the generator works on sizes that are multiples of this
_INPUTS = ("image", "noise", "pad")
_OUTPUT = "raw"  # the network's own key bytes; the runtime adds the keystream pad itself
_CHUNK_PIXELS = 1 << 21  # planes per ONNX Runtime call: about 2 Mpixel at a time
_DEVICES = ("auto", "cpu", "cuda")
_last_providers: list[str] | None = None  # for runtime_info()


def default_model_path() -> Path:
    """The shipped generator: inside the installed package, else the source tree's models/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models" / MODEL_FILE, here.parent / "models" / MODEL_FILE):
        if candidate.is_file():
            return candidate
    return here.parent / "models" / MODEL_FILE


def _cuda_driver_present() -> bool:
    return ctypes.util.find_library("cuda") is not None or os.path.exists("/dev/nvidia0")


def _seed_bytes(seed: Any) -> bytes:
    if seed is None:
        return secrets.token_bytes(32)
    if isinstance(seed, (bytes, bytearray, memoryview)):
        seed = bytes(seed)
        if len(seed) < 16:
            raise InvalidInputError(f"seed: need at least 16 bytes, got {len(seed)}")
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        if int(seed).bit_length() > 256:
            raise InvalidInputError("seed: integer seeds must be below 2**256")
        return int(seed).to_bytes(32, "little")
    raise InvalidInputError(f"seed: expected bytes (>= 16) or a non-negative int, got {type(seed).__name__}")


def _normalise(image: np.ndarray) -> np.ndarray:
    """Each plane scaled to [0, 1] by its own minimum and maximum (constant planes -> 0).

    Computed in float64 (exact for every integer dtype up to 32 bits, and no overflow for
    float32 ranges such as +-3e38), then rounded to the network's float32. ``image`` must
    be finite.
    """
    x = image.astype(np.float64)
    lo = x.min(axis=(-2, -1), keepdims=True)
    hi = x.max(axis=(-2, -1), keepdims=True)
    with np.errstate(over="ignore"):
        span = hi - lo
    if not np.isfinite(span).all():  # a float64 range beyond 1.8e308: halving is exact
        x *= 0.5
        lo, span = lo * 0.5, hi * 0.5 - lo * 0.5
    x -= lo  # exactly 0 on constant planes
    x /= np.where(span > 0, span, 1.0)
    return x.astype(np.float32)


def _check_card(path: Path, digest: str, required: bool) -> None:
    """Checks ``digest`` against the sha256 on the model card next to ``path`` (same stem,
    ``.json``). A missing card raises ModelError if ``required``, else is accepted."""
    card = path.with_suffix(".json")
    if not card.exists():
        if required:
            raise ModelError(f"{path}: its model card {card.name} is missing, so the shipped "
                             "generator cannot be verified; reinstall kedi_edge")
        return
    try:
        want = json.loads(card.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError) as e:
        raise ModelError(f"{card}: cannot read the model card ({e})") from e
    if not isinstance(want, str):
        raise ModelError(f"{card}: the model card has no sha256 string")
    if want.lower() != digest:
        raise ModelError(f"{path}: sha256 {digest[:16]}... does not match its model card "
                         f"{card.name} ({want[:16]}...): the file is damaged or was replaced; "
                         "reinstall kedi_edge, or export the model and its card again")


class KeyGenerator:
    """Key images from the ZZ-GAN generator.

    ``model``: path of an ONNX generator (default: the shipped one). ``device``:
    ``"auto"`` (CUDA when it is actually active, else CPU), ``"cpu"`` or ``"cuda"``
    (raises :class:`ProviderError` unless CUDA really runs). ``threads``: ONNX Runtime
    intra-op threads (default: its own choice). The active provider list is in
    ``providers``; the model file's digest in ``sha256``.

    The model file's sha256 must match the ``sha256`` of its model card, the file of the
    same name ending in ``.json``. The shipped model must have its card; a custom
    ``model`` without one is accepted unchecked. Either mismatch raises
    :class:`ModelError`.
    """

    def __init__(self, model: str | os.PathLike | None = None, device: str = "auto",
                 threads: int | None = None) -> None:
        global _last_providers
        import onnxruntime as ort

        if device not in _DEVICES:
            raise InvalidInputError(f"device: expected one of {', '.join(_DEVICES)}, got {device!r}")
        if threads is not None and int(threads) < 1:
            raise InvalidInputError(f"threads: expected >= 1, got {threads}")
        self.path = Path(model) if model is not None else default_model_path()
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise ModelError(f"{self.path}: cannot read the generator model ({e.strerror or e})") from e
        self.sha256 = hashlib.sha256(data).hexdigest()
        _check_card(self.path, self.sha256, required=model is None)

        available = ort.get_available_providers()
        want_cuda = device == "cuda" or (device == "auto" and _cuda_driver_present())
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise ProviderError(f"device='cuda': this ONNX Runtime has no CUDA provider "
                                f"(available: {', '.join(available)})")
        if want_cuda and "CUDAExecutionProvider" in available:
            # Full float32 convolutions: with TF32 only 3% of key bytes match the CPU
            # provider's for the same inputs, without it 99.3%, at the same speed
            # (benchmarks/cuda_check.py on an H200). cuDNN picks its convolution
            # algorithms by heuristics rather than by timing them (the default,
            # EXHAUSTIVE, may pick differently from one session to the next), and
            # deterministic kernels where ONNX Runtime has them. These two settings are
            # from ONNX Runtime's documentation and not yet measured on a GPU.
            cuda = ("CUDAExecutionProvider", {"use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"})
            self.session = self._session(ort, data, [cuda, "CPUExecutionProvider"], device, threads)
            if self.session.get_providers()[0] != "CUDAExecutionProvider":
                if device == "cuda":
                    raise ProviderError("device='cuda': ONNX Runtime fell back to "
                                        f"{self.session.get_providers()[0]} (CUDA or cuDNN libraries missing?)")
                # CUDA did not start: build the CPU session as device='cpu' does, so the
                # same seed and image give the same key as on a machine without CUDA.
                self.session = self._session(ort, data, ["CPUExecutionProvider"], device, threads)
        else:
            self.session = self._session(ort, data, ["CPUExecutionProvider"], device, threads)
        self.providers = self.session.get_providers()
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        self._check_signature()
        _last_providers = list(self.providers)

    def _session(self, ort: Any, data: bytes, providers: list[Any], device: str,
                 threads: int | None) -> Any:
        """An InferenceSession on ``providers``; CPU-only sessions always get the same options."""
        opts = ort.SessionOptions()
        opts.log_severity_level = 3 if device == "auto" else 2
        if providers == ["CPUExecutionProvider"]:
            # The NCHWc layout pass (ENABLE_ALL) slows this thin network by about 15% on
            # CPUs (measured by benchmarks/bench_keygen.py) and changes 0.5% of the key
            # bytes; the graph fusions stay on.
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        elif hasattr(opts, "use_deterministic_compute"):
            opts.use_deterministic_compute = True
        # ONNX Runtime's workers otherwise spin after each run, stealing the cores the
        # sealing kernels and AES-GCM run on next.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        try:
            return ort.InferenceSession(data, sess_options=opts, providers=providers)
        except Exception as e:  # ONNX Runtime raises its own Fail/InvalidGraph types
            raise ModelError(f"{self.path}: not a loadable ONNX generator ({e})") from e

    def _check_signature(self) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if set(inputs) != set(_INPUTS) or _OUTPUT not in outputs:
            raise ModelError(f"{self.path}: expected inputs {list(_INPUTS)} and an output "
                             f"{_OUTPUT!r}, got {sorted(inputs)} and {list(outputs)}")
        planes = []
        for name in ("noise", "pad"):
            shape = inputs[name].shape
            if len(shape) != 4 or not isinstance(shape[1], int):
                raise ModelError(f"{self.path}: input {name!r} must be (N, C, H, W) with a fixed C")
            planes.append(shape[1])
        self.noise_planes, self.key_planes = planes
        shape = outputs[_OUTPUT].shape
        if len(shape) != 4 or not isinstance(shape[1], int) or shape[1] < self.key_planes:
            raise ModelError(f"{self.path}: output {_OUTPUT!r} must be (N, C, H, W) with a fixed "
                             f"C of at least {self.key_planes} (the planes of 'pad'), got {shape}")

    def generate(self, shape: tuple[int, ...], dtype: Any = np.uint8,
                 image: np.ndarray | None = None, seed: bytes | int | None = None,
                 *, raw: bool = False) -> np.ndarray:
        """A key of ``shape`` ((H, W) or (..., H, W), one key plane per 2-D plane) and dtype.

        ``image``: the image the key is for, same shape, finite (None: a blank image).
        ``seed``: bytes (>= 16) or a non-negative int; default 32 fresh bytes from
        ``secrets``. The same seed, image and provider give the same key. Byte p of each
        key pixel (least significant first) is key plane p, so 16-bit keys use two 8-bit
        planes. Each key byte is (raw + pad) mod 256: the network's byte plus a keystream
        byte, added here; the network is given zeros for ``pad``, so no model can cancel
        it. With ``raw=True`` the network's own bytes are returned, without the pad.
        """
        shape, dtype = self._check_request(shape, dtype, image)
        seed = _seed_bytes(seed)
        h, w = shape[-2:]
        planes = int(np.prod(shape[:-2], dtype=np.int64)) if len(shape) > 2 else 1
        ph, pw = -h % STRIDE, -w % STRIDE
        hp, wp = h + ph, w + pw
        x = np.zeros((planes, 1, h, w), np.float32) if image is None else \
            _normalise(np.asarray(image).reshape(planes, 1, h, w))
        if ph or pw:  # to the network stride; the padding is cropped off the key
            x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="symmetric")
        info = b"kedi-edge/zzgan/v1|%d|%d|%d" % (planes, hp, wp)
        n_noise, n_pad = planes * self.noise_planes * hp * wp, planes * self.key_planes * hp * wp
        stream = keystream(seed, info, n_noise + n_pad)
        noise = ((stream[:n_noise].astype(np.float32) + 0.5) / 256).reshape(planes, self.noise_planes, hp, wp)
        pad = stream[n_noise:].reshape(planes, self.key_planes, hp, wp)

        nbytes = dtype.itemsize
        out = np.empty((planes, h, w), dtype=np.dtype(f"<u{nbytes}"))
        step = max(1, _CHUNK_PIXELS // (hp * wp))
        no_pad = np.zeros((min(step, planes), self.key_planes, hp, wp), np.float32)
        for i in range(0, planes, step):
            sl = slice(i, i + step)
            n = x[sl].shape[0]
            (r,) = self.session.run([_OUTPUT], {"image": x[sl], "noise": noise[sl], "pad": no_pad[:n]})
            b = self._bytes(r, n, nbytes, hp, wp)[:, :, :h, :w]
            if not raw:
                b += pad[sl, :nbytes, :h, :w]  # uint8: wraps mod 256
            acc = np.zeros(b.shape[:1] + b.shape[2:], dtype=out.dtype)
            for p in range(nbytes):
                acc |= b[:, p].astype(out.dtype) << np.array(8 * p, dtype=out.dtype)
            out[sl] = acc
        return out.view(dtype.newbyteorder("=")).reshape(shape)

    def _bytes(self, r: np.ndarray, n: int, nbytes: int, hp: int, wp: int) -> np.ndarray:
        """The first ``nbytes`` planes of a ``raw`` output as uint8, after checking that
        it has the expected shape and holds only finite values in 0..255."""
        if r.ndim != 4 or r.shape[0] != n or r.shape[1] < nbytes or r.shape[2:] != (hp, wp):
            raise ModelError(f"{self.path}: output {_OUTPUT!r} has shape {r.shape}, expected "
                             f"({n}, >= {nbytes}, {hp}, {wp})")
        b = r[:, :nbytes]
        lo, hi = b.min(), b.max()  # NaN propagates into both
        if not (lo >= 0 and hi <= 255):
            raise ModelError(f"{self.path}: output {_OUTPUT!r} holds values from {lo} to {hi}; "
                             "key bytes must be finite and within 0..255")
        return b.astype(np.uint8)  # exact: whole numbers 0..255

    def _check_request(self, shape, dtype, image):
        try:
            if isinstance(shape, (str, bytes)):
                raise TypeError(shape)
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError) as e:
            raise InvalidInputError(f"shape: expected a tuple of ints, got {shape!r}") from e
        if len(shape) < 2 or min(shape) < 1:
            raise InvalidInputError(f"shape: need (H, W) or (..., H, W) with every size >= 1, got {shape}")
        try:
            dtype = np.dtype(dtype)
        except TypeError as e:
            raise InvalidInputError(f"dtype: not a numpy dtype: {dtype!r}") from e
        if dtype.kind not in "ui" or dtype.itemsize > self.key_planes:
            raise InvalidInputError(f"dtype: keys are integers of at most {self.key_planes} bytes, got {dtype}")
        if image is not None:
            image = np.asarray(image)
            if image.shape != shape:
                raise InvalidInputError(f"image: shape {image.shape} does not match key shape {shape}")
            if image.dtype.kind not in "uifb":
                raise InvalidInputError(f"image: expected a numeric array, got dtype {image.dtype}")
            if image.dtype.kind == "f" and not np.isfinite(image).all():
                raise InvalidInputError("image: contains NaN or infinity; the key generator "
                                        "needs finite pixel values")
        return shape, dtype


def last_providers() -> list[str] | None:
    """Providers of the most recently created KeyGenerator (None before the first)."""
    return None if _last_providers is None else list(_last_providers)
