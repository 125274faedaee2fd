"""The datasets' boundary: index checks, validated single-band reads and the georeferenced fields of a pair.

Errors name the file (or dataset) and what was expected: a loader is where a user's data enters the kit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import torch
from affine import Affine

from xmodal_lab.data.geo import to_lonlat
from xmodal_lab.errors import InputTypeError


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


def check_finite(array: np.ndarray, path: str | Path, what: str = "values") -> None:
    """Raise ``ValueError`` naming ``path`` (and ``what``, e.g. ``"band B04"``) if ``array`` holds NaN or inf."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - finite.sum())
        raise ValueError(f"{path}: {what} contain {bad} NaN or infinite value(s) of {array.size}; fill or mask them")


def read_single_band(path: str | Path, out_shape: tuple[int, int] | None = None) -> tuple[np.ndarray, Any, tuple]:
    """Read a finite one-band GeoTIFF as float32 ``[H, W]``, optionally resampled (bilinear) to ``out_shape``.

    Returns ``(array, crs, transform)``, the transform being that of the returned grid.
    """
    import rasterio
    from rasterio.enums import Resampling
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with rasterio.open(path) as src:
        if src.count != 1:
            raise ValueError(f"{path}: expected a single-band GeoTIFF, found {src.count} bands")
        shape = (src.height, src.width) if out_shape is None else tuple(out_shape)
        array = src.read(1, out_shape=shape, resampling=Resampling.bilinear).astype(np.float32)
        transform = src.transform @ Affine.scale(src.width / shape[1], src.height / shape[0])
        crs = src.crs
    check_finite(array, path)
    return array, crs, tuple(transform)[:6]


def geo_fields(crs: Any, transform: tuple[float, ...], height: int, width: int) -> dict[str, Any]:
    """The pair dict's grid fields: ``gsd``, ``lat``/``lon`` of the centre, ``crs``, ``transform``."""
    from rasterio.transform import xy
    affine = Affine(*(float(v) for v in tuple(transform)[:6]))
    cx, cy = xy(affine, height / 2, width / 2, offset="ul")
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    crs_str = f"EPSG:{epsg}" if epsg else str(crs)
    lon, lat = to_lonlat(cx, cy, crs_str)
    return {
        "gsd": float(np.hypot(affine.a, affine.d)),
        "lat": lat,
        "lon": lon,
        "crs": crs_str,
        "transform": tuple(affine)[:6],
    }


def window_transform(transform: tuple[float, ...], row: int, col: int) -> tuple[float, ...]:
    """Affine of the window whose top-left pixel is ``(row, col)`` (``rasterio.windows.transform`` warns in 1.4)."""
    return tuple(Affine(*tuple(transform)[:6]) @ Affine.translation(col, row))[:6]
