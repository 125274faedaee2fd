"""Figures of dense outputs: predicted masks next to the truth, and change between two dates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from xmodal_lab.viz._common import to_numpy
from xmodal_lab.viz.colours import render
from xmodal_lab.viz.figure import colorbar, grid, show, suptitle

#: Land (sand), water (blue), no data (grey).
_MASK_CMAP = ListedColormap(["#d9c9a3", "#2b6cb0", "#9e9e9e"])


def _mask_image(mask: Any) -> np.ndarray:
    m = to_numpy(mask).astype(np.int64)
    return np.where(m < 0, 2, np.clip(m, 0, 1))


def plot_segmentation(batch: Mapping, predictions: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Radar, optical, true ``mask`` ``[B, H, W]`` (1 water, 0 land, -1 no data), each model's prediction."""
    if "mask" not in batch:
        raise KeyError("plot_segmentation: the batch has no 'mask'")
    n = min(int(to_numpy(batch["mask"]).shape[0]), 4)
    heads = ["radar (VV, VH)", "optical", "truth", *predictions]
    fig, axes = grid(n, len(heads), size=1.9, titles=heads)
    masks = {"cmap": _MASK_CMAP, "vmin": 0, "vmax": 2, "interpolation": "nearest"}
    for i, row in enumerate(axes):
        show(row[0], render(batch["s1"][i], "s1") if "s1" in batch else None)
        show(row[1], render(batch["s2"][i], "s2") if "s2" in batch else None)
        show(row[2], _mask_image(batch["mask"][i]), **masks)
        for ax, p in zip(row[3:], predictions.values()):
            show(ax, _mask_image(to_numpy(p)[i]), **masks)
    suptitle(fig, title)
    return fig


def plot_change_maps(before: Mapping, after: Mapping, truth: Any, scores: Mapping, *, title=None) -> Figure:
    """Before, after (one stretch), the true change ``[B, H, W]`` and each score map ``{name: [B, h, w]}``.

    Each score column's colour bar is labelled with its name, so the name should say what the score is.
    """
    truth = to_numpy(truth)
    n = min(truth.shape[0], 4)
    heads = ["before\n(S2 true colour)", "after\n(same fixed stretch)", "true change mask\n(white: changed)"]
    fig, axes = grid(n, 3 + len(scores), size=1.9, titles=heads + list(scores))
    score_arrays = [to_numpy(s).astype(np.float64) for s in scores.values()]
    for i, row in enumerate(axes):
        show(row[0], render(before["s2"][i], "s2"))
        show(row[1], render(after["s2"][i], "s2"))
        show(row[2], truth[i].astype(float), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for ax, s in zip(row[3:], score_arrays):
            lo, hi = float(np.nanmin(s[:n])), float(np.nanmax(s[:n]))  # one scale per column
            show(ax, s[i], cmap="magma", interpolation="nearest", vmin=lo, vmax=hi)
    for j, name in enumerate(scores, start=3):
        colorbar(fig, axes[0, j].get_images()[0], list(axes[:, j]), name, shrink=0.9)
    suptitle(fig, title)
    return fig
