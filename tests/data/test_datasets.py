"""torchgeo adapters on tiny files written in each dataset's own folder layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.data import (
    BEN_CLASSES_19,
    LANDCOVER_CLASSES,
    TorchGeoBigEarthNet,
    TorchGeoSEN12MS,
    TorchGeoSSL4EOS12,
    collate_pairs,
)

pytest.importorskip("torchgeo")
UTM = (10.0, 0.0, 300000.0, 0.0, -10.0, 4000000.0)


def test_bigearthnet_adapter_reads_float_radar_in_vv_vh_order(torchgeo_ben):
    root, pairs, arrays = torchgeo_ben
    ds = TorchGeoBigEarthNet(root, split="train")
    assert len(ds) == 2
    p = ds[0]
    # torchgeo alone would give integer dB in VH, VV order; the adapter keeps the float values, VV first
    np.testing.assert_array_equal(p["s1"].numpy(), arrays[0]["s1"])
    np.testing.assert_allclose(p["s2"][1].numpy(), arrays[0]["s2"]["B02"] / 10000.0, rtol=1e-6)
    assert p["s2"].shape == (12, 120, 120) and p["labels"].shape == (19,)
    assert p["label_names"] == ["Pastures"] and p["date"] == "2017-06-14" and p["date_s1"] == "2017-06-13"
    assert p["crs"] == "EPSG:32633" and p["transform"][2] == 404400.0
    q = ds[1]
    assert q["label_names"] == ["Sea and ocean"]  # the archive's names; labels use the 19 classes
    assert q["labels"].nonzero().ravel().tolist() == [BEN_CLASSES_19.index("Marine waters")]
    batch = collate_pairs([p, q])
    assert batch["s1"].shape == (2, 2, 120, 120)


def test_bigearthnet_adapter_reports_a_missing_archive(tmp_path):
    from torchgeo.datasets import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError):
        TorchGeoBigEarthNet(tmp_path)


def _sen12ms(root, tif):
    rng = np.random.default_rng(0)
    ids = []
    for season in ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter"):
        (root / season).mkdir(parents=True)
    for scene, patch in ((1, 30), (1, 31)):

        def stem(src, scene=scene, patch=patch):
            return f"ROIs1158_spring/{src}_{scene}/ROIs1158_spring_{src}_{scene}_p{patch}.tif"

        s1 = rng.normal(-12, 3, (2, 16, 16)).astype(np.float32)
        s2 = rng.integers(1, 4000, (13, 16, 16)).astype(np.uint16)
        lc = np.stack([np.full((16, 16), 17 if patch == 30 else 12, np.uint16)] * 4)
        lc[0, :4] = 1  # a strip of evergreen needleleaf forest
        tif(root / stem("s1"), s1, transform=UTM, crs="EPSG:32618")
        tif(root / stem("s2"), s2, transform=UTM, crs="EPSG:32618")
        tif(root / stem("lc"), lc, transform=UTM, crs="EPSG:32618")
        ids.append(f"ROIs1158_spring_lc_{scene}_p{patch}.tif")
    (root / "train_list.txt").write_text("\n".join(ids) + "\n")
    (root / "test_list.txt").write_text(ids[0] + "\n")
    return s1, s2


def test_sen12ms_adapter_drops_b10_and_maps_igbp(tmp_path, tif):
    s1, s2 = _sen12ms(tmp_path, tif)
    ds = TorchGeoSEN12MS(tmp_path, split="train")
    assert len(ds) == 2
    p = ds[1]
    np.testing.assert_allclose(p["s1"].numpy(), s1)
    expected = np.concatenate([s2[:10], s2[11:]]).astype(np.float32) / 10000.0
    np.testing.assert_allclose(p["s2"].numpy(), expected, rtol=1e-6)
    forest, crop, water = (LANDCOVER_CLASSES.index(n) for n in ("forest", "cropland", "water"))
    assert int(p["landcover"][0, 0]) == forest and int(p["landcover"][10, 10]) == crop
    assert int(ds[0]["landcover"][10, 10]) == water
    assert p["labels"][forest] == 1 and p["labels"][crop] == 1 and p["labels"].sum() == 2
    assert p["crs"] == "EPSG:32618" and p["date"] == "2017-04-15" and p["season"] == "spring"


def _ssl4eo(root, tif, optical="s2a"):
    rng = np.random.default_rng(1)
    arrays = {}
    bands = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
    gsds = (60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20)
    for loc in ("0000000", "0000001"):
        # seasons written out of date order: the adapter sorts them
        for date in ("20200901T100000", "20200301T100000"):
            s1_dir = root / "s1" / loc / f"S1A_IW_GRDH_1SDV_{date}_{date}_033_ABCD"
            s2_dir = root / optical / loc / f"{date}_{date}_T32UMU"
            for b in ("VV", "VH"):
                arrays[(loc, date, b)] = rng.normal(-12, 3, (24, 24)).astype(np.float32)
                tif(s1_dir / f"{b}.tif", arrays[(loc, date, b)], transform=UTM)
            for b, g in zip(bands, gsds):
                if b == "B10" and optical == "s2a":
                    continue
                n = 24 * 10 // g
                arrays[(loc, date, b)] = rng.integers(1, 4000, (n, n)).astype(np.uint16)
                tif(
                    s2_dir / f"{b}.tif", arrays[(loc, date, b)],
                    transform=(float(g), 0, 300000.0, 0, -float(g), 4000000.0),
                )
    return arrays


@pytest.mark.parametrize("optical", ["s2a", "s2c"])
def test_ssl4eo_adapter_pairs_sensors_by_location_and_season(tmp_path, tif, optical):
    arrays = _ssl4eo(tmp_path, tif, optical)
    ds = TorchGeoSSL4EOS12(tmp_path, optical=optical, season=0)
    assert len(ds) == 2
    p = ds[1]
    assert p["location"] == "0000001" and p["date"] == "2020-03-01" and p["date_s1"] == "2020-03-01"
    np.testing.assert_array_equal(p["s1"][1].numpy(), arrays[("0000001", "20200301T100000", "VH")])
    np.testing.assert_allclose(
        p["s2"][3].numpy(), arrays[("0000001", "20200301T100000", "B4")] / 10000.0, rtol=1e-6
    )
    assert p["s2"].shape == (12, 24, 24) and p["gsd"] == 10.0
    both = TorchGeoSSL4EOS12(tmp_path, optical=optical, season="all")
    assert len(both) == 8 and both[1]["date"] == "2020-09-01"
    with pytest.raises(FileNotFoundError, match="expected at least 3"):
        both[2]
    with pytest.raises(ValueError, match="optical"):
        TorchGeoSSL4EOS12(tmp_path, optical="s3")


def test_adapters_apply_the_transform(tmp_path, tif):
    _sen12ms(tmp_path, tif)
    ds = TorchGeoSEN12MS(tmp_path, transform=lambda p: {**p, "s1": torch.zeros_like(p["s1"])})
    assert float(ds[0]["s1"].abs().sum()) == 0.0
