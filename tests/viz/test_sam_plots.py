"""SAM masks over their image with prompts, and their IoU against the truth."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from xmodal_lab.viz.model_plots import plot_sam_masks


def test_plot_sam_masks_reports_iou_and_area_against_the_truth(pairs):
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 8:24, 8:24] = True  # 256 pixels
    masks[1, 0:4, 0:4] = True
    truth = np.zeros((32, 32), bool)
    truth[8:24, 8:16] = True  # 128 pixels inside mask 0
    prompts = {"prompt_points": np.array([[16, 16]]), "prompt_labels": np.array([1]), "prompt_box": None}
    result = SimpleNamespace(masks=masks, scores=np.array([0.9, 0.5]), untrained=True, **prompts)
    fig = plot_sam_masks(pairs[0]["s2"], result, truth=truth)
    assert len(fig.axes) == 3
    title = fig.axes[1].get_title()
    assert "IoU 0.50" in title and "area x2.00" in title and "score 0.90" in title
    assert "IoU 0.00" in fig.axes[2].get_title()
