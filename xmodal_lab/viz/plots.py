"""Matplotlib figures for the curriculum: the data, the evaluation outputs and the models' internals.

Every function returns a :class:`matplotlib.figure.Figure` that a notebook shows exactly once, whether the
call is the last line of a cell or followed by ``plt.show()`` (see :func:`xmodal_lab.viz._common.new_figure`).
Inputs may be tensors or arrays; batches are cut to their first items. Everything works without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from xmodal_lab.models.sam_images import VH_RANGE_DB, VV_RANGE_DB
from xmodal_lab.viz._common import first_image, new_figure, pair_list, scalar, to_numpy
from xmodal_lab.viz.composites import render, s1_composite, s2_false_colour, s2_true_colour
from xmodal_lab.viz.palettes import (
    MODALITY_COLOURS,
    TRUE_MATCH_COLOUR,
    class_colours,
    landcover_legend,
)

#: Display ranges in dB: the same on every row, so that brightness compares across places (and the same as
#: the radar composites that Segment Anything sees).
VV_RANGE = VV_RANGE_DB
VH_RANGE = VH_RANGE_DB
#: One reflectance range for every optical band, so that a band that looks dark *is* dark.
REFLECTANCE_RANGE = (0.0, 0.4)


def _grid(rows: int, cols: int, size: float = 2.4, **kwargs: Any) -> tuple[Figure, np.ndarray]:
    fig = new_figure(figsize=(size * cols, size * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False, **kwargs))
    return fig, axes


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _box(ax, colour: str, gid: str, width: float = 5.0) -> Rectangle:
    """Frame a whole axes with a coloured rectangle that tests and readers can find by ``gid``."""
    rect = Rectangle(
        (0, 0), 1, 1, transform=ax.transAxes, fill=False, edgecolor=colour, linewidth=width, clip_on=False
    )
    rect.set_gid(gid)
    ax.add_patch(rect)
    return rect


def _suptitle(fig: Figure, title: str | None) -> None:
    if title:
        fig.suptitle(title, fontsize=11)


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
        BigEarthNet pairs); a pair without one among pairs with one gets an empty panel saying so.
    """
    items = pair_list(pairs, max_pairs)
    if not items:
        raise ValueError("plot_pairs: got no pairs to draw")
    has_landcover = any(p.get("landcover") is not None for p in items)
    titles = ["S2 true colour\n(B4, B3, B2)", "S2 false colour\n(B8, B4, B3)", "S1 VV (dB)", "S1 VH (dB)"]
    if has_landcover:
        titles.append("land cover")
    fig, axes = _grid(len(items), len(titles), size)
    legend_ids: set[int] = set()
    if has_landcover:
        ids, names, cmap, norm = landcover_legend(classes)
    for r, pair in enumerate(items):
        s2 = first_image(pair["s2"], 12, f"pairs[{r}]['s2']")
        s1 = first_image(pair["s1"], 2, f"pairs[{r}]['s1']")
        row = axes[r]
        row[0].imshow(s2_true_colour(s2))
        row[1].imshow(s2_false_colour(s2))
        row[2].imshow(s1[0], cmap="gray", vmin=VV_RANGE[0], vmax=VV_RANGE[1])
        row[3].imshow(s1[1], cmap="gray", vmin=VH_RANGE[0], vmax=VH_RANGE[1])
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
            _bare(ax)
        row[0].set_ylabel(_pair_caption(pair), fontsize=8)
    for ax, column in zip(axes[0], titles):
        ax.set_title(column, fontsize=9)
    if legend_ids:
        handles = [
            Patch(facecolor=cmap(norm(i)), edgecolor="0.3", label=names.get(i, f"class {i}"))
            for i in ids
            if i in legend_ids
        ]
        fig.legend(handles=handles, loc="outside right center", fontsize=8, title="land cover")
    _suptitle(fig, title)
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
    fig, axes = _grid(2, 7, size)
    images = [*s2, *s1]
    for i, (ax, img, label) in enumerate(zip(axes.ravel(), images, labels)):
        if i < 12:
            ax.imshow(img, cmap="gray", vmin=REFLECTANCE_RANGE[0], vmax=REFLECTANCE_RANGE[1])
        else:
            lo, hi = VV_RANGE if i == 12 else VH_RANGE
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(label, fontsize=8)
        _bare(ax)
    fig.suptitle(
        (f"{title}\n" if title else "")
        + f"optical: reflectance {REFLECTANCE_RANGE[0]:g} to {REFLECTANCE_RANGE[1]:g} for every band; "
        f"radar: VV {VV_RANGE[0]:g} to {VV_RANGE[1]:g} dB, VH {VH_RANGE[0]:g} to {VH_RANGE[1]:g} dB",
        fontsize=9,
    )
    return fig


def plot_similarity_matrix(sim: Any, *, max_items: int | None = 64, title: str | None = None) -> Figure:
    """The cosine-similarity matrix between SAR queries (rows) and optical gallery items (columns).

    Args:
        sim: ``[Nq, Ng]`` similarities; the true match of query ``i`` is gallery item ``i``.
        max_items: show only the top-left ``max_items x max_items`` block (the diagonal stays visible).
        title: axes title (default: the mean diagonal and off-diagonal similarities).

    Returns:
        A figure with the matrix axes and its colour bar.
    """
    s = to_numpy(sim).astype(np.float64)
    if s.ndim != 2:
        raise ValueError(f"sim: expected a [Nq, Ng] matrix, got shape {s.shape}")
    if max_items is not None:
        s = s[:max_items, :max_items]
    fig = new_figure(figsize=(5.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(s, cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, label="cosine similarity")
    n = min(s.shape)
    diag = np.diag(s[:n, :n])
    off = s[:n, :n][~np.eye(n, dtype=bool)] if n > 1 else np.array([np.nan])
    ax.set_title(title or f"matched pairs {diag.mean():.2f}, others {off.mean():.2f}", fontsize=10)
    ax.set_xlabel("optical gallery item")
    ax.set_ylabel("SAR query")
    return fig


def _images(x: Any, key: str, channels: int, name: str) -> np.ndarray:
    """``[N, C, H, W]`` from a tensor/array or from pair dicts (their ``key``)."""
    if isinstance(x, Mapping) or (isinstance(x, Sequence) and x and isinstance(x[0], Mapping)):
        x = np.stack([to_numpy(p[key]) for p in pair_list(x, name=name)])
    a = to_numpy(x).astype(np.float32, copy=False)
    if a.ndim != 4 or a.shape[1] != channels:
        raise ValueError(f"{name}: expected [N, {channels}, H, W] images, got shape {a.shape}")
    return a


def plot_retrieval(
    queries_s1: Any,
    gallery_s2: Any,
    sim: Any,
    k: int = 4,
    *,
    queries: Sequence[int] | None = None,
    n_queries: int = 3,
    title: str | None = None,
    size: float = 2.0,
) -> Figure:
    """The retrieval debrief figure: each row a SAR query, its top-k optical matches, the true match, the worst.

    The top-k panel holding the true match is framed in green (``gid="true_match"``); its rank in the whole
    gallery is written over the true-match column, so a miss is as visible as a hit.

    Args:
        queries_s1: radar images ``[Nq, 2, H, W]`` (or pair dicts).
        gallery_s2: optical images ``[Ng, 12, H, W]`` (or pair dicts).
        sim: ``[Nq, Ng]`` similarities; query ``i``'s true match is gallery item ``i``.
        k: matches to show per query.
        queries: which query rows to draw (default: the first ``n_queries``).
        n_queries: rows to draw when ``queries`` is not given.
        title: figure title.
        size: inches per panel.

    Returns:
        A figure with one row per query and ``k + 3`` columns: query, top-1..top-k, true match, least similar.
    """
    from xmodal_lab.eval.retrieval import bottomk_matches, topk_matches  # eval pulls scikit-learn: load late

    q_img = _images(queries_s1, "s1", 2, "queries_s1")
    g_img = _images(gallery_s2, "s2", 12, "gallery_s2")
    s = to_numpy(sim).astype(np.float64)
    if s.shape != (len(q_img), len(g_img)):
        raise ValueError(
            f"sim: expected shape ({len(q_img)}, {len(g_img)}) to match the images, got {s.shape}"
        )
    if not 1 <= k <= len(g_img):
        raise ValueError(f"k: expected 1..{len(g_img)} (the gallery size), got {k}")
    rows = list(queries) if queries is not None else list(range(min(n_queries, len(q_img))))
    if any(not 0 <= q < min(len(q_img), len(g_img)) for q in rows):
        raise ValueError(f"queries: indices must lie in 0..{min(len(q_img), len(g_img)) - 1}, got {rows}")
    fig, axes = _grid(len(rows), k + 3, size)
    for r, q in enumerate(rows):
        top = topk_matches(s, q, k)[0]
        rank = int((s[q] >= s[q, q]).sum())  # ties count against the true match, as in eval.match_ranks
        row = axes[r]
        row[0].imshow(s1_composite(q_img[q]))
        row[0].set_title(f"SAR query {q}", fontsize=8)
        for j, g in enumerate(top):
            row[1 + j].imshow(s2_true_colour(g_img[g]))
            row[1 + j].set_title(f"#{j + 1}  cos {s[q, g]:.2f}", fontsize=8)
            if g == q:
                _box(row[1 + j], TRUE_MATCH_COLOUR, "true_match")
        row[k + 1].imshow(s2_true_colour(g_img[q]))
        row[k + 1].set_title(
            f"true match (rank {rank})  cos {s[q, q]:.2f}", fontsize=8, color=TRUE_MATCH_COLOUR
        )
        worst = int(bottomk_matches(s, q, 1)[0][0])
        row[k + 2].imshow(s2_true_colour(g_img[worst]))
        row[k + 2].set_title(f"least similar  cos {s[q, worst]:.2f}", fontsize=8)
        for ax in row:
            _bare(ax)
    _suptitle(fig, title)
    return fig


def _split_coords(coords: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(coords_s1, coords_s2)`` from a tuple/list of two arrays or a dict with ``s1`` and ``s2``."""
    if isinstance(coords, Mapping):
        if "s1" not in coords or "s2" not in coords:
            raise ValueError(
                f"{name}: expected a dict with 's1' and 's2' coordinates, got keys {sorted(coords)}"
            )
        return to_numpy(coords["s1"]), to_numpy(coords["s2"])
    if isinstance(coords, Sequence) and len(coords) == 2:
        return to_numpy(coords[0]), to_numpy(coords[1])
    raise ValueError(f"{name}: expected (coords_s1, coords_s2) or {{'s1': ..., 's2': ...}}")


def _class_ids(labels: Any, n: int) -> np.ndarray:
    lab = to_numpy(labels)
    if lab.ndim == 2:  # multi-hot: colour by the first (dominant) label
        lab = lab.argmax(axis=1)
    if lab.shape != (n,):
        raise ValueError(f"labels: expected [N] class ids or [N, K] multi-hot with N={n}, got {lab.shape}")
    return lab.astype(np.int64)


def plot_projection(
    coords_s1: Any,
    coords_s2: Any,
    title: str = "",
    labels: Any = None,
    *,
    label_names: Mapping[int, str] | Sequence[str] | None = None,
    ax: Any = None,
) -> Figure:
    """Both modalities in one 2-D projection, with a line joining each SAR point to its optical partner.

    Short lines mean the encoders agree about a place; after training they shrink and classes separate.

    Args:
        coords_s1: radar coordinates ``[N, 2]``.
        coords_s2: optical coordinates ``[N, 2]`` (row ``i`` is the partner of radar row ``i``).
        title: axes title.
        labels: optional ``[N]`` class ids (or ``[N, K]`` multi-hot) colouring the points.
        label_names: names of the class ids (a list indexed by id, or ``{id: name}``), for the legend and for
            the colours (land-cover names get the colours of the land-cover maps); e.g.
            ``xmodal_lab.data.LANDCOVER_CLASSES`` with ``embed_dataset(...)["dominant_class"]``.
        ax: draw into these axes instead of a new figure.

    Returns:
        The figure (the line collection has ``gid="pair_lines"`` and one segment per pair).
    """
    a, b = to_numpy(coords_s1).astype(np.float64), to_numpy(coords_s2).astype(np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape != b.shape:
        raise ValueError(f"coords: expected two [N, 2] arrays of equal shape, got {a.shape} and {b.shape}")
    if ax is None:
        fig = new_figure(figsize=(5.5, 4.8), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    lines = LineCollection(np.stack([a, b], axis=1), colors="0.55", linewidths=0.6, alpha=0.6, zorder=1)
    lines.set_gid("pair_lines")
    ax.add_collection(lines)
    markers = {"s1": "^", "s2": "o"}
    if labels is None:
        ax.scatter(*a.T, s=14, marker=markers["s1"], c=MODALITY_COLOURS["s1"], label="radar (S1)", zorder=2)
        ax.scatter(*b.T, s=14, marker=markers["s2"], c=MODALITY_COLOURS["s2"], label="optical (S2)", zorder=2)
        ax.legend(fontsize=8, loc="best")
    else:
        ids = _class_ids(labels, len(a))
        uniq = np.unique(ids)
        if label_names is not None:  # named classes get the colours they have in every figure (water blue)
            table_ids, names, cmap, norm = landcover_legend(label_names)
            missing = sorted(set(uniq.tolist()) - set(table_ids))
            if missing:
                raise ValueError(f"labels: class ids {missing} have no name in label_names")
            lut = {c: to_hex(cmap(norm(c))) for c in uniq}
        else:
            colours = class_colours(len(uniq))
            lut = {c: colours[i] for i, c in enumerate(uniq)}
        point_colours = [lut[c] for c in ids]
        ax.scatter(*a.T, s=14, marker=markers["s1"], c=point_colours, zorder=2)
        ax.scatter(*b.T, s=14, marker=markers["s2"], c=point_colours, zorder=2)

        def name(c: int) -> str:
            return f"class {c}" if label_names is None else names[c]

        handles = [
            Line2D([], [], ls="", marker=markers["s1"], c="0.3", label="radar (S1)"),
            Line2D([], [], ls="", marker=markers["s2"], c="0.3", label="optical (S2)"),
        ]
        handles += [Patch(color=lut[c], label=name(int(c))) for c in uniq]
        ax.legend(handles=handles, fontsize=7, loc="best")
    ax.autoscale_view()
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def plot_projection_before_after(
    before: Any,
    after: Any,
    labels: Any = None,
    *,
    titles: tuple[str, str] = ("before training", "after training"),
    label_names: Mapping[int, str] | Sequence[str] | None = None,
) -> Figure:
    """Two projections side by side (before and after training), pairs joined by lines in each.

    Args:
        before: ``(coords_s1, coords_s2)`` or ``{"s1": [N, 2], "s2": [N, 2]}`` before training.
        after: the same after training.
        labels: optional ``[N]`` class ids (or ``[N, K]`` multi-hot) colouring the points.
        titles: the two axes titles.
        label_names: names of the class ids for the legend.

    Returns:
        A figure with 2 axes.
    """
    fig = new_figure(figsize=(11, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, coords, title, name in zip(axes, (before, after), titles, ("before", "after")):
        a, b = _split_coords(coords, name)
        plot_projection(a, b, title, labels, label_names=label_names, ax=ax)
    return fig


def _history_parts(history: Any) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Loss steps and values, and ``{metric: (steps, values)}`` from a training history."""
    h = history if isinstance(history, Mapping) else vars(history)
    if "loss" not in h:
        raise ValueError(f"history: expected a 'loss' entry (loss per step), got keys {sorted(h)}")
    loss = to_numpy(h["loss"]).astype(np.float64).ravel()
    steps = to_numpy(h["step"]).ravel() if h.get("step") is not None else np.arange(1, len(loss) + 1)
    metrics: dict[str, tuple[list, list]] = {}
    val = h.get("val")
    if isinstance(val, Sequence):  # a list of {"step": s, "recall@1": ...} records
        for i, record in enumerate(val):
            for key, value in record.items():
                if key != "step":
                    xs, ys = metrics.setdefault(key, ([], []))
                    xs.append(record.get("step", i + 1))
                    ys.append(float(scalar(value)))
    elif isinstance(val, Mapping):  # {"step": [...], "recall@1": [...]}
        val_steps = val.get("step")
        for key, values in val.items():
            if key != "step":
                values = to_numpy(values).ravel()
                xs = to_numpy(val_steps).ravel() if val_steps is not None else np.arange(1, len(values) + 1)
                metrics[key] = (list(xs), list(values))
    return steps, loss, {k: (np.asarray(x), np.asarray(y, dtype=np.float64)) for k, (x, y) in metrics.items()}


def plot_history(history: Any, *, smooth: float = 0.9, title: str | None = None) -> Figure:
    """Training loss per step (raw and smoothed) and, when present, validation metrics.

    Args:
        history: from ``xmodal_lab.train.fit``: ``loss`` (per step, optional ``step``) and optionally ``val``,
            either a list of ``{"step": s, metric: value}`` records or ``{"step": [...], metric: [...]}``.
        smooth: exponential-moving-average factor of the smoothed loss curve (0 turns it off).
        title: figure title.

    Returns:
        A figure with 1 axes (loss) or 2 (loss, validation metrics).
    """
    steps, loss, metrics = _history_parts(history)
    fig = new_figure(figsize=(10 if metrics else 5.5, 3.6), layout="constrained")
    axes = fig.subplots(1, 2 if metrics else 1, squeeze=False)[0]
    ax = axes[0]
    ax.plot(steps, loss, color="0.7", lw=0.8, label="loss")
    if smooth > 0 and len(loss) > 1:
        ema, acc = np.empty_like(loss), loss[0]
        for i, v in enumerate(loss):
            acc = smooth * acc + (1 - smooth) * v
            ema[i] = acc
        ax.plot(steps, ema, color="C0", lw=1.6, label=f"smoothed (EMA {smooth:g})")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    if metrics:
        for name, (xs, ys) in metrics.items():
            axes[1].plot(xs, ys, marker="o", ms=3, label=name)
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("validation")
        axes[1].legend(fontsize=8)
    _suptitle(fig, title)
    return fig


def _pixel_mask(mask: Any, height: int, width: int) -> np.ndarray:
    """A boolean ``[H, W]`` mask (True = hidden from the encoder) from a patch or pixel mask."""
    m = to_numpy(mask)
    if m.shape == (height, width):
        return m.astype(bool)
    m = m.ravel()
    for p in range(1, min(height, width) + 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) == m.size:
            grid = m.reshape(height // p, width // p).astype(bool)
            return np.repeat(np.repeat(grid, p, axis=0), p, axis=1)
    raise ValueError(
        f"mask: expected [H, W] pixels or [L] patches tiling {height}x{width}, got {m.size} values"
    )


def _upsample(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour upsampling of ``[C, h, w]`` to ``[C, H, W]`` (integer factors)."""
    fy, fx = height // img.shape[-2], width // img.shape[-1]
    if fy * img.shape[-2] != height or fx * img.shape[-1] != width:
        raise ValueError(f"cannot upsample {img.shape[-2:]} to {(height, width)} by an integer factor")
    return np.repeat(np.repeat(img, fy, axis=-2), fx, axis=-1)


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
        mask: ``[B, L]`` / ``[L]`` patch mask or ``[B, H, W]`` / ``[H, W]`` pixel mask, 1 = hidden.
        modality: a rendering of ``sam_images.RENDERINGS`` (``"s2"``, ``"s2_false"``, ``"s1"``, ...): how to render ``C`` channels as RGB.
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
    fig, axes = _grid(n, len(cols), size)
    _, _, h, w = imgs.shape
    for r in range(n):
        hidden = _pixel_mask(masks[r], h, w)
        pasted = np.where(hidden[None], recs[r], imgs[r])
        strip = [imgs[r], recs[r], pasted]
        if low is not None:
            strip.append(_upsample(to_numpy(low[r]).astype(np.float32), h, w))
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
            _bare(ax)
        if titles is not None:
            axes[r, 0].set_ylabel(titles[r], fontsize=8)
    for ax, col in zip(axes[0], cols):
        ax.set_title(col, fontsize=9)
    _suptitle(fig, title)
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
        _bare(ax)
    fig.colorbar(im, ax=list(axes), label="bias added to the logit", shrink=0.85)
    fig.suptitle(title or f"bias from query patch {q} (star) to every key patch", fontsize=10)
    return fig


def _curve_points(curve: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(fractions, mean score, std or None)`` from one label-efficiency curve."""
    if isinstance(curve, Mapping) and ("fraction" in curve or "fractions" in curve):
        xs = curve.get("fraction", curve.get("fractions"))
        ys = curve.get("score", curve.get("scores"))
        pairs = list(zip(to_numpy(xs).ravel(), ys))
    elif isinstance(curve, Mapping):
        pairs = list(curve.items())
    elif isinstance(curve, Sequence) and len(curve) == 2 and np.ndim(curve[0]) == 1:
        pairs = list(zip(to_numpy(curve[0]).ravel(), curve[1]))
    else:
        raise ValueError(
            f"curves[{name!r}]: expected {{fraction: score}}, (fractions, scores) or "
            f"{{'fraction': [...], 'score': [...]}}, got {type(curve).__name__}"
        )
    pairs.sort(key=lambda p: float(p[0]))
    xs = np.array([float(p[0]) for p in pairs])
    runs = [to_numpy(p[1]).astype(np.float64).ravel() for p in pairs]
    mean = np.array([r.mean() for r in runs])
    std = np.array([r.std() for r in runs]) if any(r.size > 1 for r in runs) else None
    return xs, mean, std


def plot_label_efficiency(
    curves: Mapping[str, Any],
    *,
    metric: str = "accuracy",
    chance: float | None = None,
    title: str | None = None,
) -> Figure:
    """Probe quality against the fraction of labels used, one line per embedding (radar, optical, joint...).

    Args:
        curves: ``{name: curve}``; a curve is ``{fraction: score}`` (fractions in 0..1, a score or a list of
            scores over seeds, drawn as mean and spread), ``(fractions, scores)`` or
            ``{"fraction": [...], "score": [...]}``.
        metric: y-axis label.
        chance: draw this chance level as a dashed line (``gid="chance"``).
        title: axes title.

    Returns:
        A figure with one axes holding one line per curve.
    """
    if not curves:
        raise ValueError("curves: got no curves to draw")
    fig = new_figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for name, curve in curves.items():
        xs, mean, std = _curve_points(curve, name)
        (line,) = ax.plot(100 * xs, mean, marker="o", label=name)
        if std is not None:
            ax.fill_between(100 * xs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    if chance is not None:
        ax.axhline(chance, ls="--", c="0.5", lw=1, label="chance", gid="chance")
    ax.set_xscale("log")
    ax.set_xlabel("labels used (%)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
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
        masks: ``[M, H, W]`` or ``[H, W]`` booleans, or a Segment Anything result (its ``masks`` and ``scores``).
        modality: a rendering of ``sam_images.RENDERINGS`` (``"s2"``, ``"s2_false"``, ``"s1"``, ...).
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
    if hasattr(masks, "masks"):  # a result of xmodal_lab.models.sam: its masks and scores
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
    fig, axes = _grid(1, 1 + len(m), size)
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
        _bare(ax)
    _suptitle(fig, title)
    return fig


def plot_change(
    before: Any,
    after: Any,
    distance_map: Any,
    *,
    modality: str = "s2",
    threshold: float | None = None,
    title: str | None = None,
    size: float = 3.0,
) -> Figure:
    """Change between two dates: both images and the per-patch embedding distance between them.

    Args:
        before: image ``[C, H, W]`` or a pair dict (its ``modality`` image and ``date`` are used).
        after: the same at the later date.
        distance_map: ``[h, w]`` distances (per patch, or per pixel when ``h, w = H, W``).
        modality: a rendering of ``sam_images.RENDERINGS`` (``"s2"``, ``"s2_false"``, ``"s1"``, ...).
        threshold: when given, a fourth panel outlines where the distance exceeds it on the later image.
        title: figure title.
        size: inches per panel.

    Returns:
        A figure with 3 image axes (4 with ``threshold``) and a colour bar for the distance.
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
    d = to_numpy(distance_map).astype(np.float64)
    if d.ndim != 2:
        raise ValueError(f"distance_map: expected [h, w], got shape {d.shape}")
    h, w = images[0].shape[:2]
    ncols = 3 if threshold is None else 4
    fig, axes = _grid(1, ncols, size)
    axes = axes[0]
    for ax, img, label, date in zip(axes, images, ("before", "after"), dates):
        ax.imshow(img)
        ax.set_title(f"{label} {date}".strip(), fontsize=9)
    im = axes[2].imshow(d, cmap="magma", extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="nearest")
    axes[2].set_title("embedding distance", fontsize=9)
    fig.colorbar(im, ax=axes[2], shrink=0.8)
    if threshold is not None:
        changed = _upsample(d[None], h, w)[0] > threshold
        axes[3].imshow(images[1])
        if changed.any() and not changed.all():
            axes[3].contour(changed.astype(float), levels=[0.5], colors="red", linewidths=1.5)
        axes[3].set_title(f"distance > {threshold:g} ({changed.mean():.0%} of the area)", fontsize=9)
    for ax in axes:
        _bare(ax)
    _suptitle(fig, title)
    return fig


__all__ = [
    "plot_bands",
    "plot_bias_maps",
    "plot_change",
    "plot_history",
    "plot_label_efficiency",
    "plot_masks",
    "plot_pairs",
    "plot_projection",
    "plot_projection_before_after",
    "plot_reconstruction",
    "plot_retrieval",
    "plot_similarity_matrix",
]
