"""Small geographic helpers: UTM zones, cached coordinate transformers, affine pixel grids."""

from __future__ import annotations

import functools

from pyproj import Transformer


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the standard 6-degree WGS 84 / UTM zone containing (lat, lon).

    Args:
        lat: latitude in degrees (-80..84 is where UTM is defined; outside it the nearest zone is used).
        lon: longitude in degrees.

    Returns:
        ``326zz`` north of the equator, ``327zz`` south of it.
    """
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@functools.lru_cache(maxsize=128)
def transformer(src: str, dst: str) -> Transformer:
    """A cached ``pyproj.Transformer`` (creating one costs milliseconds; using one costs microseconds)."""
    return Transformer.from_crs(src, dst, always_xy=True)


def lonlat_to_utm(lat: float, lon: float, epsg: int | None = None) -> tuple[float, float, int]:
    """Project a point to UTM.

    Args:
        lat: latitude in degrees.
        lon: longitude in degrees.
        epsg: target UTM EPSG code (default: the point's own zone).

    Returns:
        ``(easting, northing, epsg)`` in metres.
    """
    epsg = utm_epsg(lat, lon) if epsg is None else epsg
    x, y = transformer("EPSG:4326", f"EPSG:{epsg}").transform(lon, lat)
    return float(x), float(y), epsg


def to_lonlat(x: float, y: float, crs: str) -> tuple[float, float]:
    """Longitude and latitude of a point given in ``crs`` (any pyproj-readable string)."""
    lon, lat = transformer(str(crs), "EPSG:4326").transform(x, y)
    return float(lon), float(lat)


def centred_transform(easting: float, northing: float, size: int, gsd: float) -> tuple[float, ...]:
    """Affine ``(a, b, c, d, e, f)`` of a north-up ``size x size`` grid of ``gsd`` metres centred on a point."""
    half = size * gsd / 2.0
    return (float(gsd), 0.0, easting - half, 0.0, -float(gsd), northing + half)
