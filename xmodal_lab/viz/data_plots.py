"""Figures of the data: co-registered pairs, the bands of one place, change between two dates.

Every function returns a :class:`matplotlib.figure.Figure` that a notebook shows exactly once (see
:mod:`xmodal_lab.viz.figure`). Inputs may be tensors or arrays; batches are cut to their first items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from xmodal_lab.data.composites import VH_RANGE_DB, VV_RANGE_DB
from xmodal_lab.viz._common import first_image, pair_list, scalar, to_numpy, upsample_nearest
from xmodal_lab.viz.composites import render, s2_false_colour, s2_true_colour
from xmodal_lab.viz.figure import bare_axes, grid, suptitle
from xmodal_lab.viz.palettes import landcover_legend

#: Display ranges in dB: the same on every row, so that brightness compares across places (and the same as
#: the radar composites that Segment Anything sees).
VV_RANGE = VV_RANGE_DB
VH_RANGE = VH_RANGE_DB
#: One reflectance range for every optical band, so that a band that looks dark *is* dark.
REFLECTANCE_RANGE = (0.0, 0.4)


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


def plot_pairs(
    pairs: Any, max_pairs: int = 4, *, classes: Any = None, title: str | None = None, size: float = 2.4
) -> Figure:
    """Show co-registered pairs: S2 true colour | S2 false colour | S1 VV | S1 VH | land cover.

    Args:
        pairs: pair dicts (``s1`` ``[2, H, W]`` dB, ``s2`` ``[12, H, W]`` reflectance, optional
            ``landcover`` ``[H, W]``), a collated batch or a dataset.
        max_pairs: rows to draw (the first pairs).
        classes: land-cover classes for the legend (default ``xmodal_lab.data.LANDCOVER_CLASSES``).
        title: figure title.
        size: inches per panel.

    Returns:
        A figure with one row per pair and 5 columns, or 4 when no pair has a land-cover map (real
        BigEarthNet pairs); a pair without one among pairs with one gets an empty panel saying so. Every
        panel uses the fixed display stretch of its modality; the radar columns have dB colour bars.
    """
    items = pair_list(pairs, max_pairs)
    if not items:
        raise ValueError("plot_pairs: got no pairs to draw")
    has_landcover = any(p.get("landcover") is not None for p in items)
    titles = [
        "S2 true colour (B4, B3, B2)\nreflectance 0-0.3, gamma 1/2.2",
        "S2 false colour (B8, B4, B3)\nNIR 0-0.5, red/green 0-0.3",
        f"S1 VV, {VV_RANGE[0]:g} to {VV_RANGE[1]:g} dB",
        f"S1 VH, {VH_RANGE[0]:g} to {VH_RANGE[1]:g} dB",
    ]
    if has_landcover:
        titles.append("land cover")
    fig, axes = grid(len(items), len(titles), size)
    legend_ids: set[int] = set()
    if has_landcover:
        ids, names, cmap, norm = landcover_legend(classes)
    for r, pair in enumerate(items):
        s2 = first_image(pair["s2"], 12, f"pairs[{r}]['s2']")
        s1 = first_image(pair["s1"], 2, f"pairs[{r}]['s1']")
        row = axes[r]
        row[0].imshow(s2_true_colour(s2))
        row[1].imshow(s2_false_colour(s2))
        vv = row[2].imshow(s1[0], cmap="gray", vmin=VV_RANGE[0], vmax=VV_RANGE[1])
        vh = row[3].imshow(s1[1], cmap="gray", vmin=VH_RANGE[0], vmax=VH_RANGE[1])
        if has_landcover:
            if pair.get("landcover") is None:
                row[4].text(
                    0.5, 0.5, "no land-cover map", ha="center", va="center", transform=row[4].transAxes
                )
            else:
                lc = to_numpy(pair["landcover"]).astype(np.int64)
                row[4].imshow(lc, cmap=cmap, norm=norm, interpolation="nearest")
                legend_ids.update(int(v) for v in np.unique(lc))
        for ax in row:
            bare_axes(ax)
        row[0].set_ylabel(_pair_caption(pair), fontsize=8)
    for ax, column in zip(axes[0], titles):
        ax.set_title(column, fontsize=9)
    for col, im, name in ((2, vv, "VV"), (3, vh, "VH")):  # one dB scale per radar column, shared by its rows
        bar = fig.colorbar(im, ax=list(axes[:, col]), location="bottom", shrink=0.9, aspect=15)
        bar.set_label(f"S1 {name} backscatter (dB)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    if legend_ids:
        handles = [
            Patch(facecolor=cmap(norm(i)), edgecolor="0.3", label=names.get(i, f"class {i}"))
            for i in ids
            if i in legend_ids
        ]
        fig.legend(handles=handles, loc="outside right center", fontsize=8, title="land cover")
    suptitle(fig, title)
    return fig


def plot_bands(pair: Mapping, *, title: str | None = None, size: float = 1.9) -> Figure:
    """The 12 optical bands and the 2 radar bands of one place, each named with its wavelength.

    Optical bands share one reflectance scale (``REFLECTANCE_RANGE``) and radar bands one dB scale, so that
    brightness compares across bands: water is dark in the near infrared, vegetation bright past the red edge.

    Args:
        pair: a pair dict with ``s2`` ``[12, H, W]`` and ``s1`` ``[2, H, W]`` (a batch: its first pair).
        title: figure title (the display ranges are written under it).
        size: inches per panel.

    Returns:
        A figure with 14 image axes (2 rows of 7): B1..B12 then VV, VH.
    """
    from xmodal_lab.viz.palettes import band_labels

    pair = pair_list(pair, 1, "pair")[0]
    s2 = first_image(pair["s2"], 12, "pair['s2']")
    s1 = first_image(pair["s1"], 2, "pair['s1']")
    labels = band_labels()
    fig, axes = grid(2, 7, size)
    images = [*s2, *s1]
    shown = {}
    for i, (ax, img, label) in enumerate(zip(axes.ravel(), images, labels)):
        if i < 12:
            shown["s2"] = ax.imshow(img, cmap="gray", vmin=REFLECTANCE_RANGE[0], vmax=REFLECTANCE_RANGE[1])
        else:
            lo, hi = VV_RANGE if i == 12 else VH_RANGE
            shown["VV" if i == 12 else "VH"] = ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(label, fontsize=8)
        bare_axes(ax)
    flat = axes.ravel()
    for key, where, label in (("s2", list(flat[:12]), "reflectance"), ("VV", [flat[12]], "VV (dB)"),
                              ("VH", [flat[13]], "VH (dB)")):  # fmt: skip
        bar = fig.colorbar(
            shown[key], ax=where, location="bottom", shrink=0.8, aspect=20 if key == "s2" else 8
        )
        bar.set_label(label, fontsize=7)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(
        (f"{title}\n" if title else "")
        + f"optical: reflectance {REFLECTANCE_RANGE[0]:g} to {REFLECTANCE_RANGE[1]:g} for every band; "
        f"radar: VV {VV_RANGE[0]:g} to {VV_RANGE[1]:g} dB, VH {VH_RANGE[0]:g} to {VH_RANGE[1]:g} dB",
        fontsize=9,
    )
    return fig


#: How each rendering of :func:`plot_change` is named in titles.
_RENDER_NAMES = {
    "s2": "S2 true colour",
    "s2_false": "S2 false colour",
    "s1": "S1 VV/VH/ratio",
    "s1_vv": "S1 VV",
    "s1_vh": "S1 VH",
}


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
    """Change between two dates: both images, the per-patch embedding distance, optionally the true mask.

    Both dates use the same fixed display stretch (:mod:`xmodal_lab.data.composites`), so unchanged ground
    keeps its colour and only real change looks different.

    Args:
        before: image ``[C, H, W]`` or a pair dict (its ``modality`` image and ``date`` are used).
        after: the same at the later date.
        distance_map: ``[h, w]`` embedding distances (per patch, or per pixel when ``h, w = H, W``). A boolean
            map is drawn too, but titled as the mask it is, not as a distance.
        modality: a rendering of ``xmodal_lab.data.composites.RENDERINGS`` (``"s2"``, ``"s2_false"``, ``"s1"``, ...).
        threshold: when given, a panel outlines where the distance exceeds it on the later image.
        truth: optional ``[H, W]`` (or ``[h, w]``) true change mask, drawn in its own panel titled
            "true change mask".
        distance_label: title and colour-bar label of the distance panel (say what distance it is).
        title: figure title.
        size: inches per panel.

    Returns:
        A figure with 3 image axes (one more each for ``threshold`` and ``truth``) and a colour bar for the
        distance.
    """
    images, dates = [], []
    for x in (before, after):
        if isinstance(x, Mapping):
            dates.append(str(scalar(x.get("date", "")))[:10])
            x = x["s1" if modality.startswith("s1") else "s2"]
        else:
            dates.append("")
        images.append(render(x, modality))
    if images[0].shape != images[1].shape:
        raise ValueError(
            f"before and after: expected the same size, got {images[0].shape} and {images[1].shape}"
        )
    if distance_map is None:
        raise ValueError("distance_map: expected [h, w] distances (or a change mask), got None")
    raw = to_numpy(distance_map)
    d = raw.astype(np.float64)
    if d.ndim != 2:
        raise ValueError(f"distance_map: expected [h, w], got shape {d.shape}")
    is_mask = raw.dtype == bool
    h, w = images[0].shape[:2]
    t = None if truth is None else to_numpy(truth).astype(bool)
    if t is not None and t.ndim != 2:
        raise ValueError(f"truth: expected an [H, W] change mask, got shape {t.shape}")
    ncols = 3 + (threshold is not None) + (t is not None)
    fig, axes = grid(1, ncols, size)
    axes = axes[0]
    name = _RENDER_NAMES.get(modality, modality)
    for ax, img, label, date in zip(axes, images, ("before", "after"), dates):
        ax.imshow(img)
        ax.set_title(f"{label} {date}".strip() + f"\n{name}, one fixed stretch", fontsize=9)
    col = 2
    if t is not None:
        axes[col].imshow(t, cmap="gray", vmin=0, vmax=1, interpolation="nearest",
                         extent=(-0.5, w - 0.5, h - 0.5, -0.5))  # fmt: skip
        axes[col].set_title(f"true change mask ({t.mean():.0%} changed)", fontsize=9)
        col += 1
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    if is_mask:
        axes[col].imshow(d, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest")
        axes[col].set_title("given map is a 0/1 mask, not a distance", fontsize=9)
    else:
        im = axes[col].imshow(d, cmap="magma", extent=extent, interpolation="nearest")
        axes[col].set_title(f"{distance_label}\n({d.shape[0]} x {d.shape[1]} cells)", fontsize=9)
        fig.colorbar(im, ax=axes[col], shrink=0.8, label=distance_label)
    axes[col].set_gid("distance")
    if threshold is not None:
        changed = upsample_nearest(d[None], h, w)[0] > threshold
        axes[-1].imshow(images[1])
        if changed.any() and not changed.all():
            axes[-1].contour(changed.astype(float), levels=[0.5], colors="red", linewidths=1.5)
        axes[-1].set_title(
            f"after, red: distance > {threshold:g}\n({changed.mean():.0%} of the area)", fontsize=9
        )
    for ax in axes:
        bare_axes(ax)
    suptitle(fig, title)
    return fig


__all__ = ["REFLECTANCE_RANGE", "VH_RANGE", "VV_RANGE", "plot_bands", "plot_change", "plot_pairs"]
