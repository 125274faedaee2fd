"""Figures of masks with their prompts: Segment Anything (its model named in the title), PerSAM, one-shot.

Results are read by attribute only: ``viz`` does not import ``segment``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from xmodal_lab.viz._common import to_numpy
from xmodal_lab.viz.colours import render
from xmodal_lab.viz.figure import colorbar, grid, outline, show, suptitle

#: What the title of every figure of an untrained SAM's output says (as ``xmodal_lab.segment``'s).
UNTRAINED_LABEL = "UNTRAINED SAM (random weights, no checkpoint)"
_OVERLAY = ListedColormap([(0, 0, 0, 0), (0.12, 0.56, 1.0, 0.5)])
_POSITIVE = {"marker": "*", "ms": 15, "c": "lime", "mec": "black", "label": "positive point"}
_NEGATIVE = {"marker": "X", "ms": 11, "c": "red", "mec": "white", "label": "negative point"}


def sam_label(result: Any) -> str:
    """The model's name for a title: :data:`UNTRAINED_LABEL`, or e.g. ``"SAM vit_b (checkpoint)"``."""
    if bool(getattr(result, "untrained", False)):
        return UNTRAINED_LABEL
    return f"SAM {getattr(result, 'model_type', 'unknown')} (checkpoint)"


def draw_prompts(ax: Any, points: Any = None, labels: Any = None, box: Any = None) -> None:
    """Draw ``[P, 2]`` ``(x, y)`` points (``labels`` 1 positive, 0 negative) and ``[K, 4]`` pixel boxes."""
    if points is not None:
        pts = to_numpy(points).reshape(-1, 2)
        lab = np.ones(len(pts)) if labels is None else to_numpy(labels).ravel()
        for (x, y), positive in zip(pts, lab):
            ax.plot(x, y, mew=0.8, ls="none", **(_POSITIVE if positive else _NEGATIVE))
    if box is not None:
        for x0, y0, x1, y1 in to_numpy(box).reshape(-1, 4):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=2,
                                   label="box prompt"))  # fmt: skip


def _mask_panel(ax: Any, rgb: np.ndarray, mask: Any, truth: Any, text: str):
    """The image with a mask in blue; against a true mask (dashed), IoU and area ratio in the title."""
    mask = to_numpy(mask).astype(bool)
    show(ax, rgb)
    ax.imshow(mask.astype(int), cmap=_OVERLAY, vmin=0, vmax=1, interpolation="nearest")
    outline(ax, mask, "dodgerblue")
    if truth is not None:
        truth = to_numpy(truth).astype(bool)
        if truth.shape != mask.shape:
            raise ValueError(f"truth: expected a mask of shape {mask.shape}, got {truth.shape}")
        outline(ax, truth, "yellow", dashed=True)
        iou = (mask & truth).sum() / max((mask | truth).sum(), 1)
        text += f"\nIoU {iou:.2f}, area x{mask.sum() / max(truth.sum(), 1):.2f} of truth"
    ax.set_title(text, fontsize=8)


def plot_sam_masks(image: Any, result: Any, *, modality="s2", what="SAM masks", truth: Any = None) -> Figure:
    """SAM's masks (a ``SamMasks``) for one tile with their prompts; ``what`` the figure shows titles it.

    Against ``truth`` ``[H, W]`` panels give IoU and area ratio (how much a model overestimates boundaries).
    """
    rgb = render(image, modality)
    masks, scores = to_numpy(result.masks).astype(bool), to_numpy(result.scores)
    if masks.ndim != 3 or masks.shape[1:] != rgb.shape[:2]:
        h, w = rgb.shape[:2]
        raise ValueError(f"masks: expected [M, {h}, {w}] booleans, got shape {masks.shape}")
    fig, axes = grid(1, 1 + min(len(masks), 3), 3.0)
    show(axes[0, 0], rgb, "tile and prompts")
    draw_prompts(axes[0, 0], result.prompt_points, result.prompt_labels, result.prompt_box)
    if getattr(result, "points", None) is not None and result.prompt_points is None:
        draw_prompts(axes[0, 0], result.points)  # automatic masks: the grid points that produced them
    for i, ax in enumerate(axes[0, 1:]):
        _mask_panel(ax, rgb, masks[i], truth, f"mask {i}, SAM's own score {scores[i]:.2f}")
    suptitle(fig, f"{what}: {sam_label(result)}")
    return fig


def _confidence_panel(fig, ax, confidence: Any, points: Any, label: str, title: str) -> None:
    im = show(ax, to_numpy(confidence), title, 8, cmap="magma")
    colorbar(fig, im, ax, label, location="right", fraction=0.046, pad=0.04, shrink=1.0)
    draw_prompts(ax, points, [1, 0])


def plot_persam(image: Any, result: Any, *, truth: Any = None) -> Figure:
    """PerSAM (a ``PerSamResult``) on a target tile: its confidence map, the points picked, the final mask."""
    rgb = render(image, "s2")
    fig, [axes] = grid(1, 3, 3.0)
    show(axes[0], rgb, "target tile")
    _confidence_panel(fig, axes[1], result.confidence, result.points, "cosine similarity to target",
                      "confidence S and the points\npicked from it (max +, min -)")  # fmt: skip
    _mask_panel(axes[2], rgb, result.mask, truth, f"final mask, score {result.score:.2f}")
    draw_prompts(axes[2], result.points, [1, 0])
    suptitle(fig, f"PerSAM one-shot: {sam_label(result)}")
    return fig


def plot_one_shot(
    image, result: Any, index: int = 0, *, truth: Any = None, baseline: Any = None, what="encoder one-shot"
) -> Figure:
    """The encoder one-shot segmenter's ``OneShotResult`` on target ``index``, ``[H, W]`` truth, baseline."""
    img = to_numpy(image)
    rgb = render(img[index] if img.ndim == 4 else img, "s2")
    fig, [axes] = grid(1, 2 + (baseline is not None), 3.0)
    points = np.stack([to_numpy(result.positive_points)[index], to_numpy(result.negative_points)[index]])
    _confidence_panel(fig, axes[0], to_numpy(result.confidence)[index], points, "confidence",
                      f"confidence (threshold {result.threshold:.2f})\nmax +, min -")  # fmt: skip
    _mask_panel(axes[1], rgb, to_numpy(result.masks)[index], truth, "one-shot mask")
    if baseline is not None:
        _mask_panel(axes[2], rgb, to_numpy(baseline), truth, "band-threshold baseline")
    suptitle(fig, f"{what} (kit encoder features, no SAM), target {index}")
    return fig


def plot_boundary_study(tiles: Any, study: Any) -> Figure:
    """SAM's own masks from a ``BoundaryStudy`` of ``tiles``, with the box and point it got and the truth."""
    fig, axes = grid(1, min(4, len(study.per_object)), 3.0)
    for k, ax in enumerate(axes[0]):
        row = study.per_object[k]
        text = f"object {k}, boundary F {row['boundary_f']:.2f}"
        _mask_panel(ax, render(tiles[row["tile"]], "s2"), study.masks[k], study.truth[k], text)
        draw_prompts(ax, study.points[k], [1], study.boxes[k])
    area = f"area x{study.area_ratio:.2f} of truth"
    suptitle(fig, f"SAM's own masks from box + point prompts ({area}): {sam_label(study)}")
    return fig
