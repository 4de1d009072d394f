"""Numpy reference of the ripplet transform: the oracle for the native wrapping.

Same signatures, plans and coefficients as :func:`kedi_edge.ripplet_forward` and
:func:`kedi_edge.ripplet_inverse`, computed from the definitions: each window is laid
out on the whole frequency plane, and wrapping sums window x spectrum over every
frequency that lands on a grid point; the inverse takes the periodic extension of each
wedge's spectrum times its window over the whole plane. Slow (O(wedges x pixels)).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from ..ripplet import RippletCoeffs, _check_image, _check_params, _Plan, _plan, _plan_for, _split

__all__ = ["ripplet_forward", "ripplet_inverse"]


def _layout(plan: _Plan, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wedge w's window on the whole plane, and the grid row/column each frequency wraps to."""
    h, wd = plan.shape
    y0, sy, x0, sx, hb, wb = (int(v) for v in plan.boxes[w])
    full = np.zeros((h, wd))
    full[np.ix_((y0 + np.arange(sy)) % h, (x0 + np.arange(sx)) % wd)] = plan.box_window(w)
    # Frequency k (0 <= k < h) as the representative y0 <= k' < y0 + h, then mod hb.
    rows = (y0 + (np.arange(h) - y0) % h) % hb
    cols = (x0 + (np.arange(wd) - x0) % wd) % wb
    return full, rows, cols


def ripplet_forward(image: np.ndarray, scales: int = 4, c: float = 1.0, d: float = 2.0,
                    wedges: int = 8, workers: int | None = None) -> RippletCoeffs:
    """Reference twin of :func:`kedi_edge.ripplet_forward`."""
    _check_params(scales, c, d, wedges)
    f = _check_image(image, "ripplet_forward")
    plan = _plan(f.shape, int(scales), float(c), float(d), int(wedges))
    spec = sfft.fft2(f, norm="ortho", workers=workers)
    flat = []
    for w in range(len(plan.boxes)):
        full, rows, cols = _layout(plan, w)
        hb, wb = plan.coeff_shape(w)
        where = (rows[:, None] * wb + cols[None, :]).ravel()
        v = (full * spec).ravel()
        grid = (np.bincount(where, v.real, hb * wb) + 1j * np.bincount(where, v.imag, hb * wb))
        coef = sfft.ifft2(grid.reshape(hb, wb), norm="ortho", workers=workers)
        flat.append(coef.real.copy() if w == 0 else coef)
    return RippletCoeffs(_split(plan, flat), f.shape, int(scales), float(c), float(d), int(wedges))


def ripplet_inverse(coeffs: RippletCoeffs, workers: int | None = None) -> np.ndarray:
    """Reference twin of :func:`kedi_edge.ripplet_inverse`."""
    plan, arrays = _plan_for(coeffs, "ripplet_inverse")
    acc = np.zeros(plan.shape, np.complex128)
    for w, a in enumerate(arrays):
        full, rows, cols = _layout(plan, w)
        spec = sfft.fft2(a, norm="ortho", workers=workers)
        acc += full * spec[rows[:, None], cols[None, :]]
    return sfft.ifft2(acc, norm="ortho", workers=workers).real
