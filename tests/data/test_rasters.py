"""PairedRasterDataset: tiling a GeoTIFF pair, grids, units, nodata, and clear errors on bad input."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import rasterio
import torch

from xmodal_lab.data import PairedRasterDataset, SimulatedWorld

T = (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A simulated 64 x 64 scene written as GeoTIFFs, and its pair dict."""
    w = SimulatedWorld(seed=1, size=64, n_scenes=3)
    folder = tmp_path_factory.mktemp("scene")
    return w.to_geotiff(0, folder), w[0]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiles_of_an_aligned_pair_match_the_scene(scene):
    paths, pair = scene
    before = {k: _sha(p) for k, p in paths.items()}
    ds = PairedRasterDataset(paths["s1"], paths["s2"], size=32, stride=16)
    assert len(ds) == 9 and ds.aligned
    t = ds[4]  # row 16, col 16
    assert t["window"] == (16, 16) and t["s1"].shape == (2, 32, 32) and t["s2"].shape == (12, 32, 32)
    torch.testing.assert_close(t["s1"], pair["s1"][:, 16:48, 16:48])
    torch.testing.assert_close(t["s2"], pair["s2"][:, 16:48, 16:48], atol=5.1e-5, rtol=0)
    a, b, c, d, e, f = pair["transform"]
    assert t["transform"] == pytest.approx((a, b, c + 160, d, e, f - 160))
    assert t["crs"] == pair["crs"] and t["gsd"] == 10.0 and t["date"] == pair["date"]
    # the centre of the middle tile is the centre of the scene
    assert t["lat"] == pytest.approx(pair["lat"], abs=1e-6) and t["lon"] == pytest.approx(
        pair["lon"], abs=1e-6
    )
    assert not t["nodata_mask"].any()
    assert {k: _sha(p) for k, p in paths.items()} == before  # inputs untouched


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_radar_on_another_grid_is_reprojected_and_says_so(scene, tmp_path):
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    paths, pair = scene
    with rasterio.open(paths["s1"]) as src:
        dst_crs = "EPSG:3857"
        transform, width, height = calculate_default_transform(
            src.crs, dst_crs, src.width, src.height, *src.bounds
        )
        out = np.full((2, height, width), np.nan, dtype=np.float32)
        reproject(
            src.read(), out, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
            dst_crs=dst_crs, resampling=Resampling.bilinear, dst_nodata=np.nan,
        )
    moved = tmp_path / "s1_mercator.tif"
    with rasterio.open(
        moved, "w", driver="GTiff", width=width, height=height, count=2, dtype="float32", crs=dst_crs,
        transform=transform, nodata=np.nan,
    ) as dst:
        dst.write(out)
    with pytest.warns(UserWarning, match="reprojecting the radar onto the optical grid"):
        ds = PairedRasterDataset(moved, paths["s2"], size=32, max_nodata=0.5)
    assert not ds.aligned and len(ds) >= 1
    t = ds[0]
    r, c = t["window"]
    ref = pair["s1"][:, r : r + 32, c : c + 32]
    valid = ~t["nodata_mask"]
    corr = np.corrcoef(t["s1"][0][valid].numpy(), ref[0][valid].numpy())[0, 1]
    assert corr > 0.6 and t["crs"] == pair["crs"]
    with pytest.raises(ValueError, match="not on the grid"):
        PairedRasterDataset(moved, paths["s2"], size=32, reproject=False)


def test_thirteen_band_optical_drops_b10(scene, tmp_path, tif):
    paths, pair = scene
    with rasterio.open(paths["s2"]) as src:
        bands12, crs, transform = src.read(), src.crs, tuple(src.transform)[:6]
    bands13 = np.concatenate([bands12[:10], np.full_like(bands12[:1], 7777), bands12[10:]])
    path = tif(tmp_path / "s2_13.tif", bands13, crs=crs, transform=transform)
    a = PairedRasterDataset(paths["s1"], paths["s2"], size=32)[0]
    b = PairedRasterDataset(paths["s1"], path, size=32)[0]
    torch.testing.assert_close(a["s2"], b["s2"])


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_band_counts_crs_size_overlap_and_missing_files(scene, tmp_path, tif):
    paths, _ = scene
    ok_s2 = paths["s2"]
    rng = np.random.default_rng(0)
    three = tif(tmp_path / "s1_3.tif", rng.normal(-12, 3, (3, 64, 64)).astype(np.float32))
    with pytest.raises(ValueError, match=r"s1_3.tif: expected 2 bands \(VV, VH\), found 3"):
        PairedRasterDataset(three, ok_s2)
    four = tif(tmp_path / "s2_4.tif", rng.integers(1, 3000, (4, 64, 64)).astype(np.uint16))
    with pytest.raises(ValueError, match=r"s2_4.tif: expected 12 bands .* found 4"):
        PairedRasterDataset(paths["s1"], four)
    with pytest.raises(FileNotFoundError, match="nothing.tif"):
        PairedRasterDataset(tmp_path / "nothing.tif", ok_s2)
    s1 = tif(tmp_path / "s1.tif", rng.normal(-12, 3, (2, 64, 64)).astype(np.float32), transform=T)
    s2 = tif(tmp_path / "s2.tif", rng.integers(1, 3000, (12, 64, 64)).astype(np.uint16), transform=T)
    with pytest.raises(ValueError, match="smaller than one 128 px tile"):
        PairedRasterDataset(s1, s2, size=128)
    far = tif(
        tmp_path / "far.tif", rng.normal(-12, 3, (2, 64, 64)).astype(np.float32),
        transform=(10.0, 0, 600000.0, 0, -10.0, 5000000.0),
    )
    with pytest.raises(ValueError, match="do not overlap"):
        PairedRasterDataset(far, s2)
    with rasterio.open(
        tmp_path / "nocrs.tif", "w", driver="GTiff", width=64, height=64, count=2, dtype="float32"
    ) as dst:
        dst.write(np.zeros((2, 64, 64), np.float32))
    with pytest.raises(ValueError, match="nocrs.tif: has no CRS"):
        PairedRasterDataset(tmp_path / "nocrs.tif", s2)


def test_nodata_tiles_are_dropped_and_small_gaps_filled(tmp_path, tif):
    rng = np.random.default_rng(1)
    s1 = rng.normal(-12, 2, (2, 64, 64)).astype(np.float32)
    s2 = rng.integers(500, 3000, (12, 64, 64)).astype(np.uint16)
    s2[:, :32, :32] = 0  # the top-left tile is empty
    s2[:, 40:42, 40:42] = 0  # a 4-pixel gap in the bottom-right tile
    s1[:, 0, 40] = np.nan  # one radar gap in the top-right tile
    p1, p2 = tif(tmp_path / "s1.tif", s1, transform=T), tif(tmp_path / "s2.tif", s2, transform=T, nodata=0)
    ds = PairedRasterDataset(p1, p2, size=32, max_nodata=0.05)
    assert sorted(ds.windows) == [(0, 32), (32, 0), (32, 32)]
    t = ds[ds.windows.index((32, 32))]
    assert int(t["nodata_mask"].sum()) == 4 and bool(t["nodata_mask"][8, 8])
    assert float(t["s2"][0, 8, 8]) == pytest.approx(
        float(np.median(s2[0, 32:, 32:][s2[0, 32:, 32:] > 0])) / 1e4
    )
    top_right = ds[ds.windows.index((0, 32))]
    assert torch.isfinite(top_right["s1"]).all() and bool(top_right["nodata_mask"][0, 8])
    s2[:] = 0
    empty = tif(tmp_path / "empty.tif", s2, transform=T, nodata=0)
    with pytest.raises(ValueError, match="every pixel is nodata"):
        PairedRasterDataset(p1, empty, size=32, max_nodata=0.05)


def test_infinite_values_are_an_error(tmp_path, tif):
    rng = np.random.default_rng(2)
    s1 = rng.normal(-12, 2, (2, 32, 32)).astype(np.float32)
    s1[1, 3, 3] = np.inf
    p1 = tif(tmp_path / "s1_inf.tif", s1, transform=T)
    p2 = tif(tmp_path / "s2.tif", rng.integers(500, 3000, (12, 32, 32)).astype(np.uint16), transform=T)
    with pytest.raises(ValueError, match="s1_inf.tif: contains infinite values"):
        PairedRasterDataset(p1, p2, size=32)


def test_radar_units_linear_or_db_with_a_sanity_check(tmp_path, tif):
    rng = np.random.default_rng(3)
    db = rng.normal(-12, 2, (2, 32, 32)).astype(np.float32)
    linear = tif(tmp_path / "s1_linear.tif", (10 ** (db / 10)).astype(np.float32), transform=T)
    in_db = tif(tmp_path / "s1_db.tif", db, transform=T)
    p2 = tif(tmp_path / "s2.tif", rng.integers(500, 3000, (12, 32, 32)).astype(np.uint16), transform=T)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = PairedRasterDataset(linear, p2, size=32, s1_units="linear")[0]
    np.testing.assert_allclose(t["s1"].numpy(), db, atol=1e-4)
    with pytest.warns(UserWarning, match="look like linear power"):
        PairedRasterDataset(linear, p2, size=32)
    with pytest.raises(ValueError, match="look like dB"):  # power is never negative
        PairedRasterDataset(in_db, p2, size=32, s1_units="linear", max_nodata=1.0)
    with pytest.raises(ValueError, match="s1_units"):
        PairedRasterDataset(in_db, p2, s1_units="neper")


def test_reflectance_scaling_and_vh_vv_order(tmp_path, tif):
    rng = np.random.default_rng(4)
    db = rng.normal(-12, 2, (2, 32, 32)).astype(np.float32)
    swapped = tif(tmp_path / "s1_vhvv.tif", db[::-1].copy(), transform=T, descriptions=("VH", "VV"))
    refl = rng.uniform(0.01, 0.6, (12, 32, 32)).astype(np.float32)
    p2 = tif(tmp_path / "s2_float.tif", refl, transform=T)
    t = PairedRasterDataset(swapped, p2, size=32, date="2021-06-15")[0]
    np.testing.assert_allclose(t["s1"].numpy(), db)  # back in VV, VH order
    np.testing.assert_allclose(t["s2"].numpy(), refl, rtol=1e-6)  # float reflectance kept as is
    assert t["date"] == "2021-06-15"
    dn = tif(tmp_path / "S2_20210615_dn.tif", (refl * 10000 + 1000).astype(np.uint16), transform=T)
    t = PairedRasterDataset(swapped, dn, size=32, s2_offset=-0.1)[0]  # processing baseline >= 04.00
    np.testing.assert_allclose(t["s2"].numpy(), refl, atol=1.1e-4)
    assert t["date"] == "2021-06-15"  # found in the file name
