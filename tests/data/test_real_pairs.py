"""An SSL4EO-S12 location on one grid, its tiles, and the named tune / held-out split.

The SSL4EO-S12 files are not part of the project: tests read the development samples at
``../shared/real_samples/ssl4eo_s12`` from the repository root (or under ``$XMODAL_REAL_SAMPLES``) and skip
when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal_lab.config import REPO_ROOT
from xmodal_lab.data.real_pairs import cut_tiles, read_ssl4eo_location, real_transfer_split, ssl4eo_pairs

SSL4EO = Path(os.environ.get("XMODAL_REAL_SAMPLES", REPO_ROOT.parent / "shared/real_samples")) / "ssl4eo_s12"
ABSENT = f"SSL4EO-S12 samples not found at {SSL4EO} (shared development data, not part of the project)"
needs_ssl4eo = pytest.mark.skipif(not (SSL4EO / "s1" / "0000200").is_dir(), reason=ABSENT)


@pytest.fixture(scope="module")
def pairs():
    if not (SSL4EO / "s1" / "0000200").is_dir():
        pytest.skip(ABSENT)
    return ssl4eo_pairs(SSL4EO)


def test_ssl4eo_pairs_are_on_one_10m_grid_in_physical_units(pairs):
    assert [p["date_s1"] for p in pairs] == ["2020-06-07", "2020-09-03"]
    assert [p["date"] for p in pairs] == ["2020-06-04", "2020-08-13"]  # the nearest optical date
    for p in pairs:
        _, h, w = p["s1"].shape
        assert p["s1"].shape[0] == 2 and p["s2"].shape == (12, h, w)
        assert 250 <= h <= 264 and 250 <= w <= 264  # the part of the optical grid the radar covers
        assert torch.isfinite(p["s1"]).all() and torch.isfinite(p["s2"]).all()
        vv, vh = p["s1"][0].mean().item(), p["s1"][1].mean().item()
        assert -16 < vv < -5 and vh < vv  # dB, cross-polarisation darker
        assert 0.0 < p["s2"].mean().item() < 0.5  # reflectance, not digital numbers
        assert p["s2"][7].mean() > p["s2"][3].mean()  # irrigated crops: NIR above red
        assert p["lat"] == pytest.approx(30.46, abs=0.05) and p["lon"] == pytest.approx(73.31, abs=0.05)


def test_radar_is_not_interpolated(pairs):
    # nearest-neighbour resampling keeps the file's own values (bilinear would average speckle)
    import rasterio

    folder = SSL4EO / "s1" / "0000200"
    acq = sorted(folder.iterdir())[0]
    with rasterio.open(acq / "VV.tif") as src:
        original = set(np.unique(src.read(1)).tolist())
    assert set(np.unique(pairs[0]["s1"][0].numpy()).tolist()) <= original


def test_cut_tiles_halves_never_share_a_pixel(pairs):
    west = cut_tiles(pairs, 32, (0.0, 0.5))
    east = cut_tiles(pairs, 32, (0.5, 1.0))
    w = pairs[0]["s1"].shape[2]
    assert max(t["window"][1] for t in west) + 32 <= w / 2 <= min(t["window"][1] for t in east)
    assert all(t["s1"].shape == (2, 32, 32) and t["s2"].shape == (12, 32, 32) for t in west + east)
    torch.testing.assert_close(west[0]["s2"], pairs[0]["s2"][:, :32, :32])


@needs_ssl4eo
def test_real_transfer_split_roles():
    split = real_transfer_split(32, root=SSL4EO)
    assert {k: len(v) for k, v in split.items()} == {"tune": 64, "test": 64, "test_europe": 54}
    assert all(t["source"].startswith("ssl4eo_s12 west") for t in split["tune"])
    assert all(t["source"].startswith("bigearthnet_mm") for t in split["test_europe"])


def test_missing_band_and_bad_arguments_raise(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    (tmp_path / "s2a").mkdir()
    with pytest.raises(FileNotFoundError, match="VV.tif"):
        read_ssl4eo_location(tmp_path / "s1", tmp_path / "s2")
    with pytest.raises(FileNotFoundError, match="no acquisition folders"):
        ssl4eo_pairs(tmp_path, location="0000001")
    with pytest.raises(ValueError, match="columns"):
        cut_tiles([], 32, (0.6, 0.4))


def test_absent_ssl4eo_files_raise_naming_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"ssl4eo_s12: SSL4EO-S12 files not found.*s1/<location>"):
        ssl4eo_pairs()
    with pytest.raises(FileNotFoundError, match=r"nowhere: SSL4EO-S12 files not found.*pass root="):
        real_transfer_split(32, root=tmp_path / "nowhere")
