"""Textured simulated clouds: not a flat colour, in the documented brightness range, covered by the mask, and
as much of the sky as ``cloud_cover`` asks for."""

import numpy as np
import pytest
import torch

from xmodal_lab.data import SimulatedWorld
from xmodal_lab.data.clouds import cloud_fraction, cloud_layers

#: Visible (B2-B4) reflectance of thick cloud tops.
VISIBLE_RANGE = (0.55, 0.95)


@pytest.fixture(scope="module")
def overcast():
    return SimulatedWorld(seed=3, size=32, n_scenes=40, cloud_cover=1.0)


def test_full_cloud_has_texture_in_the_documented_brightness_range(overcast):
    stds, means = [], []
    for i in range(12):
        p = overcast[i]
        assert bool(p["cloud_mask"].all()), "full cover: every pixel is cloud"
        visible = p["s2"][1:4].mean(dim=0)  # B2-B4 [H, W]
        stds.append(float(visible.std()))
        means.append(float(visible.mean()))
        assert VISIBLE_RANGE[0] <= float(visible.min()) and float(visible.max()) <= VISIBLE_RANGE[1]
    assert min(stds) > 0.01, f"cloudy pixels must not be a flat colour (std {min(stds):.4f})"
    assert 0.72 < np.mean(means) < 0.86, f"mean visible cloud reflectance {np.mean(means):.3f}"


def test_clouds_are_brighter_in_the_visible_than_in_the_swir(overcast):
    s2 = torch.stack([overcast[i]["s2"] for i in range(6)])  # [6, 12, H, W]
    band_means = s2.mean(dim=(0, 2, 3))
    assert float(band_means[1:4].min()) > float(band_means[10]) + 0.1 > float(band_means[11]) + 0.1


def test_the_cloud_mask_covers_every_changed_pixel():
    clear = SimulatedWorld(seed=4, size=32, n_scenes=60, cloud_cover=0.0)
    cloudy = SimulatedWorld(seed=4, size=32, n_scenes=60, cloud_cover=0.5)
    partial = 0
    for i in range(30):
        a, b = clear[i], cloudy[i]
        changed = (a["s2"] - b["s2"]).abs().amax(dim=0) > 1e-5
        assert not bool((changed & ~b["cloud_mask"]).any()), f"tile {i}: a pixel changed outside the mask"
        partial += 0 < float(b["cloud_mask"].float().mean()) < 1
    assert partial >= 3, "some tiles should be partly cloudy"


def test_thin_edges_are_translucent():
    x = np.arange(64, dtype=np.float32) * 10.0
    alphas = np.concatenate([cloud_layers(k, x, x, 0.5, [0.7, 0.3, 0.5, 0.2])[0].ravel() for k in range(20)])
    cloudy = alphas[alphas > 0]
    assert ((cloudy > 0.05) & (cloudy < 0.95)).mean() > 0.1, "cloud edges should be partly transparent"
    assert (cloudy == 1).mean() > 0.2, "cloud cores should be opaque"


@pytest.mark.parametrize("cover", [0.2, 0.5, 0.8])
def test_cloudy_fraction_matches_cloud_cover_over_many_tiles(cover):
    # E[u ** a] = 1 / (1 + a) = cover for a = (1 - cover) / cover: checked by quadrature over u
    u = (np.arange(20000) + 0.5) / 20000
    assert np.mean([cloud_fraction(cover, v) for v in u]) == pytest.approx(cover, abs=2e-3)
    rng = np.random.default_rng(0)
    x = np.arange(32, dtype=np.float32) * 10.0
    covered = []
    for k in range(400):
        draws = rng.random(4).tolist()
        covered.append(float((cloud_layers(1000 + k, x, x, cover, draws)[0] > 0).mean()))
    assert np.mean(covered) == pytest.approx(cover, abs=0.07)
