"""Cipher-image and key statistics used in image-encryption papers, in numpy.

Entropy, local Shannon entropy with the test of Wu, Zhou, Noonan and Agaian (2013, "Local
Shannon entropy measure with statistical tests for image randomness"), NPCR/UACI with
the critical values of Wu, Noonan and Agaian (2011, "NPCR and UACI randomness tests for
image encryption"), adjacent-pixel correlation, the chi-square histogram test, the
fraction of changed pixels (key sensitivity), MSE, PSNR and SSIM (scikit-image, the
``eval`` extra). Every statistic is computed in float64 and returned as a
Python ``float``. A wrong dtype kind raises ``TypeError``; a mismatched, empty or
out-of-range input raises ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

__all__ = [
    "adjacent_correlation",
    "byte_entropy",
    "changed_fraction",
    "chi_square",
    "entropy",
    "ideal_entropy",
    "local_entropy",
    "local_entropy_critical",
    "local_entropy_test",
    "mse",
    "npcr_critical",
    "npcr_uaci",
    "npcr_uaci_test",
    "psnr",
    "ssim",
    "uaci_critical",
]

# Largest bin count histogrammed with np.bincount; beyond it only the bins present are kept.
_BINCOUNT_LIMIT = 1 << 20


def _array(a: ArrayLike, kinds: str, what: str, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name} must be {what} array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _integer_array(a: ArrayLike, name: str = "a") -> np.ndarray:
    return _array(a, "iu", "an integer", name)


def _real_array(a: ArrayLike, name: str = "a") -> np.ndarray:
    return _array(a, "biuf", "a real numeric", name)


def _check_pair(a: np.ndarray, b: np.ndarray, same_dtype: bool) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} != {b.shape}")
    if same_dtype and a.dtype != b.dtype:
        raise ValueError(f"dtype mismatch: {a.dtype} != {b.dtype}")


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _check_bits8(bits: Any) -> int:
    bits = _check_positive_int(bits, "bits")
    if bits > 8:
        raise ValueError(f"bits must be <= 8 (test wider data on its bytes), got {bits}")
    return bits


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return alpha


def _dtype_span(dtype: np.dtype) -> int:
    """``max - min`` of an integer dtype: the largest possible ``|a - b|``."""
    info = np.iinfo(dtype)
    return int(info.max) - int(info.min)


def _check_range(arr: np.ndarray, lo: int, hi: int, name: str = "a") -> None:
    """Raises ``ValueError`` unless every value lies in ``[lo, hi]``."""
    vmin, vmax = int(arr.min()), int(arr.max())
    if vmin < lo or vmax > hi:
        raise ValueError(f"{name} has values in [{vmin}, {vmax}], outside [{lo}, {hi}]")


def _present_counts(arr: np.ndarray, bits: int) -> np.ndarray:
    """Counts of the values present in ``arr`` (zero counts may be included)."""
    if arr.dtype.kind == "u" and arr.dtype.itemsize <= 2 and (1 << bits) <= _BINCOUNT_LIMIT:
        return np.bincount(arr.ravel(), minlength=1 << bits)
    return np.unique(arr, return_counts=True)[1]


def entropy(a: ArrayLike, bits: int | None = None) -> float:
    """Shannon entropy, in bits, of the histogram of the values of an integer array.

    ``bits`` defaults to ``8 * itemsize`` (every value of the dtype is a bin); when
    given, every value must lie in ``[0, 2**bits)``, e.g. ``bits=12`` for 12-bit pixels
    stored as uint16. The result lies in ``[0, min(bits, log2(a.size))]``; empty bins
    contribute nothing, so ``bits`` does not change the value, only the check.
    """
    arr = _integer_array(a)
    if bits is None:
        bits = 8 * arr.dtype.itemsize
    else:
        bits = _check_positive_int(bits, "bits")
        if bits > 64:
            raise ValueError(f"bits must be <= 64, got {bits}")
        _check_range(arr, 0, (1 << bits) - 1)
    counts = _present_counts(arr, bits)
    p = counts[counts > 0] / arr.size
    return float(special.entr(p).sum() / math.log(2.0)) + 0.0


def byte_entropy(a: ArrayLike) -> float:
    """Shannon entropy, in bits (0 to 8), of the raw bytes of ``a`` over 256 bins.

    The bytes are those of a C-contiguous copy in native byte order; any dtype is
    accepted.
    """
    arr = np.asarray(a)
    if arr.size == 0:
        raise ValueError("a is empty")
    raw = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return entropy(raw)


def local_entropy(
    a: ArrayLike, k: int = 30, block: int = 44, seed: int = 0, bits: int = 8
) -> float:
    """Local Shannon entropy (Wu et al. 2013): the mean entropy of ``k`` non-overlapping
    ``block`` x ``block`` blocks (44 x 44 = 1936 pixels) of a 2-D integer array, chosen
    at random (``seed``) from its grid of whole blocks.

    Every value must lie in ``[0, 2**bits)`` (``bits`` <= 8; test wider data on its
    bytes, e.g. ``a.view(np.uint8)``). ValueError if the grid has fewer than ``k`` blocks.
    """
    arr = _integer_array(a)
    bits = _check_bits8(bits)
    k = _check_positive_int(k, "k")
    block = _check_positive_int(block, "block")
    if arr.ndim != 2:
        raise ValueError(f"a must be 2-D, got shape {arr.shape}")
    _check_range(arr, 0, (1 << bits) - 1)
    gy, gx = arr.shape[0] // block, arr.shape[1] // block
    if gy * gx < k:
        raise ValueError(f"a {arr.shape[0]}x{arr.shape[1]} array holds {gy * gx} whole "
                         f"{block}x{block} blocks, fewer than k = {k}")
    picks = np.random.default_rng(seed).choice(gy * gx, size=k, replace=False)
    values = []
    for t in picks:
        y, x = divmod(int(t), gx)
        values.append(entropy(arr[y * block:(y + 1) * block, x * block:(x + 1) * block], bits))
    return float(np.mean(values))


def _level_term(n: int, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts c of one level among n uniform samples (all but a negligible tail), their
    probabilities, and the entropy term -(c/n) log2(c/n) of each."""
    p = 1.0 / levels
    mean_count = n * p
    top = min(n, int(mean_count + 14 * math.sqrt(mean_count) + 20))
    c = np.arange(top + 1, dtype=np.float64)
    f = np.zeros_like(c)
    f[1:] = -(c[1:] / n) * np.log2(c[1:] / n)
    return c, stats.binom.pmf(c, n, p), f


def ideal_entropy(n: int, bits: int) -> float:
    """Expected entropy (bits) of ``n`` uniform random values of ``bits`` bits: what an
    ideal cipher image of n pixels scores (7.9993 for 512x512 8-bit, 15.808 for 16-bit;
    n values can never show more than log2(n) bits)."""
    n = _check_positive_int(n, "n")
    bits = _check_positive_int(bits, "bits")
    if bits > 32:
        raise ValueError(f"bits must be <= 32, got {bits}")
    _, prob, f = _level_term(n, 1 << bits)
    return float((1 << bits) * np.dot(prob, f))


def _block_entropy_moments(n: int, levels: int) -> tuple[float, float]:
    """Exact mean and variance of the entropy (bits) of n uniform samples over ``levels``."""
    p = 1.0 / levels
    c, one, f = _level_term(n, levels)
    e_f = float(np.dot(one, f))
    var_f = float(np.dot(one, f * f)) - e_f * e_f
    # Two levels' counts jointly: multinomial (c1, c2, n - c1 - c2) with p, p, 1 - 2p.
    c1, c2 = c[:, None], c[None, :]
    rest = n - c1 - c2
    with np.errstate(invalid="ignore", divide="ignore"):
        log_joint = (special.gammaln(n + 1) - special.gammaln(c1 + 1) - special.gammaln(c2 + 1)
                     - special.gammaln(rest + 1) + (c1 + c2) * math.log(p)
                     + rest * (math.log1p(-2 * p) if levels > 2 else -np.inf))
    joint = np.where(rest >= 0, np.exp(np.where(rest >= 0, log_joint, -np.inf)), 0.0)
    if levels == 2:  # c2 = n - c1 exactly
        joint = np.where(rest == 0, stats.binom.pmf(c1, n, p) + 0 * c2, 0.0)
    cov = float(np.sum(joint * f[:, None] * f[None, :])) - e_f * e_f
    return levels * e_f, levels * var_f + levels * (levels - 1) * cov


# The acceptance intervals printed by Wu et al. (2013) for 8-bit data, k = 30, 1936
# pixels: alpha -> (lower, upper). See local_entropy_critical for why they are not used.
WU2013_INTERVAL_8BIT = {
    0.05: (7.901901305, 7.903037329),
    0.01: (7.901722822, 7.903215812),
    0.001: (7.901515698, 7.903422936),
}


def local_entropy_critical(
    alpha: float = 0.05, k: int = 30, pixels: int = 1936, bits: int = 8
) -> tuple[float, float, float]:
    """Wu et al. (2013) local entropy test: ``(lower, mean, upper)`` in bits.

    The mean and variance of one block's entropy for ideal (uniform) data are computed
    exactly from the multinomial counts, and the acceptance interval is
    ``mean -/+ z_(alpha/2) sigma_block / sqrt(k)``. For 8-bit data, k = 30 and 1936
    pixels: mean 7.902469317 (Wu et al.'s value), sigma_block 0.00869, interval
    7.899358-7.905580 at alpha = 0.05. The interval printed in Wu et al. (2013),
    :data:`WU2013_INTERVAL_8BIT`, is about 5.5 (sqrt(30)) times narrower; truly random
    images land inside it only about a quarter of the time, so it is kept for
    comparison, not used for pass/fail.
    """
    alpha = _check_alpha(alpha)
    k = _check_positive_int(k, "k")
    pixels = _check_positive_int(pixels, "pixels")
    bits = _check_bits8(bits)
    mean, var = _block_entropy_moments(pixels, 1 << bits)
    half = float(stats.norm.isf(alpha / 2)) * math.sqrt(max(var, 0.0) / k)
    return mean - half, mean, mean + half


def local_entropy_test(
    a: ArrayLike, alpha: float = 0.05, k: int = 30, block: int = 44, seed: int = 0, bits: int = 8
) -> dict[str, Any]:
    """Local Shannon entropy of ``a`` and the Wu et al. (2013) test at level ``alpha``:
    ``local_entropy``, ``lower``, ``upper`` and ``passed`` (lower <= value <= upper)."""
    value = local_entropy(a, k, block, seed, bits)
    lower, _, upper = local_entropy_critical(alpha, k, block * block, bits)
    return {"local_entropy": value, "lower": lower, "upper": upper, "passed": bool(lower <= value <= upper)}


def npcr_uaci(
    a: ArrayLike, b: ArrayLike, max_value: int | None = None
) -> tuple[float, float]:
    """NPCR and UACI, in percent, between two integer arrays of one shape and dtype.

    ``NPCR = 100 * mean(a != b)`` and ``UACI = 100 * mean(|a - b|) / F`` with
    ``F = max_value``, by default the dtype's ``max - min`` (255 for uint8, 65535 for
    uint16). When ``max_value`` is given, every value of both arrays must lie in
    ``[0, max_value]``.
    """
    x = _integer_array(a, "a")
    y = _integer_array(b, "b")
    _check_pair(x, y, same_dtype=True)
    if max_value is None:
        peak = _dtype_span(x.dtype)
    else:
        peak = _check_positive_int(max_value, "max_value")
        _check_range(x, 0, peak, "a")
        _check_range(y, 0, peak, "b")
    # max - min wraps exactly in the unsigned type of the same width: |a - b| < 2**bits.
    udt = np.dtype(f"u{x.dtype.itemsize}")
    diff = np.maximum(x, y).view(udt) - np.minimum(x, y).view(udt)
    npcr = 100.0 * float(np.count_nonzero(x != y)) / x.size
    uaci = 100.0 * float(np.mean(diff, dtype=np.float64)) / peak
    return npcr, uaci


def npcr_critical(n_pixels: int, max_value: int = 255, alpha: float = 0.05) -> float:
    """Wu et al. (2011) NPCR critical value ``N*_alpha``, in percent.

    ``N* = (F - z * sqrt(F / N)) / (F + 1)`` with ``F = max_value``, ``N = n_pixels``
    and ``z = Phi^-1(1 - alpha)`` (the paper's upper-tail ``Phi^-1(alpha)``), so ``N*``
    lies below the ideal ``F / (F + 1)``. An NPCR below ``N*`` fails the test.
    """
    n = _check_positive_int(n_pixels, "n_pixels")
    f = _check_positive_int(max_value, "max_value")
    z = float(stats.norm.isf(_check_alpha(alpha)))
    return 100.0 * (f - z * math.sqrt(f / n)) / (f + 1)


def uaci_critical(
    n_pixels: int, max_value: int = 255, alpha: float = 0.05
) -> tuple[float, float]:
    """Wu et al. (2011) UACI acceptance interval ``(U*-, U*+)``, in percent.

    ``mu +/- Phi^-1(1 - alpha/2) * sigma`` with ``mu = (F + 2) / (3F + 3)`` and
    ``sigma^2 = (F + 2)(F^2 + 2F + 3) / (18 (F + 1)^2 N F)``, ``F = max_value``,
    ``N = n_pixels``. A UACI outside the closed interval fails the test.
    """
    n = _check_positive_int(n_pixels, "n_pixels")
    f = _check_positive_int(max_value, "max_value")
    z = float(stats.norm.isf(_check_alpha(alpha) / 2.0))
    mu = (f + 2) / (3 * f + 3)
    sigma = math.sqrt((f + 2) * (f * f + 2 * f + 3) / (18 * (f + 1) ** 2 * n * f))
    return 100.0 * (mu - z * sigma), 100.0 * (mu + z * sigma)


def npcr_uaci_test(
    a: ArrayLike, b: ArrayLike, alpha: float = 0.05, max_value: int | None = None
) -> dict[str, Any]:
    """NPCR/UACI of two cipher images and the Wu et al. (2011) tests at level ``alpha``.

    ``N`` is ``a.size`` (every element is one pixel value) and ``F`` as in
    :func:`npcr_uaci`. Returns ``npcr``, ``uaci``, ``npcr_critical``, ``uaci_lower``,
    ``uaci_upper`` (percent) and the booleans ``npcr_pass`` (``npcr >= npcr_critical``)
    and ``uaci_pass`` (``uaci_lower <= uaci <= uaci_upper``).
    """
    npcr, uaci = npcr_uaci(a, b, max_value)
    arr = np.asarray(a)
    peak = _dtype_span(arr.dtype) if max_value is None else int(max_value)
    n_crit = npcr_critical(arr.size, peak, alpha)
    u_lo, u_hi = uaci_critical(arr.size, peak, alpha)
    return {
        "npcr": npcr,
        "uaci": uaci,
        "npcr_critical": n_crit,
        "uaci_lower": u_lo,
        "uaci_upper": u_hi,
        "npcr_pass": bool(npcr >= n_crit),
        "uaci_pass": bool(u_lo <= uaci <= u_hi),
    }


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    dx = x - x.mean()
    dy = y - y.mean()
    sxx = float(np.dot(dx, dx))
    syy = float(np.dot(dy, dy))
    if sxx == 0.0 or syy == 0.0:
        return math.nan
    r = float(np.dot(dx, dy)) / math.sqrt(sxx * syy)
    return min(1.0, max(-1.0, r))


def adjacent_correlation(a: ArrayLike) -> dict[str, float]:
    """Pearson correlation of all adjacent pixel pairs of a 2-D array, in float64.

    Keys ``"horizontal"`` (``a[i, j]``, ``a[i, j+1]``), ``"vertical"`` (``a[i, j]``,
    ``a[i+1, j]``) and ``"diagonal"`` (``a[i, j]``, ``a[i+1, j+1]``). A direction whose
    first or second members have zero variance gives ``nan``. The array must be at
    least 2x2 and finite.
    """
    arr = _real_array(a)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"a must be a 2-D array of at least 2x2, got shape {arr.shape}")
    x = arr.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("a has non-finite values")
    pairs = {
        "horizontal": (x[:, :-1], x[:, 1:]),
        "vertical": (x[:-1, :], x[1:, :]),
        "diagonal": (x[:-1, :-1], x[1:, 1:]),
    }
    return {k: _pearson(u.ravel(), v.ravel()) for k, (u, v) in pairs.items()}


def chi_square(a: ArrayLike, bins: int | None = None) -> tuple[float, float]:
    """Chi-square statistic of the value histogram against uniform, and its p-value.

    ``bins`` defaults to ``2**(8 * itemsize)`` (256 for uint8) covering the dtype's
    range ``[min, max]``; when given, every value must lie in ``[0, bins)``. The
    statistic is ``sum((O - E)^2 / E)`` with ``E = a.size / bins``; the p-value is
    ``scipy.stats.chi2.sf(stat, bins - 1)``.
    """
    arr = _integer_array(a)
    if bins is None:
        bits = 8 * arr.dtype.itemsize
        nbins = 1 << bits
        offset = int(np.iinfo(arr.dtype).min)
    else:
        nbins = _check_positive_int(bins, "bins")
        if nbins < 2:
            raise ValueError(f"bins must be >= 2, got {nbins}")
        _check_range(arr, 0, nbins - 1)
        offset = 0
    expected = arr.size / nbins
    if nbins <= _BINCOUNT_LIMIT:
        if offset == 0 and arr.dtype.kind == "u" and arr.dtype.itemsize <= 4:
            values = arr.ravel()
        else:
            values = arr.ravel().astype(np.int64) - offset
        counts = np.bincount(values, minlength=nbins).astype(np.float64)
        stat = float(np.sum((counts - expected) ** 2) / expected)
    else:
        # Only the values present are counted; each empty bin adds (0 - E)^2 / E = E.
        counts = np.unique(arr, return_counts=True)[1].astype(np.float64)
        stat = float(np.sum((counts - expected) ** 2) / expected)
        stat += (nbins - counts.size) * expected
    return stat, float(stats.chi2.sf(stat, nbins - 1))


def _diff_pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _real_array(a, "a")
    y = _real_array(b, "b")
    _check_pair(x, y, same_dtype=False)
    return x, y, x.astype(np.float64) - y.astype(np.float64)


def mse(a: ArrayLike, b: ArrayLike) -> float:
    """Mean squared error ``mean((a - b)^2)`` of two arrays of one shape, in float64."""
    _, _, d = _diff_pair(a, b)
    return float(np.mean(d * d))


def psnr(a: ArrayLike, b: ArrayLike, max_value: float | None = None) -> float:
    """Peak signal-to-noise ratio ``10 * log10(F^2 / mse(a, b))`` in dB; ``inf`` if equal.

    ``F = max_value``, by default the dtype's ``max - min`` (255 for uint8), which needs
    both arrays to share one integer dtype.
    """
    x, y, d = _diff_pair(a, b)
    if max_value is None:
        if x.dtype != y.dtype or x.dtype.kind not in "iu":
            raise ValueError("max_value is required unless a and b share one integer dtype")
        peak = float(_dtype_span(x.dtype))
    else:
        peak = float(max_value)
        if not (peak > 0.0 and math.isfinite(peak)):
            raise ValueError(f"max_value must be positive and finite, got {max_value}")
    err = float(np.mean(d * d))
    if err == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / err)


def changed_fraction(a: ArrayLike, b: ArrayLike) -> float:
    """Fraction (0 to 1) of positions where two arrays of one shape differ: for key
    sensitivity, decrypt with the right key and with a one-bit-flipped key and compare."""
    x = np.asarray(a)
    y = np.asarray(b)
    if x.size == 0:
        raise ValueError("a is empty")
    _check_pair(x, y, same_dtype=False)
    return float(np.mean(x != y))


def ssim(a: ArrayLike, b: ArrayLike, data_range: float | None = None) -> float:
    """Structural similarity of two 2-D images (scikit-image, default 7x7 window).

    ``data_range`` defaults to the dtype's ``max - min`` for a shared integer dtype.
    Needs scikit-image (``pip install 'kedi_edge[eval]'``): ModuleNotFoundError otherwise.
    """
    x, y, _ = _diff_pair(a, b)
    if x.ndim != 2 or min(x.shape) < 7:
        raise ValueError(f"ssim needs 2-D images of at least 7x7, got shape {x.shape}")
    if data_range is None:
        if x.dtype != y.dtype or x.dtype.kind not in "iu":
            raise ValueError("data_range is required unless a and b share one integer dtype")
        data_range = float(_dtype_span(x.dtype))
    try:
        from skimage.metrics import structural_similarity
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("ssim needs scikit-image: pip install 'kedi_edge[eval]'",
                                  name="skimage") from e
    return float(structural_similarity(x.astype(np.float64), y.astype(np.float64),
                                       data_range=float(data_range)))
