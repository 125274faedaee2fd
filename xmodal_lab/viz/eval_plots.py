"""Figures of the evaluation: similarity matrix, retrieval debrief, 2-D projections, training, label use.

Every function returns a :class:`matplotlib.figure.Figure` that a notebook shows exactly once (see
:mod:`xmodal_lab.viz.figure`). Inputs may be tensors or arrays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from xmodal_lab.viz._common import pair_list, scalar, to_numpy
from xmodal_lab.viz.composites import s1_composite, s2_true_colour
from xmodal_lab.viz.figure import bare_axes, figure_axes, frame, grid, new_figure, suptitle
from xmodal_lab.viz.palettes import MODALITY_COLOURS, TRUE_MATCH_COLOUR, class_colours, landcover_legend


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
    ax.set_title(
        title or f"cosine similarity: matched pairs (diagonal) {diag.mean():.2f}, others {off.mean():.2f}",
        fontsize=10,
    )
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
    fig, axes = grid(len(rows), k + 3, size)
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
                frame(row[1 + j], TRUE_MATCH_COLOUR, "true_match")
        row[k + 1].imshow(s2_true_colour(g_img[q]))
        row[k + 1].set_title(
            f"true match (rank {rank})  cos {s[q, q]:.2f}", fontsize=8, color=TRUE_MATCH_COLOUR
        )
        worst = int(bottomk_matches(s, q, 1)[0][0])
        row[k + 2].imshow(s2_true_colour(g_img[worst]))
        row[k + 2].set_title(f"least similar  cos {s[q, worst]:.2f}", fontsize=8)
        for ax in row:
            bare_axes(ax)
    suptitle(fig, title)
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
    fig, ax = figure_axes(ax, figsize=(5.5, 4.8), layout="constrained")
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
    """Loss steps and values, and ``{metric: (steps, values)}`` from a training history or a log's path."""
    if isinstance(history, (str, os.PathLike)):  # a CSV log written by fit(log_dir=...)
        from xmodal_lab.train.loggers import read_log

        history = read_log(history)
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


#: Keys of validation records that are clock times, not metrics: never drawn on a metric axis.
_TIME_KEYS = ("time", "seconds", "wall_s")


def _metric_groups(metrics: Mapping[str, Any]) -> dict[str, list[str]]:
    """Metric names split by their scale: ranks (1 is best, unbounded) and scores (recall, accuracy...)."""
    groups: dict[str, list[str]] = {"score": [], "rank": []}
    for name in metrics:
        if name.lower() in _TIME_KEYS:
            continue
        groups["rank" if "rank" in name.lower() else "score"].append(name)
    return {k: v for k, v in groups.items() if v}


def plot_history(history: Any, *, smooth: float = 0.9, title: str | None = None) -> Figure:
    """Training loss per step (raw and smoothed) and validation metrics, each kind on its own axes.

    The loss is drawn against the step on the first axes. Validation metrics follow on separate axes by
    scale: scores in 0..1 (recall@k, accuracy, IoU ...) on one, ranks (median rank: lower is better) on
    another, so that neither squashes the other. Clock times (``time``/``seconds`` entries of the records)
    are never drawn against metrics; the loss title gives the total training time when the history has it.

    Args:
        history: from ``xmodal_lab.train.fit``: ``loss`` (per step, optional ``step``) and optionally ``val``,
            either a list of ``{"step": s, metric: value}`` records or ``{"step": [...], metric: [...]}``;
            or the path of a log written by ``fit(log_dir=...)`` (its folder, a ``version_N`` run or the
            ``metrics.csv``).
        smooth: exponential-moving-average factor of the smoothed loss curve (0 turns it off).
        title: figure title.

    Returns:
        A figure with 1 axes (loss), plus one per metric kind present (scores, ranks).
    """
    steps, loss, metrics = _history_parts(history)
    groups = _metric_groups(metrics)
    fig = new_figure(figsize=(5.0 + 4.2 * len(groups), 3.6), layout="constrained")
    axes = fig.subplots(1, 1 + len(groups), squeeze=False)[0]
    ax = axes[0]
    ax.plot(steps, loss, color="0.7", lw=0.8, label="loss per step")
    if smooth > 0 and len(loss) > 1:
        ema, acc = np.empty_like(loss), loss[0]
        for i, v in enumerate(loss):
            acc = smooth * acc + (1 - smooth) * v
            ema[i] = acc
        ax.plot(steps, ema, color="C0", lw=1.6, label=f"smoothed (EMA {smooth:g})")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    h = history if isinstance(history, Mapping) else {}
    seconds = h.get("seconds") if isinstance(h, Mapping) else None
    took = f", {float(scalar(seconds)):.0f} s" if isinstance(scalar(seconds), int | float) else ""
    ax.set_title(f"training loss ({len(loss)} steps{took})", fontsize=10)
    ax.legend(fontsize=8)
    labels = {"score": ("validation score", "validation scores (higher is better)"),
              "rank": ("validation rank", "validation ranks (lower is better)")}  # fmt: skip
    for axm, (kind, names) in zip(axes[1:], groups.items()):
        for name in names:
            xs, ys = metrics[name]
            axm.plot(xs, ys, marker="o", ms=3, label=name)
        axm.set_xlabel("training step")
        axm.set_ylabel(labels[kind][0])
        axm.set_title(labels[kind][1], fontsize=10)
        axm.legend(fontsize=8)
        axm.set_gid(f"history_{kind}")
    suptitle(fig, title)
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


__all__ = [
    "plot_history",
    "plot_label_efficiency",
    "plot_projection",
    "plot_projection_before_after",
    "plot_retrieval",
    "plot_similarity_matrix",
]
