"""Transforms: statistics, normalisation, GSD rescaling, paired augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.data import (
    BandStats,
    Normalize,
    PairedFlipRotate,
    PairedRandomCrop,
    SimulatedWorld,
    flip_rotate,
    rescale_gsd,
)


@pytest.fixture(scope="module")
def small():
    return SimulatedWorld(seed=2, size=16, n_scenes=12, cloud_cover=0.3)


def test_band_stats_match_numpy(small):
    stats = BandStats.compute(small, n=100)
    s2 = np.stack([small[i]["s2"].numpy() for i in range(12)]).astype(np.float64)
    np.testing.assert_allclose(stats.s2_mean, s2.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(stats.s2_std, s2.std(axis=(0, 2, 3)), rtol=1e-6)
    assert stats.n_pixels == 12 * 16 * 16
    assert stats.to_dict()["s2_mean"] == list(stats.s2_mean)


def test_normalize_standardises_each_band(small):
    stats = BandStats.compute(small, n=12)
    out = [Normalize(stats)(small[i]) for i in range(12)]
    s1 = torch.stack([p["s1"] for p in out]).double()
    assert torch.allclose(s1.mean((0, 2, 3)), torch.zeros(2, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(s1.std((0, 2, 3), unbiased=False), torch.ones(2, dtype=torch.float64), atol=1e-4)


def test_rescale_gsd_is_area_averaging_and_equals_the_world_rendering(small):
    w = SimulatedWorld(seed=0, size=32, n_scenes=4)
    p = w[1]
    q = rescale_gsd(p, 20.0)
    r = w.render(1, gsd=20.0, size=16)
    torch.testing.assert_close(q["s2"], r["s2"], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(q["s1"], r["s1"], atol=1e-4, rtol=0)
    assert torch.equal(q["landcover"], r["landcover"]) and q["transform"] == pytest.approx(r["transform"])
    up = rescale_gsd(q, 10.0)  # finer: bilinear, shapes and transform follow
    assert (
        up["s2"].shape == (12, 32, 32) and up["transform"][0] == 10.0 and up["landcover"].dtype == torch.int64
    )
    with pytest.raises(ValueError, match="cannot be cut"):
        rescale_gsd(w.render(0, size=30), 40.0)


def _pixel_at(pair, x, y, band=0):
    a, b, c, d, e, f = pair["transform"]
    det = a * e - b * d
    col = (e * (x - c) - b * (y - f)) / det
    row = (-d * (x - c) + a * (y - f)) / det
    return float(pair["s2"][band, int(row), int(col)])


@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("flip", [False, True])
def test_flip_rotate_keeps_every_pixel_at_its_map_position(small, k, flip):
    p = small[0]
    q = flip_rotate(p, k, flip)
    a, b, c, d, e, f = p["transform"]
    for r, col in [(0, 0), (3, 11), (15, 2)]:
        x, y = c + a * (col + 0.5), f + e * (r + 0.5)
        assert _pixel_at(q, x, y) == _pixel_at(p, x, y)
    # both sensors and the masks move together
    for key in ("s1", "landcover", "cloud_mask"):
        expected = torch.rot90(p[key], k, (-2, -1))
        assert torch.equal(q[key], torch.flip(expected, (-1,)) if flip else expected)


def test_paired_random_augmentations(small):
    p = small[3]
    g = torch.Generator().manual_seed(1)
    q = PairedRandomCrop(8, generator=g)(PairedFlipRotate(generator=g)(p))
    assert q["s1"].shape == (2, 8, 8) and q["s2"].shape == (12, 8, 8) and q["landcover"].shape == (8, 8)
    # the radar and optical crops come from the same place: find the crop in the rotated original
    a, b, c, d, e, f = q["transform"]
    assert _pixel_at(p, c + 0.5 * a + 0.5 * b, f + 0.5 * d + 0.5 * e) == float(q["s2"][0, 0, 0])
    assert torch.equal(p["s1"], small[3]["s1"])  # the input pair is not modified
    with pytest.raises(ValueError, match="does not fit"):
        PairedRandomCrop(32)(p)
