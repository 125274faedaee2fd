"""The static imagery fallback: one place's S2 and S1 on a metric grid, with co-registration checks."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal_lab.data.composites import s2_true_color
from xmodal_lab.viz.place_plots import plot_coregistration


def _place(size: int = 32) -> dict:
    s2 = np.full((12, size, size), 0.12, np.float32)
    s1 = np.full((2, size, size), -8.0, np.float32)
    s2[:, :, : size // 2] = 0.02  # water on the left: dark in both sensors
    s1[:, :, : size // 2] = -24.0
    return {"s1": s1, "s2": s2, "gsd": 20.0}


def test_metric_axes_scale_bar_and_checkerboard():
    place = _place()
    fig = plot_coregistration(place, checker=8)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 4
    assert all(ax.get_images()[0].get_extent() == [0.0, 640.0, 0.0, 640.0] for ax in panels)
    bars = [a for a in panels[0].artists if a.get_gid() == "scale_bar"]
    assert len(bars) == 1
    board = panels[3].get_images()[0].get_array()
    rgb = s2_true_color(place["s2"])
    np.testing.assert_array_equal(board[:8, :8], rgb[:8, :8])  # block (0, 0): optical
    grey = round((-8 + 25) / 25 * 255)
    assert (board[:8, 24:32] == grey).all()  # block (0, 3): radar VV on land
    assert "blocks of 160 m" in panels[3].get_title()
    assert "-15.0 dB" in panels[2].get_title()  # water-land boundary lies between -24 and -8 dB
    assert "0.64 x 0.64 km at 20 m" in fig._suptitle.get_text()


def test_contour_level_falls_back_to_the_median_and_errors_are_named():
    place = _place()
    place["s1"][0] = np.linspace(-5, -1, 32)[None, :]  # never crosses -15 dB
    fig = plot_coregistration(place)
    assert "-3.0 dB" in [ax for ax in fig.axes if ax.get_images()][2].get_title()
    with pytest.raises(ValueError, match="same grid"):
        plot_coregistration(s1=place["s1"], s2=place["s2"][:, :16])
    with pytest.raises(ValueError, match="give a pair"):
        plot_coregistration(s1=place["s1"])
