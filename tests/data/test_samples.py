"""BigEarthNet-MM pairs: the six bundled examples and the full archive's layout, with clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from xmodal_lab.config import data_dir
from xmodal_lab.data import BEN_CLASSES_19, BEN_CLASSES_43, BigEarthNetMM, bigearthnet_examples, collate_pairs
from xmodal_lab.data.real_pairs import ben_labels

BUNDLED = data_dir() / "bigearthnet_mm"


def _digest(folder):
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_bundled_examples_are_six_real_pairs_with_licence():
    assert (BUNDLED / "LICENSE").read_text().count("CDLA-Permissive-1.0") >= 1
    attribution = (BUNDLED / "ATTRIBUTION.md").read_text()
    assert "Contains modified Copernicus Sentinel data 2017-2018" in attribution and "Sumbul" in attribution
    before = _digest(BUNDLED)
    ds = bigearthnet_examples()
    assert len(ds) == 6
    batch = collate_pairs([ds[i] for i in range(6)])
    assert batch["s1"].shape == (6, 2, 120, 120) and batch["s2"].shape == (6, 12, 120, 120)
    assert batch["labels"].shape == (6, 19) and (batch["labels"].sum(1) >= 1).all()
    assert (batch["gsd"] == 10).all() and all(c.startswith("EPSG:326") for c in batch["crs"])
    # Europe, summer 2017 to spring 2018
    assert (batch["lat"] > 35).all() and (batch["lat"] < 72).all() and (batch["lon"].abs() < 35).all()
    assert all("2017-06" <= d <= "2018-05-31" for d in batch["date"])
    # physical units: radar in dB, optical reflectance
    assert -50 < float(batch["s1"].min()) and float(batch["s1"].max()) < 30 and float(batch["s1"].mean()) < -5
    assert 0 <= float(batch["s2"].min()) and float(batch["s2"].max()) < 2
    assert _digest(BUNDLED) == before  # reading never modifies the files


def test_bundled_pair_matches_its_files():
    import rasterio

    ds = bigearthnet_examples(num_classes=43)
    i = next(k for k in range(len(ds)) if ds.s1_dirs[k].name.endswith("33UUP_87_48"))
    p = ds[i]
    s1_dir = ds.s1_dirs[i]
    with rasterio.open(s1_dir / f"{s1_dir.name}_VV.tif") as f:
        np.testing.assert_array_equal(p["s1"][0].numpy(), f.read(1))
        assert p["transform"] == pytest.approx(tuple(f.transform)[:6]) and p["crs"] == "EPSG:32633"
    s2_dir = ds._s2[p["s2_name"]]
    with rasterio.open(s2_dir / f"{p['s2_name']}_B04.tif") as f:  # 10 m band: exactly DN / 10000
        np.testing.assert_allclose(p["s2"][3].numpy(), f.read(1) / 10000.0, rtol=1e-6)
    with rasterio.open(s2_dir / f"{p['s2_name']}_B11.tif") as f:  # 20 m band resampled to 10 m keeps its mean
        assert float(p["s2"][10].mean()) == pytest.approx(f.read(1).mean() / 10000.0, rel=0.01)
    meta = json.loads((s1_dir / f"{s1_dir.name}_labels_metadata.json").read_text())
    assert p["label_names"] == meta["labels"] and p["s2_name"] == meta["corresponding_s2_patch"]
    assert [BEN_CLASSES_43[j] for j in torch.nonzero(p["labels"]).ravel()] == sorted(
        meta["labels"], key=BEN_CLASSES_43.index
    )


def test_labels_map_43_to_19_classes():
    v = ben_labels(["Continuous urban fabric", "Discontinuous urban fabric", "Sea and ocean", "Airports"])
    assert [BEN_CLASSES_19[i] for i in np.nonzero(v)[0]] == ["Urban fabric", "Marine waters"]
    with pytest.raises(ValueError, match="unknown BigEarthNet label"):
        ben_labels(["Lava"])


def test_full_archive_layout_and_split(ben_archive):
    root, pairs, arrays = ben_archive
    ds = BigEarthNetMM(root)
    assert len(ds) == 2
    p = ds[1]
    np.testing.assert_array_equal(p["s1"].numpy(), arrays[1]["s1"])
    np.testing.assert_allclose(p["s2"][1].numpy(), arrays[1]["s2"]["B02"] / 10000.0, rtol=1e-6)
    # a 60 m band (2 x 2 px) upsampled to the 12 x 12 px radar grid
    assert p["s2"].shape == (12, 12, 12) and float(p["s2"][0].std()) > 0
    assert [BEN_CLASSES_19[i] for i in torch.nonzero(p["labels"]).ravel()] == [
        "Coniferous forest",
        "Inland waters",
    ]
    assert p["transform"][2] == 404400.0 + 1200 and p["date"] == "2017-06-13"
    split = root / "mine.csv"
    split.write_text(f"{pairs[1][1]},{pairs[1][0]}\n")
    assert BigEarthNetMM(root, split=split)[0]["s1_name"] == pairs[1][0]


def test_clear_errors_name_the_file(ben_archive, tmp_path):
    root, pairs, _ = ben_archive
    with pytest.raises(FileNotFoundError, match="no Sentinel-1 patch folders"):
        BigEarthNetMM(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        BigEarthNetMM(tmp_path / "nowhere")
    s1_name, s2_name, _ = pairs[0]
    (root / "BigEarthNet-S1-v1.0" / s1_name / f"{s1_name}_VH.tif").unlink()
    with pytest.raises(FileNotFoundError, match=f"{s1_name}_VH.tif"):
        BigEarthNetMM(root)[0]
    shutil.rmtree(root / "BigEarthNet-v1.0" / pairs[1][1])
    with pytest.raises(FileNotFoundError, match="Sentinel-2 twin"):
        BigEarthNetMM(root)[1]
    bad = root / "bad.csv"
    bad.write_text("only-one-column\n")
    with pytest.raises(ValueError, match="line 1"):
        BigEarthNetMM(root, split=bad)


def test_nan_and_misregistered_bands_are_rejected(tmp_path, tif, ben_patch):
    s1_root, s2_root = tmp_path / "S1", tmp_path / "S2"
    ben_patch(s1_root, s2_root, "S1A_X_1_1", "S2A_X_1_1", ["Pastures"])
    ben_patch(s1_root, s2_root, "S1A_X_2_2", "S2A_X_2_2", ["Pastures"], s1_crs="EPSG:32632")
    vv = np.full((12, 12), np.nan, dtype=np.float32)
    path = s1_root / "S1A_X_1_1" / "S1A_X_1_1_VV.tif"
    path.unlink()
    tif(path, vv)
    ds = BigEarthNetMM(tmp_path)
    with pytest.raises(ValueError, match=r"S1A_X_1_1_VV.tif.*NaN or infinite"):
        ds[0]
    with pytest.raises(ValueError, match="does not match the radar patch"):
        ds[1]
