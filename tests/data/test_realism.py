"""Realism statistics against independent references: ramps, white noise, cosines, Gamma speckle, SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from xmodal_lab.data import realism as R


def test_mean_abs_gradient_of_a_ramp_is_its_slope():
    rows = np.arange(16, dtype=float)[:, None] * np.ones((1, 16))
    tiles = np.stack([np.stack([0.5 * rows, -2.0 * rows])] * 3)  # [3, 2, 16, 16]
    np.testing.assert_allclose(R.mean_abs_gradient(tiles), [0.5, 2.0])


def test_mean_abs_gradient_of_white_noise_matches_the_half_normal_mean():
    sigma = 2.0
    x = np.random.default_rng(0).normal(0, sigma, (64, 1, 32, 32))
    # the difference of two independent N(0, s^2) is N(0, 2 s^2); E|N(0, v)| = sqrt(2 v / pi)
    assert R.mean_abs_gradient(x)[0] == pytest.approx(np.sqrt(2 * 2 * sigma**2 / np.pi), rel=0.02)


def test_power_spectrum_of_white_noise_is_flat_at_the_variance():
    x = np.random.default_rng(1).normal(0, 3.0, (64, 1, 32, 32))
    f, p = R.radial_power_spectrum(x)
    assert f.shape == (16,) and p.shape == (1, 16)
    np.testing.assert_allclose(p[0, 2:], 9.0, rtol=0.15)  # E |FFT|^2 / N = variance at every frequency
    assert abs(R.spectral_slope(x)[0]) < 0.2


def test_power_spectrum_peaks_at_a_cosine_frequency():
    n = 32
    i = np.arange(n)
    cos = np.cos(2 * np.pi * 4 * i / n)[None, :] * np.ones((n, 1))  # 4 cycles over 32 px: 0.125 cycles/px
    f, p = R.radial_power_spectrum(cos[None, None])
    assert abs(f[np.argmax(p[0])] - 0.125) <= 0.5 / 16


def test_smooth_fields_have_steeper_spectra_than_white_noise():
    from scipy.ndimage import gaussian_filter

    x = np.random.default_rng(2).normal(size=(16, 1, 32, 32))
    smooth = gaussian_filter(x, sigma=(0, 0, 2, 2), mode="wrap")
    assert R.spectral_slope(smooth)[0] < -2.0


@pytest.mark.parametrize("looks", [1.0, 4.4, 10.0])
def test_enl_of_gamma_speckle_on_a_uniform_surface_is_the_number_of_looks(looks):
    rng = np.random.default_rng(3)
    intensity = 0.05 * rng.gamma(looks, 1.0 / looks, (32, 2, 32, 32))  # sigma0 -13 dB times speckle
    enl = R.equivalent_number_of_looks(10 * np.log10(intensity))
    np.testing.assert_allclose(enl, looks, rtol=0.12)


def test_texture_lowers_the_enl():
    rng = np.random.default_rng(4)
    texture = np.exp(rng.normal(0, 0.5, (32, 1, 32, 32)))
    speckled = texture * rng.gamma(4.4, 1 / 4.4, texture.shape)
    assert R.equivalent_number_of_looks(10 * np.log10(speckled))[0] < 0.6 * 4.4


def test_quantile_distance_matches_scipy_wasserstein():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.7, 2, 5000)
    assert R.quantile_distance(a, b, n_quantiles=2001) == pytest.approx(wasserstein_distance(a, b), rel=0.02)
    assert R.quantile_distance(a, a + 1.5) == pytest.approx(1.5, abs=1e-9)
    assert R.quantile_distance(a, a) == 0.0


def test_cross_statistics_of_radar_built_from_ndvi():
    rng = np.random.default_rng(6)
    red = rng.uniform(0.02, 0.1, (4, 16, 16))
    nir = rng.uniform(0.2, 0.5, (4, 16, 16))
    s2 = np.full((4, 12, 16, 16), 0.1)
    s2[:, 3], s2[:, 7] = red, nir
    ndvi = (nir - red) / (nir + red)
    s1 = np.stack([-10 + 0 * ndvi, -25 + 10 * ndvi], axis=1)
    s1[:, 0] += rng.normal(0, 1, (4, 16, 16))
    out = R.cross_statistics(s1, s2)
    assert out["corr(VH,NDVI)"] == pytest.approx(1.0, abs=1e-9)
    assert out["VV-VH dB"] == pytest.approx(float((s1[:, 0] - s1[:, 1]).mean()))
    assert abs(out["corr(VV,VH)"]) < 0.2


def test_domain_classifier_is_at_chance_on_one_domain_and_perfect_on_two():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(200, 10)), rng.normal(size=(200, 10))
    assert 0.38 < R.domain_classifier_accuracy(a, b) < 0.62
    assert R.domain_classifier_accuracy(a, b + 1.5) > 0.95


def test_tile_features_shape():
    rng = np.random.default_rng(8)
    s1, s2 = rng.normal(-12, 2, (5, 2, 16, 16)), rng.uniform(0.01, 0.5, (5, 12, 16, 16))
    assert R.tile_features(s1, s2).shape == (5, 57)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: R.mean_abs_gradient(np.full((1, 2, 4, 4), np.nan)), "NaN"),
        (lambda: R.mean_abs_gradient(np.zeros((2, 4, 4))), "4 dimensions"),
        (lambda: R.radial_power_spectrum(np.zeros((1, 1, 8, 6))), "square"),
        (lambda: R.equivalent_number_of_looks(np.zeros((1, 2, 4, 4)), window=8), "smaller than window"),
        (lambda: R.cross_statistics(np.zeros((2, 2, 8, 8)), np.ones((3, 12, 8, 8))), "not the same tiles"),
        (lambda: R.domain_classifier_accuracy(np.zeros((3, 4)), np.zeros((3, 4))), "at least 5"),
        (lambda: R.stack_tiles([], "s1"), "at least one"),
    ],
)
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_speckle_autocorrelation_of_independent_speckle_is_zero():
    rng = np.random.default_rng(11)
    intensity = 0.05 * rng.gamma(4.4, 1 / 4.4, (256, 256))
    for lag in (1, 2, 3):
        assert abs(R.speckle_autocorrelation(10 * np.log10(intensity), lag)) < 0.03


@pytest.mark.parametrize("sigma", [0.7, 0.93, 1.3])
def test_speckle_autocorrelation_of_gaussian_correlated_speckle_follows_exp_lag2_over_4sigma2(sigma):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(12)
    white = rng.normal(0.0, 1.0, (512, 512))
    # multiplicative speckle 1 + 0.15 g, g white noise blurred by a Gaussian: its correlation is exp(-l^2/4s^2)
    g = gaussian_filter(white, sigma, mode="wrap")
    intensity = 0.05 * (1.0 + 0.15 * g / g.std())
    db = 10 * np.log10(intensity)
    for lag in (1, 2, 3):
        want = np.exp(-(lag**2) / (4 * sigma**2))
        # a wide local mean leaves the correlation intact; the default 15 px one removes a little of it
        assert R.speckle_autocorrelation(db, lag, window=41) == pytest.approx(want, abs=0.03)
        assert want - 0.1 < R.speckle_autocorrelation(db, lag) <= want + 0.03


def test_speckle_autocorrelation_rejects_bad_input():
    with pytest.raises(ValueError, match="lag"):
        R.speckle_autocorrelation(np.zeros((8, 8)), 8)
    with pytest.raises(ValueError, match="dimensions"):
        R.speckle_autocorrelation(np.zeros((2, 8, 8)), 1)
    with pytest.raises(ValueError, match="window"):
        R.speckle_autocorrelation(np.zeros((8, 8)), 1, window=4)
