"""Figures of Segment Anything, PerSAM and the encoder one-shot segmenter, with their prompts drawn.

Every figure of a SAM result says in its title which model made it: an untrained SAM (no checkpoint)
puts :data:`UNTRAINED_LABEL` (the same words as ``xmodal_lab.segment.UNTRAINED_LABEL``) in the title, so a
reader never mistakes random masks for SAM's. Results are read through their ``untrained`` and
``model_type`` attributes only: like the rest of ``viz``, this module does not import ``segment``. Prompts are drawn where the model saw them: positive points as green stars, negative points as red
crosses, boxes as green rectangles; the true mask, when given, as a dashed yellow outline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from xmodal_lab.viz._common import to_numpy
from xmodal_lab.viz.composites import render
from xmodal_lab.viz.figure import bare_axes, grid, suptitle

#: What the title of every figure of an untrained SAM's output says.
UNTRAINED_LABEL = "UNTRAINED SAM (random weights, no checkpoint)"


def sam_label(result: Any) -> str:
    """The model's label for a figure title, from a result's ``untrained`` and ``model_type`` attributes.

    Args:
        result: a ``SamMasks``, ``PerSamResult``, ``BoundaryStudy``, ``SamSegmenter`` or ``Sam``.

    Returns:
        :data:`UNTRAINED_LABEL` for random weights, else e.g. ``"SAM vit_b (checkpoint)"``.
    """
    if bool(getattr(result, "untrained", False)):
        return UNTRAINED_LABEL
    return f"SAM {getattr(result, 'model_type', 'unknown')} (checkpoint)"


_OVERLAY = ListedColormap([(0, 0, 0, 0), (0.12, 0.56, 1.0, 0.5)])


def draw_prompts(ax: Any, points: Any = None, labels: Any = None, box: Any = None) -> None:
    """Draw SAM prompts on an axis: positive points (green stars), negative (red crosses), boxes.

    Args:
        ax: a matplotlib axis showing the tile in pixel coordinates.
        points: ``[P, 2]`` ``(x, y)`` pixels.
        labels: ``[P]`` 1 positive, 0 negative (default: all positive).
        box: ``[4]`` or ``[K, 4]`` ``(x0, y0, x1, y1)``.
    """
    if points is not None:
        pts = to_numpy(points).reshape(-1, 2)
        lab = np.ones(len(pts)) if labels is None else to_numpy(labels).ravel()
        for (x, y), positive in zip(pts, lab):
            if positive:
                ax.plot(
                    x, y, marker="*", ms=15, c="lime", mec="black", mew=0.8, ls="none", label="positive point"
                )
            else:
                ax.plot(
                    x, y, marker="X", ms=11, c="red", mec="white", mew=0.8, ls="none", label="negative point"
                )
    if box is not None:
        for x0, y0, x1, y1 in to_numpy(box).reshape(-1, 4):
            ax.add_patch(
                Rectangle(
                    (x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=2, label="box prompt"
                )
            )


def _mask_panel(ax: Any, rgb: np.ndarray, mask: np.ndarray, truth: np.ndarray | None, text: str) -> None:
    ax.imshow(rgb)
    ax.imshow(mask.astype(int), cmap=_OVERLAY, vmin=0, vmax=1, interpolation="nearest")
    if mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors="dodgerblue", linewidths=1.2)
    if truth is not None:
        if truth.any() and not truth.all():
            ax.contour(truth.astype(float), levels=[0.5], colors="yellow", linewidths=1.2, linestyles="--")
        inter, union = (mask & truth).sum(), (mask | truth).sum()
        text += f"\nIoU {inter / max(union, 1):.2f}, area x{mask.sum() / max(truth.sum(), 1):.2f} of truth"
    ax.set_title(text, fontsize=8)


def _truth(truth: Any, shape: tuple[int, int]) -> np.ndarray | None:
    if truth is None:
        return None
    t = to_numpy(truth).astype(bool)
    if t.shape != shape:
        raise ValueError(f"truth: expected a mask of shape {shape}, got {t.shape}")
    return t


def plot_sam_masks(
    image: Any,
    result: Any,
    *,
    modality: str = "s2",
    what: str = "SAM masks",
    truth: Any = None,
    max_masks: int = 3,
    size: float = 3.0,
) -> Figure:
    """SAM's masks for one tile, with the prompts that produced them and the model named in the title.

    Args:
        image: the tile ``[C, H, W]`` (rendered per ``modality``) or an ``[H, W, 3]`` uint8 picture.
        result: a ``SamMasks`` (its ``masks``, ``scores``, ``prompt_points``, ``prompt_labels``,
            ``prompt_box`` and ``untrained``).
        modality: a rendering of ``xmodal_lab.data.composites.RENDERINGS`` (``"s2"``, ``"s1"``, ...).
        what: what the figure shows, e.g. ``"point prompt, optical"``; the model's label is appended.
        truth: ``[H, W]`` true mask, drawn dashed; the panels then give IoU and area ratio.
        max_masks: panels of masks at most.
        size: inches per panel.

    Returns:
        A figure: the tile with its prompts, then one panel per mask with SAM's own score.
    """
    rgb = render(image, modality)
    masks = to_numpy(result.masks).astype(bool)
    if masks.ndim != 3 or masks.shape[1:] != rgb.shape[:2]:
        raise ValueError(f"result.masks: expected [M, {rgb.shape[0]}, {rgb.shape[1]}], got {masks.shape}")
    masks = masks[:max_masks]
    t = _truth(truth, rgb.shape[:2])
    fig, axes = grid(1, 1 + len(masks), size)
    axes = axes[0]
    axes[0].imshow(rgb)
    draw_prompts(axes[0], result.prompt_points, result.prompt_labels, result.prompt_box)
    if getattr(result, "points", None) is not None and result.prompt_points is None:
        draw_prompts(axes[0], result.points)  # automatic masks: the grid points that produced them
    axes[0].set_title("tile and prompts", fontsize=9)
    scores = to_numpy(result.scores)
    for i, (ax, mask) in enumerate(zip(axes[1:], masks)):
        _mask_panel(ax, rgb, mask, t, f"mask {i}, SAM's own score {scores[i]:.2f}")
    for ax in axes:
        bare_axes(ax)
    suptitle(fig, f"{what}: {sam_label(result)}")
    return fig


def plot_persam(
    image: Any,
    result: Any,
    *,
    modality: str = "s2",
    truth: Any = None,
    size: float = 3.0,
) -> Figure:
    """PerSAM on one target tile: the location-confidence map, the points it picked, and the final mask.

    Args:
        image: the target tile ``[C, H, W]`` or ``[H, W, 3]`` uint8.
        result: a ``PerSamResult`` (``confidence``, ``points``: positive then negative, ``mask``, ``untrained``).
        modality: how to render the tile.
        truth: ``[H, W]`` true mask, drawn dashed.
        size: inches per panel.

    Returns:
        A figure with three panels and a colour bar for the cosine confidence.
    """
    rgb = render(image, modality)
    t = _truth(truth, rgb.shape[:2])
    fig, axes = grid(1, 3, size)
    axes = axes[0]
    axes[0].imshow(rgb)
    axes[0].set_title("target tile", fontsize=9)
    im = axes[1].imshow(to_numpy(result.confidence), cmap="magma")
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04, label="cosine similarity to target")
    draw_prompts(axes[1], result.points, [1, 0])
    axes[1].set_title("confidence S and the points\npicked from it (max +, min -)", fontsize=8)
    _mask_panel(axes[2], rgb, np.asarray(result.mask, bool), t, f"final mask, score {result.score:.2f}")
    draw_prompts(axes[2], result.points, [1, 0])
    for ax in axes:
        bare_axes(ax)
    suptitle(fig, f"PerSAM one-shot: {sam_label(result)}")
    return fig


def plot_one_shot(
    image: Any,
    result: Any,
    index: int = 0,
    *,
    modality: str = "s2",
    truth: Any = None,
    baseline: Any = None,
    what: str = "encoder one-shot",
    size: float = 3.0,
) -> Figure:
    """The kit's encoder one-shot segmenter on one target tile (no SAM involved), next to a baseline mask.

    Args:
        image: the target tiles ``[B, C, H, W]`` or one tile ``[C, H, W]`` (for rendering).
        result: a ``OneShotResult`` (``confidence``, ``masks``, ``positive_points``, ``negative_points``).
        index: which target of the result to show.
        modality: how to render the tile.
        truth: ``[H, W]`` true mask of that target.
        baseline: ``[H, W]`` mask of a baseline (e.g. the band threshold) on the same tile.
        what: what the figure shows (the title also says no SAM is involved).
        size: inches per panel.

    Returns:
        A figure: confidence with the extreme points, the one-shot mask, the baseline mask (if given).
    """
    img = to_numpy(image)
    img = img[index] if img.ndim == 4 else img
    rgb = render(img, modality)
    t = _truth(truth, rgb.shape[:2])
    panels = 3 if baseline is not None else 2
    fig, axes = grid(1, panels, size)
    axes = axes[0]
    conf = to_numpy(result.confidence)[index]
    im = axes[0].imshow(conf, cmap="magma")
    fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.04, label="confidence")
    pts = np.stack([to_numpy(result.positive_points)[index], to_numpy(result.negative_points)[index]])
    draw_prompts(axes[0], pts, [1, 0])
    axes[0].set_title(f"confidence (threshold {result.threshold:.2f})\nmax +, min -", fontsize=8)
    _mask_panel(axes[1], rgb, to_numpy(result.masks)[index].astype(bool), t, "one-shot mask")
    if baseline is not None:
        _mask_panel(axes[2], rgb, to_numpy(baseline).astype(bool), t, "band-threshold baseline")
    for ax in axes:
        bare_axes(ax)
    suptitle(fig, f"{what} (kit encoder features, no SAM), target {index}")
    return fig


def plot_boundary_study(
    tiles: Any, study: Any, *, modality: str = "s2", max_panels: int = 4, size: float = 3.0
) -> Figure:
    """SAM's own masks from the boundary study, with the box and point it got and the true object.

    Args:
        tiles: the tiles of the study, indexable by ``study.per_object[k]["tile"]``.
        study: a ``BoundaryStudy``.
        modality: how to render the tiles.
        max_panels: objects shown at most.
        size: inches per panel.

    Returns:
        A figure with one panel per object; the title gives the pooled area ratio and the model.
    """
    n = min(max_panels, len(study.per_object))
    fig, axes = grid(1, n, size)
    for k, ax in enumerate(axes[0]):
        row = study.per_object[k]
        rgb = render(tiles[row["tile"]], modality)
        _mask_panel(
            ax, rgb, study.masks[k], study.truth[k], f"object {k}, boundary F {row['boundary_f']:.2f}"
        )
        draw_prompts(ax, study.points[k], [1], study.boxes[k])
        bare_axes(ax)
    suptitle(
        fig,
        f"SAM's own masks from box + point prompts (area x{study.area_ratio:.2f} of truth): {sam_label(study)}",
    )
    return fig


__all__ = [
    "UNTRAINED_LABEL",
    "sam_label",
    "draw_prompts",
    "plot_boundary_study",
    "plot_one_shot",
    "plot_persam",
    "plot_sam_masks",
]
