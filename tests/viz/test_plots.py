from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from tests.viz.conftest import CLASSES
from xmodal_lab.models.layers import alibi_2d_bias, alibi_slopes, patch_distances
from xmodal_lab.viz import plots
from xmodal_lab.viz.palettes import landcover_legend


def image_axes(fig: Figure) -> list:
    """Axes that show at least one image (colour bars excluded: they hold no AxesImage)."""
    return [ax for ax in fig.axes if any(isinstance(a, AxesImage) for a in ax.get_children())]


def boxed(ax) -> bool:
    return any(p.get_gid() == "true_match" for p in ax.patches)


def test_plot_pairs_one_row_per_pair_with_landcover_legend(pairs):
    fig = plots.plot_pairs(pairs, max_pairs=3, classes=CLASSES)
    assert len(fig.axes) == 3 * 5
    vv = fig.axes[2].get_images()[0].get_array()
    np.testing.assert_allclose(vv, pairs[0]["s1"][0].numpy())
    rgb = fig.axes[0].get_images()[0].get_array()
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    lc = fig.axes[4].get_images()[0]
    np.testing.assert_array_equal(lc.get_array(), pairs[0]["landcover"].numpy())
    # each class id is painted with its own colour
    colours = {tuple(lc.cmap(lc.norm(i))) for i in CLASSES}
    assert len(colours) == len(CLASSES)
    (legend,) = fig.legends
    assert sorted(t.get_text() for t in legend.get_texts()) == sorted(CLASSES.values())
    assert fig._suptitle is None
    assert plots.plot_pairs(pairs, 1, classes=CLASSES, title="two sensors")._suptitle.get_text() == "two sensors"


def test_plot_pairs_without_landcover_like_bigearthnet(pairs):
    real = [{k: v for k, v in p.items() if k != "landcover"} for p in pairs[:2]]
    real[0]["label_names"] = ["Coniferous forest", "Water bodies", "Pastures"]
    fig = plots.plot_pairs(real)
    assert len(fig.axes) == 2 * 4 and not fig.legends
    assert fig.axes[0].get_ylabel().endswith("Coniferous forest\nWater bodies\n...")
    mixed = plots.plot_pairs([pairs[0], real[1]], classes=CLASSES)
    assert len(mixed.axes) == 2 * 5
    assert "no land-cover map" in [t.get_text() for t in mixed.axes[9].texts]


def test_plot_pairs_accepts_a_collated_batch(pairs):
    batch = {
        k: torch.stack([p[k] for p in pairs[:4]])
        if torch.is_tensor(pairs[0][k])
        else [p[k] for p in pairs[:4]]
        for k in pairs[0]
    }
    fig = plots.plot_pairs(batch, max_pairs=2, classes=CLASSES)
    assert len(fig.axes) == 2 * 5
    np.testing.assert_allclose(fig.axes[5 + 3].get_images()[0].get_array(), pairs[1]["s1"][1].numpy())


def test_plot_bands_names_all_fourteen_bands(pairs):
    fig = plots.plot_bands(pairs[0])
    assert len(fig.axes) == 14
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[3] == "B4 red\n664.6 nm" and titles[11] == "B12 swir 2\n2202.4 nm"
    assert titles[12].startswith("VV") and titles[13].startswith("VH")
    np.testing.assert_allclose(fig.axes[7].get_images()[0].get_array(), pairs[0]["s2"][7].numpy())
    # one reflectance scale for every optical band
    assert {fig.axes[i].get_images()[0].get_clim() for i in range(12)} == {plots.REFLECTANCE_RANGE}


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
    np.testing.assert_array_equal(grid[0, k + 2].get_images()[0].get_array(), plots.s2_true_colour(s2[5]))


def test_plot_retrieval_rejects_a_mismatched_matrix(pairs):
    s1 = torch.stack([p["s1"] for p in pairs])
    with pytest.raises(ValueError, match="sim: expected shape"):
        plots.plot_retrieval(s1, torch.stack([p["s2"] for p in pairs]), torch.zeros(3, 3))


def test_plot_projection_joins_each_pair_with_one_line():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    fig = plots.plot_projection(a, b, "t", labels=rng.integers(0, 3, 20), label_names=["w", "f", "c"])
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segments = lines.get_segments()
    assert len(segments) == 20
    np.testing.assert_allclose(np.stack(segments), np.stack([a, b], axis=1))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["radar (S1)", "optical (S2)", "w", "f", "c"]
    named = plots.plot_projection(a, b, labels=np.zeros(20, int), label_names=["water", "forest"])
    assert to_hex(named.axes[0].collections[1].get_facecolor()[0]) == to_hex(
        landcover_legend(["water"])[2](0)
    )
    with pytest.raises(ValueError, match=r"class ids \[2\] have no name"):
        plots.plot_projection(a, b, labels=np.full(20, 2), label_names=["water", "forest"])


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


def test_plot_reconstruction_greys_exactly_the_hidden_patches(pairs):
    img = torch.stack([p["s2"] for p in pairs[:2]])
    mask = torch.zeros(2, 16)  # 4x4 patches of 8x8 pixels
    mask[0, [0, 5, 15]] = 1
    low = img[:, :, ::4, ::4]
    fig = plots.plot_reconstruction(img, img * 0.9, mask, low=low, high=img - img.mean())
    assert len(fig.axes) == 2 * 6
    masked = fig.axes[1].get_images()[0].get_array()
    grey = (masked == 128).all(axis=-1)
    assert grey[:8, :8].all() and grey[8:16, 8:16].all() and grey[24:, 24:].all()
    assert grey.sum() <= 3 * 64 + 20  # only chance pixels outside hidden patches equal 128
    # the "reconstruction + visible" panel equals the original where patches were visible
    np.testing.assert_array_equal(
        fig.axes[3].get_images()[0].get_array()[8:, :8], fig.axes[0].get_images()[0].get_array()[8:, :8]
    )


def test_plot_bias_maps_matches_alibi_formula():
    grid, heads, q = (4, 5), 4, 7
    fig = plots.plot_bias_maps(alibi_2d_bias(heads, grid), grid, q)
    assert len(fig.axes) == heads + 1  # panels and colour bar
    for h in range(heads):
        shown = fig.axes[h].get_images()[0].get_array()
        expected = -(alibi_slopes(heads)[h] * patch_distances(grid)[q]).reshape(grid).numpy()
        np.testing.assert_allclose(shown, expected, rtol=1e-6)
        assert shown[q // 5, q % 5] == 0
    assert len(plots.plot_bias_maps(alibi_2d_bias(16, grid)[0], grid, (1, 2)).axes) == 8 + 1


def test_plot_label_efficiency_one_line_per_curve():
    curves = {"radar": {0.01: 0.3, 0.1: 0.5, 1.0: 0.6}, "optical": ([0.01, 0.1, 1.0], [[0.4, 0.5], 0.7, 0.8])}
    fig = plots.plot_label_efficiency(curves, chance=0.1)
    ax = fig.axes[0]
    data_lines = [ln for ln in ax.lines if ln.get_gid() != "chance"]
    assert len(data_lines) == 2
    np.testing.assert_allclose(data_lines[0].get_xdata(), [1, 10, 100])
    np.testing.assert_allclose(data_lines[1].get_ydata(), [0.45, 0.7, 0.8])


def test_plot_masks_reports_iou_and_area_against_reference(pairs):
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 8:24, 8:24] = True  # 256 pixels
    masks[1, 0:4, 0:4] = True
    reference = np.zeros((32, 32), bool)
    reference[8:24, 8:16] = True  # 128 pixels inside mask 0
    fig = plots.plot_masks(pairs[0]["s2"], masks, scores=[0.9, 0.5], points=[[16, 16]], reference=reference)
    assert len(fig.axes) == 3
    assert "IoU 0.50" in fig.axes[1].get_title() and "area x2.00" in fig.axes[1].get_title()
    assert "score 0.90" in fig.axes[1].get_title()
    result = SimpleNamespace(masks=masks, scores=np.array([0.7, 0.2]))  # what xmodal_lab.models.sam returns
    titles = [ax.get_title() for ax in plots.plot_masks(pairs[0]["s2"], result).axes[1:]]
    assert titles == ["mask 0  score 0.70", "mask 1  score 0.20"]


def test_plot_change_marks_distance_above_threshold(pairs):
    distance = np.zeros((4, 4))
    distance[1, 2] = 1.0  # one patch of 16 changed
    fig = plots.plot_change(pairs[0], pairs[1], distance, threshold=0.5)
    assert len(image_axes(fig)) == 4
    assert "(6% of the area)" in fig.axes[3].get_title()
    assert fig.axes[0].get_title() == "before 2021-06-01"


def test_plot_pairs_names_the_simulated_worlds_classes():
    from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld

    world = SimulatedWorld(seed=0, size=32, n_scenes=8)
    pairs = [world[i] for i in range(3)]
    fig = plots.plot_pairs(pairs)
    present = sorted({int(v) for p in pairs for v in p["landcover"].unique()})
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [LANDCOVER_CLASSES[i] for i in present]


def test_plot_pairs_and_footprints_of_the_real_bigearthnet_pairs():
    from xmodal_lab.data import bigearthnet_examples
    from xmodal_lab.viz.geo import footprints_geojson

    real = bigearthnet_examples()
    pairs = [real[i] for i in range(2)]
    fig = plots.plot_pairs(pairs)
    assert len(fig.axes) == 2 * 4 and not fig.legends  # no land-cover maps
    assert pairs[0]["label_names"][0][:22] in fig.axes[0].get_ylabel()
    for pair, feature in zip(pairs, footprints_geojson(pairs)["features"]):
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        assert ring[:, 0].min() < pair["lon"] < ring[:, 0].max()
        assert ring[:, 1].min() < pair["lat"] < ring[:, 1].max()
