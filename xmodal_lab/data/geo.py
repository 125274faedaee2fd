"""Small geographic helpers: UTM zones, cached coordinate transformers, affine pixel grids."""

from __future__ import annotations

import functools

from pyproj import Transformer


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the UTM zone of (lat, lon) with the Norway and Svalbard exceptions, which pyproj lacks."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:  # south-west Norway is zone 32V
        zone = 32
    elif 72.0 <= lat < 84.0 and 0.0 <= lon < 42.0:  # Svalbard: zones 31X, 33X, 35X, 37X
        zone = 31 if lon < 9.0 else 33 if lon < 21.0 else 35 if lon < 33.0 else 37
    return (32600 if lat >= 0 else 32700) + zone


@functools.lru_cache(maxsize=128)
def transformer(src: str, dst: str) -> Transformer:
    """A cached ``pyproj.Transformer``, ``always_xy`` (creating one costs milliseconds)."""
    return Transformer.from_crs(src, dst, always_xy=True)


def lonlat_to_utm(lat: float, lon: float) -> tuple[float, float, int]:
    """Project a point to its UTM zone: ``(easting, northing, epsg)`` in metres."""
    epsg = utm_epsg(lat, lon)
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
