"""kedi_edge.metrics against hand-computed cases, numpy/scipy and published values."""

import math

import numpy as np
import pytest
from scipy import stats

from kedi_edge import metrics


@pytest.fixture(scope="module")
def random_pair():
    """Two independent uniform 512x512 uint8 images."""
    a = np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)
    b = np.random.default_rng(1).integers(0, 256, (512, 512), dtype=np.uint8)
    return a, b


# --- entropy -------------------------------------------------------------------------


def test_entropy_hand_cases():
    assert metrics.entropy(np.array([0, 0, 1, 1], np.uint8)) == pytest.approx(1.0)
    assert metrics.entropy(np.full((3, 5), 7, np.uint8)) == 0.0
    assert metrics.entropy(np.arange(256, dtype=np.uint8)) == pytest.approx(8.0)
    # p = (1/2, 1/4, 1/4): H = 1/2 + 2 * 1/4 * 2 = 1.5 bits.
    assert metrics.entropy(np.array([5, 5, 9, 300], np.uint16)) == pytest.approx(1.5)
    assert metrics.entropy(np.array([-3, -3, 4, 4], np.int32)) == pytest.approx(1.0)
    assert metrics.entropy(np.arange(1 << 12, dtype=np.uint16), bits=12) == pytest.approx(12)
    assert metrics.entropy(np.array([0, 2**40], np.uint64)) == pytest.approx(1.0)


def test_entropy_bits_range_and_dtype_errors():
    with pytest.raises(ValueError):
        metrics.entropy(np.array([0, 4096], np.uint16), bits=12)
    with pytest.raises(ValueError):
        metrics.entropy(np.array([-1, 0], np.int16), bits=8)
    with pytest.raises(ValueError):
        metrics.entropy(np.array([], np.uint8))
    with pytest.raises(TypeError):
        metrics.entropy(np.array([0.5, 1.0]))


def test_byte_entropy():
    assert metrics.byte_entropy(np.arange(256, dtype=np.uint8)) == pytest.approx(8.0)
    # One uint16 0x0100 is the two bytes 0x00 and 0x01 in either byte order.
    assert metrics.byte_entropy(np.array([0x0100], np.uint16)) == pytest.approx(1.0)
    assert metrics.byte_entropy(np.zeros(8, np.float64)) == 0.0
    # A non-contiguous view is read as its own values, not as the buffer under it.
    assert metrics.byte_entropy(np.array([[1, 2], [1, 3]], np.uint8)[:, 0]) == 0.0


# --- NPCR / UACI ---------------------------------------------------------------------


def test_npcr_uaci_hand_case():
    a = np.array([[0, 10], [255, 7]], np.uint8)
    b = np.array([[0, 20], [0, 7]], np.uint8)
    npcr, uaci = metrics.npcr_uaci(a, b)
    assert npcr == pytest.approx(50.0)
    assert uaci == pytest.approx(100.0 * (0 + 10 + 255 + 0) / 4 / 255)
    assert metrics.npcr_uaci(b, a) == pytest.approx((npcr, uaci))
    assert metrics.npcr_uaci(a, a) == (0.0, 0.0)


def test_npcr_uaci_max_value_and_wide_dtypes():
    a = np.array([0, 4095, 100, 3], np.uint16)
    b = np.array([4095, 0, 100, 4], np.uint16)
    npcr, uaci = metrics.npcr_uaci(a, b, max_value=4095)
    assert npcr == pytest.approx(75.0)
    assert uaci == pytest.approx(100.0 * (4095 + 4095 + 0 + 1) / 4 / 4095)
    assert metrics.npcr_uaci(a, b)[1] == pytest.approx(100.0 * 8191 / 4 / 65535)
    # Differences that overflow a signed dtype are exact: |127 - (-128)| = 255.
    s = metrics.npcr_uaci(np.array([127, 0], np.int8), np.array([-128, 0], np.int8))
    assert s == pytest.approx((50.0, 100.0 * 255 / 2 / 255))
    big = np.iinfo(np.uint64).max
    u = metrics.npcr_uaci(np.array([big], np.uint64), np.array([0], np.uint64))
    assert u == pytest.approx((100.0, 100.0))


def test_npcr_uaci_errors():
    a = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError):
        metrics.npcr_uaci(a, np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError):
        metrics.npcr_uaci(a, np.zeros((2, 2), np.uint16))
    with pytest.raises(ValueError):
        metrics.npcr_uaci(np.zeros((0, 2), np.uint8), np.zeros((0, 2), np.uint8))
    with pytest.raises(ValueError):
        metrics.npcr_uaci(np.array([4096], np.uint16), np.array([0], np.uint16), 4095)
    with pytest.raises(TypeError):
        metrics.npcr_uaci(a.astype(float), a.astype(float))


# Wu, Noonan, Agaian 2011, Tables (percent): (F, N, NPCR*, UACI*-, UACI*+), alpha = 0.05.
PUBLISHED = [
    (255, 512 * 512, 99.5893, 33.3730, 33.5541),
    (255, 256 * 256, 99.5693, 33.2824, 33.6447),
    (4095, 512 * 512, 99.9706, 33.2512, 33.4317),
    (65535, 512 * 512, 99.9972, 33.2436, 33.4241),
]


@pytest.mark.parametrize(("f", "n", "npcr_star", "u_lo", "u_hi"), PUBLISHED)
def test_critical_values_match_published(f, n, npcr_star, u_lo, u_hi):
    assert round(metrics.npcr_critical(n, f, 0.05), 4) == npcr_star
    lo, hi = metrics.uaci_critical(n, f, 0.05)
    assert (round(lo, 4), round(hi, 4)) == (u_lo, u_hi)


def test_critical_values_order_and_errors():
    # A stricter alpha lowers NPCR* and widens the UACI interval around (F+2)/(3F+3).
    assert metrics.npcr_critical(4096, 255, 0.001) < metrics.npcr_critical(4096, 255, 0.05)
    assert metrics.npcr_critical(4096, 255, 0.05) < 100 * 255 / 256
    lo1, hi1 = metrics.uaci_critical(4096, 255, 0.001)
    lo5, hi5 = metrics.uaci_critical(4096, 255, 0.05)
    assert lo1 < lo5 < 100 * 257 / 768 < hi5 < hi1
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError):
            metrics.npcr_critical(4096, 255, bad)
    with pytest.raises(ValueError):
        metrics.uaci_critical(0)


def test_critical_values_reject_about_alpha_of_random_pairs():
    # Under the null (independent uniform images) each test rejects about alpha of pairs:
    # 400 pairs at alpha = 0.05 expect 20 rejections (sd 4.4).
    rng = np.random.default_rng(2)
    pairs = rng.integers(0, 256, (400, 2, 64, 64), dtype=np.uint8)
    results = [metrics.npcr_uaci_test(a, b) for a, b in pairs]
    npcr_fail = sum(not r["npcr_pass"] for r in results)
    uaci_fail = sum(not r["uaci_pass"] for r in results)
    assert 6 <= npcr_fail <= 40
    assert 6 <= uaci_fail <= 40


def test_npcr_uaci_test_random_pair_passes(random_pair):
    a, b = random_pair
    r = metrics.npcr_uaci_test(a, b, alpha=0.05)
    assert (r["npcr"], r["uaci"]) == metrics.npcr_uaci(a, b)
    assert r["npcr_critical"] == metrics.npcr_critical(a.size, 255, 0.05)
    assert (r["uaci_lower"], r["uaci_upper"]) == metrics.uaci_critical(a.size, 255, 0.05)
    assert r["npcr_pass"] is True
    assert r["uaci_pass"] is True


def test_npcr_uaci_test_fails_related_images(random_pair):
    a, _ = random_pair
    b = a.copy()
    b[0, 0] ^= 1  # one-pixel change that did not diffuse
    r = metrics.npcr_uaci_test(a, b)
    assert r["npcr_pass"] is False
    assert r["uaci_pass"] is False


# --- adjacent correlation ------------------------------------------------------------


def test_correlation_ramp_and_checkerboard():
    ramp = np.arange(6 * 7, dtype=np.uint8).reshape(6, 7)
    for v in metrics.adjacent_correlation(ramp).values():
        assert v == pytest.approx(1.0)
    i, j = np.indices((5, 6))
    board = ((i + j) % 2).astype(np.uint8)
    c = metrics.adjacent_correlation(board)
    assert c["horizontal"] == pytest.approx(-1.0)
    assert c["vertical"] == pytest.approx(-1.0)
    assert c["diagonal"] == pytest.approx(1.0)


def test_correlation_zero_variance_is_nan():
    rows = np.array([[0, 0, 0], [1, 1, 1]], np.uint8)
    c = metrics.adjacent_correlation(rows)
    assert c["horizontal"] == pytest.approx(1.0)
    assert math.isnan(c["vertical"])
    assert math.isnan(c["diagonal"])
    assert all(math.isnan(v) for v in metrics.adjacent_correlation(np.ones((3, 3))).values())


def test_correlation_matches_corrcoef():
    x = np.random.default_rng(3).normal(size=(40, 50)).cumsum(axis=1)  # correlated rows
    c = metrics.adjacent_correlation(x)
    expected = {
        "horizontal": np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1],
        "vertical": np.corrcoef(x[:-1, :].ravel(), x[1:, :].ravel())[0, 1],
        "diagonal": np.corrcoef(x[:-1, :-1].ravel(), x[1:, 1:].ravel())[0, 1],
    }
    assert c == pytest.approx(expected, abs=1e-12)
    assert c["horizontal"] > 0.5


def test_correlation_errors():
    with pytest.raises(ValueError):
        metrics.adjacent_correlation(np.zeros((1, 5), np.uint8))
    with pytest.raises(ValueError):
        metrics.adjacent_correlation(np.zeros(9, np.uint8))
    with pytest.raises(ValueError):
        metrics.adjacent_correlation(np.array([[0.0, np.nan], [1.0, 2.0]]))


# --- chi-square ----------------------------------------------------------------------


def test_chi_square_hand_cases():
    assert metrics.chi_square(np.array([0, 0, 1, 1], np.uint8), bins=2) == (0.0, 1.0)
    # E = 2: (3-2)^2/2 + (1-2)^2/2 = 1 with 1 degree of freedom.
    stat, p = metrics.chi_square(np.array([0, 0, 0, 1], np.uint8), bins=2)
    assert stat == pytest.approx(1.0)
    assert p == pytest.approx(stats.chi2.sf(1.0, 1))
    # Every uint8 value once is exactly uniform.
    assert metrics.chi_square(np.arange(256, dtype=np.uint8))[0] == 0.0
    # Signed dtypes are binned over [min, max]: int8 -128..127 once each is uniform too.
    assert metrics.chi_square(np.arange(-128, 128, dtype=np.int8))[0] == 0.0
    with pytest.raises(ValueError):
        metrics.chi_square(np.array([0, 2], np.uint8), bins=2)


def test_chi_square_matches_scipy():
    x = np.random.default_rng(4).integers(0, 256, 5000, dtype=np.uint8)
    x[:40] = 3  # skewed a little
    ref = stats.chisquare(np.bincount(x, minlength=256))
    assert metrics.chi_square(x) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert metrics.chi_square(x.astype(np.uint32), bins=256) == metrics.chi_square(x)


def test_chi_square_sparse_path_matches_dense():
    # 2**32 bins take the np.unique path; 2 values over 2**32 bins, checked by hand.
    x = np.array([0, 7, 7], np.uint32)
    nb = 2**32
    e = 3 / nb
    stat, p = metrics.chi_square(x)
    assert stat == pytest.approx((1 - e) ** 2 / e + (2 - e) ** 2 / e + (nb - 2) * e)
    assert p == pytest.approx(stats.chi2.sf(stat, nb - 1))


# --- MSE / PSNR ----------------------------------------------------------------------


def test_mse_psnr_hand_cases():
    a = np.array([[0, 10], [255, 7]], np.uint8)
    b = np.array([[0, 20], [0, 7]], np.uint8)
    err = (10**2 + 255**2) / 4
    assert metrics.mse(a, b) == pytest.approx(err)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / err))
    assert metrics.psnr(a, b, max_value=1000) == pytest.approx(10 * math.log10(1e6 / err))
    assert metrics.psnr(a, a) == math.inf
    assert metrics.mse(a, a) == 0.0
    assert metrics.mse(np.array([0.5]), np.array([0], np.uint8)) == pytest.approx(0.25)


def test_mse_psnr_errors():
    with pytest.raises(ValueError):
        metrics.mse(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((2, 2), np.uint8), np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros(3), np.ones(3))  # float needs max_value


# --- uniform random 512x512 uint8 ----------------------------------------------------


def test_random_image_statistics(random_pair):
    a, _ = random_pair
    assert metrics.entropy(a) > 7.999
    assert metrics.byte_entropy(a) == metrics.entropy(a)
    assert all(abs(v) < 0.01 for v in metrics.adjacent_correlation(a).values())
    assert metrics.chi_square(a)[1] > 0.001


def test_metrics_does_not_import_torch():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(metrics))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not any(n.split(".")[0] == "torch" for n in names)


# --- local entropy (Wu et al. 2013) ----------------------------------------------------


def test_local_entropy_hand_cases():
    assert metrics.local_entropy(np.full((100, 100), 9, np.uint8), k=4) == 0.0
    two = (np.indices((88, 88)).sum(axis=0) % 2).astype(np.uint8) * 200  # 0/200 checkerboard
    assert metrics.local_entropy(two, k=4) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fewer than k"):
        metrics.local_entropy(np.zeros((100, 100), np.uint8))  # 4 blocks < 30
    with pytest.raises(ValueError, match="bits"):
        metrics.local_entropy(np.zeros((300, 300), np.uint16), bits=16)
    with pytest.raises(ValueError):
        metrics.local_entropy(np.full((300, 300), 300, np.uint16))  # not 8-bit values


@pytest.mark.parametrize("n, levels", [(4, 2), (3, 4), (5, 3)])
def test_block_entropy_moments_match_enumeration(n, levels):
    # Every sequence of n samples over `levels` values, equally likely.
    seqs = np.array(np.meshgrid(*[np.arange(levels)] * n, indexing="ij")).reshape(n, -1).T
    h = np.array([metrics.entropy(s.astype(np.uint8)) for s in seqs])
    mean, var = metrics._block_entropy_moments(n, levels)
    assert mean == pytest.approx(h.mean(), abs=1e-12)
    assert var == pytest.approx(h.var(), abs=1e-12)


def test_local_entropy_critical_values():
    lower, mean, upper = metrics.local_entropy_critical(0.05)
    assert mean == pytest.approx(7.902469317, abs=1e-9)  # Wu et al. (2013)
    assert upper - mean == pytest.approx(mean - lower)
    assert metrics.local_entropy_critical(0.001)[0] < metrics.local_entropy_critical(0.01)[0] < lower
    # Random 8-bit images: about 95% inside the exact interval; the printed one is too narrow.
    values = np.array([metrics.local_entropy(np.random.default_rng(s).integers(0, 256, (264, 264), dtype=np.uint8),
                                             seed=s) for s in range(150)])
    assert 0.88 <= np.mean((values >= lower) & (values <= upper)) <= 0.995
    lo_pub, hi_pub = metrics.WU2013_INTERVAL_8BIT[0.05]
    assert np.mean((values >= lo_pub) & (values <= hi_pub)) < 0.5
    result = metrics.local_entropy_test(np.random.default_rng(7).integers(0, 256, (512, 512), dtype=np.uint8))
    assert set(result) == {"local_entropy", "lower", "upper", "passed"}
    assert metrics.local_entropy_test(np.zeros((512, 512), np.uint8))["passed"] is False


# --- key sensitivity, SSIM -------------------------------------------------------------


def test_changed_fraction():
    a = np.arange(12, dtype=np.uint16).reshape(3, 4)
    b = a.copy()
    assert metrics.changed_fraction(a, b) == 0.0
    b[0, 0] ^= 1
    b[2, 3] += 5
    assert metrics.changed_fraction(a, b) == pytest.approx(2 / 12)
    with pytest.raises(ValueError, match="shape"):
        metrics.changed_fraction(a, b[:2])


def test_ssim_hand_cases():
    pytest.importorskip("skimage")
    img = np.random.default_rng(3).integers(0, 256, (64, 64), dtype=np.uint8)
    assert metrics.ssim(img, img) == pytest.approx(1.0)
    # Constant images: SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1) (the contrast terms are C2 / C2).
    c1 = (0.01 * 255) ** 2
    a, b = np.full((32, 32), 100, np.uint8), np.full((32, 32), 120, np.uint8)
    assert metrics.ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))
    assert metrics.ssim(img, 255 - img) < 0
    with pytest.raises(ValueError, match="data_range"):
        metrics.ssim(img.astype(float), img.astype(float))


def test_ideal_entropy():
    # REFERENCE.md: uniform random 512x512 data, 8, 12 and 16 bits; 256x256 8-bit.
    assert metrics.ideal_entropy(512 * 512, 8) == pytest.approx(7.9993, abs=5e-5)
    assert metrics.ideal_entropy(512 * 512, 12) == pytest.approx(11.9888, abs=2e-4)
    assert metrics.ideal_entropy(512 * 512, 16) == pytest.approx(15.808, abs=5e-4)
    assert metrics.ideal_entropy(256 * 256, 8) == pytest.approx(7.9972, abs=5e-5)
    # Two samples of one bit: H is 0 or 1 with probability 1/2 each.
    assert metrics.ideal_entropy(2, 1) == pytest.approx(0.5)
    sample = np.mean([metrics.entropy(np.random.default_rng(s).integers(0, 256, 4096, dtype=np.uint8))
                      for s in range(200)])
    assert sample == pytest.approx(metrics.ideal_entropy(4096, 8), abs=2e-3)
