"""Figures of the evaluation: similarity, retrieval, 2-D projections, training, label use, masks, change."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from xmodal_lab.viz._common import scalar, to_numpy
from xmodal_lab.viz.colours import MODALITY_COLOURS, TRUE_MATCH_COLOUR, landcover_legend, render
from xmodal_lab.viz.figure import colorbar, figure_axes, frame, grid, label, show, suptitle

_TIME_KEYS = ("step", "time", "seconds", "wall_s")  # keys of validation records that are not metrics
_SMOOTH = 0.9  # weight of the loss curve's exponential moving average
_MASK_CMAP = ListedColormap(["#d9c9a3", "#2b6cb0", "#9e9e9e"])  # land (sand), water (blue), no data (grey)


def plot_similarity_matrix(sim: Any, *, max_items: int | None = 64) -> Figure:
    """Cosine similarities ``[Nq, Ng]`` of SAR queries (rows) and optical items, up to ``max_items`` each."""
    s = to_numpy(sim).astype(np.float64)
    if s.ndim != 2:
        raise ValueError(f"sim: expected a [Nq, Ng] matrix, got shape {s.shape}")
    s = s[:max_items, :max_items]
    n = min(s.shape)
    diag = np.diag(s[:n, :n])
    off = s[:n, :n][~np.eye(n, dtype=bool)] if n > 1 else np.array([np.nan])
    fig, ax = figure_axes(figsize=(5.2, 4.4))
    im = ax.imshow(s, cmap="viridis", interpolation="nearest")
    colorbar(fig, im, ax, "cosine similarity", location="right", shrink=1.0)
    label(ax, f"cosine similarity: matched pairs (diagonal) {diag.mean():.2f}, others {off.mean():.2f}",
          xlabel="optical gallery item", ylabel="SAR query")  # fmt: skip
    return fig


def plot_retrieval(
    queries_s1: Any, gallery_s2: Any, sim: Any, k: int = 4, *, queries: Sequence[int] | None = None
) -> Figure:
    """Each row a SAR query, its top-k optical matches, the true match (with its rank) and the least similar.

    ``sim`` ``[Nq, Ng]`` compares ``queries_s1`` ``[Nq, 2, H, W]`` with ``gallery_s2`` ``[Ng, 12, H, W]``
    (item ``i`` matches query ``i``); rows are ``queries`` (default the first three); a true match is framed.
    """
    from xmodal_lab.eval.retrieval import bottomk_matches, topk_matches  # eval pulls scikit-learn: load late
    q_img, g_img = (to_numpy(x).astype(np.float32, copy=False) for x in (queries_s1, gallery_s2))
    for name, a, channels in (("queries_s1", q_img, 2), ("gallery_s2", g_img, 12)):
        if a.ndim != 4 or a.shape[1] != channels:
            raise ValueError(f"{name}: expected [N, {channels}, H, W] images, got shape {a.shape}")
    s = to_numpy(sim).astype(np.float64)
    if s.shape != (len(q_img), len(g_img)):
        raise ValueError(f"sim: expected shape {(len(q_img), len(g_img))} to match the images, got {s.shape}")
    if not 1 <= k <= len(g_img):
        raise ValueError(f"k: expected 1..{len(g_img)} (the gallery size), got {k}")
    rows = list(queries) if queries is not None else list(range(min(3, len(q_img))))
    if any(not 0 <= q < min(len(q_img), len(g_img)) for q in rows):
        raise ValueError(f"queries: indices must lie in 0..{min(len(q_img), len(g_img)) - 1}, got {rows}")
    fig, axes = grid(len(rows), k + 3, 2.0)
    for row, q in zip(axes, rows):
        rank = int((s[q] >= s[q, q]).sum())  # ties count against the true match, as in eval.match_ranks
        worst = int(bottomk_matches(s, q, 1)[0][0])
        show(row[0], render(q_img[q], "s1"), f"SAR query {q}", 8)
        for j, g in enumerate(topk_matches(s, q, k)[0]):
            show(row[1 + j], render(g_img[g], "s2"), f"#{j + 1}  cos {s[q, g]:.2f}", 8)
            if g == q:
                frame(row[1 + j], TRUE_MATCH_COLOUR, "true_match")
        show(row[k + 1], render(g_img[q], "s2"))
        row[k + 1].set_title(f"true match (rank {rank})  cos {s[q, q]:.2f}", fontsize=8, c=TRUE_MATCH_COLOUR)
        show(row[k + 2], render(g_img[worst], "s2"), f"least similar  cos {s[q, worst]:.2f}", 8)
    return fig


def plot_projection(
    coords_s1: Any, coords_s2: Any, title: str = "", labels: Any = None, *,
    label_names: Mapping[int, str] | Sequence[str] | None = None, ax: Any = None,
) -> Figure:  # fmt: skip
    """Radar and optical ``[N, 2]`` points of one 2-D projection, pairs joined (short: the encoders agree).

    ``labels`` (``[N]`` class ids or ``[N, K]`` multi-hot) colour the points; ``label_names`` (a list or
    ``{id: name}``) name them, in the land-cover colours where they are land-cover classes.
    """
    a, b = to_numpy(coords_s1).astype(np.float64), to_numpy(coords_s2).astype(np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape != b.shape:
        raise ValueError(f"coords: expected two [N, 2] arrays of equal shape, got {a.shape} and {b.shape}")
    fig, ax = figure_axes(ax, figsize=(5.5, 4.8))
    ax.add_collection(LineCollection(np.stack([a, b], axis=1), colors="0.55", linewidths=0.6, alpha=0.6,
                                     zorder=1, gid="pair_lines"))  # fmt: skip
    markers, names = {"s1": "^", "s2": "o"}, {"s1": "radar (S1)", "s2": "optical (S2)"}
    colours, handles = MODALITY_COLOURS, None
    if labels is not None:
        ids = to_numpy(labels)
        ids = (ids.argmax(axis=1) if ids.ndim == 2 else ids).astype(np.int64)  # multi-hot: the dominant label
        if ids.shape != (len(a),):
            raise ValueError(f"labels: expected [N] class ids or [N, K] multi-hot with N={len(a)}, got "
                             f"{ids.shape}")  # fmt: skip
        uniq = np.unique(ids)
        if label_names is None:
            label_names = {int(c): f"class {c}" for c in uniq}
        table_ids, class_names, cmap, norm = landcover_legend(label_names)
        if missing := sorted(set(uniq.tolist()) - set(table_ids)):
            raise ValueError(f"labels: class ids {missing} have no name in label_names")
        lut = {c: to_hex(cmap(norm(c))) for c in uniq}
        colours = {m: [lut[c] for c in ids] for m in markers}
        handles = [Line2D([], [], ls="", marker=markers[m], c="0.3", label=names[m]) for m in markers]
        handles += [Patch(color=lut[c], label=class_names[int(c)]) for c in uniq]
    for m, xy in (("s1", a), ("s2", b)):
        ax.scatter(*xy.T, s=14, marker=markers[m], c=colours[m], label=names[m], zorder=2)
    ax.legend(handles=handles, fontsize=8 if handles is None else 7, loc="best")
    ax.autoscale_view()
    show(ax, title=title, fontsize=10)
    return fig


def plot_projection_before_after(
    before: Any, after: Any, labels: Any = None, *, label_names: Mapping | Sequence[str] | None = None
) -> Figure:
    """:func:`plot_projection` before and after training; each is ``(s1, s2)`` or ``{"s1": .., "s2": ..}``."""
    fig, [axes] = grid(1, 2, figsize=(11, 4.8))
    for ax, coords, title in zip(axes, (before, after), ("before training", "after training")):
        s1, s2 = (coords["s1"], coords["s2"]) if isinstance(coords, Mapping) else coords
        plot_projection(s1, s2, title, labels, label_names=label_names, ax=ax)
    return fig


def plot_history(history: Any, *, title: str | None = None) -> Figure:
    """Training loss per step (raw, EMA), validation scores and ranks: ``train.fit``'s history or its log."""
    if isinstance(history, str | os.PathLike):  # a CSV log written by fit(log_dir=...)
        from xmodal_lab.train.loggers import read_log
        history = read_log(history)
    if "loss" not in history:
        raise ValueError(f"history: expected a 'loss' entry (loss per step), got keys {sorted(history)}")
    loss = to_numpy(history["loss"]).astype(np.float64).ravel()
    steps = np.arange(1, len(loss) + 1) if history.get("step") is None else to_numpy(history["step"]).ravel()
    metrics: dict[str, tuple[list, list]] = {}  # {metric: (steps, values)}
    for i, record in enumerate(history.get("val") or []):  # {"step": s, "recall@1": ...} per validation
        for key, value in record.items():
            if key.lower() not in _TIME_KEYS:
                xs, ys = metrics.setdefault(key, ([], []))
                xs.append(record.get("step", i + 1))
                ys.append(float(scalar(value)))
    groups: dict[str, list[str]] = {}
    for name in sorted(metrics, key=lambda n: "rank" in n.lower()):  # scores first, then ranks
        groups.setdefault("rank" if "rank" in name.lower() else "score", []).append(name)
    fig, [[ax, *metric_axes]] = grid(1, 1 + len(groups), figsize=(5.0 + 4.2 * len(groups), 3.6))
    ax.plot(steps, loss, color="0.7", lw=0.8, label="loss per step")
    if len(loss) > 1:
        from scipy.signal import lfilter
        ema = lfilter([1 - _SMOOTH], [1, -_SMOOTH], loss, zi=[_SMOOTH * loss[0]])[0]  # EMA started at loss[0]
        ax.plot(steps, ema, color="C0", lw=1.6, label=f"smoothed (EMA {_SMOOTH:g})")
    seconds = scalar(history.get("seconds"))
    took = f", {float(seconds):.0f} s" if isinstance(seconds, int | float) else ""
    label(ax, f"training loss ({len(loss)} steps{took})", legend=8, xlabel="training step",
          ylabel="training loss")  # fmt: skip
    better = {"score": "higher", "rank": "lower"}
    for axm, (kind, names) in zip(metric_axes, groups.items()):
        for name in names:
            axm.plot(*metrics[name], marker="o", ms=3, label=name)
        label(axm, f"validation {kind}s ({better[kind]} is better)", legend=8, xlabel="training step",
              ylabel=f"validation {kind}", gid=f"history_{kind}")  # fmt: skip
    suptitle(fig, title)
    return fig


def plot_label_efficiency(
    curves: Mapping[str, Mapping], *, metric: str = "accuracy", title: str | None = None, chance=None
) -> Figure:
    """Probe quality against the fraction of labels used, one line per embedding (radar, optical, joint...).

    ``curves`` is ``{name: {fraction: score or [score per seed]}}`` (seeds: mean and spread); ``chance``
    adds a dashed level (``gid="chance"``).
    """
    if not curves:
        raise ValueError("curves: got no curves to draw")
    fig, ax = figure_axes(figsize=(5.5, 3.8))
    for name, curve in curves.items():
        fractions = sorted(curve, key=float)
        runs = [to_numpy(curve[f]).astype(np.float64).ravel() for f in fractions]
        xs, mean = 100 * np.array(fractions, dtype=np.float64), np.array([r.mean() for r in runs])
        (line,) = ax.plot(xs, mean, marker="o", label=name)
        if any(r.size > 1 for r in runs):
            std = np.array([r.std() for r in runs])
            ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    if chance is not None:
        ax.axhline(chance, ls="--", c="0.5", lw=1, label="chance", gid="chance")
    label(ax, title, legend=8, xscale="log", xlabel="labels used (%)", ylabel=metric)
    return fig


def plot_segmentation(batch: Mapping, predictions: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Radar, optical, true ``mask`` ``[B, H, W]`` (1 water, 0 land, -1 no data), each model's prediction."""
    if "mask" not in batch:
        raise KeyError("plot_segmentation: the batch has no 'mask'")
    n = min(int(to_numpy(batch["mask"]).shape[0]), 4)
    heads = ["radar (VV, VH)", "optical", "truth", *predictions]
    fig, axes = grid(n, len(heads), size=1.9, titles=heads)
    masks = {"cmap": _MASK_CMAP, "vmin": 0, "vmax": 2, "interpolation": "nearest"}
    for i, row in enumerate(axes):
        show(row[0], render(batch["s1"][i], "s1") if "s1" in batch else None)
        show(row[1], render(batch["s2"][i], "s2") if "s2" in batch else None)
        for ax, mask in zip(row[2:], [batch["mask"][i], *(to_numpy(p)[i] for p in predictions.values())]):
            m = to_numpy(mask).astype(np.int64)
            show(ax, np.where(m < 0, 2, np.clip(m, 0, 1)), **masks)
    suptitle(fig, title)
    return fig


def plot_change_maps(before: Mapping, after: Mapping, truth: Any, scores: Mapping, *, title=None) -> Figure:
    """Before, after (one stretch), true change ``[B, H, W]``, score maps ``{name: [B, h, w]}`` by name."""
    truth = to_numpy(truth)
    n = min(truth.shape[0], 4)
    heads = ["before\n(S2 true colour)", "after\n(same fixed stretch)", "true change mask\n(white: changed)"]
    fig, axes = grid(n, 3 + len(scores), size=1.9, titles=heads + list(scores))
    score_arrays = [to_numpy(s).astype(np.float64) for s in scores.values()]
    for i, row in enumerate(axes):
        show(row[0], render(before["s2"][i], "s2"))
        show(row[1], render(after["s2"][i], "s2"))
        show(row[2], truth[i].astype(float), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for ax, s in zip(row[3:], score_arrays):
            lo, hi = float(np.nanmin(s[:n])), float(np.nanmax(s[:n]))  # one scale per column
            show(ax, s[i], cmap="magma", interpolation="nearest", vmin=lo, vmax=hi)
    for j, name in enumerate(scores, start=3):
        colorbar(fig, axes[0, j].get_images()[0], list(axes[:, j]), name, shrink=0.9)
    suptitle(fig, title)
    return fig
