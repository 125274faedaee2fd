"""Figures of the downstream dense tasks: predicted masks next to the truth, change-score maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from xmodal_lab.viz._common import to_numpy
from xmodal_lab.viz.composites import s1_composite, s2_true_colour
from xmodal_lab.viz.figure import bare_axes, grid, suptitle

#: Land (sand), water (blue), no data (grey).
_MASK_CMAP = ListedColormap(["#d9c9a3", "#2b6cb0", "#9e9e9e"])


def _mask_image(mask: Any) -> np.ndarray:
    m = to_numpy(mask).astype(np.int64)
    return np.where(m < 0, 2, np.clip(m, 0, 1))


def plot_segmentation(
    batch: Mapping[str, Any],
    predictions: Mapping[str, Any],
    *,
    max_items: int = 4,
    title: str | None = None,
) -> Figure:
    """Radar, optical, true mask and each model's predicted mask, one row per scene.

    Args:
        batch: a pair batch with ``s1`` ``[B, 2, H, W]``, ``s2`` ``[B, 12, H, W]`` and ``mask`` ``[B, H, W]``
            (1 water, 0 land, -1 no data).
        predictions: ``{name: [B, H, W]}`` class ids per model.
        max_items: rows at most.
        title: figure title.

    Returns:
        The figure (``rows x (3 + len(predictions))`` panels).
    """
    if "mask" not in batch:
        raise KeyError("plot_segmentation: the batch has no 'mask'")
    n = min(int(to_numpy(batch["mask"]).shape[0]), max_items)
    cols = ["radar (VV, VH)", "optical", "truth", *predictions]
    fig, axes = grid(n, len(cols), size=1.9)
    for i in range(n):
        panels = [s1_composite(batch["s1"][i]) if "s1" in batch else None,
                  s2_true_colour(batch["s2"][i]) if "s2" in batch else None,
                  _mask_image(batch["mask"][i]),
                  *(_mask_image(to_numpy(p)[i]) for p in predictions.values())]  # fmt: skip
        for j, (ax, img) in enumerate(zip(axes[i], panels)):
            if img is not None:
                ax.imshow(img, **({} if j < 2 else {"cmap": _MASK_CMAP, "vmin": 0, "vmax": 2,
                                                     "interpolation": "nearest"}))  # fmt: skip
            bare_axes(ax)
            if i == 0:
                ax.set_title(cols[j], fontsize=9)
    suptitle(fig, title)
    return fig


def plot_change_maps(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    truth: Any,
    scores: Mapping[str, Any],
    *,
    max_items: int = 4,
    modality: str = "s2",
    title: str | None = None,
) -> Figure:
    """Before, after, the true change and each detector's score map, one row per place.

    Args:
        before: pair batch of the first date.
        after: pair batch of the second date.
        truth: bool ``[B, H, W]`` change masks.
        scores: ``{name: [B, h, w]}`` change scores (any grid; each panel has its own colour scale).
        max_items: rows at most.
        modality: which image to show for the dates (``"s1"`` or ``"s2"``).
        title: figure title.

    Returns:
        The figure.
    """
    render = s1_composite if modality == "s1" else s2_true_colour
    truth = to_numpy(truth)
    n = min(truth.shape[0], max_items)
    cols = ["before", "after", "true change", *scores]
    fig, axes = grid(n, len(cols), size=1.9)
    for i in range(n):
        panels: Sequence[Any] = [render(before[modality][i]), render(after[modality][i]), truth[i].astype(float),
                                 *(to_numpy(s)[i] for s in scores.values())]  # fmt: skip
        for j, (ax, img) in enumerate(zip(axes[i], panels)):
            ax.imshow(img, **({} if j < 2 else {"cmap": "magma", "interpolation": "nearest"}))
            bare_axes(ax)
            if i == 0:
                ax.set_title(cols[j], fontsize=9)
    suptitle(fig, title)
    return fig
