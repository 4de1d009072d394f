"""kedi_edge.ripplet: tight-frame ripplet transform, speckle, despeckling."""

import math

import numpy as np
import pydicom
import pytest

import kedi_edge
from kedi_edge import InvalidInputError
from kedi_edge.ripplet import _mean_square, _windows, estimate_speckle_var, wedge_counts


def real_image(name="CT_small.dcm"):
    return pydicom.dcmread(pydicom.data.get_testdata_file(name, download=False)).pixel_array


@pytest.mark.parametrize("shape", [(2, 2), (5, 3), (64, 64), (127, 200), (200, 127), (33, 17), (256, 256)])
@pytest.mark.parametrize("params", [{}, {"scales": 2, "wedges": 4}, {"scales": 5, "c": 2.0, "d": 3.0}])
def test_exact_reconstruction_and_parseval(shape, params):
    f = np.random.default_rng(sum(shape)).standard_normal(shape)
    coeffs = kedi_edge.ripplet_forward(f, **params)
    g = kedi_edge.ripplet_inverse(coeffs)
    assert np.linalg.norm(g - f) / np.linalg.norm(f) < 1e-10
    assert abs(coeffs.energy() - np.sum(f * f)) / np.sum(f * f) < 1e-10
    assert all(c.dtype == np.float64 and c.shape == shape for band in coeffs.bands for c in band)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm"])
def test_exact_on_real_images(name):
    f = real_image(name).astype(np.float64)
    coeffs = kedi_edge.ripplet_forward(f)
    assert np.linalg.norm(kedi_edge.ripplet_inverse(coeffs) - f) / np.linalg.norm(f) < 1e-10
    assert abs(coeffs.energy() - np.sum(f * f)) / np.sum(f * f) < 1e-10


def test_windows_square_sum_to_one_and_wedge_counts():
    shape = (96, 80)
    windows = _windows(shape, 4, 1.0, 2.0, 8)
    total = sum(_mean_square(w, shape) for band in windows for w in band)
    assert abs(total - 1.0) < 1e-12
    assert wedge_counts(4, 1.0, 2.0, 8) == [1, 8, 8, 16, 16]  # curvelet-like: doubling every other scale
    assert wedge_counts(4, 1.0, 1.0, 8) == [1, 8, 8, 8, 8]  # d = 1: no new directions
    assert wedge_counts(3, 2.0, 2.0, 4) == [1, 8, 8, 16]  # c scales the count
    assert [len(b) for b in windows] == [1, 8, 8, 16, 16]


def test_wedges_are_directional():
    # A grating varying along x has all its energy at orientation 0, i.e. in the first
    # and last wedge of each band (wedge 0 starts at theta = 0); none elsewhere.
    y, x = np.mgrid[0:128, 0:128]
    f = np.cos(2 * np.pi * 0.2 * x)
    coeffs = kedi_edge.ripplet_forward(f)
    at_zero = sum(np.sum(band[0] ** 2) + np.sum(band[-1] ** 2) for band in coeffs.bands[1:])
    others = sum(np.sum(c * c) for band in coeffs.bands[1:] for c in band[1:-1])
    assert others < 1e-9 * at_zero
    g = np.cos(2 * np.pi * 0.2 * y)  # the same grating turned by 90 degrees: the middle wedges
    mid = kedi_edge.ripplet_forward(g)
    assert sum(np.sum(band[0] ** 2) for band in mid.bands[1:]) < 1e-9 * np.sum(g * g)


def test_add_speckle_model():
    img = np.full((256, 256), 1000, np.uint16)
    noisy = kedi_edge.add_speckle(img, 0.01, seed=3)
    assert noisy.dtype == np.uint16 and noisy.shape == img.shape
    rel = noisy.astype(float) / 1000 - 1
    assert abs(rel.mean()) < 0.002 and abs(rel.var() - 0.01) < 0.001
    np.testing.assert_array_equal(noisy, kedi_edge.add_speckle(img, 0.01, seed=3))
    assert kedi_edge.add_speckle(np.full((8, 8), 250, np.uint8), 0.5, seed=1).max() <= 255  # clipped
    assert abs(estimate_speckle_var(noisy) - 0.01) < 0.002


@pytest.mark.parametrize("name", ["CT_small.dcm", "examples_overlay.dcm"])
def test_despeckle_improves_real_images(name):
    img = real_image(name)
    noisy = kedi_edge.add_speckle(img, 0.04, seed=5)
    clean = kedi_edge.despeckle(noisy)
    assert clean.dtype == img.dtype and clean.shape == img.shape
    assert clean.min() >= noisy.min() and clean.max() <= noisy.max()
    err = lambda a: float(np.mean((a.astype(float) - img.astype(float)) ** 2))  # noqa: E731
    gain_db = 10 * math.log10(err(noisy) / err(clean))
    assert gain_db > 2.0, gain_db


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: kedi_edge.ripplet_forward(np.array([[np.nan, 1], [2, 3]])), "NaN"),
        (lambda: kedi_edge.ripplet_forward(np.zeros((0, 5))), "at least 2x2"),
        (lambda: kedi_edge.ripplet_forward(np.zeros(16)), "2-D"),
        (lambda: kedi_edge.ripplet_forward(np.zeros((4, 4), dtype=object)), "dtype"),
        (lambda: kedi_edge.ripplet_forward(np.zeros((8, 8)), c=0), "support c"),
        (lambda: kedi_edge.ripplet_forward(np.zeros((8, 8)), d=0.5), "degree d"),
        (lambda: kedi_edge.ripplet_forward(np.zeros((8, 8)), scales=0), "scales"),
        (lambda: kedi_edge.ripplet_forward(np.zeros((8, 8)), wedges=0), "wedges"),
        (lambda: kedi_edge.ripplet_inverse("nope"), "RippletCoeffs"),
        (lambda: kedi_edge.add_speckle(np.zeros((4, 4)), -1), "var"),
        (lambda: kedi_edge.despeckle(np.zeros((4, 4)), var=float("nan")), "var"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()


def test_estimate_handles_negative_and_flat_images():
    ct_hu = real_image().astype(np.float64) - 1024.0  # Hounsfield-like, mean crosses zero
    assert np.isfinite(estimate_speckle_var(ct_hu))
    assert estimate_speckle_var(np.full((32, 32), 7.0)) == 0.0
