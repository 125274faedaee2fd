"""Figures of the models' internals: MAE reconstructions, ALiBi attention biases, segmentation masks.

Every function returns a :class:`matplotlib.figure.Figure` that a notebook shows exactly once (see
:mod:`xmodal_lab.viz.figure`). Inputs may be tensors or arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from xmodal_lab.viz._common import to_numpy, upsample_nearest
from xmodal_lab.viz.composites import render
from xmodal_lab.viz.figure import bare_axes, grid, new_figure, suptitle


def _pixel_mask(mask: Any, height: int, width: int) -> np.ndarray:
    """A boolean ``[H, W]`` mask (True = hidden from the encoder) from a patch or pixel mask."""
    m = to_numpy(mask)
    if m.shape == (height, width):
        return m.astype(bool)
    m = m.ravel()
    for p in range(1, min(height, width) + 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) == m.size:
            return upsample_nearest(m.reshape(height // p, width // p).astype(bool), height, width)
    raise ValueError(
        f"mask: expected [H, W] pixels or [L] patches tiling {height}x{width}, got {m.size} values"
    )


def plot_reconstruction(
    image: Any,
    reconstruction: Any,
    mask: Any,
    *,
    modality: str = "s2",
    low: Any = None,
    high: Any = None,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    max_rows: int = 4,
    size: float = 2.2,
) -> Figure:
    """A masked autoencoder at work: original, what the encoder saw, the reconstruction, both combined.

    Original and reconstruction are rendered side by side in one stretch, so their colours compare. For
    Scale-MAE, ``low`` and ``high`` add the low-frequency (coarse) and high-frequency (detail) parts.

    Args:
        image: ``[B, C, H, W]`` or ``[C, H, W]`` inputs (reflectance or dB).
        reconstruction: the same shape.
        mask: ``[B, L]`` / ``[L]`` or ``[B, h, w]`` patch mask, or ``[B, H, W]`` / ``[H, W]`` pixel mask;
            1 = hidden from the encoder.
        modality: how to render ``C`` channels as RGB, one of ``xmodal_lab.data.composites.RENDERINGS`` (``"s2"``,
            ``"s2_false"``, ``"s1"`` ...).
        low: optional low-frequency reconstruction ``[B, C, h, w]`` (``h`` divides ``H``).
        high: optional high-frequency residual ``[B, C, H, W]``, shown as a symmetric grey map.
        titles: optional row labels.
        title: figure title (for example the GSD).
        max_rows: rows to draw at most.
        size: inches per panel.

    Returns:
        A figure with one row per image and 4 columns (5 or 6 with ``low`` and ``high``).
    """
    imgs, recs = to_numpy(image), to_numpy(reconstruction)
    if imgs.ndim == 3:
        imgs, recs, mask = imgs[None], recs[None], to_numpy(mask)[None]
        low = None if low is None else to_numpy(low)[None]
        high = None if high is None else to_numpy(high)[None]
    if imgs.ndim != 4 or imgs.shape != recs.shape:
        raise ValueError(
            f"image and reconstruction: expected equal [B, C, H, W] shapes, got {imgs.shape} and {recs.shape}"
        )
    masks = to_numpy(mask)
    n = min(len(imgs), max_rows)
    cols = ["original", "masked input", "reconstruction", "reconstruction\n+ visible patches"]
    if low is not None:
        cols.append("low frequency")
    if high is not None:
        cols.append("high frequency")
    fig, axes = grid(n, len(cols), size)
    _, _, h, w = imgs.shape
    for r in range(n):
        hidden = _pixel_mask(masks[r], h, w)
        pasted = np.where(hidden[None], recs[r], imgs[r])
        strip = [imgs[r], recs[r], pasted]
        if low is not None:
            strip.append(upsample_nearest(to_numpy(low[r]).astype(np.float32), h, w))
        rgb = render(np.concatenate(strip, axis=-1).astype(np.float32), modality)  # one shared stretch
        parts = np.split(rgb, len(strip), axis=1)
        masked = parts[0].copy()
        masked[hidden] = 128
        panels = [parts[0], masked, parts[1], parts[2]] + ([parts[3]] if low is not None else [])
        for c, panel in enumerate(panels):
            axes[r, c].imshow(panel)
        if high is not None:
            detail = to_numpy(high[r]).astype(np.float64).mean(axis=0)
            lim = float(np.abs(detail).max()) or 1.0
            axes[r, -1].imshow(detail, cmap="gray", vmin=-lim, vmax=lim)
        for ax in axes[r]:
            bare_axes(ax)
        if titles is not None:
            axes[r, 0].set_ylabel(titles[r], fontsize=8)
    for ax, col in zip(axes[0], cols):
        ax.set_title(col, fontsize=9)
    suptitle(fig, title)
    return fig


def plot_bias_maps(
    bias: Any,
    grid: tuple[int, int],
    query_patch: int | tuple[int, int],
    *,
    heads: Sequence[int] | None = None,
    title: str | None = None,
    size: float = 2.0,
) -> Figure:
    """Attention biases (2D-ALiBi, X-ALiBi) that one query patch adds to every key patch, one panel per head.

    All heads share one colour scale: heads with a gentle slope look far, steep ones only look next door.

    Args:
        bias: ``[heads, N, N]`` or ``[1, heads, N, N]`` additive biases, ``N = rows * cols`` in row-major order.
        grid: ``(rows, cols)`` of the patch grid.
        query_patch: the query's patch index, or its ``(row, col)``.
        heads: which heads to show (default: all, at most 8, evenly chosen).
        title: figure title.
        size: inches per panel.

    Returns:
        A figure with one axes per shown head plus a colour bar.
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
        raise ValueError(
            f"query_patch: expected an index in 0..{n - 1} or a (row, col) inside {grid}, got {query_patch}"
        )
    if heads is None:
        heads = sorted(set(np.linspace(0, b.shape[0] - 1, min(8, b.shape[0])).round().astype(int).tolist()))
    maps = [b[hd, q].reshape(rows, cols) for hd in heads]
    lo, hi = min(m.min() for m in maps), max(m.max() for m in maps)
    fig = new_figure(figsize=(size * len(heads) + 1.0, size + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(heads)))
    for ax, hd, m in zip(axes, heads, maps):
        im = ax.imshow(m, cmap="magma", vmin=lo, vmax=hi)
        ax.plot(q % cols, q // cols, marker="*", ms=10, c="cyan", mec="k")
        ax.set_title(f"head {hd}", fontsize=9)
        bare_axes(ax)
    fig.colorbar(im, ax=list(axes), label="bias added to the logit", shrink=0.85)
    fig.suptitle(title or f"bias from query patch {q} (star) to every key patch", fontsize=10)
    return fig


def plot_masks(
    image: Any,
    masks: Any,
    *,
    modality: str = "s2",
    scores: Sequence[float] | None = None,
    points: Any = None,
    point_labels: Any = None,
    boxes: Any = None,
    reference: Any = None,
    max_masks: int = 3,
    title: str | None = None,
    size: float = 3.0,
) -> Figure:
    """Segmentation masks over their image, one panel each, with the prompts and an optional reference.

    With a ``reference`` (ground-truth) mask each panel gives the IoU and the area ratio mask/reference, the
    number that shows how much a model overestimates boundaries.

    Args:
        image: ``[C, H, W]`` values rendered per ``modality``, or an ``[H, W, 3]`` uint8 picture.
        masks: ``[M, H, W]`` or ``[H, W]`` booleans, or a Segment Anything result (its ``masks`` and
            ``scores``).
        modality: a rendering of ``xmodal_lab.data.composites.RENDERINGS`` (``"s2"``, ``"s2_false"``, ``"s1"``, ...).
        scores: one score per mask (e.g. SAM's predicted IoU), shown in the titles.
        points: ``[P, 2]`` prompt points as ``(x, y)`` pixels.
        point_labels: ``[P]`` 1 for foreground, 0 for background points.
        boxes: ``[4]`` or ``[B, 4]`` prompt boxes as ``(x0, y0, x1, y1)``.
        reference: ``[H, W]`` ground-truth mask, drawn as a dashed outline.
        max_masks: panels of masks at most.
        title: figure title.
        size: inches per panel.

    Returns:
        A figure with ``1 + min(M, max_masks)`` axes: the image with prompts, then one per mask.
    """
    if hasattr(masks, "masks"):  # a result of xmodal_lab.segment (SamMasks): its masks and scores
        scores = getattr(masks, "scores", None) if scores is None else scores
        masks = masks.masks
    rgb = render(image, modality)
    m = to_numpy(masks).astype(bool)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[1:] != rgb.shape[:2]:
        raise ValueError(f"masks: expected [M, {rgb.shape[0]}, {rgb.shape[1]}] booleans, got shape {m.shape}")
    m = m[:max_masks]
    ref = None if reference is None else to_numpy(reference).astype(bool)
    fig, axes = grid(1, 1 + len(m), size)
    axes = axes[0]
    axes[0].imshow(rgb)
    axes[0].set_title("image and prompts", fontsize=9)
    if points is not None:
        pts = to_numpy(points).reshape(-1, 2)
        lab = np.ones(len(pts)) if point_labels is None else to_numpy(point_labels).ravel()
        for (x, y), fg in zip(pts, lab):
            axes[0].plot(x, y, marker="*", ms=14, c="lime" if fg else "red", mec="white")
    if boxes is not None:
        for x0, y0, x1, y1 in to_numpy(boxes).reshape(-1, 4):
            axes[0].add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="lime", lw=2))
    overlay = ListedColormap([(0, 0, 0, 0), (0.12, 0.56, 1.0, 0.5)])
    for i, (ax, mk) in enumerate(zip(axes[1:], m)):
        ax.imshow(rgb)
        ax.imshow(mk.astype(int), cmap=overlay, vmin=0, vmax=1, interpolation="nearest")
        if mk.any() and not mk.all():
            ax.contour(mk.astype(float), levels=[0.5], colors="dodgerblue", linewidths=1.2)
        text = f"mask {i}" + (f"  score {scores[i]:.2f}" if scores is not None else "")
        if ref is not None:
            if ref.shape != mk.shape:
                raise ValueError(f"reference: expected shape {mk.shape}, got {ref.shape}")
            if ref.any() and not ref.all():
                ax.contour(ref.astype(float), levels=[0.5], colors="yellow", linewidths=1.2, linestyles="--")
            iou = (mk & ref).sum() / max((mk | ref).sum(), 1)
            text += f"\nIoU {iou:.2f}  area x{mk.sum() / max(ref.sum(), 1):.2f} of reference"
        ax.set_title(text, fontsize=8)
    for ax in axes:
        bare_axes(ax)
    suptitle(fig, title)
    return fig


__all__ = ["plot_bias_maps", "plot_masks", "plot_reconstruction"]
