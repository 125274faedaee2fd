from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from pyproj import Geod
from shapely.geometry import Point, shape

from tests.viz.conftest import make_pair
from xmodal_lab.viz.geo import embedding_colors, footprints_geojson, value_colors

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
    by_grid = {k: meta[k] for k in ("crs", "transform", "lat", "lon")} | {"height": 64, "width": 64}
    by_centre = {"lat": 10.0, "lon": 20.0, "gsd": 20.0, "size": 64}
    rings = [
        footprints_geojson([m])["features"][0]["geometry"]["coordinates"][0] for m in (by_grid, by_centre)
    ]
    np.testing.assert_allclose(rings[0], rings[1], atol=1e-7)
    np.testing.assert_allclose(edge_lengths(rings[1]), 1280.0, rtol=1e-3)


def test_footprints_of_a_batch_equal_those_of_its_pairs(pairs):
    batch = {
        "s1": torch.stack([p["s1"] for p in pairs]),
        "crs": [p["crs"] for p in pairs],
        "transform": torch.tensor([p["transform"] for p in pairs], dtype=torch.float64),
        "lat": torch.tensor([p["lat"] for p in pairs]),
        "lon": torch.tensor([p["lon"] for p in pairs]),
    }
    a = footprints_geojson(batch, properties={"cluster": list(range(len(pairs)))})
    b = footprints_geojson(pairs)
    for fa, fb in zip(a["features"], b["features"]):
        np.testing.assert_allclose(fa["geometry"]["coordinates"], fb["geometry"]["coordinates"], atol=1e-9)
    assert [f["properties"]["cluster"] for f in a["features"]] == list(range(len(pairs)))


def test_footprints_explain_what_is_missing():
    with pytest.raises(ValueError, match=r"pairs\[0\].*missing \['gsd'\]"):
        footprints_geojson([{"lat": 1.0, "lon": 2.0, "size": 8}])
    with pytest.raises(ValueError, match="colors: expected one colour per tile"):
        footprints_geojson([{"lat": 1.0, "lon": 2.0, "gsd": 10.0, "size": 8}], colors=["red", "blue"])


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


def test_value_colours_follow_the_colour_map():
    colours = value_colors([0.0, 0.5, 1.0, 2.0], cmap="gray", vmax=1.0)
    assert colours == ["#000000", "#808080", "#ffffff", "#ffffff"]
    with pytest.raises(ValueError, match="values: expected finite numbers"):
        value_colors([0.0, float("nan")])


def test_footprint_properties_carry_the_pairs_scalars(pairs):
    pair = {**pairs[0], "biome": "cropland", "index": 17}
    props = footprints_geojson([pair])["features"][0]["properties"]
    assert props["biome"] == "cropland" and props["date"] == "2021-06-01" and props["gsd"] == 10.0
    assert props["index"] == 0  # the position in the collection, which maps and similarity rows use
    assert props["scene_index"] == 17
    assert "s1" not in props and "transform" not in props
