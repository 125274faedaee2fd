"""Real Sentinel-1 / Sentinel-2 pairs on one grid, cut into tiles: SSL4EO-S12 locations and BigEarthNet-MM."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmodal_lab.config import data_dir
from xmodal_lab.data.bands import S2_BAND_NAMES
from xmodal_lab.data.io import date_in_name, geo_fields


def acquisitions(folder: Path) -> list[Path]:
    """The acquisition folders of an SSL4EO-S12 ``<sensor>/<location>/`` folder, in date order."""
    subs = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    if not subs:
        raise FileNotFoundError(f"{folder}: no acquisition folders; expected SSL4EO-S12 <location>/<acquisition>/")
    return sorted(subs, key=lambda p: (_date_of(p), p.name))


def _date_of(acq: Path) -> dt.date:
    meta = acq / "metadata.json"
    if meta.is_file():
        start = json.loads(meta.read_text()).get("system:time_start")
        if start is not None:
            return dt.datetime.fromtimestamp(start / 1000, dt.UTC).date()
    if date_in_name(acq.name):  # S1A_IW_GRDH_1SDV_20200607T010800_... or 20200604T054639_...
        return dt.date.fromisoformat(date_in_name(acq.name))
    raise ValueError(f"{acq}: no acquisition date in metadata.json or in the folder name")


def read_ssl4eo_location(s1_acquisition: str | Path, s2_acquisition: str | Path) -> dict[str, Any]:
    """One SSL4EO-S12 radar and one optical acquisition (band folders) as a pair dict on the optical 10 m grid.

    Optical bands are resampled bilinearly to ``B2``'s grid, the radar by nearest neighbour (keeping its speckle);
    the pair covers the part of that grid the radar covers.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    s1_dir, s2_dir = Path(s1_acquisition), Path(s2_acquisition)
    for d, names in ((s1_dir, ("VV", "VH")), (s2_dir, S2_BAND_NAMES)):
        if missing := [n for n in names if not (d / f"{n}.tif").is_file()]:
            raise FileNotFoundError(f"{d}: missing band file(s) {', '.join(n + '.tif' for n in missing)}")
    with rasterio.open(s2_dir / "B2.tif") as ref:
        crs, transform, shape = ref.crs, ref.transform, ref.shape

    def warp(folder: Path, names: tuple[str, ...], resampling: Resampling, **kwargs: Any) -> np.ndarray:
        out = np.full((len(names), *shape), np.nan, dtype=np.float32)  # [C, H, W] on the optical grid
        for i, name in enumerate(names):
            with rasterio.open(folder / f"{name}.tif") as src:
                reproject(src.read(1).astype(np.float32), out[i], src_transform=src.transform, src_crs=src.crs,
                          dst_transform=transform, dst_crs=crs, resampling=resampling, **kwargs)
        return out

    s2 = warp(s2_dir, S2_BAND_NAMES, Resampling.bilinear) / 10000.0
    s1 = warp(s1_dir, ("VV", "VH"), Resampling.nearest, dst_nodata=np.nan)
    # The two grids overlap but do not coincide: keep the optical window that the radar covers.
    valid = np.isfinite(s1).all(axis=0)
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        raise ValueError(f"{s1_dir}: radar does not overlap the optical grid of {s2_dir}")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if not valid[r0:r1, c0:c1].all():
        raise ValueError(f"{s1_dir}: radar holds non-finite values inside its overlap with {s2_dir}")
    s1, s2 = s1[:, r0:r1, c0:c1], s2[:, r0:r1, c0:c1]
    transform = transform @ rasterio.Affine.translation(c0, r0)
    return {"s1": torch.from_numpy(np.ascontiguousarray(s1)),
            "s2": torch.from_numpy(np.ascontiguousarray(np.maximum(s2, 1e-4))),
            **geo_fields(crs, transform, r1 - r0, c1 - c0),
            "gsd": 10.0,  # SSL4EO-S12 samples every sensor at 10 m, also on its grids in degrees
            "date": _date_of(s2_dir).isoformat(), "date_s1": _date_of(s1_dir).isoformat()}


def ssl4eo_root(root: str | Path | None = None) -> Path:
    """The SSL4EO-S12 folder: ``root``, else ``<data_dir>/ssl4eo_s12``; raises naming where to put the files."""
    path = data_dir() / "ssl4eo_s12" if root is None else Path(root).expanduser()
    if not (path / "s1").is_dir() or not (path / "s2a").is_dir():
        raise FileNotFoundError(f"{path}: SSL4EO-S12 files not found (the kit does not ship them). Put a location "
                                "in the dataset's layout there (s1/<location>/<acquisition>/VV.tif, VH.tif and "
                                "s2a/<location>/<acquisition>/B1.tif ... B12.tif), pass root= to that folder, or "
                                "set XMODAL_DATA_DIR to a folder holding ssl4eo_s12/")
    return path


def ssl4eo_pairs(root: str | Path | None = None, location: str = "0000200") -> list[dict[str, Any]]:
    """Each radar acquisition of an SSL4EO-S12 location with the optical one nearest in date, in date order."""
    root = ssl4eo_root(root)
    radar, optical = acquisitions(root / "s1" / location), acquisitions(root / "s2a" / location)
    dates = [_date_of(a) for a in optical]
    pairs = []
    for acq in radar:
        day = _date_of(acq)
        nearest = optical[int(np.argmin([abs((d - day).days) for d in dates]))]
        pairs.append(read_ssl4eo_location(acq, nearest))
    return sorted(pairs, key=lambda p: p["date_s1"])


def cut_tiles(pairs: list[dict[str, Any]], size: int = 32, columns: tuple[float, float] = (0.0, 1.0),
              source: str = "") -> list[dict[str, Any]]:
    """Non-overlapping ``size x size`` tiles (with ``source`` and ``window`` ``(row, col)``) of the pairs.

    Tiles lie wholly in ``columns``, fractions of the width (``(0, 0.5)``: the west half): halves share no pixel.
    """
    if size < 1 or not 0.0 <= columns[0] < columns[1] <= 1.0:
        raise ValueError(f"cut_tiles: expected size >= 1 and 0 <= columns[0] < columns[1] <= 1, got {size}, {columns}")
    tiles = []
    for k, p in enumerate(pairs):
        _, h, w = p["s1"].shape
        lo, hi = int(np.ceil(columns[0] * w)), int(np.floor(columns[1] * w))
        for r in range(0, h - size + 1, size):
            for c in range(lo, hi - size + 1, size):
                window = (slice(None), slice(r, r + size), slice(c, c + size))
                tile = {"s1": p["s1"][window].clone(), "s2": p["s2"][window].clone(), "gsd": float(p.get("gsd", 10.0))}
                tiles.append({**tile, "date": p.get("date", ""), "source": f"{source}[{k}]", "window": (r, c)})
    if not tiles:
        raise ValueError(f"cut_tiles: no {size} px tile fits in the given pairs and columns {columns}")
    return tiles


def real_transfer_split(size: int = 32, root: str | Path | None = None,
                        location: str = "0000200") -> dict[str, list[dict[str, Any]]]:
    """Real tiles: ``tune``, ``test`` (SSL4EO-S12 west, east half), ``test_europe`` (bundled BigEarthNet-MM)."""
    from xmodal_lab.data.datasets import bigearthnet_examples
    pairs, examples = ssl4eo_pairs(root, location), bigearthnet_examples()
    ben = [examples[i] for i in range(len(examples))]
    return {
        "tune": cut_tiles(pairs, size, (0.0, 0.5), "ssl4eo_s12 west"),
        "test": cut_tiles(pairs, size, (0.5, 1.0), "ssl4eo_s12 east"),
        "test_europe": cut_tiles(ben, size, (0.0, 1.0), "bigearthnet_mm"),
    }
