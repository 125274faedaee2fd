"""Bring your own co-registered Sentinel-1 / Sentinel-2 GeoTIFF pair, of any size and CRS, tiled into pairs.

Both rasters must share one grid, or the radar is reprojected onto the optical grid (with a warning).
Tiles with too much nodata are dropped; files are opened read-only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Full, Queue
from typing import Any, NoReturn

import numpy as np
import torch
from rasterio.windows import Window
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
from xmodal_lab.units import _SAMPLE, check_s2, s1_problems

_B10 = 10  # index of B10 in a 13-band stack (B1..B9, B10, B11, B12 with B8A after B8)
_S1_FILL = -100.0  # dB: far below any backscatter, a fill value


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
            256 x 256 px) and lists no tiles, for callers that set ``windows`` and read by strips;
            ``"later"`` lists every tile and leaves the checks, the optical units preview included, to the
            reader (:func:`~xmodal_lab.eval.embed_raster.tile_windows` with ``check=True``), one read for both.
    """

    def __init__(
        self, s1_path: str | Path, s2_path: str | Path, size: int = 64, stride: int | None = None,
        max_nodata: float = 0.1, s1_units: str = "db", s2_scale: str | float = "auto",
        s2_offset: float | str = "auto", reproject: bool = True, resampling: str = "bilinear",
        date: str | None = None, transform: Callable[[dict], dict] | None = None, scan: bool | str = True,
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
            "scan": (scan, scan in (True, False, "later"), "True, False or 'later'"),
        }
        for name, (value, ok, expected) in checks.items():
            if not ok:
                raise InputValueError(f"{name}: expected {expected}, got {value!r}")
        self.size, self.stride, self.scan = int(size), int(stride or size), scan
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
            self._s2_scale, self._s2_untagged = self._resolve_scale(s2, s2_scale), s2.nodata is None
            tags = s2.tags()
            self.s2_offset = self._resolve_offset(tags, s2_offset)
            self._offset_unknown = s2_offset == "auto" and self.s2_offset == 0.0
            if scan != "later":  # else the reader checks them with the pixels (tile_windows(check=True))
                self._check_s2_units(s2, self._offset_unknown)
            self.date = parse_date(date, "date").isoformat() if date is not None else _find_date(tags, self.s2_path.name)
            if scan == "later":  # every tile; the reader checks the pixels and drops tiles as it reads them
                tops, cols = self._positions()
                self.windows = [(r, c) for r in tops for c in cols]
            else:
                with self._open_s1(s1) as s1_grid, block_cache(s1, s2, strip_rows(s2), chunk_cols(s2)):
                    self.windows = self._scan(s1_grid, s2, preview=not scan)

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
        values = sample_patches(s2, self.s2_path, self._s2_bands[1], side=64)
        return 1.0 / S2_SCALE if float(np.ma.median(values)) > 2.0 else 1.0

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
        offset = baseline_offset(upper.get("PROCESSING_BASELINE", ""))
        return offset / S2_SCALE if offset and self._s2_scale == 1.0 / S2_SCALE else 0.0

    def _scan(self, s1, s2, preview: bool) -> list[tuple[int, int]]:
        """Check the pair chunk by chunk and list the tiles with little nodata (none for a ``preview``).

        A preview checks :func:`sample_patches` of each file. The files are read in chunks aligned to their blocks
        (:func:`chunk_cols`); only one chunk of pixels and the nodata counts of the tile rows are held, so memory
        does not grow with the raster's size.
        """
        checks = PixelChecks(self, preview)
        if preview:
            checks.add(self.read_raw(s1, s2))
            checks.finish()
            return []
        s, n, m = self.size, strip_rows(s2), chunk_cols(s2)
        tops, cols = self._positions()
        cols = np.asarray(cols)  # tile columns, indexed as an array below
        keys = [(top, left) for top in range(0, self.height, n) for left in range(0, self.width, m)]

        def read(key: tuple[int, int]) -> dict[str, np.ndarray]:
            top, left = key
            window = Window(left, top, min(m, self.width - left), min(n, self.height - top))
            return self.read_raw(s1, s2, window)

        marks = {*tops, *(r + s for r in tops)}
        above = {0: np.zeros(len(cols), np.int64)}  # invalid pixels in the rows above a mark, per tile column
        total, row_bad = above[0], 0
        with contextlib.closing(prefetch(read, keys)) as chunks:  # no read left running on error
            for (top, left), raw in chunks:
                invalid = checks.add(raw)
                # invalid pixels per tile column and row of the strip, from each chunk's share of the tile's columns
                bad = np.pad(invalid, ((0, 0), (1, 0))).cumsum(axis=1, dtype=np.int32)
                lo, hi = (np.clip(c - left, 0, bad.shape[1] - 1) for c in (cols, cols + s))
                share = bad[:, hi] - bad[:, lo]
                row_bad = share if left == 0 else row_bad + share
                if left + m >= self.width:  # the strip's last chunk: summed down the rows, kept at the marks
                    running = total + row_bad.cumsum(axis=0)
                    above.update({y: running[y - top - 1].copy() for y in range(top + 1, top + len(bad) + 1) if y in marks})
                    total = running[-1]
        checks.finish()
        return self._tiles(np.array([above[r + s] - above[r] for r in tops]), tops, cols)

    def _positions(self) -> tuple[range, range]:
        """The top rows and left columns of the tiles on the grid."""
        return range(0, self.height - self.size + 1, self.stride), range(0, self.width - self.size + 1, self.stride)

    def _check_s2_units(self, s2, offset_unknown: bool) -> None:
        preview = sample_patches(s2, self.s2_path, self._s2_bands)
        if s2.dtypes[0] == "uint8":  # 8 bits cannot hold digital numbers: say so before any scaling
            check_s2(preview.compressed(), where=str(self.s2_path))
            return
        values = np.ma.filled(preview.astype(np.float64), np.nan) * self._s2_scale + self.s2_offset
        check_s2(values, where=str(self.s2_path), offset=offset_unknown)

    def _check_units(self, values: np.ndarray) -> None:
        if self.s1_units == "db":
            for message in s1_problems(values, str(self.s1_path)):
                warnings.warn(message, UnitsWarning, stacklevel=4)
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

    def _tiles(self, bad: np.ndarray, tops: range, cols: np.ndarray) -> list[tuple[int, int]]:
        """The ``(row, col)`` of the tiles whose count of invalid pixels ``bad [rows, cols]`` is small enough."""
        r, c = np.meshgrid(tops, cols, indexing="ij")
        ok = self.keeps(bad)
        kept = list(zip(r[ok].tolist(), c[ok].tolist()))
        if not kept:
            self.no_tiles(r.size)
        return kept

    def keeps(self, bad: Any) -> Any:
        """Whether tiles with ``bad`` invalid pixels are kept (an all-nodata tile never is)."""
        s = self.size
        return (bad <= self.max_nodata * s * s) & (bad < s * s)

    def no_tiles(self, count: int) -> NoReturn:
        """Raise: none of ``count`` tiles has little enough nodata."""
        raise ValueError(
            f"{self.s1_path} / {self.s2_path}: all {count} tiles of {self.size} px have more than "
            f"{self.max_nodata:.0%} nodata; expected rasters with valid data (check nodata values and overlap)"
        )

    # --- pixels ---------------------------------------------------------------------------------------
    def read_raw(self, s1, s2, window: Any = None) -> dict[str, np.ndarray]:
        """``window`` of the open pair (a :func:`sample_patches` preview when None) in the files' dtypes.

        Returns ``s1 [2, h, w]``, ``s2 [C, h, w]`` and ``s1_invalid`` / ``s2_invalid [h, w]`` (masked in a band).
        """
        out = {}
        for key, src, bands in (("s1", s1, self._s1_bands), ("s2", s2, self._s2_bands)):
            path = getattr(self, f"{key}_path")
            if window is None:
                values = sample_patches(src, path, bands)
            else:
                values = read_window(src, path, bands, window=window, masked=True)
            out[key], out[f"{key}_invalid"] = values.data, np.ma.getmaskarray(values).any(axis=0)
        return out

    def to_units(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pixels of :meth:`read_raw` as float32 ``s1`` dB and ``s2`` reflectance, and their ``nodata [h, w]``."""
        optical = np.multiply(raw["s2"], np.float32(self._s2_scale), dtype=np.float32)
        if self.s2_offset or raw["s2"].dtype.kind == "f":  # + 0 would only turn -0.0 into 0.0
            optical += np.float32(self.s2_offset)
        radar = raw["s1"].astype(np.float32)
        nodata = raw["s1_invalid"] | raw["s2_invalid"] | (radar == 0).all(axis=0)  # untagged zero fill
        if self._s2_untagged:  # L2A's fill value without a tag
            nodata |= (raw["s2"] == 0).all(axis=0)
        if self.s1_units == "linear":
            with np.errstate(divide="ignore", invalid="ignore"):
                radar = np.where(radar > 0, 10.0 * np.log10(radar), np.nan).astype(np.float32)
        finite = np.isfinite(radar).all(axis=0)
        if raw["s2"].dtype.kind == "f":  # scaled whole numbers are always finite
            finite &= np.isfinite(optical).all(axis=0)
        nodata |= ~finite
        return {"s1": radar, "s2": optical, "nodata": nodata}

    # --- items ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.load(check_index(index, len(self), "PairedRasterDataset"))
        return self.transform(pair) if self.transform is not None else pair

    def load(self, index: int) -> dict[str, Any]:
        """Read tile ``index`` (no transform)."""
        row, col = self.windows[index]
        s = self.size
        with open_raster(self.s1_path) as s1, open_raster(self.s2_path) as s2, self._open_s1(s1) as grid:
            s1_tile, s2_tile, nodata = tile_tensors(self.to_units(self.read_raw(grid, s2, Window(col, row, s, s))))
        return {
            "s1": s1_tile,
            "s2": s2_tile,
            **geo_fields(self.crs, window_transform(tuple(self.grid_transform)[:6], row, col), s, s),
            "date": self.date,
            "nodata_mask": torch.from_numpy(nodata),
            "window": (row, col),
        }


class PixelChecks:
    """The checks of a pair over every pixel, fed chunk by chunk; :meth:`finish` raises or warns on the totals.

    A ``preview`` samples every valid radar pixel for the units check, the whole pair about ``_SAMPLE`` of them.
    """

    def __init__(self, ds: PairedRasterDataset, preview: bool = False) -> None:
        self.ds, self.preview = ds, preview
        self.step = 1 if preview else max(1, ds.height * ds.width // _SAMPLE)
        self.zeros = self.s2_count = self.s1_count = self.high = self.low_count = 0
        self.lowest = self.low_value = math.inf
        self.sample: list[np.ndarray] = []

    def add(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        """Check a chunk of :meth:`PairedRasterDataset.read_raw`; its invalid pixels ``[h, w]``."""
        ds = self.ds
        optical, radar = raw["s2"], raw["s1"].astype(np.float32)
        s2_ok = ~raw["s2_invalid"]
        if optical.dtype.kind == "f":  # whole numbers are always finite
            infinite = np.isinf(optical[:, s2_ok]).any(axis=1)
            if infinite.any():
                band = ds._s2_bands[int(np.argmax(infinite))]
                raise InputValueError(f"{ds.s2_path}: band {band} contains infinite values; expected reflectance")
            s2_ok &= np.isfinite(optical).all(axis=0)
        lowest = optical.min(axis=0)
        zero = (lowest == 0) & (optical.max(axis=0) == 0)  # L2A's fill, with or without a nodata tag
        self.zeros += int((zero & s2_ok).sum())
        if s2_ok.any():
            self.lowest = min(self.lowest, float(lowest[s2_ok].min()))
        s2_ok &= ~zero
        self.s2_count += int(s2_ok.sum())

        radar[:, raw["s1_invalid"]] = np.nan
        if np.isinf(radar).any():
            raise InputValueError(f"{ds.s1_path}: contains infinite values; expected finite backscatter or nodata")
        s1_ok = np.isfinite(radar).all(axis=0) & ~(radar == 0).all(axis=0)  # untagged zero fill
        # the valid pixels' statistics from masks: gathering them would copy the chunk's radar
        low = (radar < _S1_FILL).any(axis=0) & s1_ok
        self.s1_count += int(s1_ok.sum()) * len(radar)
        self.high += int(((radar > _S1_FILL) & s1_ok).sum())
        if low.any():
            self.low_count, self.low_value = self.low_count + int(low.sum()), min(self.low_value, float(radar[:, s1_ok].min()))
        self.sample.append(radar.reshape(len(radar), -1)[:, np.flatnonzero(s1_ok)[:: self.step]])
        if ds.s1_units == "linear":  # zero or negative power has no decibel value
            s1_ok &= (radar > 0).all(axis=0)
        return ~(s1_ok & s2_ok)

    def finish(self) -> None:
        """Raise on fill values without a nodata tag or on files without data; warn on untagged zeros and units."""
        ds, lowest, low_value = self.ds, self.lowest, self.low_value
        if ds._s2_untagged and self.zeros:
            warnings.warn(
                f"{ds.s2_path}: {'some' if self.preview else self.zeros} pixels are 0 in every band and the "
                "file has no nodata tag; they are treated as nodata (L2A's fill value). Tag the file "
                "(gdal_edit.py -a_nodata 0) to say so",
                NodataWarning, stacklevel=4,
            )  # fmt: skip
        if lowest * ds._s2_scale + ds.s2_offset < -0.5:
            raise InputValueError(
                f"{ds.s2_path}: some pixels hold {lowest:g} (reflectance {lowest * ds._s2_scale:.3g}), a fill "
                f"value, but the file has no nodata tag for it; tag it (gdal_edit.py -a_nodata {lowest:g} "
                f"{ds.s2_path.name}) so those pixels count as nodata"
            )
        if not self.s2_count:
            raise NodataError(f"{ds.s2_path}: every pixel is nodata or NaN in at least one band; expected reflectance")
        if self.low_count and self.high > self.s1_count / 2:  # a few pixels far below any backscatter
            raise InputValueError(
                f"{ds.s1_path}: {self.low_count} pixels hold {low_value:g} dB, a fill value, but the file has no nodata "
                f"tag for it; tag it (gdal_edit.py -a_nodata {low_value:g} {ds.s1_path.name}) so they count as nodata"
            )
        if not self.s1_count:
            raise NodataError(f"{ds.s1_path}: every pixel is nodata or NaN in VV or VH; expected radar backscatter")
        ds._check_units(np.concatenate(self.sample, axis=1))


def tile_tensors(units: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """A tile of :meth:`PairedRasterDataset.to_units`: ``s1 [2, H, W]``, ``s2 [C, H, W]`` tensors, ``nodata [H, W]``.

    Nodata pixels are filled with each band's median over the tile's valid pixels.
    """
    nodata = np.ascontiguousarray(units["nodata"])
    return torch.from_numpy(_fill(units["s1"], nodata)), torch.from_numpy(_fill(units["s2"], nodata)), nodata


def strip_rows(src: Any, rows: int = 256) -> int:
    """``rows`` rounded up to a multiple of the file's block height, so that strips decode each block once."""
    block = src.block_shapes[0][0]
    return -(-max(rows, 1) // block) * block


def sample_patches(src: Any, path: Path, bands: Any, side: int = 256, patches: int = 4) -> np.ma.MaskedArray:
    """A masked ``[C, h, w]`` preview of at most ``side`` px a side: ``patches`` x ``patches`` windows spread evenly.

    Full-resolution windows decode a few blocks whatever the raster's size; a decimated read decodes all of
    them, again for every band when GDAL's cache cannot hold a row of blocks.
    """
    h, w = min(src.height, side), min(src.width, side)
    if (h, w) == (src.height, src.width):
        return read_window(src, path, bands, masked=True)
    ph, pw = -(-h // patches), -(-w // patches)
    tops = np.linspace(0, src.height - ph, patches).round().astype(int).tolist()
    lefts = np.linspace(0, src.width - pw, patches).round().astype(int).tolist()
    rows = [[read_window(src, path, bands, window=Window(x, y, pw, ph), masked=True) for x in lefts] for y in tops]
    return np.ma.concatenate([np.ma.concatenate(row, axis=-1) for row in rows], axis=-2)


def chunk_cols(src: Any, cols: int | None = 1024) -> int:
    """``cols`` rounded up to a multiple of the file's block width (the full width for None or a striped file)."""
    block = src.block_shapes[0][1]
    if cols is None or block >= src.width:
        return src.width
    return -(-max(cols, 1) // block) * block


def block_cache(s1: Any, s2: Any, rows: int, cols: int) -> Any:
    """GDAL's block cache sized for one ``rows`` x ``cols`` read of both open files, while the kit reads them.

    Chunks decode each block once, so GDAL's default cache (a share of the machine's memory) would only grow
    with the raster's size.
    """
    import rasterio

    size = sum(rows * min(cols, src.width) * src.count * np.dtype(src.dtypes[0]).itemsize for src in (s1, s2))
    return rasterio.Env(GDAL_CACHEMAX=max(16 << 20, 2 * size))


def prefetch(read: Callable[[int], Any], keys: Iterable[int]) -> Iterator[tuple[int, Any]]:
    """``(key, read(key))`` in order, the next ``read`` running in a thread while the caller uses this one.

    GDAL and numpy release the GIL, so decoding overlaps the caller's work; one thread keeps the reads of a
    dataset handle one at a time.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = None
        for key in keys:
            future = pool.submit(read, key)
            if ahead is not None:
                yield ahead[0], ahead[1].result()
            ahead = key, future
        if ahead is not None:
            yield ahead[0], ahead[1].result()


def background(items: Iterator[Any], ahead: int = 2) -> Iterator[Any]:
    """``items`` made in a thread, at most ``ahead`` before the caller takes them; their errors are raised here.

    Stopping early (an error in the caller, ``close``) stops the thread and closes ``items`` there.
    """
    done, stop, queue = object(), threading.Event(), Queue(maxsize=ahead)

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            with contextlib.suppress(Full):
                queue.put(entry, timeout=0.05)
                return True
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as error:  # handed to the caller
            put((done, error))
        finally:
            getattr(items, "close", lambda: None)()

    thread = threading.Thread(target=run, name="xmodal_lab reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def baseline_offset(text: str) -> float | None:
    """L2A's DN offset at baseline ``"04.00"`` or ``"N0400"``: -1000 from 04.00, else 0; None if unknown."""
    text = str(text).strip().upper().removeprefix("N")
    try:
        baseline = float(text) if "." in text else int(text) / 100.0
    except ValueError:  # "" too
        return None
    return -1000.0 if baseline >= 4.0 else 0.0


def _fill(stack: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Nodata pixels of each band set to the band's median over the valid pixels."""
    if not nodata.any():
        return np.ascontiguousarray(stack)
    out, valid = stack.copy(), ~nodata
    out[:, nodata] = np.median(out[:, valid], axis=1)[:, None] if valid.any() else 0.0
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
