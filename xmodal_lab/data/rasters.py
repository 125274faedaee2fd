"""Bring your own co-registered Sentinel-1 / Sentinel-2 GeoTIFF pair, of any size and CRS, tiled into pairs.

Both rasters must share one grid, or the radar is reprojected onto the optical grid (with a warning).
Tiles with too much nodata are dropped; files are opened read-only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal_lab.data.bands import S2_SCALE
from xmodal_lab.data.io import (
    check_grid,
    check_index,
    check_whole,
    geo_fields,
    open_raster,
    parse_date,
    read_window,
    window_transform,
)
from xmodal_lab.errors import InputValueError, NodataError, NodataWarning, UnitsError, UnitsWarning
from xmodal_lab.units import check_s2, s1_problems

_B10 = 10  # index of B10 in a 13-band stack (B1..B9, B10, B11, B12 with B8A after B8)


class PairedRasterDataset(Dataset):
    """Tiles of a co-registered Sentinel-1 / Sentinel-2 GeoTIFF pair as pair dicts.

    Items also carry ``nodata_mask`` ``[H, W]`` (NaN or nodata pixels, filled with the band's tile median) and
    ``window`` ``(row, col)``. Values that look like the wrong units raise a :class:`~xmodal_lab.errors.UnitsWarning`.

    Args:
        s1_path: 2 bands, VV then VH (band descriptions ``VH, VV`` are reordered).
        s2_path: 12 bands (B1..B12 without B10) or 13 (B10 is dropped).
        size: tile side in optical pixels.
        stride: step between tiles (default ``size``).
        max_nodata: drop tiles whose nodata fraction exceeds this.
        s1_units: ``"db"`` or ``"linear"`` power.
        s2_scale: multiplier to reflectance, or ``"auto"`` (integers or values above 2 are divided by 10000).
        s2_offset: added after scaling; ``"auto"`` reads ``BOA_ADD_OFFSET`` or ``PROCESSING_BASELINE`` >= 04.00.
        reproject: reproject the radar onto the optical grid when the grids differ (else raise).
        resampling: rasterio resampling name for the reprojection.
        date: ISO date (default: the optical file's date tag or a date in its name).
        transform: optional callable applied to each pair dict.
        scan: read every pixel to check the files and list the tiles; False checks a preview (at most
            256 x 256 px) and lists no tiles, for callers that set ``windows`` and read by strips.
    """

    def __init__(
        self, s1_path: str | Path, s2_path: str | Path, size: int = 64, stride: int | None = None,
        max_nodata: float = 0.1, s1_units: str = "db", s2_scale: str | float = "auto",
        s2_offset: float | str = "auto", reproject: bool = True, resampling: str = "bilinear",
        date: str | None = None, transform: Callable[[dict], dict] | None = None, scan: bool = True,
    ) -> None:
        for path, what in ((s1_path, "Sentinel-1"), (s2_path, "Sentinel-2")):
            open_raster(path, f"{what} GeoTIFF").close()
        self.s1_path, self.s2_path = Path(s1_path), Path(s2_path)
        if check_whole(size, "size") < 1 or (stride is not None and check_whole(stride, "stride") < 1):
            raise InputValueError(f"size and stride: expected positive pixel counts, got size={size}, stride={stride}")
        from rasterio.enums import Resampling
        checks = {
            "max_nodata": (max_nodata, 0.0 <= max_nodata <= 1.0, "a fraction in [0, 1]"),
            "s1_units": (s1_units, s1_units in ("db", "linear"), "'db' or 'linear'"),
            "s2_scale": (s2_scale, s2_scale == "auto" or 0 < _number(s2_scale) < math.inf,
                         "'auto' or a positive multiplier (1e-4 for digital numbers)"),
            "s2_offset": (s2_offset, s2_offset == "auto" or math.isfinite(_number(s2_offset)),
                          "'auto' or a number (-0.1 for baseline 04.00)"),
            "resampling": (resampling, resampling in Resampling.__members__,
                           "a rasterio resampling name ('bilinear', 'nearest', 'cubic' ...)"),
        }
        for name, (value, ok, expected) in checks.items():
            if not ok:
                raise InputValueError(f"{name}: expected {expected}, got {value!r}")
        self.size, self.stride = int(size), int(stride or size)
        self.max_nodata, self.s1_units = float(max_nodata), s1_units
        self.resampling = resampling
        self.transform = transform

        with open_raster(self.s1_path) as s1, open_raster(self.s2_path) as s2:
            self._check_bands(s1, s2)
            for src, path in ((s1, self.s1_path), (s2, self.s2_path)):
                if src.crs is None:
                    raise ValueError(f"{path}: has no CRS; expected a georeferenced GeoTIFF")
            check_grid(s2, self.s2_path)  # the tiling grid; the radar is reprojected onto it when it differs
            self.crs, self.grid_transform = s2.crs, s2.transform
            self.height, self.width = s2.height, s2.width
            same_shape = (s1.height, s1.width) == (s2.height, s2.width)
            close = s1.transform.almost_equals(s2.transform, precision=1e-6 * abs(s2.transform.a))
            self.aligned = s1.crs == s2.crs and same_shape and close
            if not self.aligned:
                self._check_overlap(s1, s2)
                message = (
                    f"PairedRasterDataset: {self.s1_path.name} ({s1.crs}, {abs(s1.transform.a):g} m, "
                    f"{s1.width}x{s1.height} px) is not on the grid of {self.s2_path.name} ({s2.crs}, "
                    f"{abs(s2.transform.a):g} m, {s2.width}x{s2.height} px)"
                )
                if not reproject:
                    raise ValueError(message + "; expected one grid (pass reproject=True to resample the radar)")
                warnings.warn(message + f"; reprojecting the radar onto the optical grid ({resampling})", stacklevel=2)
            if self.height < self.size or self.width < self.size:
                raise ValueError(f"{self.s2_path}: {self.width}x{self.height} px is smaller than one {self.size} px tile")
            self._s2_scale = self._resolve_scale(s2, s2_scale)
            tags = s2.tags()
            self.s2_offset = self._resolve_offset(tags, s2_offset)
            s2_valid = self._s2_valid(s2) if scan else None
            self._check_s2_units(s2, offset_unknown=s2_offset == "auto" and self.s2_offset == 0.0)
            with self._open_s1(s1) as s1_grid:
                preview = {} if scan else {"out_shape": (2, min(self.height, 256), min(self.width, 256))}
                s1_data = read_window(s1_grid, self.s1_path, self._s1_bands, masked=True, **preview)
        self.date = parse_date(date, "date").isoformat() if date is not None else _find_date(tags, self.s2_path.name)
        s1_values = np.ma.filled(s1_data.astype(np.float32, copy=False), np.nan)
        del s1_data  # float32 like the tiles: a float64 copy of the whole radar scene would double it
        if np.isinf(s1_values).any():
            raise ValueError(f"{self.s1_path}: contains infinite values; expected finite backscatter or nodata")
        s1_valid = np.isfinite(s1_values).all(axis=0) & ~(s1_values == 0).all(axis=0)  # untagged zero fill
        _check_fill(s1_values, s1_valid, self.s1_path, "dB", -100.0)
        if not s1_valid.any():
            raise NodataError(f"{self.s1_path}: every pixel is nodata or NaN in VV or VH; expected radar backscatter")
        self._check_units(s1_values[:, s1_valid])
        if s1_units == "linear":  # zero or negative power has no decibel value
            s1_valid &= (s1_values > 0).all(axis=0)
        self.windows = self._tiles(s1_valid & s2_valid) if scan else []

    # --- checks ---------------------------------------------------------------------------------------
    def _check_bands(self, s1, s2) -> None:
        if s1.count != 2:
            raise ValueError(f"{self.s1_path}: expected 2 bands (VV, VH), found {s1.count}")
        names = [str(d or "").upper() for d in s1.descriptions]
        self._s1_bands = [2, 1] if names == ["VH", "VV"] else [1, 2]
        if s2.count not in (12, 13):
            raise ValueError(f"{self.s2_path}: expected 12 bands (B1..B12 without B10) or 13, found {s2.count}")
        self._s2_bands = [b + 1 for b in range(s2.count) if not (s2.count == 13 and b == _B10)]

    def _check_overlap(self, s1, s2) -> None:
        from rasterio.warp import transform_bounds
        left, bottom, right, top = transform_bounds(s1.crs, s2.crs, *s1.bounds)
        b = s2.bounds
        if left >= b.right or right <= b.left or bottom >= b.top or top <= b.bottom:
            raise ValueError(f"{self.s1_path} and {self.s2_path}: the rasters do not overlap; expected one area")

    def _resolve_scale(self, s2, s2_scale: str | float) -> float:
        if s2_scale != "auto":
            return float(s2_scale)
        if np.issubdtype(np.dtype(s2.dtypes[0]), np.integer):
            return 1.0 / S2_SCALE
        preview = s2.read(self._s2_bands[1], out_shape=(min(s2.height, 64), min(s2.width, 64)), masked=True)
        return 1.0 / S2_SCALE if float(np.ma.median(preview)) > 2.0 else 1.0

    def _resolve_offset(self, tags: dict[str, str], s2_offset: float | str) -> float:
        if s2_offset != "auto":
            return float(s2_offset)
        upper = {k.upper(): v for k, v in tags.items()}
        if "BOA_ADD_OFFSET" in upper and self._s2_scale == 1.0 / S2_SCALE:  # an offset in digital numbers
            try:
                return float(upper["BOA_ADD_OFFSET"]) / S2_SCALE
            except ValueError:
                tag = upper["BOA_ADD_OFFSET"]
                raise InputValueError(f"{self.s2_path}: BOA_ADD_OFFSET {tag!r} is not a number; pass s2_offset") from None
        baseline = _baseline(upper.get("PROCESSING_BASELINE", ""))
        if baseline is not None and baseline >= 4.0 and self._s2_scale == 1.0 / S2_SCALE:
            return -1000.0 / S2_SCALE
        return 0.0

    def _s2_valid(self, s2) -> np.ndarray:
        """Pixels inside the optical nodata mask, finite in every band and not 0 in all (L2A's untagged fill)."""
        valid = s2.dataset_mask() > 0
        zero, lowest = np.ones_like(valid), np.inf
        for band in self._s2_bands:
            values = read_window(s2, self.s2_path, band, masked=True)
            valid &= ~np.ma.getmaskarray(values)
            values = np.ma.filled(values.astype(np.float64), np.nan)
            if np.isinf(values).any():
                raise InputValueError(f"{self.s2_path}: band {band} contains infinite values; expected reflectance")
            valid &= ~np.isnan(values)
            zero &= values == 0
            lowest = min(lowest, float(np.min(values, where=valid, initial=np.inf)))
        if s2.nodata is None and (zero & valid).any():
            warnings.warn(
                f"{self.s2_path}: {int((zero & valid).sum())} pixels are 0 in every band and the file has no nodata "
                "tag; they are treated as nodata (L2A's fill value). Tag the file (gdal_edit.py -a_nodata 0) to say so",
                NodataWarning, stacklevel=3,
            )  # fmt: skip
        valid &= ~zero
        if lowest * self._s2_scale + self.s2_offset < -0.5:
            raise InputValueError(
                f"{self.s2_path}: some pixels hold {lowest:g} (reflectance {lowest * self._s2_scale:.3g}), a fill "
                f"value, but the file has no nodata tag for it; tag it (gdal_edit.py -a_nodata {lowest:g} "
                f"{self.s2_path.name}) so those pixels count as nodata"
            )
        if not valid.any():
            raise NodataError(f"{self.s2_path}: every pixel is nodata or NaN in at least one band; expected reflectance")
        return valid

    def _check_s2_units(self, s2, offset_unknown: bool) -> None:
        shape = (min(s2.height, 256), min(s2.width, 256))
        preview = read_window(s2, self.s2_path, self._s2_bands, out_shape=(len(self._s2_bands), *shape), masked=True)
        if s2.dtypes[0] == "uint8":  # 8 bits cannot hold digital numbers: say so before any scaling
            check_s2(preview.compressed(), where=str(self.s2_path))
            return
        values = np.ma.filled(preview.astype(np.float64), np.nan) * self._s2_scale + self.s2_offset
        check_s2(values, where=str(self.s2_path), offset=offset_unknown)

    def _check_units(self, values: np.ndarray) -> None:
        if self.s1_units == "db":
            for message in s1_problems(values, str(self.s1_path)):
                warnings.warn(message, UnitsWarning, stacklevel=3)
        elif values.size and (median := float(np.median(values))) < 0:
            raise UnitsError(f"{self.s1_path}: values (median {median:.3g}) look like dB, not power; pass s1_units='db'")

    def _open_s1(self, s1):
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT
        if self.aligned:
            return contextlib.nullcontext(s1)
        grid = dict(crs=self.crs, transform=self.grid_transform, width=self.width, height=self.height)
        resampling = getattr(Resampling, self.resampling)
        return WarpedVRT(s1, **grid, resampling=resampling, src_nodata=s1.nodata, nodata=np.nan)

    def _tiles(self, valid: np.ndarray) -> list[tuple[int, int]]:
        invalid = np.pad((~valid).astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
        s = self.size
        rows, cols = range(0, self.height - s + 1, self.stride), range(0, self.width - s + 1, self.stride)
        r, c = np.meshgrid(rows, cols, indexing="ij")
        bad = invalid[r + s, c + s] - invalid[r, c + s] - invalid[r + s, c] + invalid[r, c]
        ok = (bad <= self.max_nodata * s * s) & (bad < s * s)  # an all-nodata tile is never kept
        kept = list(zip(r[ok].tolist(), c[ok].tolist()))
        if not kept:
            raise ValueError(
                f"{self.s1_path} / {self.s2_path}: all {r.size} tiles of {s} px have more than "
                f"{self.max_nodata:.0%} nodata; expected rasters with valid data (check nodata values and overlap)"
            )
        return kept

    # --- items ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.load(check_index(index, len(self), "PairedRasterDataset"))
        return self.transform(pair) if self.transform is not None else pair

    def load(self, index: int) -> dict[str, Any]:
        """Read tile ``index`` (no transform)."""
        from rasterio.windows import Window
        row, col = self.windows[index]
        s = self.size
        window = Window(col, row, s, s)
        with open_raster(self.s2_path) as s2:
            optical = read_window(s2, self.s2_path, self._s2_bands, window=window, masked=True)
            s2_valid = s2.dataset_mask(window=window) > 0
            if s2.nodata is None:  # L2A's fill value without a tag
                s2_valid &= ~(optical.filled(np.nan) == 0).all(axis=0)
        with open_raster(self.s1_path) as s1, self._open_s1(s1) as grid:
            radar = read_window(grid, self.s1_path, self._s1_bands, window=window, masked=True)
        optical = np.ma.filled(optical.astype(np.float32), np.nan)
        radar = np.ma.filled(radar.astype(np.float32), np.nan)
        radar[:, (radar == 0).all(axis=0)] = np.nan  # untagged zero fill
        if np.isinf(optical).any():
            raise ValueError(f"{self.s2_path}: tile at row {row}, col {col} holds infinite values")
        optical = optical * np.float32(self._s2_scale) + np.float32(self.s2_offset)
        if self.s1_units == "linear":
            with np.errstate(divide="ignore", invalid="ignore"):
                radar = np.where(radar > 0, 10.0 * np.log10(radar), np.nan).astype(np.float32)
        nodata = ~s2_valid | ~np.isfinite(optical).all(axis=0) | ~np.isfinite(radar).all(axis=0)
        optical, radar = _fill(optical, nodata), _fill(radar, nodata)
        return {
            "s1": torch.from_numpy(radar),
            "s2": torch.from_numpy(optical),
            **geo_fields(self.crs, window_transform(tuple(self.grid_transform)[:6], row, col), s, s),
            "date": self.date,
            "nodata_mask": torch.from_numpy(nodata),
            "window": (row, col),
        }


def _check_fill(values: np.ndarray, valid: np.ndarray, path: Path, unit: str, floor: float) -> None:
    """Refuse a few pixels far below ``floor`` (a fill like -9999 without a nodata tag) among plausible ones."""
    kept = values[:, valid]
    low = kept < floor
    if low.any() and float(np.median(kept)) > floor:
        value = float(kept[low].min())
        raise InputValueError(
            f"{path}: {int(low.any(axis=0).sum())} pixels hold {value:g} {unit}, a fill value, but the file has no "
            f"nodata tag for it; tag it (gdal_edit.py -a_nodata {value:g} {path.name}) so they count as nodata"
        )


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _baseline(text: str) -> float | None:
    """``"04.00"``, ``"N0400"`` or ``"4.0"`` -> 4.0; None when absent or unreadable."""
    text = str(text).strip().upper().removeprefix("N")
    if not text:
        return None
    try:
        return float(text) if "." in text else int(text) / 100.0
    except ValueError:
        return None


def _fill(stack: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Nodata pixels of each band set to the band's median over the valid pixels."""
    if not nodata.any():
        return np.ascontiguousarray(stack)
    out = stack.copy()
    valid = ~nodata
    for b in range(out.shape[0]):
        out[b][nodata] = np.median(out[b][valid]) if valid.any() else 0.0
    return out


def _find_date(tags: dict[str, str], name: str) -> str:
    """The acquisition date from the file's tags, else from a date in its name, else ``""``."""
    for key in ("date", "DATE", "ACQUISITION_DATE"):
        if key in tags:
            return str(tags[key])[:10]
    if "TIFFTAG_DATETIME" in tags:  # "YYYY:MM:DD HH:MM:SS"
        return tags["TIFFTAG_DATETIME"][:10].replace(":", "-")
    match = re.search(r"(20\d{2})-?(\d{2})-?(\d{2})", name)
    try:
        return dt.date(*map(int, match.groups())).isoformat() if match else ""
    except ValueError:
        return ""
