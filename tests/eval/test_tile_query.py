"""Click-to-query computations: similarity against eval.cosine_similarity, clicks to tiles, export, one-shot."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from pyproj import Transformer

from xmodal_lab.data.region import render_region, write_pair_geotiffs
from xmodal_lab.eval import cosine_similarity
from xmodal_lab.eval.embed_raster import embed_raster
from xmodal_lab.eval.tile_query import (
    export_vectors,
    grid_to_polygons,
    segment_region,
    similarity_grid,
    threshold_grid,
    tile_at,
)
from xmodal_lab.models import build

TILE = 32


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    """A 128 x 128 px stretch of the simulated coast (sea and land), 4 x 4 tiles, and its embeddings."""
    torch.manual_seed(0)
    model = build("contrastive", preset="tiny").eval()
    folder = tmp_path_factory.mktemp("region")
    pair = render_region(seed=0, size=128, gsd=10.0)
    paths = write_pair_geotiffs(pair, folder, "coast")
    tiles = embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, progress=False)
    return model, tiles, pair, paths


def _lonlat(crs: str, x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


def test_similarity_matches_eval_cosine_similarity(region):
    _, tiles, _, _ = region
    for q, g in (("s2", "s2"), ("s1", "s2"), ("s1", "s1")):
        expected = cosine_similarity(tiles.vectors[q], tiles.vectors[g]).numpy()[5]
        grid = similarity_grid(tiles, 5, query=q, gallery=g)
        assert grid.shape == (4, 4)
        assert np.allclose(grid[tiles.cells[:, 0], tiles.cells[:, 1]], expected, atol=1e-6)
    assert similarity_grid(tiles, 5)[1, 1] == pytest.approx(1.0)  # tile 5 is cell (1, 1); itself: 1
    with pytest.raises(ValueError, match="joint"):
        similarity_grid(tiles, 0, query="joint")
    with pytest.raises(ValueError, match="index"):
        similarity_grid(tiles, 16, query="s1", gallery="s2")


def test_threshold_never_selects_missing_tiles():
    sim = np.array([[0.9, np.nan], [0.2, 0.5]])
    assert threshold_grid(sim, 0.5).tolist() == [[True, False], [False, True]]
    assert threshold_grid(sim, -1.0).tolist() == [[True, False], [True, True]]
    with pytest.raises(ValueError, match="threshold"):
        threshold_grid(sim, 1.5)


def test_a_click_in_longitude_latitude_finds_its_tile(region):
    _, tiles, pair, _ = region
    a, _, c, _, e, f = pair["transform"]
    # centre of the tile whose top-left optical pixel is (row 64, col 96): grid cell (2, 3) = tile 11
    lon, lat = _lonlat(pair["crs"], c + a * (96 + 16), f + e * (64 + 16))
    assert tile_at(tiles, lon, lat) == 11
    assert tile_at(tiles, c + a * 5, f + e * 5, crs=pair["crs"]) == 0
    far_lon, far_lat = _lonlat(pair["crs"], c - 1000.0, f)
    with pytest.raises(ValueError, match="outside"):
        tile_at(tiles, far_lon, far_lat)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_selection_exports_to_gis_files_in_the_source_crs(region, tmp_path, suffix):
    import geopandas as gpd

    _, tiles, pair, _ = region
    mask = np.zeros(tiles.grid_shape, bool)
    mask[0, 0] = mask[0, 1] = mask[3, 3] = True  # two touching tiles and one apart
    collection = grid_to_polygons(tiles, mask, {"what": "test"})
    assert len(collection["features"]) == 2
    out = export_vectors(collection, tmp_path / f"sel{suffix}")
    frame = gpd.read_file(out)
    assert frame.crs.to_string() == pair["crs"]
    assert frame.area.sum() == pytest.approx(3 * (TILE * 10.0) ** 2)
    assert set(frame["what"]) == {"test"}
    with pytest.raises(FileExistsError):
        export_vectors(collection, out)
    with pytest.raises(ValueError, match="no features"):
        export_vectors(grid_to_polygons(tiles, np.zeros(tiles.grid_shape, bool)), tmp_path / f"e{suffix}")


def test_one_shot_from_a_sea_click_finds_the_sea(region):
    model, tiles, pair, paths = region
    water = pair["landcover"].numpy() == 0
    assert 0.2 < water.mean() < 0.8, "the fixture region should hold sea and land"
    rows, cols = np.nonzero(water)
    r, c = int(np.median(rows)), int(np.median(cols[rows == np.median(rows).astype(int)]))
    a, _, x0, _, e, y0 = pair["transform"]
    lon, lat = _lonlat(pair["crs"], x0 + a * (c + 0.5), y0 + e * (r + 0.5))
    before = paths["s2"].read_bytes()
    result = segment_region(model, tiles, lon, lat, modality="s2")
    assert paths["s2"].read_bytes() == before
    assert result.mask.shape == (128, 128) and result.point == (r, c)
    iou = (result.mask & water).sum() / (result.mask | water).sum()
    # a random-init encoder already separates open water spectrally; the baseline is water's own share
    assert iou > max(0.8, water.mean() + 0.3), f"IoU with the sea {iou:.2f}"
    polygons = result.to_polygons()
    assert polygons["crs"] == pair["crs"]
    area = sum(f["properties"]["area"] for f in polygons["features"])
    assert area == pytest.approx(result.mask.sum() * 100.0)
    with rasterio.open(paths["s2"]) as src:
        assert src.crs.to_string() == polygons["crs"]
