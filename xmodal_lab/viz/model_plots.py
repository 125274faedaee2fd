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
from matplotlib.patches import Patch, Rectangle

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


def _patch_side(mask: np.ndarray, height: int, width: int) -> int:
    """Patch side in pixels of a patch mask tiling ``height x width``."""
    m = np.asarray(mask)
    n = m.size
    for p in range(1, min(height, width) + 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) == n:
            return p
    raise ValueError(f"mask: {n} patches do not tile {height}x{width}")


def denormalise_patches(
    reconstruction: np.ndarray, image: np.ndarray, patch: int, eps: float = 1e-6
) -> np.ndarray:
    """Undo a norm-pix target: ``x = x_hat * sqrt(var_p + eps) + mean_p`` with each patch's own statistics.

    MAE-style models with ``norm_pix_loss`` predict every patch standardised by its own mean and variance
    (per channel); for display those come from the original image.

    Args:
        reconstruction: ``[C, H, W]`` per-patch standardised predictions.
        image: ``[C, H, W]`` the original in physical units.
        patch: patch side in pixels.
        eps: added to the variance, as in the loss.

    Returns:
        ``[C, H, W]`` in the image's units.
    """
    c, h, w = image.shape
    blocks = image.reshape(c, h // patch, patch, w // patch, patch)
    mean = blocks.mean(axis=(2, 4), keepdims=True)
    std = np.sqrt(blocks.var(axis=(2, 4), keepdims=True) + eps)
    rec = reconstruction.reshape(c, h // patch, patch, w // patch, patch)
    return (rec * std + mean).reshape(c, h, w)


def plot_reconstruction(
    image: Any,
    reconstruction: Any,
    mask: Any,
    *,
    modality: str = "s2",
    low: Any = None,
    high: Any = None,
    norm_pix: bool = False,
    mean: Any = None,
    std: Any = None,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    max_rows: int = 4,
    size: float = 2.2,
) -> Figure:
    """A masked autoencoder at work: original, the visible patches, the reconstruction pasted into them.

    Every panel of a row is rendered in one stretch: the fixed display stretch of the modality for physical
    units (reflectance, dB), so colours compare with every other figure. Standardised values (a target in
    z-scores) are mapped back with ``mean``/``std`` when given; otherwise the whole row shares one 2-98 %
    stretch and the title says so. A norm-pix prediction (each patch standardised by its own mean and
    variance) is de-normalised with the original's patch statistics (``norm_pix=True``) before display.

    Args:
        image: ``[B, C, H, W]`` or ``[C, H, W]`` inputs (reflectance or dB, or standardised with ``mean``/``std``).
        reconstruction: the same shape.
        mask: ``[B, L]`` / ``[L]`` or ``[B, h, w]`` patch mask, or ``[B, H, W]`` / ``[H, W]`` pixel mask;
            1 = hidden from the encoder.
        modality: how to render ``C`` channels as RGB, one of ``xmodal_lab.data.composites.RENDERINGS``
            (``"s2"``, ``"s2_false"``, ``"s1"`` ...).
        low: optional low-frequency reconstruction ``[B, C, h, w]`` (``h`` divides ``H``), same units.
        high: optional high-frequency residual ``[B, C, H, W]``, shown as a symmetric grey map.
        norm_pix: the reconstruction is per-patch standardised (MAE ``norm_pix_loss``): de-normalise it.
        mean: per-channel ``[C]`` mean of a standardised image (``x * std + mean`` gives physical units).
        std: per-channel ``[C]`` standard deviation.
        titles: optional row labels.
        title: figure title (for example the GSD); the stretch used is added under it.
        max_rows: rows to draw at most.
        size: inches per panel.

    Returns:
        A figure with one row per image and 4 columns (5 or 6 with ``low`` and ``high``): original,
        visible patches (hidden ones grey), the reconstruction of every patch, and the hidden patches'
        reconstruction pasted into the visible image.
    """
    imgs, recs = to_numpy(image).astype(np.float32), to_numpy(reconstruction).astype(np.float32)
    if imgs.ndim == 3:
        imgs, recs, mask = imgs[None], recs[None], to_numpy(mask)[None]
        low = None if low is None else to_numpy(low)[None]
        high = None if high is None else to_numpy(high)[None]
    if imgs.ndim != 4 or imgs.shape != recs.shape:
        raise ValueError(
            f"image and reconstruction: expected equal [B, C, H, W] shapes, got {imgs.shape} and {recs.shape}"
        )
    if (mean is None) != (std is None):
        raise ValueError("mean and std: give both (per-channel statistics of the standardisation) or neither")
    lows = None if low is None else to_numpy(low).astype(np.float32)
    if mean is not None:
        mu = to_numpy(mean).astype(np.float32).reshape(1, -1, 1, 1)
        sd = to_numpy(std).astype(np.float32).reshape(1, -1, 1, 1)
        imgs = imgs * sd + mu
        if not norm_pix:
            recs = recs * sd + mu
        lows = None if lows is None else lows * sd + mu
    masks = to_numpy(mask)
    n = min(len(imgs), max_rows)
    _, _, h, w = imgs.shape
    physical = mean is not None or not modality.startswith("s2") or float(np.nanmin(imgs[:n])) > -0.05
    stretch = "fixed" if physical else "percentile"
    cols = ["original", "visible patches\n(encoder input)", "reconstruction\n(every patch)",
            "hidden patches reconstructed,\nvisible ones kept"]  # fmt: skip
    if low is not None:
        cols.append("low frequency")
    if high is not None:
        cols.append("high frequency\n(residual, grey = 0)")
    fig, axes = grid(n, len(cols), size)
    for r in range(n):
        hidden = _pixel_mask(masks[r], h, w)
        rec = recs[r]
        if norm_pix:
            rec = denormalise_patches(
                rec, imgs[r], _patch_side(masks[r], h, w) if masks[r].shape != (h, w) else 1
            )
        pasted = np.where(hidden[None], rec, imgs[r])
        strip = [imgs[r], rec, pasted]
        if lows is not None:
            strip.append(upsample_nearest(lows[r], h, w))
        rgb = render(np.concatenate(strip, axis=-1), modality, stretch=stretch)  # one stretch for the row
        parts = np.split(rgb, len(strip), axis=1)
        masked = parts[0].copy()
        masked[hidden] = 128
        panels = [parts[0], masked, parts[1], parts[2]] + ([parts[3]] if lows is not None else [])
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
    how = "fixed display stretch" if physical else "standardised values, one shared 2-98 % stretch per row"
    if norm_pix:
        how += "; norm-pix prediction de-normalised with each patch's mean/std"
    fig.suptitle((f"{title}\n" if title else "") + how, fontsize=10)
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


#: Colours of :func:`plot_mask_pair`: visible in radar only, optical only, both, neither.
MASK_PAIR_COLOURS = {
    "radar only": "#e07b39",
    "optical only": "#3a7dc9",
    "visible in both": "#2ca25f",
    "hidden in both": "#d9d9d9",
}


def plot_mask_pair(
    mask_radar: Any, mask_optical: Any, grid_shape: tuple[int, int], *, title: str | None = None
) -> Figure:
    """Two patch masks (CROMA's independent radar and optical masks) in one key-coded panel.

    Each patch is coloured by who sees it: radar only, optical only, both, or neither. The title gives the
    number of patches visible in both against what independent masks expect,
    ``N * (1 - r_radar) * (1 - r_optical)`` with ``r`` each mask's hidden fraction.

    Args:
        mask_radar: ``[L]`` or ``[1, L]`` (or ``[h, w]``) radar patch mask, 1 = hidden from the encoder.
        mask_optical: the optical mask, same shape.
        grid_shape: ``(h, w)`` of the patch grid, ``h * w = L``.
        title: figure title (default: the counts).

    Returns:
        A figure with one axes (the key as its legend).
    """
    rows, cols = grid_shape
    mr = to_numpy(mask_radar).astype(bool).reshape(-1)
    mo = to_numpy(mask_optical).astype(bool).reshape(-1)
    if mr.size != rows * cols or mo.size != rows * cols:
        raise ValueError(
            f"masks: expected {rows * cols} patches for grid {grid_shape}, got {mr.size} and {mo.size}"
        )
    code = np.select([~mr & mo, mr & ~mo, ~mr & ~mo], [0, 1, 2], 3).reshape(rows, cols)
    fig = new_figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(code, cmap=ListedColormap(list(MASK_PAIR_COLOURS.values())), vmin=-0.5, vmax=3.5,
              interpolation="nearest")  # fmt: skip
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="minor", length=0)
    bare_axes(ax)
    counts = [int((code == i).sum()) for i in range(4)]
    handles = [Patch(facecolor=c, edgecolor="0.4", label=f"{k} ({n})") for (k, c), n in
               zip(MASK_PAIR_COLOURS.items(), counts)]  # fmt: skip
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, title="patch is")
    expected = rows * cols * (1 - mr.mean()) * (1 - mo.mean())
    ax.set_title(
        title or f"visible in both: {counts[2]} patches (independent masks expect {expected:.1f})",
        fontsize=10,
    )
    ax.set_gid("mask_pair")
    return fig


__all__ = [
    "MASK_PAIR_COLOURS",
    "denormalise_patches",
    "plot_bias_maps",
    "plot_mask_pair",
    "plot_masks",
    "plot_reconstruction",
]
