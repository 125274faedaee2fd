"""The fixed display stretch: the same reflectance or backscatter gets the same 8-bit value everywhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.data import composites as dc
from xmodal_lab.viz import colours, eval_plots


def _true_colour_value(reflectance: float) -> int:
    """Independent reference: reflectance 0-0.3 to 0..1, gamma 1/2.2, to 0..255 (the documented stretch)."""
    return int(round(255 * min(max(reflectance / 0.3, 0.0), 1.0) ** (1 / 2.2)))


def _tile(fill: float, seed: int | None = None, spot: float | None = None) -> np.ndarray:
    """A 12-band tile: uniform ``fill``, or seeded noise, with an optional 4x4 spot of reflectance ``spot``."""
    s2 = np.full((12, 16, 16), fill, np.float32)
    if seed is not None:
        s2 = np.random.default_rng(seed).uniform(0.0, 0.6, size=(12, 16, 16)).astype(np.float32)
    if spot is not None:
        s2[:, :4, :4] = spot
    return s2


def test_documented_constants():
    assert dc.S2_TRUE_COLOR_RANGE == (0.0, 0.3)
    assert dc.S2_FALSE_COLOR_RANGES[0] == (0.0, 0.5)
    assert dc.S2_GAMMA == pytest.approx(1 / 2.2)
    assert dc.VV_RANGE_DB == (-25.0, 0.0) and dc.VH_RANGE_DB[1] == -5.0


def test_same_reflectance_same_value_in_every_tile():
    tiles = [_tile(0.02, spot=0.15), _tile(0.5, spot=0.15), _tile(0.0, seed=3, spot=0.15)]
    want = _true_colour_value(0.15)
    for s2 in tiles:
        rgb = colours.s2_true_colour(s2)
        assert rgb.dtype == np.uint8 and rgb.shape == (16, 16, 3)
        assert (rgb[:4, :4] == want).all(), rgb[0, 0]
    # the per-tile percentile stretch (the old default) gives the same reflectance different values
    spread = {int(colours.s2_true_colour(s2, stretch="percentile")[0, 0, 0]) for s2 in tiles}
    assert len(spread) > 1


def test_uniform_tile_shows_its_true_brightness():
    for value in (0.05, 0.1, 0.2):
        rgb = dc.s2_true_color(np.full((12, 8, 8), value, np.float32))
        assert (rgb == _true_colour_value(value)).all()
        assert 0 < rgb[0, 0, 0] < 255  # neither black nor saturated
    grey = dc.s1_vv(np.full((2, 8, 8), -12.5, np.float32))
    assert (grey == 128).all()  # middle of [-25, 0] dB


def test_full_cloud_is_white_and_water_is_dark():
    cloud = colours.s2_true_colour(np.full((12, 8, 8), 0.8, np.float32))
    water = colours.s2_true_colour(np.full((12, 8, 8), 0.02, np.float32))
    assert (cloud == 255).all()
    assert water.max() == _true_colour_value(0.02) and water.max() < 90
    assert int(cloud.min()) - int(water.max()) > 150


def test_false_colour_ranges_and_nan():
    s2 = np.zeros((12, 4, 4), np.float32)
    s2[7] = 0.25  # NIR: half of 0.5
    s2[3] = 0.15  # red: half of 0.3
    s2[2, 0, 0] = np.nan
    rgb = dc.s2_false_color(s2)
    half = int(round(255 * 0.5 ** (1 / 2.2)))
    assert (rgb[..., 0] == half).all() and (rgb[..., 1] == half).all()
    assert rgb[0, 0, 2] == 0 and rgb[1, 1, 2] == 0


def test_percentile_is_a_named_option_and_bad_arguments_are_named():
    s2 = _tile(0.0, seed=1)
    with pytest.raises(ValueError, match="stretch"):
        dc.s2_true_color(s2, stretch="auto")
    with pytest.raises(ValueError, match="percentile"):
        dc.s2_true_color(s2, 2, 98)  # percentiles given without asking for the percentile stretch
    np.testing.assert_array_equal(
        dc.s2_true_color(s2, stretch="percentile"), dc.s2_true_color(s2, 2, 98, stretch="percentile")
    )
    np.testing.assert_array_equal(dc.to_sam_image({"s2": s2}, "s2"), dc.s2_true_color(s2))


def test_change_pair_shares_the_stretch():
    """Unchanged desert (0.25) keeps its colour although the after image also has a bright new town."""
    before, after = _tile(0.25), _tile(0.25)
    after[:, 8:, 8:] = 0.6
    scores = {"distance": np.zeros((1, 2, 2))}
    fig = eval_plots.plot_change_maps({"s2": before[None]}, {"s2": after[None]}, np.zeros((1, 16, 16)), scores)
    b = fig.axes[0].get_images()[0].get_array()
    a = fig.axes[1].get_images()[0].get_array()
    np.testing.assert_array_equal(b[:8, :8], a[:8, :8])
    assert (b[:8, :8] == _true_colour_value(0.25)).all()


def test_renderings_are_the_segment_anything_composites(pairs):
    s1, s2 = pairs[0]["s1"], pairs[0]["s2"]
    np.testing.assert_array_equal(colours.s2_true_colour(s2), dc.s2_true_color(s2))
    np.testing.assert_array_equal(colours.render(s2, "s2_false"), dc.s2_false_color(s2))
    np.testing.assert_array_equal(colours.render(s1, "s1"), dc.s1_composite(s1))
    np.testing.assert_array_equal(colours.render(s1, "s1_vh"), dc.s1_vh(s1))


def test_render_takes_the_first_image_of_a_batch_and_passes_pictures_through(pairs):
    batch = torch.stack([p["s2"] for p in pairs[:3]])
    rgb = colours.render(batch, "s2")
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, dc.s2_true_color(pairs[0]["s2"]))
    assert colours.render(rgb, "s1") is rgb
    with pytest.raises(ValueError, match="modality: expected one of"):
        colours.render(pairs[0]["s2"], "ndvi")
    with pytest.raises(ValueError, match="s1: expected 2 channels"):
        colours.render(pairs[0]["s2"], "s1")
