"""Simulated flood scenes and the Sen1Floods11 hand-labelled layout (on generated GeoTIFFs)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.collate import collate_pairs
from xmodal_lab.data.floods import FLOOD_BIOMES, NODATA, Sen1Floods11, SimulatedFloods


def test_simulated_floods_have_water_masks_that_match_the_land_cover():
    floods = SimulatedFloods(seed=3, size=32, n_scenes=12, flooded_vegetation=False)  # open water only
    items = [floods[i] for i in range(12)]
    for item in items:
        assert item["mask"].dtype == torch.int64 and item["mask"].shape == (32, 32)
        assert torch.equal(item["mask"], (item["landcover"] == lc.WATER).long())
        assert not (item["flood_mask"] & (item["mask"] == 0)).any(), "flooded pixels are water"
        assert item["biome"] in FLOOD_BIOMES
        assert item["event"] == "flood"
    flooded = np.mean([float(it["flood_mask"].float().mean()) for it in items])
    assert flooded > 0.05, f"floods cover {flooded:.3f} of the tiles"
    assert torch.equal(
        floods[2]["s1"], SimulatedFloods(seed=3, size=32, n_scenes=12, flooded_vegetation=False)[2]["s1"]
    )  # seeded
    batch = collate_pairs(items[:4])
    assert batch["mask"].shape == (4, 32, 32)


def test_flood_water_is_dark_in_radar():
    item = SimulatedFloods(seed=0, size=32, n_scenes=8, flooded_vegetation=False)[1]
    water, land = item["mask"] == 1, item["mask"] == 0
    if water.any() and land.any():
        assert item["s1"][0][water].mean() < item["s1"][0][land].mean() - 5  # specular water: dB far lower


def test_simulated_floods_errors():
    with pytest.raises(ValueError, match="days_after"):
        SimulatedFloods(days_after=90)
    with pytest.raises(ValueError, match="no floods"):
        SimulatedFloods(biomes=("desert",))


def _write(path, array, transform, crs="EPSG:32620"):
    with rasterio.open(
        path, "w", driver="GTiff", width=array.shape[-1], height=array.shape[-2], count=array.shape[0],
        dtype=array.dtype, crs=crs, transform=transform,
    ) as dst:
        dst.write(array)


def _sen1floods11(root, chips=("Bolivia_1", "Ghana_2"), size=16):
    rng = np.random.default_rng(0)
    for sub in ("S1Hand", "S2Hand", "LabelHand"):
        (root / sub).mkdir(parents=True)
    transform = from_origin(500_000, 8_000_000, 10, 10)
    for chip in chips:
        s1 = rng.normal(-12, 3, (2, size, size)).astype(np.float32)
        s1[:, 0, :3] = np.nan  # a no-data border
        s2 = rng.integers(100, 3000, (13, size, size)).astype(np.float32)
        s2[10] = 7777  # B10 (cirrus): must be dropped
        label = rng.integers(-1, 2, (1, size, size)).astype(np.int16)
        _write(root / "S1Hand" / f"{chip}_S1Hand.tif", s1, transform)
        _write(root / "S2Hand" / f"{chip}_S2Hand.tif", s2, transform)
        _write(root / "LabelHand" / f"{chip}_LabelHand.tif", label, transform)
    return rng


def test_sen1floods11_reads_the_hand_labelled_layout(tmp_path):
    _sen1floods11(tmp_path)
    ds = Sen1Floods11(tmp_path)
    assert ds.chips == ["Bolivia_1", "Ghana_2"] and len(ds) == 2
    item = ds[0]
    assert item["s1"].shape == (2, 16, 16) and item["s2"].shape == (12, 16, 16)
    assert item["mask"].dtype == torch.int64
    assert set(torch.unique(item["mask"]).tolist()) <= {NODATA, 0, 1}
    with rasterio.open(tmp_path / "S2Hand" / "Bolivia_1_S2Hand.tif") as src:
        raw = src.read().astype(np.float32)
    expected = np.delete(raw, 10, axis=0) / 10000.0
    assert np.allclose(item["s2"].numpy(), expected)  # B10 gone, reflectance = DN / 10000
    assert (item["s2"] < 0.7).all()
    assert (item["mask"][0, :3] == NODATA).all(), "radar no-data pixels are never scored"
    assert torch.isfinite(item["s1"]).all() and float(item["s1"][0, 0, 0]) == -30.0
    assert item["gsd"] == 10.0 and item["crs"] == "EPSG:32620" and -90 < item["lat"] < 90
    assert Sen1Floods11(tmp_path, chips=["Ghana_2"])[0]["name"] == "Ghana_2"
    assert collate_pairs([ds[0], ds[1]])["mask"].shape == (2, 16, 16)


def test_sen1floods11_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="S1Hand"):
        Sen1Floods11(tmp_path)
    _sen1floods11(tmp_path)
    (tmp_path / "S2Hand" / "Ghana_2_S2Hand.tif").unlink()
    with pytest.raises(FileNotFoundError, match="Ghana_2"):
        Sen1Floods11(tmp_path)
    with pytest.raises(FileNotFoundError, match="Nowhere_9"):
        Sen1Floods11(tmp_path, chips=["Nowhere_9"])


def test_sen1floods11_rejects_unknown_label_values(tmp_path):
    _sen1floods11(tmp_path, chips=("Bolivia_1",))
    path = tmp_path / "LabelHand" / "Bolivia_1_LabelHand.tif"
    with rasterio.open(path) as src:
        transform = src.transform
    path.unlink()
    _write(path, np.full((1, 16, 16), 3, dtype=np.int16), transform)
    with pytest.raises(ValueError, match="label values"):
        Sen1Floods11(tmp_path)[0]
