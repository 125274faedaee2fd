from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from PIL import Image
from pyproj import Geod
from shapely.geometry import Point, shape

from tests.viz.conftest import make_pair
from xmodal_lab.viz import maps
from xmodal_lab.viz.maps import embedding_colors, footprints_geojson


def test_png_data_url_round_trips():
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    url = maps.png_data_url(rgb)
    assert url.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(back, rgb)


def test_view_of_centres_on_the_bounds_and_zooms_in_on_small_areas():
    centre, zoom = maps.view_of(((48.0, 11.0), (48.1, 11.2)))
    assert centre == pytest.approx((48.05, 11.1))
    assert 10 <= zoom <= 12  # 0.2 degrees fill about 700 px at zoom 11
    assert maps.view_of(((-60, -170), (70, 170)))[1] == 1


def test_explore_map_has_a_footprint_layer_coloured_by_embedding(pairs):
    emb = torch.randn(len(pairs), 8, generator=torch.Generator().manual_seed(0))
    m = maps.explore_map(pairs, emb, basemap=None)
    layer = maps.find_layer(m, "footprints")
    features = layer.data["features"]
    assert len(features) == len(pairs)
    assert [f["properties"]["color"] for f in features] == embedding_colors(emb)
    assert layer.style_callback(features[2])["fillColor"] == features[2]["properties"]["color"]
    overlays = maps.find_layer(m, "tiles (optical)").layers
    assert len(overlays) == len(pairs) and all(o.url.startswith("data:image/png;base64,") for o in overlays)
    (south, west), (north, east) = overlays[0].bounds
    assert south < pairs[0]["lat"] < north and west < pairs[0]["lon"] < east
    assert not [la for la in m.layers if type(la).__name__ == "TileLayer"]  # no basemap asked for
    json.dumps(layer.data)  # the layer's data must serialise to the browser


def test_explore_map_keeps_an_offline_basemap_and_one_colour_without_embeddings(pairs):
    m = maps.explore_map(pairs[:2], overlays=None)
    colours = {f["properties"]["color"] for f in maps.find_layer(m, "footprints").data["features"]}
    assert colours == {"#1b9e77"}
    assert maps.find_layer(m, "footprints").style["fillColor"] == "#1b9e77"
    assert any(type(la).__name__ == "TileLayer" for la in m.layers)
    with pytest.raises(KeyError, match="no layer named 'tiles"):
        maps.find_layer(m, "tiles (optical)")


def test_explore_map_adds_centre_markers_only_for_spread_out_tiles(pairs):
    spread = maps.explore_map(pairs, overlays=None, basemap=None)
    assert len(maps.find_layer(spread, "tile centres").data["features"]) == len(pairs)
    local = maps.explore_map(pairs[:2], overlays=None, basemap=None)  # 3 km apart
    with pytest.raises(KeyError):
        maps.find_layer(local, "tile centres")


def test_hovering_a_tile_describes_it(pairs):
    m = maps.explore_map(pairs, overlays=None, basemap=None)
    layer = maps.find_layer(m, "footprints")
    feature = layer.data["features"][3]
    layer._hover_callbacks(event="mouseover", feature=feature, properties=feature["properties"])
    assert "<b>index</b> 3" in m.hover_info.value and "<b>date</b> 2021-06-04" in m.hover_info.value


def test_plot_footprints_draws_one_polygon_per_tile(pairs):
    ax = maps.plot_footprints(pairs).axes[0]
    assert [p.get_gid() for p in ax.patches] == ["footprint"] * len(pairs)
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    assert all(xmin < p["lon"] < xmax and ymin < p["lat"] < ymax for p in pairs)


def test_plot_footprints_marks_centres_only_when_tiles_are_specks(pairs):
    def has_dots(fig) -> bool:
        return any(c.get_gid() == "centres" for c in fig.axes[0].collections)

    assert has_dots(maps.plot_footprints(pairs))  # three continents
    assert not has_dots(maps.plot_footprints(pairs[:2]))  # 3 km apart


def _ring_bounds(features) -> list[list[float]]:
    """Independent bounds: min/max of every footprint corner, as [[south, west], [north, east]]."""
    pts = np.concatenate([np.asarray(f["geometry"]["coordinates"][0]) for f in features])
    return [[pts[:, 1].min(), pts[:, 0].min()], [pts[:, 1].max(), pts[:, 0].max()]]


def test_explore_map_opens_fitted_to_the_footprints_with_legend_and_fly_to(pairs):
    emb = torch.randn(len(pairs), 8, generator=torch.Generator().manual_seed(1))
    m = maps.explore_map(pairs[:3], emb[:3], basemap=None)
    features = m.footprints["features"]
    np.testing.assert_allclose(m.fitted_bounds, _ring_bounds(features))
    (south, west), (north, east) = m.fitted_bounds
    assert south < m.center[0] < north and west < m.center[1] < east
    assert m.zoom >= 10  # three tiles within 15 km: not a view of the whole Atlantic
    assert "colour wheel" in m.legend.value and "data:image/png;base64," in m.legend.value
    # fly to one tile: the map fits that tile's footprint
    options = list(m.fly_to_selector.options)
    assert options[0] == "all tiles" and len(options) == 4 and options[3].startswith("tile 2 (")
    m.fly_to_selector.value = options[3]
    np.testing.assert_allclose(m.fitted_bounds, _ring_bounds([features[2]]))
    assert m.zoom > 12
    m.fly_to_selector.value = "all tiles"
    np.testing.assert_allclose(m.fitted_bounds, _ring_bounds(features))


def test_fly_to_groups_tiles_by_place_and_world_spread_is_still_fitted(pairs):
    named = [dict(p, place="Munich" if i < 3 else f"south {i}") for i, p in enumerate(pairs)]
    m = maps.explore_map(named, basemap=None, overlays=None)
    assert list(m.fly_to_selector.options)[:2] == ["all tiles", "Munich"]
    assert not hasattr(m, "legend")  # plain colours: no embedding key to explain
    m.fly_to_selector.value = "Munich"
    np.testing.assert_allclose(m.fitted_bounds, _ring_bounds(m.footprints["features"][:3]))


def test_plot_footprints_has_a_colour_key_when_coloured_by_embedding(pairs):
    emb = np.random.default_rng(0).normal(size=(len(pairs), 4))
    fig = maps.plot_footprints(pairs, embeddings=emb)
    keys = [ax for ax in fig.axes[0].child_axes if ax.get_gid() == "colour_key"]
    assert len(keys) == 1 and "coloured by embedding" in fig.axes[0].get_title()
    assert not maps.plot_footprints(pairs).axes[0].child_axes


GEOD = Geod(ellps="WGS84")


def edge_lengths(ring) -> np.ndarray:
    lon, lat = np.asarray(ring).T
    _, _, dist = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    return dist


def test_footprints_contain_the_centre_and_measure_size_times_gsd(pairs):
    fc = footprints_geojson(pairs, colors=["#ff0000"] * len(pairs))
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(pairs)
    for i, (pair, feature) in enumerate(zip(pairs, fc["features"])):
        assert feature["properties"]["index"] == i and feature["properties"]["color"] == "#ff0000"
        ring = feature["geometry"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        polygon = shape(feature["geometry"])
        assert polygon.contains(Point(pair["lon"], pair["lat"]))
        # the tile centre is the polygon's centre to within a metre
        centre = polygon.centroid
        _, _, offset = GEOD.inv(centre.x, centre.y, pair["lon"], pair["lat"])
        assert offset < 1.0
        # 32 px at 10 m: every edge 320 m (UTM scale factor keeps the error under 0.1%)
        np.testing.assert_allclose(edge_lengths(ring), 320.0, rtol=1e-3)


def test_footprints_from_metadata_and_from_lat_lon_gsd_only():
    meta = make_pair(0, 10.0, 20.0, size=64, gsd=20.0)
    by_grid = {k: meta[k] for k in ("crs", "transform", "lat", "lon", "s2")}
    by_centre = {"lat": 10.0, "lon": 20.0, "gsd": 20.0, "s1": np.zeros((2, 64, 64))}
    rings = [
        footprints_geojson([m])["features"][0]["geometry"]["coordinates"][0] for m in (by_grid, by_centre)
    ]
    np.testing.assert_allclose(rings[0], rings[1], atol=1e-7)
    np.testing.assert_allclose(edge_lengths(rings[1]), 1280.0, rtol=1e-3)


def test_footprints_explain_what_is_missing():
    with pytest.raises(ValueError, match=r"pairs\[0\].*missing \['gsd'\]"):
        footprints_geojson([{"lat": 1.0, "lon": 2.0, "s1": np.zeros((2, 8, 8))}])
    with pytest.raises(ValueError, match="colors: expected one colour per tile"):
        footprints_geojson([{"lat": 1.0, "lon": 2.0, "gsd": 10.0, "s1": np.zeros((2, 8, 8))}], colors=["r", "b"])


def rgb_distance(a: str, b: str) -> float:
    return float(np.linalg.norm(np.subtract(to_rgb(a), to_rgb(b))))


def test_embedding_colours_distinct_for_distant_and_alike_for_near_embeddings():
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    coords = np.repeat(centres, 5, axis=0) + 0.05 * rng.normal(size=(20, 2))
    colours = embedding_colors(coords)
    assert len(colours) == 20 and all(len(c) == 7 and c.startswith("#") for c in colours)
    within = max(rgb_distance(colours[5 * g], colours[5 * g + j]) for g in range(4) for j in range(1, 5))
    between = min(rgb_distance(colours[5 * g], colours[5 * h]) for g in range(4) for h in range(g + 1, 4))
    assert within < 0.1 and between > 0.5, (within, between)


def test_embedding_colours_reduce_high_dimensional_embeddings():
    rng = np.random.default_rng(1)
    emb = np.concatenate([rng.normal(3, 0.01, (3, 16)), rng.normal(-3, 0.01, (3, 16))])
    colours = embedding_colors(torch.from_numpy(emb))
    assert rgb_distance(colours[0], colours[1]) < 0.1 and rgb_distance(colours[0], colours[3]) > 0.5


def test_footprint_properties_carry_the_pairs_scalars(pairs):
    pair = {**pairs[0], "biome": "cropland", "index": 17}
    props = footprints_geojson([pair])["features"][0]["properties"]
    assert props["biome"] == "cropland" and props["date"] == "2021-06-01" and props["gsd"] == 10.0
    assert props["index"] == 0  # the position in the collection, which maps and similarity rows use
    assert props["scene_index"] == 17
    assert "s1" not in props and "transform" not in props
