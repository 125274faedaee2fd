"""Figures of the models' internals: MAE reconstructions and ALiBi attention biases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from xmodal_lab.viz._common import to_numpy, upsample_nearest
from xmodal_lab.viz.colours import render
from xmodal_lab.viz.figure import colorbar, grid, new_figure, show


def _pixel_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean ``[H, W]`` (True = hidden from the encoder) from a mask of pixels or of square patches."""
    if mask.shape == (height, width):
        return mask.astype(bool)
    p = max(1, round((height * width / mask.size) ** 0.5))  # patch side in pixels
    if height % p or width % p or (height // p) * (width // p) != mask.size:
        raise ValueError(
            f"mask: expected [H, W] pixels or [L] patches tiling {height}x{width}, got {mask.size}"
        )
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
