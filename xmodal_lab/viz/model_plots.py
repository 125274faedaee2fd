"""Figures of the models: MAE reconstructions, ALiBi biases, masks with their prompts (SAM, PerSAM, one-shot).

Segmentation results are read by attribute only: ``viz`` does not import ``segment``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from xmodal_lab.viz._common import to_numpy, upsample_nearest
from xmodal_lab.viz.colours import render
from xmodal_lab.viz.figure import colorbar, grid, new_figure, outline, show, suptitle

#: What the title of every figure of an untrained SAM's output says (as ``xmodal_lab.segment``'s).
UNTRAINED_LABEL = "UNTRAINED SAM (random weights, no checkpoint)"
_OVERLAY = ListedColormap([(0, 0, 0, 0), (0.12, 0.56, 1.0, 0.5)])
_POSITIVE = {"marker": "*", "ms": 15, "c": "lime", "mec": "black", "label": "positive point"}
_NEGATIVE = {"marker": "X", "ms": 11, "c": "red", "mec": "white", "label": "negative point"}


def _pixel_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean ``[H, W]`` (True = hidden from the encoder) from a mask of pixels or of square patches."""
    if mask.shape == (height, width):
        return mask.astype(bool)
    p = max(1, round((height * width / mask.size) ** 0.5))  # patch side in pixels
    if height % p or width % p or (height // p) * (width // p) != mask.size:
        raise ValueError(f"mask: expected [H, W] pixels or [L] patches tiling {height}x{width}, got "
                         f"{mask.size}")  # fmt: skip
    return upsample_nearest(mask.reshape(height // p, width // p).astype(bool), height, width)


def plot_reconstruction(
    image: Any, reconstruction: Any, mask: Any, *, low: Any = None, high: Any = None, mean: Any = None,
    std: Any = None, title: str | None = None,
) -> Figure:  # fmt: skip
    """A masked autoencoder at work: original, visible patches, reconstruction, hidden patches pasted in.

    ``image`` and ``reconstruction`` are optical ``[B, 12, H, W]`` reflectance (or standardised with ``mean``/
    ``std`` ``[C]``; without them a row gets a 2-98 % stretch); ``mask`` ``[B, L]`` or ``[B, H, W]``, 1 =
    hidden. ``low`` ``[B, C, h, w]`` and ``high`` ``[B, C, H, W]`` (Scale-MAE's bands) add a column each.
    """
    imgs, recs, masks = (to_numpy(x).astype(np.float32) for x in (image, reconstruction, mask))
    lows = None if low is None else to_numpy(low).astype(np.float32)
    highs = None if high is None else to_numpy(high).astype(np.float64)
    if imgs.ndim != 4 or imgs.shape != recs.shape:
        shapes = f"{imgs.shape} and {recs.shape}"
        raise ValueError(f"image and reconstruction: expected equal [B, C, H, W] shapes, got {shapes}")
    if (mean is None) != (std is None):
        raise ValueError("mean and std: give both (per-channel statistics of the standardisation) or neither")
    if mean is not None:
        mu, sd = (to_numpy(v).astype(np.float32).reshape(1, -1, 1, 1) for v in (mean, std))
        imgs, recs = imgs * sd + mu, recs * sd + mu
        lows = None if lows is None else lows * sd + mu
    n = min(len(imgs), 4)
    _, _, h, w = imgs.shape
    physical = mean is not None or float(np.nanmin(imgs[:n])) > -0.05
    cols = ["original", "visible patches\n(encoder input)", "reconstruction\n(every patch)",
            "hidden patches reconstructed,\nvisible ones kept"]  # fmt: skip
    cols += ["low frequency"] * (lows is not None)
    cols += ["high frequency\n(residual, grey = 0)"] * (highs is not None)
    fig, axes = grid(n, len(cols), 2.2, titles=cols)
    for r in range(n):
        hidden = _pixel_mask(masks[r], h, w)
        strip = [imgs[r], recs[r], np.where(hidden[None], recs[r], imgs[r])]
        if lows is not None:
            strip.append(upsample_nearest(lows[r], h, w))
        rgb = render(np.concatenate(strip, axis=-1), "s2", stretch="fixed" if physical else "percentile")
        original, *rest = np.split(rgb, len(strip), axis=1)  # one stretch for the whole row
        visible = original.copy()
        visible[hidden] = 128
        for ax, panel in zip(axes[r], [original, visible, *rest]):
            show(ax, panel)
        if highs is not None:
            detail = highs[r].mean(axis=0)
            lim = float(np.abs(detail).max()) or 1.0
            show(axes[r, -1], detail, cmap="gray", vmin=-lim, vmax=lim)
    how = "fixed display stretch" if physical else "standardised values, one shared 2-98 % stretch per row"
    fig.suptitle((f"{title}\n" if title else "") + how, fontsize=10)
    return fig


def plot_bias_maps(bias: Any, grid: tuple[int, int], query_patch: int | tuple[int, int]) -> Figure:
    """Attention biases (2D-ALiBi, X-ALiBi) one query patch adds to every key, up to 8 heads on one scale.

    ``bias`` is ``[heads, N, N]`` (or ``[1, heads, N, N]``) over the ``grid`` ``(rows, cols)``, row-major.
    """
    b = to_numpy(bias).astype(np.float64)
    if b.ndim == 4 and b.shape[0] == 1:
        b = b[0]
    rows, cols = grid
    n = rows * cols
    if b.ndim != 3 or b.shape[1:] != (n, n):
        raise ValueError(f"bias: expected [heads, {n}, {n}] for grid {grid}, got shape {b.shape}")
    q = query_patch[0] * cols + query_patch[1] if isinstance(query_patch, Sequence) else int(query_patch)
    if not 0 <= q < n:
        raise ValueError(f"query_patch: expected an index in 0..{n - 1} or a (row, col) inside {grid}, got "
                         f"{query_patch}")  # fmt: skip
    heads = sorted(set(np.linspace(0, b.shape[0] - 1, min(8, b.shape[0])).round().astype(int).tolist()))
    maps = [b[hd, q].reshape(rows, cols) for hd in heads]
    lo, hi = min(m.min() for m in maps), max(m.max() for m in maps)
    fig = new_figure(figsize=(2.0 * len(heads) + 1.0, 2.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(heads)))
    for ax, hd, m in zip(axes, heads, maps):
        im = show(ax, m, f"head {hd}", cmap="magma", vmin=lo, vmax=hi)
        ax.plot(q % cols, q // cols, marker="*", ms=10, c="cyan", mec="k")
    colorbar(fig, im, list(axes), "bias added to the logit", location="right")
    fig.suptitle(f"bias from query patch {q} (star) to every key patch", fontsize=10)
    return fig


def sam_label(result: Any) -> str:
    """The model's name for a title: :data:`UNTRAINED_LABEL`, or e.g. ``"SAM vit_b (checkpoint)"``."""
    untrained = bool(getattr(result, "untrained", False))
    return UNTRAINED_LABEL if untrained else f"SAM {getattr(result, 'model_type', 'unknown')} (checkpoint)"


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
    """SAM's masks (``SamMasks``) of a tile with prompts, titled ``what``; given ``truth``: IoU and area."""
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
