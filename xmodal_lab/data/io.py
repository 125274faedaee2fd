"""The datasets' boundary: index checks, raster reads whose errors name the file, a pair's grid fields."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from affine import Affine

from xmodal_lab.data.geo import to_lonlat
from xmodal_lab.errors import InputTypeError, InputValueError


def check_whole(value: Any, name: str) -> int:
    """``value`` as an int; ``InputTypeError`` naming ``name`` for anything but a whole number (bools included)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name}: expected a whole number, got {value!r}")
    return int(value)


def check_index(index: Any, n: int, what: str) -> int:
    """``index`` (an int or a one-element integer tensor; negative counts from the end) as an int in ``[0, n)``."""
    if isinstance(index, torch.Tensor) and index.numel() == 1 and not index.is_floating_point():
        index = index.item()
    index = check_whole(index, f"{what} index")
    if not -n <= index < n:
        raise IndexError(f"{what} index {index} out of range for {n} items")
    return index % n


def parse_date(value: str | dt.date, name: str) -> dt.date:
    """A date from a ``date``, a ``datetime`` or an ISO string (``ValueError`` naming ``name`` otherwise)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"{name}: expected an ISO date like '2021-06-15', got {value!r}") from None


def date_in_name(name: str) -> str:
    """``YYYY-MM-DD`` of the first ``YYYYMMDDThhmmss`` in a file or folder name (Sentinel products), else ``""``."""
    match = re.search(r"(\d{4})(\d{2})(\d{2})T\d{6}", name)
    return "-".join(match.groups()) if match else ""


def check_finite(array: np.ndarray, path: str | Path, what: str = "values") -> None:
    """Raise ``ValueError`` naming ``path`` (and ``what``, e.g. ``"band B04"``) if ``array`` holds NaN or inf."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - finite.sum())
        raise ValueError(f"{path}: {what} contain {bad} NaN or infinite value(s) of {array.size}; fill or mask them")


def read_single_band(path: str | Path, out_shape: tuple[int, int] | None = None) -> tuple[np.ndarray, Any, tuple]:
    """A finite one-band GeoTIFF as ``(float32 [H, W], crs, transform)``, resampled (bilinear) to out_shape."""
    from rasterio.enums import Resampling
    path = Path(path)
    with open_raster(path) as src:
        if src.count != 1:
            raise ValueError(f"{path}: expected a single-band GeoTIFF, found {src.count} bands")
        shape = (src.height, src.width) if out_shape is None else tuple(out_shape)
        array = read_window(src, path, 1, out_shape=shape, resampling=Resampling.bilinear).astype(np.float32)
        transform, crs = src.transform @ Affine.scale(src.width / shape[1], src.height / shape[0]), src.crs
    check_finite(array, path)
    return array, crs, tuple(transform)[:6]


def open_raster(path: Any, what: str = "GeoTIFF") -> Any:
    """``rasterio.open(path)`` (read-only); a missing, empty, truncated or foreign file raises naming it."""
    import rasterio

    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise InputTypeError(f"{what}: expected a file path (str or Path), got {path!r} ({type(path).__name__})")
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path}: a folder, not a {what} file; pass the .tif file inside it")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    if path.stat().st_size == 0:
        raise InputValueError(f"{path}: the file is empty (0 bytes); expected a {what} (an interrupted copy?)")
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioError as error:
        raise InputValueError(f"{path}: not a readable {what} ({str(error).splitlines()[0][:160]}); a truncated "
                              "download, or another kind of file: copy or export it again") from None


def read_window(src: Any, path: str | Path, *args: Any, **kwargs: Any) -> Any:
    """``src.read(*args, **kwargs)``; a failed read (a corrupt compressed block) names the file and window."""
    import rasterio
    from rasterio._err import CPLE_BaseError

    try:
        return src.read(*args, **kwargs)
    except (rasterio.errors.RasterioError, CPLE_BaseError) as error:
        window = kwargs.get("window")
        where = f"window row {window.row_off}, col {window.col_off}, {window.height} x {window.width} px" if (
            window is not None) else "the whole raster"  # fmt: skip
        raise InputValueError(f"{path}: reading {where} failed ({str(error).splitlines()[0][:160]}); the file "
                              "is corrupt (a damaged compressed block?): copy or export it again, or check it "
                              "with gdalinfo -checksum") from None


def check_grid(src: Any, path: str | Path) -> None:
    """Refuse a grid the kit's tiles, GSD and footprints would misread: rotated or sheared, or in degrees."""
    t = src.transform
    if t.b != 0 or t.d != 0:
        raise InputValueError(f"{path}: the grid is rotated or sheared (transform {tuple(t)[:6]}); tiles, GSD "
                              f"and footprints assume a north-up grid: warp it first (gdalwarp -t_srs {src.crs} "
                              f"{Path(path).name} north_up.tif)")
    if src.crs is not None and src.crs.is_geographic:
        from xmodal_lab.data.geo import utm_epsg

        lon, lat = t * (src.width / 2, src.height / 2)
        raise InputValueError(f"{path}: the grid is in degrees ({src.crs}, {abs(t.a):.3g} degrees per pixel), so "
                              f"its GSD would be read as {abs(t.a):.3g} m; reproject it to metres, e.g. its UTM "
                              f"zone (gdalwarp -t_srs EPSG:{utm_epsg(lat, lon)} -tr 10 10 {Path(path).name} "
                              "utm.tif)")


def geo_fields(crs: Any, transform: tuple[float, ...], height: int, width: int) -> dict[str, Any]:
    """The pair dict's grid fields: ``gsd``, ``lat``/``lon`` of the centre, ``crs``, ``transform``."""
    affine = Affine(*(float(v) for v in tuple(transform)[:6]))
    cx, cy = affine @ (width / 2, height / 2)
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    crs_str = f"EPSG:{epsg}" if epsg else str(crs)
    lon, lat = to_lonlat(cx, cy, crs_str)
    return {"gsd": float(np.hypot(affine.a, affine.d)), "lat": lat, "lon": lon, "crs": crs_str,
            "transform": tuple(affine)[:6]}


def window_transform(transform: tuple[float, ...], row: int, col: int) -> tuple[float, ...]:
    """Affine of the window whose top-left pixel is ``(row, col)`` (``rasterio.windows.transform`` warns in 1.4)."""
    return tuple(Affine(*tuple(transform)[:6]) @ Affine.translation(col, row))[:6]


def write_geotiff(path: str | Path, array: np.ndarray, crs: Any, transform: Any, nodata: float | None,
                  descriptions: tuple[str, ...], tags: dict[str, str]) -> None:
    """Write ``array`` ``[C, H, W]`` as a deflate GeoTIFF (256 px tiles from 256 x 256 px on), named bands, tags."""
    import rasterio

    count, height, width = array.shape
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=array.dtype, crs=str(crs),
                   transform=Affine(*tuple(transform)[:6]), nodata=nodata, compress="deflate")
    if height >= 256 and width >= 256:  # GeoTIFF blocks must be multiples of 16; small files stay striped
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
        dst.descriptions = descriptions
        dst.update_tags(**tags)
