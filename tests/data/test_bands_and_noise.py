"""Band tables and the procedural fields and samplers under the simulated world."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from xmodal_lab.data import S1_BANDS, S2_BANDS, bands, ndvi
from xmodal_lab.data.noise import HashStream, fbm, gamma_speckle, standard_normal, value_noise


def test_band_order_and_tables():
    assert [b.name for b in S2_BANDS] == [
        "B1",
        "B2",
        "B3",
        "B4",
        "B5",
        "B6",
        "B7",
        "B8",
        "B8A",
        "B9",
        "B11",
        "B12",
    ]
    assert [b.name for b in S1_BANDS] == ["VV", "VH"]
    assert [b.gsd for b in S2_BANDS] == [60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 20, 20]
    wavelengths = [b.wavelength_nm for b in S2_BANDS]
    assert wavelengths == sorted(wavelengths)
    s2 = np.zeros((12, 1, 2), np.float32)
    s2[bands.NIR], s2[bands.RED] = 0.4, 0.1
    np.testing.assert_allclose(ndvi(s2), 0.6, rtol=1e-5)


def test_value_noise_is_a_function_of_position():
    x, y = np.arange(64) * 10.0, -np.arange(64) * 10.0
    a = value_noise(5, x, y, 80.0)
    b = value_noise(5, x[16:48], y[8:24], 80.0)  # a sub-grid sees the same values
    np.testing.assert_allclose(a[:, 8:24, 16:48], b, atol=1e-5)
    fine = value_noise(5, np.arange(128) * 5.0, -np.arange(128) * 5.0, 80.0)
    np.testing.assert_allclose(fine[:, ::2, ::2], a, atol=1e-5)  # and so does a finer grid
    many = fbm(9, np.arange(256) * 10.0, -np.arange(256) * 10.0, 60.0, octaves=3, n_fields=4)
    assert abs(float(many.mean())) < 0.1 and 0.85 < float(many.std()) < 1.15
    assert not np.allclose(value_noise(6, x, y, 80.0), a)


def test_gamma_speckle_and_normal_samplers():
    rng = np.random.default_rng(0)
    g = gamma_speckle(rng, 4.4, (200_000,))
    assert (
        g.dtype == np.float32
        and g.mean() == pytest.approx(1.0, abs=0.01)
        and g.var() == pytest.approx(1 / 4.4, rel=0.03)
    )
    assert stats.kstest(g * 4.4, "gamma", args=(4.4,)).pvalue > 0.01
    z = standard_normal(np.random.default_rng(1), (200_000,))
    assert stats.kstest(z, "norm").pvalue > 0.01
    a, b = HashStream(3), HashStream(3)
    assert [a.random() for _ in range(5)] == [b.random() for _ in range(5)]
    u = np.array([HashStream(k).uniform(2, 4) for k in range(2000)])
    assert 2 <= u.min() and u.max() < 4 and abs(u.mean() - 3) < 0.05
