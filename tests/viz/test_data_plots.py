from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from tests.viz.conftest import CLASSES
from xmodal_lab.data.composites import s2_true_color
from xmodal_lab.viz import data_plots as plots


def image_axes(fig: Figure) -> list:
    """Axes that show at least one image (colour bars excluded: they hold no AxesImage)."""
    return [ax for ax in fig.axes if any(isinstance(a, AxesImage) for a in ax.get_children())]


def test_plot_pairs_one_row_per_pair_with_landcover_legend(pairs):
    fig = plots.plot_pairs(pairs, max_pairs=3, classes=CLASSES)
    assert len(image_axes(fig)) == 3 * 5
    # one dB colour bar under each radar column
    bars = [ax.get_xlabel() for ax in fig.axes[15:]]
    assert bars == ["S1 VV backscatter (dB)", "S1 VH backscatter (dB)"]
    assert fig.axes[2].get_title() == "S1 VV, -25 to 0 dB"
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
    assert (
        plots.plot_pairs(pairs, 1, classes=CLASSES, title="two sensors")._suptitle.get_text() == "two sensors"
    )


def test_plot_pairs_without_landcover_like_bigearthnet(pairs):
    real = [{k: v for k, v in p.items() if k != "landcover"} for p in pairs[:2]]
    real[0]["label_names"] = ["Coniferous forest", "Water bodies", "Pastures"]
    fig = plots.plot_pairs(real)
    assert len(image_axes(fig)) == 2 * 4 and not fig.legends
    assert fig.axes[0].get_ylabel().endswith("Coniferous forest\nWater bodies\n...")
    mixed = plots.plot_pairs([pairs[0], real[1]], classes=CLASSES)
    assert len(mixed.axes) == 2 * 5 + 2  # panels and the two dB colour bars
    assert "no land-cover map" in [t.get_text() for t in mixed.axes[9].texts]


def test_plot_bands_names_all_fourteen_bands(pairs):
    fig = plots.plot_bands(pairs[0])
    assert len(image_axes(fig)) == 14
    titles = [ax.get_title() for ax in fig.axes[:14]]
    assert [ax.get_xlabel() for ax in fig.axes[14:]] == ["reflectance", "VV (dB)", "VH (dB)"]
    assert titles[3] == "B4 red\n664.6 nm" and titles[11] == "B12 swir 2\n2202.4 nm"
    assert titles[12].startswith("VV") and titles[13].startswith("VH")
    np.testing.assert_allclose(fig.axes[7].get_images()[0].get_array(), pairs[0]["s2"][7].numpy())
    # one reflectance scale for every optical band
    assert {fig.axes[i].get_images()[0].get_clim() for i in range(12)} == {plots.REFLECTANCE_RANGE}


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
    from xmodal_lab.viz.maps import footprints_geojson

    real = bigearthnet_examples()
    pairs = [real[i] for i in range(2)]
    fig = plots.plot_pairs(pairs)
    assert len(image_axes(fig)) == 2 * 4 and not fig.legends  # no land-cover maps
    assert pairs[0]["label_names"][0][:22] in fig.axes[0].get_ylabel()
    for pair, feature in zip(pairs, footprints_geojson(pairs)["features"]):
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        assert ring[:, 0].min() < pair["lon"] < ring[:, 0].max()
        assert ring[:, 1].min() < pair["lat"] < ring[:, 1].max()


def _place(size: int = 32) -> dict:
    s2 = np.full((12, size, size), 0.12, np.float32)
    s1 = np.full((2, size, size), -8.0, np.float32)
    s2[:, :, : size // 2] = 0.02  # water on the left: dark in both sensors
    s1[:, :, : size // 2] = -24.0
    return {"s1": s1, "s2": s2, "gsd": 20.0}


def test_metric_axes_scale_bar_and_checkerboard():
    place = _place()
    fig = plots.plot_coregistration(place, checker=8)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 4
    assert all(ax.get_images()[0].get_extent() == [0.0, 640.0, 0.0, 640.0] for ax in panels)
    bars = [a for a in panels[0].artists if a.get_gid() == "scale_bar"]
    assert len(bars) == 1
    board = panels[3].get_images()[0].get_array()
    rgb = s2_true_color(place["s2"])
    np.testing.assert_array_equal(board[:8, :8], rgb[:8, :8])  # block (0, 0): optical
    grey = round((-8 + 25) / 25 * 255)
    assert (board[:8, 24:32] == grey).all()  # block (0, 3): radar VV on land
    assert "blocks of 160 m" in panels[3].get_title()
    assert "-15.0 dB" in panels[2].get_title()  # water-land boundary lies between -24 and -8 dB
    assert "0.64 x 0.64 km at 20 m" in fig._suptitle.get_text()


def test_contour_level_falls_back_to_the_median_and_errors_are_named():
    place = _place()
    place["s1"][0] = np.linspace(-5, -1, 32)[None, :]  # never crosses -15 dB
    fig = plots.plot_coregistration(place)
    assert "-3.0 dB" in [ax for ax in fig.axes if ax.get_images()][2].get_title()
    with pytest.raises(ValueError, match="same grid"):
        plots.plot_coregistration({"s1": place["s1"], "s2": place["s2"][:, :16]})
    with pytest.raises(ValueError, match="give a pair"):
        plots.plot_coregistration({"s1": place["s1"]})
