"""Discrete ripplet transform (type I) as a tight frame, speckle noise, and despeckling.

The transform is built in the frequency domain (scipy.fft, real FFTs):

- **Scales.** With ``scales = J``, band 0 is the isotropic low-pass and bands 1..J
  are directional. On the pseudo-polar radius r = max(|2 xi_1|, |2 xi_2|) (xi in
  cycles per sample, so r is in [0, 1]), low-pass windows L_j (j = 0..J-1) are 1 below
  b_j = 2^(j-J), 0 above 2 b_j, and fall as cos(pi/2 nu(r/b_j - 1)) in between
  (nu: Meyer's polynomial, nu(t) + nu(1-t) = 1). Band windows: R_0 = L_0,
  R_j = sqrt(L_j^2 - L_(j-1)^2), R_J = sqrt(1 - L_(J-1)^2).
- **Directions.** Directional band j is cut into n_j wedges over the orientation
  theta mod pi, n_j = round(c * wedges * 2^floor((j-1)(1 - 1/d))): support c and
  degree d of ripplet type I; c = 1, d = 2 doubles the count every other scale like
  the curvelet's parabolic scaling. Neighbouring wedges overlap smoothly (sin/cos of
  nu), and their squares sum to one.
- Each window is symmetrised, W(k) = sqrt((W(k)^2 + W(-k)^2) / 2) over the FFT grid,
  so the squares of all windows sum to exactly one and real images give real
  coefficients. Coefficients are c = irfft2(rfft2(f) W), full size (redundant); the
  inverse is the adjoint, f = sum irfft2(rfft2(c) W), exact up to rounding, and the
  coefficients' energy equals the image's (Parseval).

Coefficient indexing: ``coeffs.bands[j][l]`` is wedge l of band j (band 0 has one
wedge); ``coeffs.wedges`` lists the wedge counts.

Speckle is multiplicative: J = I + n I with n ~ N(0, var), clipped to the image's value
range (the dtype's range for integers). ``despeckle`` works on log(I + offset): there
speckle is about additive Gaussian noise of variance var; the variance is given or
estimated from the image (:func:`estimate_speckle_var`),
each directional wedge is shrunk with a locally adaptive Wiener rule (see despeckle),
then the inverse transform is exponentiated and the dtype and range restored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import fft as sfft

from .exceptions import InvalidInputError

__all__ = ["RippletCoeffs", "add_speckle", "despeckle", "estimate_speckle_var", "ripplet_forward",
           "ripplet_inverse", "wedge_counts"]


def _nu(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t**4 * (35 - 84 * t + 70 * t**2 - 20 * t**3)


def _lowpass(r: np.ndarray, b: float) -> np.ndarray:
    return np.cos(np.pi / 2 * _nu(r / b - 1.0))


def _check_params(scales: int, c: float, d: float, wedges: int) -> None:
    if not isinstance(scales, (int, np.integer)) or not 1 <= scales <= 8:
        raise InvalidInputError(f"scales must be an integer from 1 to 8, got {scales!r}")
    if not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0):
        raise InvalidInputError(f"support c must be a positive number, got {c!r}")
    if not (isinstance(d, (int, float)) and math.isfinite(d) and d >= 1):
        raise InvalidInputError(f"degree d must be a number >= 1, got {d!r}")
    if not isinstance(wedges, (int, np.integer)) or not 1 <= wedges <= 256:
        raise InvalidInputError(f"wedges must be an integer from 1 to 256, got {wedges!r}")


def wedge_counts(scales: int = 4, c: float = 1.0, d: float = 2.0, wedges: int = 8) -> list[int]:
    """Wedges per band: [1] for the low-pass, then n_j for j = 1..scales."""
    _check_params(scales, c, d, wedges)
    return [1] + [max(1, round(c * wedges * 2 ** math.floor((j - 1) * (1 - 1 / d))))
                  for j in range(1, scales + 1)]


def _angular(t: np.ndarray, n: int, width: float = 0.5) -> list[np.ndarray]:
    """n windows over the periodic coordinate t in [0, n): squares sum to one."""
    if n == 1:
        return [np.ones_like(t)]
    out = []
    for lo in range(n):
        # Distance from the wedge's nominal interval [lo, lo + 1), on the circle of length n.
        u = (t - lo) % n  # in [0, n)
        rise = np.where(u > n - width / 2, u - n, u)  # near lo: in (-width/2, width/2]
        v = np.zeros_like(t)
        inside = (rise >= width / 2) & (u <= 1 - width / 2)
        v[inside] = 1.0
        m = np.abs(rise) < width / 2
        v[m] = np.sin(np.pi / 2 * _nu((rise[m] + width / 2) / width))
        fall = u - 1.0
        m2 = np.abs(fall) < width / 2
        v[m2] = np.cos(np.pi / 2 * _nu((fall[m2] + width / 2) / width))
        out.append(v)
    return out


@lru_cache(maxsize=4)
def _windows(shape: tuple[int, int], scales: int, c: float, d: float,
             wedges: int) -> tuple[tuple[np.ndarray, ...], ...]:
    """The windows on the rfft2 grid of ``shape``, band by band (read-only)."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None] * 2
    fx = np.fft.fftfreq(w)[None, :] * 2
    r = np.maximum(np.abs(fy), np.abs(fx)) + np.zeros((h, w))
    theta = np.mod(np.arctan2(fy, fx) + np.zeros((h, w)), np.pi)
    lows = [_lowpass(r, 2.0 ** (j - scales)) for j in range(scales)]
    radial = [lows[0]] + [np.sqrt(np.maximum(lows[j] ** 2 - lows[j - 1] ** 2, 0)) for j in range(1, scales)]
    radial.append(np.sqrt(np.maximum(1 - lows[-1] ** 2, 0)))
    counts = wedge_counts(scales, c, d, wedges)
    neg_y = (-np.arange(h)) % h
    neg_x = (-np.arange(w)) % w
    bands = []
    for j, n in enumerate(counts):
        angular = [np.ones((h, w))] if j == 0 else _angular(theta / np.pi * n, n)
        band = []
        for a in angular:
            win = radial[j] * a
            win = np.sqrt((win**2 + win[neg_y][:, neg_x] ** 2) / 2)  # symmetric: real coefficients
            half = np.ascontiguousarray(win[:, : w // 2 + 1])
            half.flags.writeable = False
            band.append(half)
        bands.append(tuple(band))
    return tuple(bands)


@dataclass
class RippletCoeffs:
    """Ripplet coefficients: ``bands[j][l]`` is wedge l of band j, each of the image's shape."""

    bands: list[list[np.ndarray]]
    shape: tuple[int, int]
    scales: int
    c: float
    d: float
    wedges: int
    meta: dict = field(default_factory=dict)

    @property
    def wedge_counts(self) -> list[int]:
        return [len(b) for b in self.bands]

    def energy(self) -> float:
        return float(sum(np.sum(w * w) for band in self.bands for w in band))


def _check_image(image: np.ndarray, fn: str) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 2:
        raise InvalidInputError(f"{fn}: need a 2-D image, got shape {a.shape}")
    if a.size == 0 or min(a.shape) < 2:
        raise InvalidInputError(f"{fn}: image must be at least 2x2, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise InvalidInputError(f"{fn}: need a real numeric image, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise InvalidInputError(f"{fn}: image contains NaN or infinity")
    return a


def ripplet_forward(image: np.ndarray, scales: int = 4, c: float = 1.0, d: float = 2.0,
                    wedges: int = 8, workers: int | None = None) -> RippletCoeffs:
    """Discrete ripplet transform (type I) of a 2-D image (numpy/scipy reference)."""
    _check_params(scales, c, d, wedges)
    f = _check_image(image, "ripplet_forward")
    shape = f.shape
    windows = _windows(shape, int(scales), float(c), float(d), int(wedges))
    spec = sfft.rfft2(f, workers=workers)
    bands = [[sfft.irfft2(spec * win, s=shape, workers=workers) for win in band] for band in windows]
    return RippletCoeffs(bands, shape, int(scales), float(c), float(d), int(wedges))


def ripplet_inverse(coeffs: RippletCoeffs, workers: int | None = None) -> np.ndarray:
    """The image back from its ripplet coefficients (the adjoint of the forward transform)."""
    if not isinstance(coeffs, RippletCoeffs):
        raise InvalidInputError("ripplet_inverse: expected RippletCoeffs from ripplet_forward")
    windows = _windows(coeffs.shape, coeffs.scales, coeffs.c, coeffs.d, coeffs.wedges)
    if [len(b) for b in windows] != coeffs.wedge_counts:
        raise InvalidInputError("ripplet_inverse: coefficients do not match their parameters")
    h, w = coeffs.shape
    acc = np.zeros((h, w // 2 + 1), np.complex128)
    for band_c, band_w in zip(coeffs.bands, windows, strict=True):
        for cw, win in zip(band_c, band_w, strict=True):
            if cw.shape != coeffs.shape:
                raise InvalidInputError("ripplet_inverse: a coefficient array has the wrong shape")
            acc += sfft.rfft2(cw, workers=workers) * win
    return sfft.irfft2(acc, s=coeffs.shape, workers=workers)


def _value_range(image: np.ndarray) -> tuple[float, float]:
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        return float(info.min), float(info.max)
    return float(np.min(image)), float(np.max(image))


def add_speckle(image: np.ndarray, var: float, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Multiplicative speckle J = I + n*I, n ~ N(0, var), clipped to the dtype's range
    (integers) or the image's own range (floats); same dtype and shape as ``image``."""
    if not (isinstance(var, (int, float)) and math.isfinite(var) and var >= 0):
        raise InvalidInputError(f"add_speckle: var must be a finite number >= 0, got {var!r}")
    a = np.asarray(image)
    if a.size == 0 or a.dtype.kind not in "uif":
        raise InvalidInputError(f"add_speckle: need a non-empty numeric image, got {a.dtype} {a.shape}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    x = a.astype(np.float64)
    lo, hi = _value_range(a)
    noisy = np.clip(x + x * rng.normal(0.0, math.sqrt(var), a.shape), lo, hi)
    if a.dtype.kind in "ui":
        noisy = np.rint(noisy)
    return noisy.astype(a.dtype)


def estimate_speckle_var(image: np.ndarray, window: int = 5) -> float:
    """Speckle variance of an image: the median, over pixels brighter than 10% of the
    range, of the local variance over the squared local mean in window x window boxes
    (the squared coefficient of variation, which is var where the image is flat)."""
    from scipy.ndimage import uniform_filter

    x = _check_image(image, "estimate_speckle_var")
    mean = uniform_filter(x, window)
    local = np.maximum(uniform_filter(x * x, window) - mean * mean, 0.0)
    lo, hi = float(x.min()), float(x.max())
    mask = (mean > lo + 0.1 * (hi - lo)) & (np.abs(mean) > 1e-9 * max(abs(lo), abs(hi), 1.0))
    if mask.sum() < 16 or hi <= lo:
        return 0.0
    n = window * window
    return float(np.median(local[mask] / mean[mask] ** 2)) * n / (n - 1)


def despeckle(image: np.ndarray, var: float | None = None, scales: int = 4, c: float = 1.0,
              d: float = 2.0, wedges: int = 8, window: int = 9, strength: float = 2.0) -> np.ndarray:
    """Remove multiplicative speckle; ``var`` (the speckle variance) is estimated when None.

    In the log domain the speckle is about additive noise of standard deviation
    sigma = sqrt(var). Each directional wedge is shrunk with a locally adaptive Wiener
    rule, c' = c s^2 / (s^2 + strength sigma_w^2), where sigma_w = sigma times the
    wedge window's norm and s^2 = max(mean of c^2 over a window x window box -
    sigma_w^2, 0); ``strength`` > 1 offsets the noise in s^2. The low-pass band is
    kept. Returns an array of the input's dtype, clipped to its value range.
    """
    from scipy.ndimage import uniform_filter

    a = np.asarray(image)
    x = _check_image(a, "despeckle")
    if var is not None and not (isinstance(var, (int, float)) and math.isfinite(var) and var >= 0):
        raise InvalidInputError(f"despeckle: var must be a finite number >= 0 or None, got {var!r}")
    if not isinstance(window, (int, np.integer)) or window < 1 or not (strength > 0):
        raise InvalidInputError("despeckle: window must be an integer >= 1 and strength > 0")
    lo, hi = float(x.min()), float(x.max())
    # Log of a strictly positive image: an offset of 1% of the range (at least 1) keeps
    # zeros (background) finite without bending the bright range.
    offset = max(1.0, 0.01 * (hi - lo)) - min(lo, 0.0)
    coeffs = ripplet_forward(np.log(x + offset), scales, c, d, wedges)
    windows = _windows(coeffs.shape, coeffs.scales, coeffs.c, coeffs.d, coeffs.wedges)
    norms = [[math.sqrt(_mean_square(win, coeffs.shape)) for win in band] for band in windows]
    sigma = math.sqrt(estimate_speckle_var(x) if var is None else var)
    for j in range(1, len(coeffs.bands)):
        for l_, cw in enumerate(coeffs.bands[j]):
            noise = (sigma * norms[j][l_]) ** 2
            if noise == 0:
                continue
            signal = np.maximum(uniform_filter(cw * cw, window) - noise, 0.0)
            coeffs.bands[j][l_] = cw * signal / (signal + strength * noise)
    out = np.clip(np.exp(ripplet_inverse(coeffs)) - offset, lo, hi)
    if a.dtype.kind in "ui":
        out = np.rint(out)
    return out.astype(a.dtype)


def _mean_square(half: np.ndarray, shape: tuple[int, int]) -> float:
    """Mean of a window's squares over the full FFT grid, from its rfft2 half."""
    h, w = shape
    weights = np.full(half.shape[1], 2.0)  # column k stands for k and -k ...
    weights[0] = 1.0
    if w % 2 == 0:
        weights[-1] = 1.0  # ... except 0 and, for even w, the Nyquist column
    return float(np.sum(half**2 * weights[None, :]) / (h * w))
