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
    """Before, after, the true change mask and each detector's score map, one row per place.

    Both dates use the same fixed display stretch, so unchanged ground keeps its colour. The true mask is
    drawn in black and white (white: changed); each score column has its own colour bar, titled with the
    name given in ``scores`` (say what the score is, e.g. ``"embedding distance"``).

    Args:
        before: pair batch of the first date.
        after: pair batch of the second date.
        truth: bool ``[B, H, W]`` change masks.
        scores: ``{name: [B, h, w]}`` change scores (any grid; each column has its own colour scale).
        max_items: rows at most.
        modality: which image to show for the dates (``"s1"`` or ``"s2"``).
        title: figure title.

    Returns:
        The figure.
    """
    render = s1_composite if modality == "s1" else s2_true_colour
    truth = to_numpy(truth)
    n = min(truth.shape[0], max_items)
    image_name = "S1 VV/VH/ratio" if modality == "s1" else "S2 true colour"
    cols = [f"before\n({image_name})", "after\n(same fixed stretch)", "true change mask\n(white: changed)",
            *scores]  # fmt: skip
    fig, axes = grid(n, len(cols), size=1.9)
    score_arrays = [to_numpy(s).astype(np.float64) for s in scores.values()]
    for i in range(n):
        panels: Sequence[Any] = [render(before[modality][i]), render(after[modality][i]), truth[i].astype(float),
                                 *(s[i] for s in score_arrays)]  # fmt: skip
        for j, (ax, img) in enumerate(zip(axes[i], panels)):
            if j < 2:
                ax.imshow(img)
            elif j == 2:
                ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                s = score_arrays[j - 3][:n]
                ax.imshow(img, cmap="magma", interpolation="nearest", vmin=float(np.nanmin(s)),
                          vmax=float(np.nanmax(s)))  # fmt: skip
            bare_axes(ax)
            if i == 0:
                ax.set_title(cols[j], fontsize=9)
    for j, name in enumerate(scores, start=3):  # one colour bar per score column, shared by its rows
        fig.colorbar(axes[0, j].get_images()[0], ax=list(axes[:, j]), location="bottom", shrink=0.9,
                     label=name)  # fmt: skip
    suptitle(fig, title)
    return fig
