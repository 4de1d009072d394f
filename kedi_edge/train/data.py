"""Training images: DICOM or PNG folders, pydicom's bundled real images, synthetic phantoms.

Every image becomes 2-D float32 planes scaled to [0, 1] by their own minimum and
maximum: one plane per frame, RGB turned into luminance. Planes smaller than 16x16 or
constant are skipped.
"""

from __future__ import annotations

import glob
import os
import warnings
from pathlib import Path

import numpy as np

from ..exceptions import KediError

__all__ = ["PatchSampler", "bundled_dicom_files", "bundled_planes", "load_folder", "load_planes", "make_phantom"]

MIN_SIDE = 16


def _planes(pixels: np.ndarray, rgb: bool) -> list[np.ndarray]:
    a = np.asarray(pixels)
    if rgb:  # (..., H, W, 3) -> luminance
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    a = a.astype(np.float32).reshape((-1,) + a.shape[-2:])
    out = []
    for plane in a:
        lo, hi = float(plane.min()), float(plane.max())
        if min(plane.shape) >= MIN_SIDE and hi > lo:
            out.append((plane - lo) / (hi - lo))
    return out


def load_planes(path: str | os.PathLike) -> list[np.ndarray]:
    """The [0, 1] planes of one DICOM or PNG file; KediError naming the file on failure."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".png":
            from PIL import Image  # train extra

            with Image.open(path) as im:
                rgb = im.mode not in ("L", "I", "I;16", "F")
                pixels = np.asarray(im.convert("RGB") if rgb else im)
            return _planes(pixels, rgb)
        import pydicom

        ds = pydicom.dcmread(path)
        rgb = int(ds.get("SamplesPerPixel", 1)) == 3
        return _planes(ds.pixel_array, rgb)
    except KediError:
        raise
    except Exception as e:  # pydicom and PIL raise many types on bad files
        raise KediError(f"{path}: cannot read training image ({type(e).__name__}: {e})") from e


def _image_files(folder: Path) -> list[Path]:
    exts = {".dcm", ".dicom", ".png"}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def load_folder(folder: str | os.PathLike) -> list[np.ndarray]:
    """Planes of every readable .dcm/.dicom/.png file under ``folder`` (unreadable skipped).

    Raises KediError when the folder is missing or holds no usable image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise KediError(f"{folder}: training data folder not found")
    planes, skipped = [], 0
    for f in _image_files(folder):
        try:
            planes += load_planes(f)
        except KediError:
            skipped += 1
    if not planes:
        raise KediError(f"{folder}: no readable DICOM or PNG image ({skipped} file(s) failed)")
    if skipped:
        warnings.warn(f"{folder}: skipped {skipped} unreadable file(s)", RuntimeWarning, stacklevel=2)
    return planes


def bundled_dicom_files() -> list[Path]:
    """The DICOM files inside pydicom's wheel (offline; nothing is downloaded)."""
    import pydicom

    root = Path(pydicom.__file__).parent / "data" / "test_files"
    return sorted(Path(p) for p in glob.glob(str(root / "**" / "*.dcm"), recursive=True))


def bundled_planes() -> list[np.ndarray]:
    """Planes of the bundled DICOM files that decode without optional plugins."""
    planes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about odd but readable test files
        for f in bundled_dicom_files():
            try:
                planes += load_planes(f)
            except KediError:
                continue
    return planes


def make_phantom(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random ellipse phantom (Shepp-Logan style) with a smooth gradient, in [0, 1]."""
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j].astype(np.float32)
    img = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(3, 10))):
        cy, cx = rng.uniform(-0.6, 0.6, 2)
        ay, ax = rng.uniform(0.05, 0.7, 2)
        t = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
        v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
        img[(u / ax) ** 2 + (v / ay) ** 2 <= 1] += rng.uniform(-0.5, 1.0)
    img += rng.uniform(-0.3, 0.3) * xx + rng.uniform(-0.3, 0.3) * yy
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


class PatchSampler:
    """Random square crops with flips, rotations and (half the time) speckle.

    Speckle is the pipeline's own model, J = I + n*I with n ~ N(0, var), var ~ U(0, 0.05),
    clipped to [0, 1], so the generator also sees speckled inputs.
    """

    def __init__(self, planes: list[np.ndarray], crop: int, seed: int) -> None:
        if not planes:
            raise KediError("no training planes")
        self.planes, self.crop = planes, crop
        self.rng = np.random.default_rng(seed)

    def _crop(self, plane: np.ndarray) -> np.ndarray:
        c = self.crop
        ph, pw = max(0, c - plane.shape[0]), max(0, c - plane.shape[1])
        if ph or pw:
            plane = np.pad(plane, ((0, ph), (0, pw)), mode="reflect" if min(plane.shape) > 1 else "edge")
        r = int(self.rng.integers(0, plane.shape[0] - c + 1))
        q = int(self.rng.integers(0, plane.shape[1] - c + 1))
        return plane[r : r + c, q : q + c]

    def batch(self, n: int) -> np.ndarray:
        out = np.empty((n, 1, self.crop, self.crop), np.float32)
        for i in range(n):
            p = self._crop(self.planes[int(self.rng.integers(len(self.planes)))])
            p = np.rot90(p, int(self.rng.integers(4)))
            if self.rng.random() < 0.5:
                p = p[:, ::-1]
            if self.rng.random() < 0.5:
                var = self.rng.uniform(0.0, 0.05)
                p = np.clip(p + p * self.rng.normal(0.0, np.sqrt(var), p.shape), 0.0, 1.0)
            out[i, 0] = p
        return out
