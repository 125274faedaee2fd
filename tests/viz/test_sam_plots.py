"""Masks over their image with prompts, and their IoU against a reference."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from xmodal_lab.viz.sam_plots import plot_masks


def test_plot_masks_reports_iou_and_area_against_reference(pairs):
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 8:24, 8:24] = True  # 256 pixels
    masks[1, 0:4, 0:4] = True
    reference = np.zeros((32, 32), bool)
    reference[8:24, 8:16] = True  # 128 pixels inside mask 0
    fig = plot_masks(pairs[0]["s2"], masks, scores=[0.9, 0.5], points=[[16, 16]], reference=reference)
    assert len(fig.axes) == 3
    assert "IoU 0.50" in fig.axes[1].get_title() and "area x2.00" in fig.axes[1].get_title()
    assert "score 0.90" in fig.axes[1].get_title()
    result = SimpleNamespace(masks=masks, scores=np.array([0.7, 0.2]))  # what xmodal_lab.segment returns
    titles = [ax.get_title() for ax in plot_masks(pairs[0]["s2"], result).axes[1:]]
    assert titles == ["mask 0  score 0.70", "mask 1  score 0.20"]
