"""Region maps: pure picture helpers, and the click-to-query widgets driven from code (headless)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image
from pyproj import Transformer

from xmodal_lab.data.region import render_region, write_pair_geotiffs
from xmodal_lab.eval.embed_raster import embed_raster
from xmodal_lab.eval.tile_query import similarity_grid
from xmodal_lab.viz import region_maps as rm
from xmodal_lab.viz.maps import find_layer


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    torch.manual_seed(0)
    from xmodal_lab.models import build

    model = build("contrastive", preset="tiny").eval()
    pair = render_region(seed=0, size=128, gsd=10.0)
    paths = write_pair_geotiffs(pair, tmp_path_factory.mktemp("region"), "coast")
    tiles = embed_raster(model, paths["s1"], paths["s2"], None, tile=32, progress=False)
    return model, tiles, pair


def _png(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_similarity_rgba_hides_missing_tiles_and_dims_unselected_ones():
    sim = np.array([[1.0, np.nan], [-1.0, 0.2]])
    rgba = rm.similarity_rgba(sim, threshold=0.5)
    assert rgba.shape == (2, 2, 4) and rgba.dtype == np.uint8
    assert rgba[0, 1, 3] == 0 and rgba[0, 0, 3] == 210 and rgba[1, 1, 3] == 40
    from matplotlib import colormaps

    assert tuple(rgba[1, 0, :3]) == tuple((np.array(colormaps["magma"](0.0)[:3]) * 255).round().astype(int))


def test_mask_rgba_paints_only_the_mask():
    m = np.array([[True, False]])
    out = rm.mask_rgba(m, colour="#ff0000", alpha=100)
    assert out[0, 0].tolist() == [255, 0, 0, 100] and out[0, 1].tolist() == [0, 0, 0, 0]


def test_raster_bounds_contain_the_raster_corners(region):
    _, tiles, pair = region
    (south, west), (north, east) = rm.raster_lonlat_bounds(
        tiles.source_transform, tiles.source_shape, tiles.crs
    )
    to_ll = Transformer.from_crs(pair["crs"], "EPSG:4326", always_xy=True)
    a, _, c, _, e, f = pair["transform"]
    for x, y in ((c, f), (c + 128 * a, f + 128 * e)):
        lon, lat = to_ll.transform(x, y)
        assert west - 1e-9 <= lon <= east + 1e-9 and south - 1e-9 <= lat <= north + 1e-9


def test_region_explorer_click_slider_and_export(region, tmp_path):
    import geopandas as gpd

    _, tiles, pair = region
    box = rm.region_explorer(
        tiles, mode="optical -> optical", threshold=0.5, export_dir=tmp_path, basemap=None
    )
    m = box.map
    for name in (rm.LAYER_S2, rm.LAYER_S1, rm.LAYER_PCA, rm.LAYER_SIM, rm.LAYER_SEL, rm.LAYER_CLICK):
        find_layer(m, name)
    (south, west), (north, east) = m.raster_bounds
    assert south <= m.center[0] <= north and west <= m.center[1] <= east  # opened on the raster
    assert box.query_index == 0  # headless default: the first tile
    # a click on tile 10 (grid cell (2, 2)) through the map's own event
    a, _, c, _, e, f = pair["transform"]
    lon, lat = Transformer.from_crs(pair["crs"], "EPSG:4326", always_xy=True).transform(
        c + a * 80, f + e * 80
    )
    m._handle_leaflet_event(None, {"event": "interaction", "type": "click", "coordinates": [lat, lon]}, [])
    assert box.query_index == 10
    assert np.allclose(box.similarity, similarity_grid(tiles, 10, "s2", "s2"), equal_nan=True)
    layer = _png(find_layer(m, rm.LAYER_SIM).url)
    assert layer.shape == (4, 4, 4)
    box.slider.value = 0.99
    assert box.selected.sum() == (np.nan_to_num(box.similarity, nan=-2) >= 0.99).sum() >= 1
    assert len(find_layer(m, rm.LAYER_SEL).data["features"]) >= 1
    written = box.export()
    assert written.parent == tmp_path and written.suffix == ".gpkg"
    frame = gpd.read_file(written)
    assert frame.crs.to_string() == pair["crs"]
    assert frame.area.sum() == pytest.approx(box.selected.sum() * 320.0**2)
    second = box.export()
    assert second != written and written.is_file()  # a second export never overwrites the first
    with pytest.raises(ValueError, match="mode"):
        rm.region_explorer(tiles, mode="sideways", basemap=None)


def test_segment_explorer_and_static_figures(region, tmp_path):
    model, tiles, pair = region
    water = pair["landcover"].numpy() == 0
    r, c = np.argwhere(water)[len(np.argwhere(water)) // 2]
    a, _, x0, _, e, y0 = pair["transform"]
    lon, lat = Transformer.from_crs(pair["crs"], "EPSG:4326", always_xy=True).transform(
        x0 + a * (c + 0.5), y0 + e * (r + 0.5)
    )
    box = rm.segment_explorer(model, tiles, point=(lon, lat), export_dir=tmp_path, basemap=None)
    find_layer(box.map, rm.LAYER_SEG)
    assert box.result.mask[r, c]
    box.slider.value = 1.0  # nothing is that similar except the click's own patches at most
    assert box.result.mask.mean() < 0.2
    box.slider.value = 0.5
    path = box.export(tmp_path / "sea.geojson")
    assert path.is_file()
    fig = rm.plot_region_query(tiles, box_sim := similarity_grid(tiles, 0), 0.5, (lon, lat))
    assert any(im.get_gid() == "similarity" for im in fig.axes[0].images)
    assert np.allclose(np.ma.filled(fig.axes[0].images[1].get_array(), np.nan), box_sim, equal_nan=True)
    fig2 = rm.plot_region_mask(tiles, box.result.mask, truth=water)
    assert any(im.get_gid() == "mask" for im in fig2.axes[0].images)


def test_region_maps_open_fitted_with_legend_and_fly_to(region, tmp_path):
    _, tiles, pair = region
    box = rm.region_explorer(tiles, mode="optical -> optical", export_dir=tmp_path, basemap=None)
    m = box.map
    a, _, c, _, e, f = pair["transform"]
    to_ll = Transformer.from_crs(pair["crs"], "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform([c, c + 128 * a, c + 128 * a, c], [f, f, f + 128 * e, f + 128 * e])
    np.testing.assert_allclose(m.fitted_bounds, [[min(lat), min(lon)], [max(lat), max(lon)]], atol=1e-9)
    assert m.zoom >= 13  # a 1.28 km raster fills the map
    assert "principal components" in m.legend.value
    m.fly_to_selector.value = "clicked tile"
    (south, west), (north, east) = m.fitted_bounds
    left, bottom, right, top = tiles.footprint(box.query_index)
    corners = to_ll.transform([left, right], [bottom, top])
    assert west <= corners[0][0] + 1e-9 and corners[0][1] <= east + 1e-9
    assert (north - south) < (max(lat) - min(lat)) / 2  # a tile, not the whole place


def test_plot_region_pair_shows_both_sensors_on_a_metric_grid(region):
    _, tiles, pair = region
    fig = rm.plot_region_pair(tiles.s1_path, tiles.s2_path)
    images = [ax for ax in fig.axes if ax.get_images()]
    assert len(images) == 4
    for ax in images:
        assert ax.get_images()[0].get_extent() == [0.0, 1280.0, 0.0, 1280.0]  # metres: 128 px of 10 m
        assert [a for a in ax.artists if a.get_gid() == "scale_bar"]
    vv = images[1].get_images()[0]
    np.testing.assert_allclose(vv.get_array(), pair["s1"][0].numpy(), atol=1e-4)
    assert vv.get_clim() == (-25.0, 0.0)
    assert any(ax.get_xlabel() == "VV (dB)" for ax in fig.axes)  # the dB colour bar
    assert "contour at" in images[2].get_title() and images[2].collections  # contours drawn
    assert "metres east from" in images[0].get_xlabel()
