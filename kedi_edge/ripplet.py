"""Discrete ripplet transform (type I) as a tight frame, speckle noise, and despeckling.

The transform is built in the frequency domain, like the curvelet transform via
wrapping (Candes et al. 2006), with FFTs from scipy.fft (all orthonormal):

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
  nu), and their squares sum to one. Each window is symmetrised,
  W(k) = sqrt((W(k)^2 + W(-k)^2) / 2), so the squares of all windows sum to exactly one.
- **Wrapping.** A directional window has two mirror lobes, k and -k. Only one is kept
  (the frequencies on the side of the wedge's centre direction): a real image's
  spectrum F has F(-k) = conj F(k), so the other lobe holds no new information. The
  lobe's values sqrt(2) W F (W F at the self-mirror Nyquist frequencies) are wrapped
  onto an hb x wb grid, k -> k mod (hb, wb), where hb x wb is the lobe's bounding box
  (periodic, rounded up to a fast FFT size), and the coefficients are its inverse FFT:
  complex, hb x wb. The low-pass keeps both lobes and its coefficients are real.
- **Inverse.** The adjoint: FFT of each coefficient array, times its window, added
  back at the frequencies it came from; the real part of the inverse FFT is the image.
  The frame is tight, so reconstruction is exact up to rounding and the coefficients'
  energy sum(|c|^2) equals the image's (Parseval). About 3.1 coefficients per pixel
  at the defaults (complex, so about 6.2 real numbers).

Coefficient indexing: ``coeffs.bands[j][l]`` is wedge l of band j (band 0 has one
wedge, real; the others are complex); ``coeffs.wedge_counts`` lists the wedge counts.

Two implementations compute the same transform: :func:`ripplet_forward` and
:func:`ripplet_inverse` here multiply by the windows and wrap/unwrap in C++
(``kedi_edge._native``, on the kernel thread pool), and the numpy reference in
:mod:`kedi_edge.reference.ripplet` wraps by summing over the whole frequency plane.

Speckle is multiplicative: J = I + n I with n ~ N(0, var), clipped to the image's value
range (the dtype's range for integers), on the stored value I whatever its sign. So
``despeckle`` works on log(|I| + offset) and keeps each pixel's sign: there speckle is
about additive Gaussian noise of variance var; the variance is given or
estimated from the image (:func:`estimate_speckle_var`), each directional wedge is
shrunk with a locally adaptive Wiener rule (see :func:`despeckle`), then the inverse
transform is exponentiated and the dtype and range restored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import fft as sfft

from . import _native
from .exceptions import InvalidInputError

__all__ = ["RippletCoeffs", "add_speckle", "despeckle", "estimate_speckle_var", "ripplet_forward",
           "ripplet_inverse", "wedge_counts"]


def _nu(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t**4 * (35 - 84 * t + 70 * t**2 - 20 * t**3)


def _lowpass(r: np.ndarray, b: float) -> np.ndarray:
    t = r / b - 1.0
    # Exactly 1 and 0 outside the transition (cos(pi/2) is 6e-17, not 0), so each
    # window's support is compact.
    return np.where(t <= 0, 1.0, np.where(t >= 1, 0.0, np.cos(np.pi / 2 * _nu(t))))


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


def _circular_span(occupied: np.ndarray) -> tuple[int, int]:
    """Shortest circular interval of indices holding every True: (start, length), with
    start as a signed frequency (-n/2 <= start < n/2)."""
    n = occupied.size
    idx = np.flatnonzero(occupied)
    if idx.size == 0:  # an empty window (tiny images): one zero coefficient
        return 0, 1
    if idx.size == n:
        return 0, n
    gaps = np.diff(np.append(idx, idx[0] + n))  # from each occupied index to the next
    i = int(np.argmax(gaps))
    start = int(idx[(i + 1) % idx.size])
    return (start - n if start >= (n + 1) // 2 else start), n - int(gaps[i]) + 1


@dataclass(frozen=True)
class _Plan:
    """Every wedge's wrapping box and window, packed for the native kernels.

    Wedge w (bands in order, then wedges) covers the frequencies (y0 + i, x0 + j) mod
    (H, W) for i < sy, j < sx (signed start y0, x0), with window values
    ``windows[offsets[w]:offsets[w + 1]]`` (sy x sx, row-major; sqrt(2) and the lobe
    split already applied), wrapped onto an hb x wb grid at (y0 + i) mod hb,
    (x0 + j) mod wb. ``boxes[w] = (y0, sy, x0, sx, hb, wb)``.
    """

    shape: tuple[int, int]
    counts: tuple[int, ...]
    boxes: np.ndarray  # int64 (n, 6)
    offsets: np.ndarray  # int64 (n + 1,)
    windows: np.ndarray  # float64
    noise: np.ndarray  # per wedge: mean |c|^2 for unit-variance white noise in the image
    groups: tuple[tuple[tuple[int, int], tuple[int, ...]], ...]  # (hb, wb) -> wedge ids

    def box_window(self, w: int) -> np.ndarray:
        _, sy, _, sx, _, _ = self.boxes[w]
        return self.windows[self.offsets[w]:self.offsets[w + 1]].reshape(sy, sx)

    def coeff_shape(self, w: int) -> tuple[int, int]:
        return int(self.boxes[w, 4]), int(self.boxes[w, 5])


def _full_windows(shape: tuple[int, int], scales: int, c: float, d: float,
                  wedges: int) -> list[list[np.ndarray]]:
    """Every window on the full FFT grid, band by band (squares sum to one)."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None] * 2
    fx = np.fft.fftfreq(w)[None, :] * 2
    r = np.maximum(np.abs(fy), np.abs(fx)) + np.zeros((h, w))
    theta = np.mod(np.arctan2(fy, fx) + np.zeros((h, w)), np.pi)
    lows = [_lowpass(r, 2.0 ** (j - scales)) for j in range(scales)]
    radial = [lows[0]] + [np.sqrt(np.maximum(lows[j] ** 2 - lows[j - 1] ** 2, 0)) for j in range(1, scales)]
    radial.append(np.sqrt(np.maximum(1 - lows[-1] ** 2, 0)))
    neg_y, neg_x = (-np.arange(h)) % h, (-np.arange(w)) % w
    bands = []
    for j, n in enumerate(wedge_counts(scales, c, d, wedges)):
        angular = [np.ones((h, w))] if j == 0 else _angular(theta / np.pi * n, n)
        bands.append([np.sqrt(((radial[j] * a) ** 2 + (radial[j] * a)[neg_y][:, neg_x] ** 2) / 2)
                      for a in angular])
    return bands


@lru_cache(maxsize=4)
def _plan(shape: tuple[int, int], scales: int, c: float, d: float, wedges: int) -> _Plan:
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    flat = np.arange(h * w).reshape(h, w)
    mirror = flat[(-np.arange(h)) % h][:, (-np.arange(w)) % w]
    self_mirror = flat == mirror
    boxes, windows, noise = [], [], []
    full = _full_windows(shape, scales, c, d, wedges)
    for j, band in enumerate(full):
        n = len(band)
        for l_, win in enumerate(band):
            if j == 0:
                lobe = win
            else:
                # The lobe on the side of the wedge's centre direction: of each mirror
                # pair (k, -k) exactly one, by projection (ties and the Nyquist row or
                # column by index); self-mirror frequencies count once.
                t = (l_ + 0.5) * np.pi / n
                proj = fy * math.sin(t) + fx * math.cos(t)
                proj_m = proj.ravel()[mirror]
                keep = (proj > proj_m) | ((proj == proj_m) & (flat < mirror))
                lobe = np.where(keep, win * math.sqrt(2.0), 0.0)
                lobe[self_mirror] = win[self_mirror]
            y0, sy = _circular_span(np.any(lobe > 0, axis=1))
            x0, sx = _circular_span(np.any(lobe > 0, axis=0))
            # The low-pass's coefficients are real: its grid must keep k and -k mirrored,
            # which k mod hb does for a symmetric span, or with hb = h for the full span.
            hb = sy if (j == 0 and sy == h) else sfft.next_fast_len(sy)
            wb = sx if (j == 0 and sx == w) else sfft.next_fast_len(sx)
            box = lobe[(y0 + np.arange(sy)) % h][:, (x0 + np.arange(sx)) % w]
            boxes.append((y0, sy, x0, sx, hb, wb))
            windows.append(box.ravel())
            noise.append(float(np.sum(box * box)) / (hb * wb))
    sizes = [len(x) for x in windows]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, b in enumerate(boxes):
        groups.setdefault((b[4], b[5]), []).append(i)
    arrays = [np.array(boxes, np.int64), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
              np.concatenate(windows), np.array(noise)]
    for a in arrays:
        a.flags.writeable = False
    return _Plan(shape, tuple(len(b) for b in full), *arrays,
                 tuple((k, tuple(v)) for k, v in groups.items()))


@dataclass
class RippletCoeffs:
    """Ripplet coefficients: ``bands[j][l]`` is wedge l of band j (band 0: real; others:
    complex, one mirror lobe each); each array has its wedge's wrapped grid shape."""

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
        """sum(|c|^2) over every coefficient: the image's energy (Parseval)."""
        return float(sum(np.vdot(w, w).real for band in self.bands for w in band))


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


def _plan_for(coeffs: RippletCoeffs, fn: str) -> tuple[_Plan, list[np.ndarray]]:
    """The plan of ``coeffs`` and its arrays in wedge order, checked against the plan."""
    if not isinstance(coeffs, RippletCoeffs):
        raise InvalidInputError(f"{fn}: expected RippletCoeffs from ripplet_forward")
    _check_params(coeffs.scales, coeffs.c, coeffs.d, coeffs.wedges)
    shape = tuple(int(s) for s in coeffs.shape)
    if len(shape) != 2 or min(shape) < 2:
        raise InvalidInputError(f"{fn}: coefficients of a bad image shape {coeffs.shape!r}")
    plan = _plan(shape, int(coeffs.scales), float(coeffs.c), float(coeffs.d), int(coeffs.wedges))
    if list(plan.counts) != coeffs.wedge_counts:
        raise InvalidInputError(f"{fn}: wedge counts {coeffs.wedge_counts} do not match the "
                                f"parameters (expected {list(plan.counts)})")
    arrays = [np.asarray(a) for band in coeffs.bands for a in band]
    for i, a in enumerate(arrays):
        if a.shape != plan.coeff_shape(i) or a.dtype.kind not in "fc":
            raise InvalidInputError(f"{fn}: coefficient array {i} has shape {a.shape} and dtype "
                                    f"{a.dtype}, expected shape {plan.coeff_shape(i)}, float or complex")
    return plan, arrays


def _split(plan: _Plan, flat: list[np.ndarray]) -> list[list[np.ndarray]]:
    out, i = [], 0
    for n in plan.counts:
        out.append(flat[i:i + n])
        i += n
    return out


def ripplet_forward(image: np.ndarray, scales: int = 4, c: float = 1.0, d: float = 2.0,
                    wedges: int = 8, workers: int | None = None) -> RippletCoeffs:
    """Discrete ripplet transform (type I) of a 2-D image; see the module docstring.

    ``workers``: threads for scipy.fft (default 1); the native wrapping uses the
    kernel thread pool (``KEDI_NUM_THREADS``).
    """
    _check_params(scales, c, d, wedges)
    f = _check_image(image, "ripplet_forward")
    plan = _plan(f.shape, int(scales), float(c), float(d), int(wedges))
    spec = sfft.rfft2(f, norm="ortho", workers=workers)
    flat: list[np.ndarray] = [None] * len(plan.boxes)  # type: ignore[list-item]
    stacks = [np.empty((len(ids), *hw), np.complex128) for hw, ids in plan.groups]
    outs: list[np.ndarray] = [None] * len(plan.boxes)  # type: ignore[list-item]
    for (_, ids), stack in zip(plan.groups, stacks, strict=True):
        for k, i in enumerate(ids):
            outs[i] = stack[k]
    _native.ripplet_wrap(spec, f.shape[1], plan.boxes, plan.offsets, plan.windows, outs)
    for (_, ids), stack in zip(plan.groups, stacks, strict=True):
        coef = sfft.ifft2(stack, norm="ortho", overwrite_x=True, workers=workers)
        for k, i in enumerate(ids):
            flat[i] = np.ascontiguousarray(coef[k].real) if i == 0 else coef[k]
    return RippletCoeffs(_split(plan, flat), f.shape, int(scales), float(c), float(d), int(wedges))


def ripplet_inverse(coeffs: RippletCoeffs, workers: int | None = None) -> np.ndarray:
    """The image back from its ripplet coefficients (the adjoint of the forward transform)."""
    plan, arrays = _plan_for(coeffs, "ripplet_inverse")
    h, w = plan.shape
    spectra: list[np.ndarray] = [None] * len(arrays)  # type: ignore[list-item]
    for _, ids in plan.groups:
        stack = np.stack([arrays[i] for i in ids]).astype(np.complex128, copy=False)
        spec = sfft.fft2(stack, norm="ortho", overwrite_x=True, workers=workers)
        for k, i in enumerate(ids):
            spectra[i] = spec[k]
    acc = np.zeros((h, w // 2 + 1), np.complex128)
    _native.ripplet_unwrap(spectra, w, plan.boxes, plan.offsets, plan.windows, acc)
    return sfft.irfft2(acc, s=plan.shape, norm="ortho", workers=workers)


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


def estimate_speckle_var(image: np.ndarray) -> float:
    """Speckle variance of an image, from its fine detail relative to its brightness.

    The second difference r = (x * [[1,-2,1],[-2,4,-2],[1,-2,1]]) / 6 cancels linear
    structure and passes white noise at unit gain; where the image is locally flat,
    r / m (m: the 3x3 local mean) is the speckle n. The estimate is
    (median |r / m| / 0.6745)^2 over interior pixels brighter than 10% of the range
    (for an image with negative values: whose |m| is above 10% of the largest |x|, so
    that means near zero do not inflate r / m): a robust (MAD) variance that texture
    and edges barely move."""
    from scipy.ndimage import convolve, uniform_filter

    x = _check_image(image, "estimate_speckle_var")
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo or min(x.shape) < 3:
        return 0.0
    r = convolve(x, _SECOND_DIFF)[1:-1, 1:-1]
    mean = uniform_filter(x, 3)[1:-1, 1:-1]
    if lo < 0:  # speckle scales with |x|: the sign does not matter, small |m| does
        mask = np.abs(mean) > 0.1 * max(-lo, hi)
    else:
        mask = (mean > lo + 0.1 * (hi - lo)) & (np.abs(mean) > 1e-9 * max(abs(lo), abs(hi), 1.0))
    if mask.sum() < 16:
        return 0.0
    return float((np.median(np.abs(r[mask] / mean[mask])) / 0.6745) ** 2)


# Immerkaer's noise mask over 6: sum of squares 1, so white noise passes at unit gain.
_SECOND_DIFF = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64) / 6.0


def despeckle(image: np.ndarray, var: float | None = None, scales: int = 4, c: float = 1.0,
              d: float = 2.0, wedges: int = 8, window: int = 5, strength: float = 2.0) -> np.ndarray:
    """Remove multiplicative speckle; ``var`` (the speckle variance) is estimated when None.

    In the log domain the speckle is about additive noise of variance sigma^2 = var,
    which puts noise of mean power sigma_w^2 = sigma^2 sum(W^2) / (hb wb) on every
    coefficient of a wedge (W: its wrapped window). Each directional wedge is shrunk
    with a locally adaptive Wiener rule, c' = c s^2 / (s^2 + strength sigma_w^2), where
    s^2 = max(mean of |c|^2 over a window x window box (periodic) - sigma_w^2, 0);
    ``strength`` > 1 offsets the noise in s^2. The low-pass band is kept. Returns an
    array of the input's dtype, clipped to its value range.

    The speckle is taken as multiplicative on the stored value, as :func:`add_speckle`
    makes it: the log model is applied to |x| and each pixel keeps its sign (0 counts
    as positive), so a signed image (Hounsfield units, say) is despeckled like its
    magnitude, and ``despeckle(-x, var) == -despeckle(x, var)`` where x has no zeros.
    Speckle that was multiplicative on an intensity before a shift (HU = intensity -
    1024) needs the shift undone first.
    """
    from scipy.ndimage import uniform_filter

    a = np.asarray(image)
    x = _check_image(a, "despeckle")
    if var is not None and not (isinstance(var, (int, float)) and math.isfinite(var) and var >= 0):
        raise InvalidInputError(f"despeckle: var must be a finite number >= 0 or None, got {var!r}")
    if not isinstance(window, (int, np.integer)) or window < 1 or not (strength > 0):
        raise InvalidInputError("despeckle: window must be an integer >= 1 and strength > 0")
    lo, hi = float(x.min()), float(x.max())
    # Log of the magnitude: an offset of 1% of the range (at least 1) keeps zeros
    # (background) finite without bending the bright range.
    offset = max(1.0, 0.01 * (hi - lo))
    negative = x < 0
    coeffs = ripplet_forward(np.log(np.abs(x) + offset), scales, c, d, wedges)
    plan = _plan(coeffs.shape, coeffs.scales, coeffs.c, coeffs.d, coeffs.wedges)
    var = estimate_speckle_var(x) if var is None else var
    w_id = 0
    for band in coeffs.bands:
        for l_, cw in enumerate(band):
            noise = var * plan.noise[w_id]
            if w_id and noise > 0:
                power = cw.real**2 + cw.imag**2
                signal = np.maximum(uniform_filter(power, window, mode="wrap") - noise, 0.0)
                band[l_] = cw * (signal / (signal + strength * noise))
            w_id += 1
    magnitude = np.maximum(np.exp(ripplet_inverse(coeffs)) - offset, 0.0)
    out = np.clip(np.where(negative, -magnitude, magnitude), lo, hi)
    if a.dtype.kind in "ui":
        out = np.rint(out)
    return out.astype(a.dtype)
