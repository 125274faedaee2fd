"""The contiguous simulated region and the GeoTIFF writer: one grid, exact round trip, never overwritten."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from xmodal_lab.data import PairedRasterDataset, SimulatedWorld
from xmodal_lab.data.geo import lonlat_to_utm
from xmodal_lab.data.region import region_geotiffs, region_scene, render_region, write_pair_geotiffs


def test_region_scene_is_the_first_scene_of_its_biome():
    index = region_scene(0, "coast")
    world = SimulatedWorld(seed=0, n_scenes=index + 1)
    assert world.place(index).biome == "coast"
    assert all(world.place(i).biome != "coast" for i in range(index))
    with pytest.raises(ValueError, match="biome"):
        region_scene(0, "moon")


def test_render_region_is_one_contiguous_grid_at_the_scene_place():
    pair = render_region(seed=0, size=96, gsd=10.0)
    assert pair["s1"].shape == (2, 96, 96) and pair["s2"].shape == (12, 96, 96)
    assert pair["landcover"].shape == (96, 96)
    place = SimulatedWorld(seed=0, n_scenes=region_scene(0, "coast") + 1).place(region_scene(0, "coast"))
    x, y, epsg = lonlat_to_utm(place.lat, place.lon)
    a, b, c, d, e, f = pair["transform"]
    assert pair["crs"] == f"EPSG:{epsg}"
    assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0)
    assert c + 48 * a == pytest.approx(x) and f + 48 * e == pytest.approx(y)  # centred on the place
    # a coast: sea and land in one scene
    classes = np.bincount(pair["landcover"].numpy().ravel(), minlength=8)
    assert (classes > 0).sum() >= 3
    again = render_region(seed=0, size=96, gsd=10.0)
    assert np.array_equal(pair["s2"].numpy(), again["s2"].numpy())
    with pytest.raises(ValueError, match="size"):
        render_region(size=4)


def test_write_pair_geotiffs_round_trips_through_paired_raster_dataset(tmp_path):
    pair = render_region(seed=0, size=64, gsd=10.0)
    paths = write_pair_geotiffs(pair, tmp_path, "place")
    assert sorted(paths) == ["landcover", "s1", "s2"]
    with rasterio.open(paths["s2"]) as src:
        assert src.crs.to_string() == pair["crs"]
        assert tuple(src.transform)[:6] == pytest.approx(pair["transform"])
        assert src.descriptions[0] == "B1" and src.dtypes[0] == "uint16"
    ds = PairedRasterDataset(paths["s1"], paths["s2"], size=64)
    back = ds[0]
    assert np.allclose(back["s1"].numpy(), pair["s1"].numpy())
    assert np.abs(back["s2"].numpy() - pair["s2"].numpy()).max() <= 0.5e-4 + 1e-7  # 1 DN = 1e-4
    assert back["transform"] == pytest.approx(pair["transform"])


def test_write_pair_geotiffs_never_overwrites(tmp_path):
    pair = render_region(seed=0, size=32, gsd=10.0)
    paths = write_pair_geotiffs(pair, tmp_path, "p")
    before = paths["s1"].read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_pair_geotiffs(pair, tmp_path, "p")
    assert paths["s1"].read_bytes() == before
    bad = dict(pair, s2=pair["s2"].clone())
    bad["s2"][0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        write_pair_geotiffs(bad, tmp_path, "q")


def test_region_geotiffs_are_cached_and_reused(tmp_path):
    first = region_geotiffs(tmp_path, size=48)
    stamps = {k: p.stat().st_mtime_ns for k, p in first.items()}
    again = region_geotiffs(tmp_path, size=48)
    assert again == first and {k: p.stat().st_mtime_ns for k, p in again.items()} == stamps
    with rasterio.open(first["s2"]) as src:
        assert (src.width, src.height, src.count) == (48, 48, 12)
    first["landcover"].unlink()  # an incomplete folder is reported, not silently rewritten
    with pytest.raises(FileExistsError, match="lacks"):
        region_geotiffs(tmp_path, size=48)
