"""Figures of the models' internals: MAE reconstructions, ALiBi attention biases, CROMA's two patch masks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from xmodal_lab.viz._common import to_numpy, upsample_nearest
from xmodal_lab.viz.colours import render
from xmodal_lab.viz.figure import colorbar, figure_axes, grid, new_figure, show

#: Colours of :func:`plot_mask_pair`.
MASK_PAIR_COLOURS = {
    "radar only": "#e07b39",
    "optical only": "#3a7dc9",
    "visible in both": "#2ca25f",
    "hidden in both": "#d9d9d9",
}


def _patch_side(n: int, height: int, width: int) -> int:
    """Side in pixels of the square patches of which ``n`` tile ``height x width``."""
    for p in range(1, min(height, width) + 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) == n:
            return p
    raise ValueError(f"mask: expected [H, W] pixels or [L] patches tiling {height}x{width}, got {n} values")


def _pixel_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean ``[H, W]`` (True = hidden from the encoder) from a patch or pixel mask."""
    if mask.shape == (height, width):
        return mask.astype(bool)
    p = _patch_side(mask.size, height, width)
    return upsample_nearest(mask.reshape(height // p, width // p).astype(bool), height, width)


def denormalise_patches(
    reconstruction: np.ndarray, image: np.ndarray, patch: int, eps: float = 1e-6
) -> np.ndarray:
    """Undo MAE's norm-pix target, ``x = x_hat * sqrt(var_p + eps) + mean_p``, with ``image``'s patch stats.

    Both are ``[C, H, W]``; ``patch`` is the patch side in pixels.
    """
    c, h, w = image.shape
    blocks = image.reshape(c, h // patch, patch, w // patch, patch)
    mean = blocks.mean(axis=(2, 4), keepdims=True)
    std = np.sqrt(blocks.var(axis=(2, 4), keepdims=True) + eps)
    return (reconstruction.reshape(blocks.shape) * std + mean).reshape(c, h, w)


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
    title: str | None = None,
    size: float = 2.2,
) -> Figure:
    """A masked autoencoder at work: original, visible patches, reconstruction, hidden patches pasted in.

    ``image`` and ``reconstruction`` are ``[B, C, H, W]`` in physical units, or standardised with per-channel
    ``mean``/``std`` ``[C]``; ``mask`` is ``[B, L]`` per patch or ``[B, H, W]`` per pixel, 1 = hidden. A
    row shares the modality's fixed display stretch (a 2-98 % one when standardised without ``mean``/``std``).
    ``norm_pix`` marks a per-patch standardised prediction (MAE ``norm_pix_loss``); ``low`` ``[B, C, h, w]``
    and ``high`` ``[B, C, H, W]`` (Scale-MAE's two bands) add a column each.
    """
    imgs, recs, masks = (to_numpy(x).astype(np.float32) for x in (image, reconstruction, mask))
    lows = None if low is None else to_numpy(low).astype(np.float32)
    highs = None if high is None else to_numpy(high).astype(np.float64)
    if imgs.ndim != 4 or imgs.shape != recs.shape:
        raise ValueError(
            f"image and reconstruction: expected equal [B, C, H, W] shapes, got {imgs.shape} and {recs.shape}"
        )
    if (mean is None) != (std is None):
        raise ValueError("mean and std: give both (per-channel statistics of the standardisation) or neither")
    if mean is not None:
        mu = to_numpy(mean).astype(np.float32).reshape(1, -1, 1, 1)
        sd = to_numpy(std).astype(np.float32).reshape(1, -1, 1, 1)
        imgs = imgs * sd + mu
        recs = recs if norm_pix else recs * sd + mu
        lows = None if lows is None else lows * sd + mu
    n = min(len(imgs), 4)
    _, _, h, w = imgs.shape
    physical = mean is not None or not modality.startswith("s2") or float(np.nanmin(imgs[:n])) > -0.05
    cols = ["original", "visible patches\n(encoder input)", "reconstruction\n(every patch)",
            "hidden patches reconstructed,\nvisible ones kept"]  # fmt: skip
    cols += ["low frequency"] * (lows is not None) + ["high frequency\n(residual, grey = 0)"] * (
        highs is not None
    )
    fig, axes = grid(n, len(cols), size)
    for r in range(n):
        hidden = _pixel_mask(masks[r], h, w)
        rec = recs[r]
        if norm_pix:
            patch = 1 if masks[r].shape == (h, w) else _patch_side(masks[r].size, h, w)
            rec = denormalise_patches(rec, imgs[r], patch)
        strip = [imgs[r], rec, np.where(hidden[None], rec, imgs[r])]
        if lows is not None:
            strip.append(upsample_nearest(lows[r], h, w))
        rgb = render(np.concatenate(strip, axis=-1), modality, stretch="fixed" if physical else "percentile")
        original, *rest = np.split(rgb, len(strip), axis=1)  # one stretch for the whole row
        visible = original.copy()
        visible[hidden] = 128
        heads = cols if r == 0 else [None] * len(cols)
        for ax, panel, head in zip(axes[r], [original, visible, *rest], heads):
            show(ax, panel, head)
        if highs is not None:
            detail = highs[r].mean(axis=0)
            lim = float(np.abs(detail).max()) or 1.0
            show(axes[r, -1], detail, heads[-1], cmap="gray", vmin=-lim, vmax=lim)
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

    ``bias`` is ``[heads, N, N]`` (or ``[1, heads, N, N]``) over the ``grid`` ``(rows, cols)`` in row-major
    order; at most 8 ``heads`` are shown by default. All share one colour scale: heads with a gentle slope
    look far, steep ones only next door.
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
        im = show(ax, m, f"head {hd}", cmap="magma", vmin=lo, vmax=hi)
        ax.plot(q % cols, q // cols, marker="*", ms=10, c="cyan", mec="k")
    colorbar(fig, im, list(axes), "bias added to the logit", location="right")
    fig.suptitle(title or f"bias from query patch {q} (star) to every key patch", fontsize=10)
    return fig


def plot_mask_pair(
    mask_radar: Any, mask_optical: Any, grid_shape: tuple[int, int], *, title: str | None = None
) -> Figure:
    """CROMA's independent radar and optical patch masks (``[L]``, 1 = hidden), coloured by who sees each patch.

    The title compares the patches visible in both with what independent masks expect,
    ``N * (1 - r_radar) * (1 - r_optical)`` with ``r`` each mask's hidden fraction.
    """
    rows, cols = grid_shape
    mr = to_numpy(mask_radar).astype(bool).reshape(-1)
    mo = to_numpy(mask_optical).astype(bool).reshape(-1)
    if mr.size != rows * cols or mo.size != rows * cols:
        raise ValueError(
            f"masks: expected {rows * cols} patches for grid {grid_shape}, got {mr.size} and {mo.size}"
        )
    code = np.select([~mr & mo, mr & ~mo, ~mr & ~mo], [0, 1, 2], 3).reshape(rows, cols)
    fig, ax = figure_axes(figsize=(5.6, 3.6))
    counts = [int((code == i).sum()) for i in range(4)]
    expected = rows * cols * (1 - mr.mean()) * (1 - mo.mean())
    show(ax, code, title or f"visible in both: {counts[2]} patches (independent masks expect {expected:.1f})", 10,
         cmap=ListedColormap(list(MASK_PAIR_COLOURS.values())), vmin=-0.5, vmax=3.5, interpolation="nearest")  # fmt: skip
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="minor", length=0)
    handles = [Patch(facecolor=c, edgecolor="0.4", label=f"{k} ({n})")
               for (k, c), n in zip(MASK_PAIR_COLOURS.items(), counts)]  # fmt: skip
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, title="patch is")
    ax.set_gid("mask_pair")
    return fig
