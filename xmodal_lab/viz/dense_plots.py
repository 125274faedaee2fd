"""Figures of dense outputs: predicted masks next to the truth, and change between two dates.

Both dates share one fixed display stretch, so unchanged ground keeps its colour; white marks true change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from xmodal_lab.viz._common import scalar, to_numpy, upsample_nearest
from xmodal_lab.viz.colours import RENDER_NAMES, render
from xmodal_lab.viz.figure import colorbar, grid, outline, show, suptitle

#: Land (sand), water (blue), no data (grey).
_MASK_CMAP = ListedColormap(["#d9c9a3", "#2b6cb0", "#9e9e9e"])
_BINARY = {"cmap": "gray", "vmin": 0, "vmax": 1, "interpolation": "nearest"}


def _mask_image(mask: Any) -> np.ndarray:
    m = to_numpy(mask).astype(np.int64)
    return np.where(m < 0, 2, np.clip(m, 0, 1))


def plot_segmentation(
    batch: Mapping[str, Any], predictions: Mapping[str, Any], *, max_items: int = 4, title: str | None = None
) -> Figure:
    """Radar, optical, true mask and each model's predicted mask, one row per scene.

    ``batch`` holds ``s1``, ``s2`` and ``mask`` ``[B, H, W]`` (1 water, 0 land, -1 no data);
    ``predictions`` is ``{name: [B, H, W]}``.
    """
    if "mask" not in batch:
        raise KeyError("plot_segmentation: the batch has no 'mask'")
    n = min(int(to_numpy(batch["mask"]).shape[0]), max_items)
    cols = ["radar (VV, VH)", "optical", "truth", *predictions]
    fig, axes = grid(n, len(cols), size=1.9)
    masks = {"cmap": _MASK_CMAP, "vmin": 0, "vmax": 2, "interpolation": "nearest"}
    for i, row in enumerate(axes):
        heads = cols if i == 0 else [None] * len(cols)
        show(row[0], render(batch["s1"][i], "s1") if "s1" in batch else None, heads[0])
        show(row[1], render(batch["s2"][i], "s2") if "s2" in batch else None, heads[1])
        show(row[2], _mask_image(batch["mask"][i]), heads[2], **masks)
        for ax, head, p in zip(row[3:], heads[3:], predictions.values()):
            show(ax, _mask_image(to_numpy(p)[i]), head, **masks)
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
    """Before, after, the true change mask ``[B, H, W]`` and each detector's score map, one row per place.

    ``scores`` is ``{name: [B, h, w]}`` on any grid; each column gets a colour bar labelled with its name,
    so the name should say what the score is (``"embedding distance"``).
    """
    truth = to_numpy(truth)
    n = min(truth.shape[0], max_items)
    cols = [f"before\n({RENDER_NAMES.get(modality, modality)})", "after\n(same fixed stretch)",
            "true change mask\n(white: changed)", *scores]  # fmt: skip
    fig, axes = grid(n, len(cols), size=1.9)
    score_arrays = [to_numpy(s).astype(np.float64) for s in scores.values()]
    for i, row in enumerate(axes):
        heads = cols if i == 0 else [None] * len(cols)
        show(row[0], render(before[modality][i], modality), heads[0])
        show(row[1], render(after[modality][i], modality), heads[1])
        show(row[2], truth[i].astype(float), heads[2], **_BINARY)
        for ax, head, s in zip(row[3:], heads[3:], score_arrays):
            lo, hi = float(np.nanmin(s[:n])), float(np.nanmax(s[:n]))  # one scale per column
            show(ax, s[i], head, cmap="magma", interpolation="nearest", vmin=lo, vmax=hi)
    for j, name in enumerate(scores, start=3):
        colorbar(fig, axes[0, j].get_images()[0], list(axes[:, j]), name, shrink=0.9)
    suptitle(fig, title)
    return fig


def plot_change(
    before: Any,
    after: Any,
    distance_map: Any,
    *,
    modality: str = "s2",
    threshold: float | None = None,
    truth: Any = None,
    distance_label: str = "embedding distance",
    title: str | None = None,
    size: float = 3.0,
) -> Figure:
    """Change at one place: both dates, the ``[h, w]`` distance map (``gid="distance"``), the true mask.

    ``before`` and ``after`` are ``[C, H, W]`` images or pair dicts (their ``modality`` image and ``date``).
    A boolean distance map is drawn as the mask it is; ``threshold`` adds a panel outlining where the
    distance exceeds it on the later image.
    """
    images, dates = [], []
    for x in (before, after):
        date = ""
        if isinstance(x, Mapping):
            date = str(scalar(x.get("date", "")))[:10]
            x = x["s1" if modality.startswith("s1") else "s2"]
        images.append(render(x, modality))
        dates.append(date)
    if images[0].shape != images[1].shape:
        raise ValueError(
            f"before and after: expected the same size, got {images[0].shape} and {images[1].shape}"
        )
    raw = to_numpy(distance_map)
    d = raw.astype(np.float64)
    if d.ndim != 2:
        raise ValueError(f"distance_map: expected [h, w], got shape {d.shape}")
    t = None if truth is None else to_numpy(truth).astype(bool)
    if t is not None and t.ndim != 2:
        raise ValueError(f"truth: expected an [H, W] change mask, got shape {t.shape}")
    h, w = images[0].shape[:2]
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)  # any grid drawn over the image's pixels
    fig, axes = grid(1, 3 + (threshold is not None) + (t is not None), size)
    axes = list(axes[0])
    name = RENDER_NAMES.get(modality, modality)
    for label, img, date in zip(("before", "after"), images, dates):
        show(axes.pop(0), img, f"{label} {date}".strip() + f"\n{name}, one fixed stretch")
    if t is not None:
        show(axes.pop(0), t, f"true change mask ({t.mean():.0%} changed)", extent=extent, **_BINARY)
    ax = axes.pop(0)
    ax.set_gid("distance")
    if raw.dtype == bool:
        show(ax, d, "given map is a 0/1 mask, not a distance", extent=extent, **_BINARY)
    else:
        im = show(ax, d, f"{distance_label}\n({d.shape[0]} x {d.shape[1]} cells)", cmap="magma", extent=extent,
                  interpolation="nearest")  # fmt: skip
        colorbar(fig, im, ax, distance_label, location="right", shrink=0.8)
    if threshold is not None:
        changed = upsample_nearest(d[None], h, w)[0] > threshold
        show(axes[0], images[1], f"after, red: distance > {threshold:g}\n({changed.mean():.0%} of the area)")
        outline(axes[0], changed, "red", width=1.5)
    suptitle(fig, title)
    return fig
