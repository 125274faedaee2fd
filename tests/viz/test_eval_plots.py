from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection

from xmodal_lab.viz import eval_plots as plots
from xmodal_lab.viz.colours import s2_true_colour


def boxed(ax) -> bool:
    return any(p.get_gid() == "true_match" for p in ax.patches)


def test_plot_similarity_matrix_shows_the_matrix():
    sim = torch.eye(5) * 0.8 + 0.1
    fig = plots.plot_similarity_matrix(sim)
    assert len(fig.axes) == 2  # matrix and colour bar
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), sim.numpy())
    assert "0.90" in fig.axes[0].get_title() and "0.10" in fig.axes[0].get_title()


def test_plot_retrieval_boxes_the_true_match_only_where_it_is_in_the_top_k(pairs):
    s1 = torch.stack([p["s1"] for p in pairs])
    s2 = torch.stack([p["s2"] for p in pairs])
    n, k = len(pairs), 3
    sim = torch.zeros(n, n)
    sim[0] = torch.tensor([0.8, 0.9, 0.1, 0.2, 0.3, 0.0])  # true match ranked 2nd
    sim[1] = torch.tensor([0.1, 0.9, 0.2, 0.3, 0.4, 0.5])  # ranked 1st
    sim[2] = torch.tensor([0.9, 0.8, 0.1, 0.7, 0.0, 0.5])  # ranked 5th: outside the top 3
    fig = plots.plot_retrieval(s1, s2, sim, k=k)
    grid = np.array(fig.axes).reshape(3, k + 3)
    boxes = [(r, c) for r in range(3) for c in range(k + 3) if boxed(grid[r, c])]
    assert boxes == [(0, 2), (1, 1)]
    assert grid[2, k + 1].get_title().startswith("true match (rank 5)")
    assert grid[1, k + 2].get_title() == "least similar  cos 0.10"
    assert grid[0, k + 2].get_title() == "least similar  cos 0.00"
    # the least similar panel shows gallery item 5 for query 0
    np.testing.assert_array_equal(grid[0, k + 2].get_images()[0].get_array(), s2_true_colour(s2[5]))


def test_plot_retrieval_rejects_a_mismatched_matrix(pairs):
    s1 = torch.stack([p["s1"] for p in pairs])
    with pytest.raises(ValueError, match="sim: expected shape"):
        plots.plot_retrieval(s1, torch.stack([p["s2"] for p in pairs]), torch.zeros(3, 3))


def test_plot_projection_joins_each_pair_with_one_line():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    fig = plots.plot_projection(a, b, "t")
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segments = lines.get_segments()
    assert len(segments) == 20
    np.testing.assert_allclose(np.stack(segments), np.stack([a, b], axis=1))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["radar (S1)", "optical (S2)"] and fig.axes[0].get_title() == "t"
    with pytest.raises(ValueError, match="coords: expected two"):
        plots.plot_projection(a, b[:3])


def test_plot_projection_before_after_has_two_panels():
    rng = np.random.default_rng(1)
    before = (rng.normal(size=(8, 2)), rng.normal(size=(8, 2)))
    after = {"s1": torch.randn(8, 2), "s2": torch.randn(8, 2)}
    fig = plots.plot_projection_before_after(before, after)
    assert [ax.get_title() for ax in fig.axes] == ["before training", "after training"]
    for ax in fig.axes:
        assert sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection)) == 8


def test_plot_history_loss_and_validation():
    history = {
        "loss": [3.0, 2.5, 2.0, 1.0],
        "val": [{"step": 2, "recall@1": 0.1}, {"step": 4, "recall@1": 0.4}],
    }
    fig = plots.plot_history(history)
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), history["loss"])
    (val,) = fig.axes[1].lines
    np.testing.assert_allclose(val.get_xdata(), [2, 4])
    np.testing.assert_allclose(val.get_ydata(), [0.1, 0.4])
    assert len(plots.plot_history({"loss": [1.0, 0.5]}).axes) == 1


def test_plot_label_efficiency_one_line_per_curve():
    curves = {"radar": {0.1: 0.5, 0.01: 0.3, 1.0: 0.6}, "optical": {0.01: [0.4, 0.5], 0.1: 0.7, 1.0: [0.8]}}
    fig = plots.plot_label_efficiency(curves)
    ax = fig.axes[0]
    data_lines = ax.lines
    assert len(data_lines) == 2 and len(ax.collections) == 1  # the spread over seeds of "optical"
    np.testing.assert_allclose(data_lines[0].get_xdata(), [1, 10, 100])
    np.testing.assert_allclose(data_lines[1].get_ydata(), [0.45, 0.7, 0.8])


def test_plot_history_keeps_ranks_scores_and_seconds_apart():
    history = {
        "loss": [3.0, 2.5, 2.0, 1.0],
        "seconds": 12.0,
        "val": [
            {"step": 2, "time": 5.0, "recall@1": 0.1, "median_rank": 30.0},
            {"step": 4, "time": 11.0, "recall@1": 0.4, "median_rank": 4.0},
        ],
    }
    fig = plots.plot_history(history)
    assert len(fig.axes) == 3
    assert (
        fig.axes[0].get_xlabel() == "training step"
        and fig.axes[0].get_title() == "training loss (4 steps, 12 s)"
    )
    scores, ranks = fig.axes[1], fig.axes[2]
    assert [ln.get_label() for ln in scores.lines] == ["recall@1"]
    assert [ln.get_label() for ln in ranks.lines] == ["median_rank"]
    np.testing.assert_allclose(ranks.lines[0].get_ydata(), [30.0, 4.0])
    assert all("time" not in ln.get_label() for ax in fig.axes for ln in ax.lines)


def test_projection_colours_points_by_land_cover_and_label_efficiency_draws_chance():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    labels = np.array([0, 0, 1, 1, 2, 2])
    fig = plots.plot_projection_before_after(
        (a, b), (a, b), labels=labels, label_names=["water", "forest", "urban"]
    )
    ax = fig.axes[0]
    colours = {tuple(np.round(c, 3)) for c in ax.collections[1].get_facecolors()}
    assert len(colours) == 3  # one colour per class, not the modality colour
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"water", "forest", "urban"} <= set(names)
    with pytest.raises(ValueError, match="no name"):
        plots.plot_projection(
            a, b, labels=np.array([0, 0, 1, 1, 2, 5]), label_names=["water", "forest", "urban"]
        )
    fig = plots.plot_label_efficiency({"s1": {0.1: 0.5, 1.0: 0.7}}, chance=0.25)
    (chance,) = [line for line in fig.axes[0].get_lines() if line.get_gid() == "chance"]
    assert chance.get_ydata()[0] == 0.25
