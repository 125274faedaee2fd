"""Figures of the dense tasks: one panel per image, mask and prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.viz import plot_change_maps, plot_segmentation


def test_plot_segmentation_panels():
    batch = {"s1": torch.randn(3, 2, 16, 16) - 12, "s2": torch.rand(3, 12, 16, 16) * 0.3,
             "mask": torch.randint(-1, 2, (3, 16, 16))}  # fmt: skip
    fig = plot_segmentation(
        batch, {"pretrained": batch["mask"].clamp_min(0), "random": torch.zeros(3, 16, 16)}
    )
    assert len(fig.axes) == 3 * 5 and fig.axes[4].get_title() == "random"
    with pytest.raises(KeyError, match="mask"):
        plot_segmentation({"s1": batch["s1"]}, {})


def test_plot_change_maps_panels():
    before = {"s2": torch.rand(2, 12, 16, 16) * 0.3}
    after = {"s2": torch.rand(2, 12, 16, 16) * 0.3}
    fig = plot_change_maps(
        before, after, torch.zeros(2, 16, 16, dtype=torch.bool), {"pixel": torch.rand(2, 16, 16)}
    )
    assert len(fig.axes) == 2 * 4 + 1  # panels and the score's colour bar
    assert fig.axes[2].get_title().startswith("true change mask")
    assert fig.axes[3].get_title() == "pixel" and fig.axes[-1].get_xlabel() == "pixel"
    # both dates share the fixed stretch: equal reflectance, equal pixels
    same = {"s2": torch.full((2, 12, 16, 16), 0.2)}
    fig = plot_change_maps(same, same, torch.zeros(2, 16, 16, dtype=torch.bool), {"d": torch.rand(2, 4, 4)})
    np.testing.assert_array_equal(
        fig.axes[0].get_images()[0].get_array(), fig.axes[1].get_images()[0].get_array()
    )
