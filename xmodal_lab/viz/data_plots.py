"""Figures of the data (pairs, the bands of one place, one place in metres) on fixed display stretches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from xmodal_lab.data.bands import S1_BANDS, S2_BANDS
from xmodal_lab.data.composites import db_to_uint8
from xmodal_lab.viz._common import first_image, pair_list, scalar, to_numpy
from xmodal_lab.viz.colours import REFLECTANCE_RANGE, VH_RANGE, VV_RANGE, landcover_legend, render
from xmodal_lab.viz.figure import colorbar, grid, label, show, suptitle, swatch_legend

#: VV level (dB) of the default co-registration contour: between open water and land.
VV_CONTOUR_DB = -15.0


def _pair_caption(pair: Mapping) -> str:
    parts = []
    if pair.get("date") is not None:
        parts.append(str(scalar(pair["date"]))[:10])
    if pair.get("gsd") is not None:
        parts.append(f"{float(scalar(pair['gsd'])):g} m")
    if pair.get("lat") is not None and pair.get("lon") is not None:
        parts.append(f"{float(scalar(pair['lat'])):.2f}, {float(scalar(pair['lon'])):.2f}")
    names = pair.get("label_names")
    if isinstance(names, Sequence) and not isinstance(names, str):  # real pairs: their scene labels
        parts += [str(n)[:22] for n in names[:2]] + (["..."] if len(names) > 2 else [])
    return "\n".join(parts)


def plot_pairs(pairs: Any, max_pairs: int = 4, *, classes: Any = None, title: str | None = None) -> Figure:
    """Pairs (dicts or a dataset) in rows: S2 true/false colour, S1 VV, VH, any land cover (``classes``)."""
    items = pair_list(pairs, max_pairs)
    if not items:
        raise ValueError("plot_pairs: got no pairs to draw")
    has_landcover = any(p.get("landcover") is not None for p in items)
    titles = ["S2 true colour (B4, B3, B2)\nreflectance 0-0.3, gamma 1/2.2",
              "S2 false colour (B8, B4, B3)\nNIR 0-0.5, red/green 0-0.3",
              *(f"S1 {band}, {lo:g} to {hi:g} dB" for band, (lo, hi) in (("VV", VV_RANGE), ("VH", VH_RANGE)))]
    titles += ["land cover"] * has_landcover
    fig, axes = grid(len(items), len(titles), 2.4, titles=titles)
    ids, names, cmap, norm = landcover_legend(classes)
    present: set[int] = set()
    for r, (pair, row) in enumerate(zip(items, axes)):
        s2 = first_image(pair["s2"], 12, f"pairs[{r}]['s2']")
        s1 = first_image(pair["s1"], 2, f"pairs[{r}]['s1']")
        show(row[0], render(s2, "s2"))
        show(row[1], render(s2, "s2_false"))
        vv = show(row[2], s1[0], cmap="gray", vmin=VV_RANGE[0], vmax=VV_RANGE[1])
        vh = show(row[3], s1[1], cmap="gray", vmin=VH_RANGE[0], vmax=VH_RANGE[1])
        if has_landcover and pair.get("landcover") is None:
            show(row[4])
            row[4].text(0.5, 0.5, "no land-cover map", ha="center", va="center", transform=row[4].transAxes)
        elif has_landcover:
            lc = to_numpy(pair["landcover"]).astype(np.int64)
            show(row[4], lc, cmap=cmap, norm=norm, interpolation="nearest")
            present.update(int(v) for v in np.unique(lc))
        row[0].set_ylabel(_pair_caption(pair), fontsize=8)
    for col, im, name in ((2, vv, "VV"), (3, vh, "VH")):
        colorbar(fig, im, list(axes[:, col]), f"S1 {name} backscatter (dB)", shrink=0.9, aspect=15)
    if present:
        swatches = {names[i]: cmap(norm(i)) for i in ids if i in present}
        swatch_legend(fig, swatches, title="land cover", loc="outside right center", ncols=1)
    suptitle(fig, title)
    return fig


def plot_bands(pair: Mapping, *, title: str | None = None) -> Figure:
    """The 12 optical and 2 radar bands of one place, named with their wavelengths, one scale per sensor."""
    pair = pair_list(pair, 1, "pair")[0]
    s2, s1 = first_image(pair["s2"], 12, "pair['s2']"), first_image(pair["s1"], 2, "pair['s1']")
    fig, axes = grid(2, 7, 1.9)
    flat = axes.ravel()
    ranges = [REFLECTANCE_RANGE] * 12 + [VV_RANGE, VH_RANGE]
    names = [f"{b.name} {b.common_name}\n{b.wavelength_nm:g} nm" for b in S2_BANDS]  # and centre wavelengths
    names += [f"{b.name}\n{b.wavelength_cm:g} cm (C-band)" for b in S1_BANDS]
    shown = [show(ax, img, name, 8, cmap="gray", vmin=lo, vmax=hi)
             for ax, img, name, (lo, hi) in zip(flat, [*s2, *s1], names, ranges)]  # fmt: skip
    for i, j, name, aspect in ((0, 12, "reflectance", 20), (12, 13, "VV (dB)", 8), (13, 14, "VH (dB)", 8)):
        colorbar(fig, shown[i], list(flat[i:j]), name, shrink=0.8, aspect=aspect)
    scales = (f"optical: reflectance {REFLECTANCE_RANGE[0]:g} to {REFLECTANCE_RANGE[1]:g} for every band; "
              f"radar: VV {VV_RANGE[0]:g} to {VV_RANGE[1]:g} dB, VH {VH_RANGE[0]:g} to {VH_RANGE[1]:g} dB")
    fig.suptitle((f"{title}\n" if title else "") + scales, fontsize=9)
    return fig


def plot_coregistration(
    pair: Mapping, *, vv_contour: float = VV_CONTOUR_DB, checker: int | None = None, title: str | None = None
) -> Figure:
    """One place's S2 and S1 on axes in metres, S1 VV contours over S2, and an S2 / S1 checkerboard.

    Co-registered, the radar's contours (``vv_contour`` dB on box-averaged VV) follow the optical edges, and
    edges continue across the ``checker``-pixel blocks. ``pair`` holds ``transform``/``crs`` or ``gsd``.
    """
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
    from scipy.ndimage import uniform_filter
    if pair.get("s1") is None or pair.get("s2") is None:
        raise ValueError("plot_coregistration: give a pair dict with s1 [2, H, W] and s2 [12, H, W]")
    a1, a2 = first_image(pair["s1"], 2, "s1"), first_image(pair["s2"], 12, "s2")
    if a1.shape[1:] != a2.shape[1:]:
        raise ValueError(f"s1 and s2: expected the same grid, got {a1.shape[1:]} and {a2.shape[1:]}")
    h, w = a2.shape[1:]
    crs = str(scalar(pair["crs"])) if pair.get("crs") else None
    if pair.get("transform") is not None:  # pixel size and upper-left corner in metres
        a, _, x0, _, _, y0 = (float(v) for v in to_numpy(pair["transform"]).ravel()[:6])
        res = abs(a)
    else:
        res, x0, y0 = float(scalar(pair.get("gsd") or 10.0)), 0.0, 0.0
    extent = (0.0, w * res, 0.0, h * res)  # metres from the lower-left corner
    rgb, vv = render(a2, "s2"), a1[0]
    finite = vv[np.isfinite(vv)]
    level = vv_contour
    if finite.size and not finite.min() < vv_contour < finite.max():
        level = float(np.median(finite))
    box = max(3, int(round(min(h, w) / 64)) | 1)
    smooth = uniform_filter(np.nan_to_num(vv, nan=level).astype(np.float64), size=box, mode="nearest")
    block = checker or max(1, min(h, w) // 8)
    rows, cols = np.indices((h, w)) // block
    grey = np.repeat(db_to_uint8(vv, *VV_RANGE)[..., None], 3, axis=-1)
    board = np.where(((rows + cols) % 2 == 0)[..., None], rgb, grey)

    fig, [axes] = grid(1, 4, figsize=(4 * 3.4 + 0.8, 3.4 + 0.9))
    axes[0].imshow(rgb, extent=extent)
    im = axes[1].imshow(vv, cmap="gray", vmin=VV_RANGE[0], vmax=VV_RANGE[1], extent=extent)
    colorbar(fig, im, axes[1], "VV (dB)", shrink=0.8)
    axes[2].imshow(rgb, extent=extent)
    if finite.size and smooth.min() < level < smooth.max():
        axes[2].contour(smooth, levels=[level], colors="yellow", linewidths=1, extent=extent, origin="upper")
    axes[3].imshow(board, extent=extent, interpolation="nearest")
    titles = ["S2 true colour\n(reflectance 0-0.3)", "S1 VV backscatter",
              f"S2 with S1 VV contour at {level:.1f} dB\n(VV mean over {box} x {box} px)",
              f"checkerboard S2 / S1 VV\n(blocks of {block * res:g} m)"]  # fmt: skip
    where = f" from ({x0:.0f}, {y0 - h * res:.0f}) in {crs}" if crs else ""
    target = max(w * res / 4.0, 1e-9)  # scale bars of a round length (1, 2 or 5 x 10^n) up to a quarter width
    power = 10 ** np.floor(np.log10(target))
    length = float(max(m * power for m in (1, 2, 5) if m * power <= target))
    bar_text, bar_height = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m", 0.01 * h * res
    for ax, text in zip(axes, titles):
        bar = AnchoredSizeBar(ax.transData, length, bar_text, "lower left", pad=0.4, color="white",
                              frameon=False, size_vertical=bar_height, fontproperties={"size": 8})
        bar.set_gid("scale_bar")
        ax.add_artist(bar)
        label(ax, text, 9)
        ax.set_xlabel(f"metres east{where}" if ax is axes[0] else "metres east", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("metres north", fontsize=8)
    default = f"one place, both sensors: {w * res / 1000:g} x {h * res / 1000:g} km at {res:g} m"
    suptitle(fig, title or default)
    return fig
