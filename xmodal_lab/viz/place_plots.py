"""One place seen by both sensors on a metric grid: the static fallback of the maps, and co-registration.

:func:`plot_coregistration` draws one place's Sentinel-2 and Sentinel-1 images on axes in metres (with a
scale bar), then two ways of checking that they are co-registered: the radar's VV contours over the optical
image, and a checkerboard that alternates blocks of the two (edges continue across blocks when the images
line up). All panels use the kit's fixed display stretches (:mod:`xmodal_lab.data.composites`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from xmodal_lab.data.composites import VV_RANGE_DB, db_to_uint8
from xmodal_lab.viz._common import first_image, scalar, to_numpy
from xmodal_lab.viz.composites import s2_true_colour
from xmodal_lab.viz.figure import new_figure, suptitle

#: VV level (dB) of the default contour: between open water (about -18 to -22 dB, higher when wind roughens
#: the sea) and land (above about -13 dB) in the kit's simulated coasts.
VV_CONTOUR_DB = -15.0


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 times a power of ten) near a quarter of ``span_m``."""
    target = max(span_m / 4.0, 1e-9)
    power = 10 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def _scale_bar(ax: Any, length_m: float, height_m: float) -> None:
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    bar = AnchoredSizeBar(ax.transData, length_m, label, "lower left", pad=0.4, color="white", frameon=False,
                          size_vertical=height_m, fontproperties={"size": 8})  # fmt: skip
    bar.set_gid("scale_bar")
    ax.add_artist(bar)


def _grid_of(pair: Mapping | None, gsd: float | None, crs: str | None) -> tuple[float, str | None, tuple]:
    """Pixel size, CRS and the upper-left corner ``(x, y)`` in metres (``(0, 0)`` without a transform)."""
    if pair is not None and pair.get("transform") is not None:
        a, _, c, _, _, f = (float(v) for v in to_numpy(pair["transform"]).ravel()[:6])
        return abs(a), str(scalar(pair.get("crs"))) if pair.get("crs") else crs, (c, f)
    if gsd is None and pair is not None and pair.get("gsd") is not None:
        gsd = float(scalar(pair["gsd"]))
    return float(gsd or 10.0), crs, (0.0, 0.0)


def plot_coregistration(
    pair: Any = None,
    *,
    s1: Any = None,
    s2: Any = None,
    gsd: float | None = None,
    crs: str | None = None,
    vv_contour: float = VV_CONTOUR_DB,
    checker: int | None = None,
    title: str | None = None,
    size: float = 3.4,
) -> Figure:
    """One place's S2 and S1 on a metric grid, S1 VV contours over S2, and an S2 / S1 checkerboard.

    Args:
        pair: a pair dict (``s1`` ``[2, H, W]`` dB, ``s2`` ``[12, H, W]`` reflectance, and ``transform`` /
            ``crs`` or ``gsd``); or None with ``s1`` and ``s2`` given.
        s1: radar ``[2, H, W]`` in dB (instead of ``pair``).
        s2: optical ``[12, H, W]`` reflectance (instead of ``pair``).
        gsd: metres per pixel when there is no transform (default: the pair's ``gsd``, else 10).
        crs: the CRS named in the axis labels.
        vv_contour: VV level in dB of the contour, drawn on VV averaged over a small box (speckle would
            outline single pixels); when the image never crosses it, its median VV is used (the title gives
            the level and the box).
        checker: checkerboard block side in pixels (default: an eighth of the image).
        title: figure title.
        size: inches per panel.

    Returns:
        A figure with 4 image axes in metres (the scale bar has ``gid="scale_bar"``) and a dB colour bar.
    """
    if pair is not None:
        s1 = pair["s1"] if s1 is None else s1
        s2 = pair["s2"] if s2 is None else s2
    if s1 is None or s2 is None:
        raise ValueError("plot_coregistration: give a pair dict, or both s1 [2, H, W] and s2 [12, H, W]")
    a1, a2 = first_image(s1, 2, "s1"), first_image(s2, 12, "s2")
    if a1.shape[1:] != a2.shape[1:]:
        raise ValueError(f"s1 and s2: expected the same grid, got {a1.shape[1:]} and {a2.shape[1:]}")
    h, w = a2.shape[1:]
    res, crs, (x0, y0) = _grid_of(pair if isinstance(pair, Mapping) else None, gsd, crs)
    extent = (0.0, w * res, 0.0, h * res)  # metres from the lower-left corner
    rgb = s2_true_colour(a2)
    vv = a1[0]
    finite = vv[np.isfinite(vv)]
    level = vv_contour
    if finite.size and not finite.min() < vv_contour < finite.max():
        level = float(np.median(finite))
    fig = new_figure(figsize=(4 * size + 0.8, size + 0.9), layout="constrained")
    axes = fig.subplots(1, 4)
    axes[0].imshow(rgb, extent=extent)
    axes[0].set_title("S2 true colour\n(reflectance 0-0.3)", fontsize=9)
    im = axes[1].imshow(vv, cmap="gray", vmin=VV_RANGE_DB[0], vmax=VV_RANGE_DB[1], extent=extent)
    axes[1].set_title("S1 VV backscatter", fontsize=9)
    fig.colorbar(im, ax=axes[1], location="bottom", shrink=0.8, label="VV (dB)")
    axes[2].imshow(rgb, extent=extent)
    from scipy.ndimage import uniform_filter

    box = max(3, int(round(min(h, w) / 64)) | 1)  # speckle would draw a contour around every noisy pixel
    smooth = uniform_filter(np.nan_to_num(vv, nan=level).astype(np.float64), size=box, mode="nearest")
    if finite.size and smooth.min() < level < smooth.max():
        axes[2].contour(
            smooth, levels=[level], colors="yellow", linewidths=1.0, extent=extent, origin="upper"
        )
    axes[2].set_title(f"S2 with S1 VV contour at {level:.1f} dB\n(VV mean over {box} x {box} px)", fontsize=9)
    block = checker or max(1, min(h, w) // 8)
    rows, cols = np.indices((h, w)) // block
    grey = np.repeat(db_to_uint8(vv, *VV_RANGE_DB)[..., None], 3, axis=-1)
    board = np.where(((rows + cols) % 2 == 0)[..., None], rgb, grey)
    axes[3].imshow(board, extent=extent, interpolation="nearest")
    axes[3].set_title(f"checkerboard S2 / S1 VV\n(blocks of {block * res:g} m)", fontsize=9)
    length = _nice_length(w * res)
    where = f" from ({x0:.0f}, {y0 - h * res:.0f}) in {crs}" if crs else ""
    for ax in axes:
        _scale_bar(ax, length, 0.01 * h * res)
        ax.set_xlabel(f"metres east{where}" if ax is axes[0] else "metres east", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("metres north", fontsize=8)
    suptitle(
        fig, title or f"one place, both sensors: {w * res / 1000:g} x {h * res / 1000:g} km at {res:g} m"
    )
    return fig


__all__ = ["VV_CONTOUR_DB", "plot_coregistration"]
