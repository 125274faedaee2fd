"""Shared fixtures of the data tests: a small world and its per-class statistics, computed once."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld, ndvi


@pytest.fixture(scope="session")
def world() -> SimulatedWorld:
    return SimulatedWorld(seed=0, size=48, n_scenes=400)


@pytest.fixture(scope="session")
def class_stats(world) -> dict[str, dict[str, np.ndarray]]:
    """Pixels of 240 clear scenes grouped by land-cover class: VV, VH (dB), NDVI, mean visible reflectance."""
    acc: dict[str, dict[str, list]] = {
        name: {"vv": [], "vh": [], "ndvi": [], "vis": []} for name in LANDCOVER_CLASSES
    }
    for i in range(240):
        p = world[i]
        lc, s1, s2 = p["landcover"].numpy(), p["s1"].numpy(), p["s2"].numpy()
        nd = ndvi(s2)
        for c, name in enumerate(LANDCOVER_CLASSES):
            m = lc == c
            if m.any():
                acc[name]["vv"].append(s1[0][m])
                acc[name]["vh"].append(s1[1][m])
                acc[name]["ndvi"].append(nd[m])
                acc[name]["vis"].append(s2[1:4][:, m].mean(0))
    return {n: {k: np.concatenate(v) for k, v in d.items() if v} for n, d in acc.items()}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensor ops run fastest on one thread (and CI gives each test worker one core)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_tif(
    path, array, crs="EPSG:32633", transform=(10.0, 0.0, 404400.0, 0.0, -10.0, 5342400.0), nodata=None,
    descriptions=None,
):
    """Write a small GeoTIFF ``[C, H, W]`` (or ``[H, W]``) with a CRS and an affine transform."""
    import rasterio
    from rasterio.transform import Affine

    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1], count=array.shape[0],
        dtype=array.dtype, crs=crs, transform=Affine(*transform), nodata=nodata,
    ) as dst:
        dst.write(array)
        if descriptions:
            dst.descriptions = descriptions
    return path


S2_FILE_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
S2_FILE_GSD = (60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 20, 20)


def write_ben_patch(
    s1_root, s2_root, s1_name, s2_name, labels, size=12, seed=0, origin=(404400.0, 5342400.0),
    s1_crs="EPSG:32633",
):
    """One BigEarthNet-MM pair in the archive's layout, ``size`` px at 10 m; returns the arrays written."""
    import json

    rng = np.random.default_rng(seed)
    x0, y0 = origin
    s1_dir, s2_dir = s1_root / s1_name, s2_root / s2_name
    out = {"s1": rng.uniform(-25, 0, (2, size, size)).astype(np.float32), "s2": {}}
    for band, arr in zip(("VV", "VH"), out["s1"]):
        write_tif(s1_dir / f"{s1_name}_{band}.tif", arr, crs=s1_crs, transform=(10.0, 0, x0, 0, -10.0, y0))
    for band, gsd in zip(S2_FILE_BANDS, S2_FILE_GSD):
        n = size * 10 // gsd
        arr = rng.integers(100, 5000, (n, n)).astype(np.uint16)
        out["s2"][band] = arr
        write_tif(s2_dir / f"{s2_name}_{band}.tif", arr, transform=(float(gsd), 0, x0, 0, -float(gsd), y0))
    meta = {
        "labels": labels,
        "coordinates": {"ulx": x0, "uly": y0},
        "corresponding_s2_patch": s2_name,
        "acquisition_time": "2017-06-13T16:50:43",
    }
    (s1_dir / f"{s1_name}_labels_metadata.json").write_text(json.dumps(meta))
    (s2_dir / f"{s2_name}_labels_metadata.json").write_text(
        json.dumps({"labels": labels, "acquisition_date": "2017-06-13 10:10:31"})
    )
    return out


@pytest.fixture
def ben_archive(tmp_path):
    """A two-pair BigEarthNet-MM archive in the full archive's folder layout, with torchgeo's split files."""
    root = tmp_path / "ben"
    s1_root, s2_root = root / "BigEarthNet-S1-v1.0", root / "BigEarthNet-v1.0"
    pairs = [
        (
            "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_1_2",
            "S2A_MSIL2A_20170613T101031_1_2",
            ["Non-irrigated arable land", "Pastures"],
        ),
        (
            "S1B_IW_GRDH_1SDV_20170613T165043_33UUP_3_4",
            "S2A_MSIL2A_20170613T101031_3_4",
            ["Coniferous forest", "Water bodies", "Road and rail networks and associated land"],
        ),
    ]
    arrays = []
    for k, (s1, s2, labels) in enumerate(pairs):
        arrays.append(
            write_ben_patch(s1_root, s2_root, s1, s2, labels, seed=k, origin=(404400.0 + 1200 * k, 5342400.0))
        )
    for split in ("train", "val", "test"):
        (root / f"bigearthnet-{split}.csv").write_text("".join(f"{s2},{s1}\n" for s1, s2, _ in pairs))
    return root, pairs, arrays


@pytest.fixture
def tif():
    """The GeoTIFF writer of these tests (``tif(path, array, crs=..., transform=..., nodata=...)``)."""
    return write_tif


@pytest.fixture
def ben_patch():
    """The BigEarthNet-MM pair writer of these tests (see :func:`write_ben_patch`)."""
    return write_ben_patch


@pytest.fixture
def torchgeo_ben(tmp_path):
    """A two-pair BigEarthNet archive at full patch size (torchgeo resamples every band to 120 x 120)."""
    root = tmp_path / "ben120"
    pairs = [
        ("S1A_IW_GRDH_1SDV_20170613T165043_33UUP_1_2", "S2A_MSIL2A_20170614T101031_1_2", ["Pastures"]),
        ("S1B_IW_GRDH_1SDV_20180201T165043_33UUP_3_4", "S2B_MSIL2A_20180202T101031_3_4", ["Sea and ocean"]),
    ]
    arrays = [
        write_ben_patch(
            root / "BigEarthNet-S1-v1.0", root / "BigEarthNet-v1.0", s1, s2, labels, size=120, seed=k,
            origin=(404400.0 + 1200 * k, 5342400.0),
        )
        for k, (s1, s2, labels) in enumerate(pairs)
    ]
    for split in ("train", "val", "test"):
        (root / f"bigearthnet-{split}.csv").write_text("".join(f"{s2},{s1}\n" for s1, s2, _ in pairs))
    return root, pairs, arrays
