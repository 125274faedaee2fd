"""Tile footprints in longitude/latitude and embedding-derived colours: the data behind every map.

Pure functions (NumPy, and pyproj through :mod:`xmodal_lab.data.geo`): no widgets, so they are cheap and
easy to test.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from xmodal_lab.data.geo import lonlat_to_utm, transformer
from xmodal_lab.viz._common import image_size, pair_list, scalar, to_numpy


def _grid_of(pair: Mapping, index: int) -> tuple[str, tuple[float, ...], int, int]:
    """``(crs, (a, b, c, d, e, f), H, W)`` of a tile; without a grid, centred on ``lat``/``lon`` in UTM."""
    height, width = image_size(pair)
    crs, transform = pair.get("crs"), pair.get("transform")
    if crs and transform is not None:
        values = to_numpy(transform).astype(np.float64).ravel()
        if values.size not in (6, 9):
            raise ValueError(
                f"pairs[{index}]['transform']: expected 6 affine values (a, b, c, d, e, f), got {values.size}"
            )
        return str(scalar(crs)), tuple(values[:6].tolist()), height, width
    missing = [k for k in ("lat", "lon", "gsd") if pair.get(k) is None]
    if missing:
        raise ValueError(
            f"pairs[{index}]: needs 'crs' and 'transform', or 'lat', 'lon' and 'gsd' to place it on a map; "
            f"missing {missing}"
        )
    lat, lon, gsd = (float(scalar(pair[k])) for k in ("lat", "lon", "gsd"))
    x0, y0, epsg = lonlat_to_utm(lat, lon)
    return f"EPSG:{epsg}", (gsd, 0.0, x0 - width * gsd / 2, 0.0, -gsd, y0 + height * gsd / 2), height, width


def footprint_lonlat(pair: Mapping, index: int = 0) -> np.ndarray:
    """The corners of a tile in longitude/latitude, as a closed ring.

    Args:
        pair: a pair dict or metadata dict with ``crs`` and ``transform`` (affine ``a, b, c, d, e, f``, pixel
            corner ``(col, row)`` maps to ``(a*col + b*row + c, d*col + e*row + f)``) and a size (from its
            images, or ``height``/``width``/``size``); or ``lat``, ``lon`` (the centre) and ``gsd`` instead.
        index: position of the pair, for error messages.

    Returns:
        ``[5, 2]`` ``(lon, lat)`` points: top-left, top-right, bottom-right, bottom-left, top-left.
    """
    crs, (a, b, c, d, e, f), height, width = _grid_of(pair, index)
    cols = np.array([0, width, width, 0, 0], dtype=np.float64)
    rows = np.array([0, 0, height, height, 0], dtype=np.float64)
    lon, lat = transformer(crs, "EPSG:4326").transform(a * cols + b * rows + c, d * cols + e * rows + f)
    return np.stack([lon, lat], axis=1)


def _plain(value: Any) -> str | int | float | bool | None:
    """A JSON-ready scalar from a pair entry, or None for arrays, tuples and other structures."""
    value = scalar(value)
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):  # dates
        return value.isoformat()
    return None


def _feature_properties(pair: Mapping, ring: np.ndarray, index: int) -> dict:
    """The pair's scalar entries (``lat``, ``lon``, ``gsd``, ``date``, ``crs``, ``biome`` ...) and ``index``."""
    props: dict[str, Any] = {}
    for key, value in pair.items():
        plain = _plain(value) if isinstance(key, str) else None
        if plain is not None:
            props[key] = plain
    centre = ring[:4].mean(axis=0)
    props.setdefault("lat", float(centre[1]))
    props.setdefault("lon", float(centre[0]))
    if "index" in props:  # a dataset's own index (the world's scene number) stays readable
        props["scene_index"] = props["index"]
    props["index"] = index
    return props


def footprints_geojson(
    pairs: Any,
    colors: Sequence[str] | None = None,
    properties: Sequence[Mapping] | Mapping[str, Sequence] | None = None,
) -> dict:
    """A GeoJSON FeatureCollection with each tile's footprint polygon in longitude/latitude (EPSG:4326).

    Args:
        pairs: pair dicts, a collated batch, a dataset, or metadata dicts (``crs``, ``transform``, ``height``,
            ``width``, ...); see :func:`footprint_lonlat` for what locates a tile.
        colors: one colour per tile, stored as the ``color`` property (maps paint it).
        properties: extra properties per tile: a list of dicts, or ``{name: [one value per tile]}``.

    Returns:
        ``{"type": "FeatureCollection", "features": [...]}``; feature ``i`` has a closed ``Polygon`` ring of 5
        ``[lon, lat]`` positions and the pair's scalar entries as properties (``lat``, ``lon``, ``date``,
        ``gsd`` ...), with ``index`` set to ``i``.
    """
    items = pair_list(pairs)
    n = len(items)
    if colors is not None and len(colors) != n:
        raise ValueError(f"colors: expected one colour per tile ({n}), got {len(colors)}")
    if isinstance(properties, Mapping):
        for key, values in properties.items():
            if len(values) != n:
                raise ValueError(f"properties[{key!r}]: expected {n} values, got {len(values)}")
        properties = [{k: scalar(v[i]) for k, v in properties.items()} for i in range(n)]
    elif properties is not None and len(properties) != n:
        raise ValueError(f"properties: expected one dict per tile ({n}), got {len(properties)}")
    features = []
    for i, pair in enumerate(items):
        ring = footprint_lonlat(pair, i)
        props = _feature_properties(pair, ring, i)
        if colors is not None:
            props["color"] = str(colors[i])
        if properties is not None:
            props.update(properties[i])
        features.append(
            {
                "type": "Feature",
                "id": i,
                "geometry": {"type": "Polygon", "coordinates": [ring.tolist()]},
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def geojson_bounds(collection: Mapping) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((south, west), (north, east))`` of every polygon in a FeatureCollection (Leaflet's order)."""
    rings = [np.asarray(f["geometry"]["coordinates"][0]) for f in collection["features"]]
    if not rings:
        raise ValueError("the FeatureCollection has no features")
    pts = np.concatenate(rings)
    return (float(pts[:, 1].min()), float(pts[:, 0].min())), (float(pts[:, 1].max()), float(pts[:, 0].max()))


def _to_2d(coords: np.ndarray) -> np.ndarray:
    if coords.shape[1] == 2:
        return coords
    if coords.shape[1] == 1:
        return np.concatenate([coords, np.zeros_like(coords)], axis=1)
    centred = coords - coords.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # principal axes, strongest first
    return centred @ vt[:2].T


def embedding_colors(coords_2d: Any, *, lightness: float = 0.9) -> list[str]:
    """Colours that place similar embeddings near each other on a 2-D colour wheel.

    The angle around the centre of the cloud picks the hue and the distance from it the saturation (relative
    to the 95th-percentile distance): nearby embeddings get similar colours, far apart ones different hues.

    Args:
        coords_2d: ``[N, 2]`` projected embeddings (``[N, D]`` with ``D > 2`` is reduced by PCA first).
        lightness: HSV value of every colour (0..1).

    Returns:
        ``N`` hex colours such as ``"#3fa8c2"``.
    """
    c = to_numpy(coords_2d).astype(np.float64)
    if c.ndim != 2 or len(c) == 0:
        raise ValueError(f"coords_2d: expected an [N, 2] array with N >= 1, got shape {c.shape}")
    c = _to_2d(c)
    c = c - c.mean(axis=0)  # one scale for both axes: a direction with only noise must not pick hues
    radius = np.linalg.norm(c, axis=1)
    scale = np.percentile(radius, 95) if len(c) > 2 else radius.max()
    r = np.clip(radius / (scale if scale > 0 else 1.0), 0.0, 1.0)
    hue = (np.arctan2(c[:, 1], c[:, 0]) / (2 * np.pi)) % 1.0
    colours = []
    for h, s in zip(hue, 0.25 + 0.75 * r):
        red, green, blue = colorsys.hsv_to_rgb(h, s, lightness)
        colours.append(f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}")
    return colours


def colour_wheel(size: int = 96, *, lightness: float = 0.9) -> np.ndarray:
    """The key of :func:`embedding_colors`: the colour of every point of the 2-D projection's disc.

    Hue is the angle around the centre of the embedding cloud, saturation the distance from it (0.25 at the
    centre to 1 at the 95th-percentile radius), exactly as :func:`embedding_colors` colours the tiles.

    Args:
        size: side of the picture in pixels.
        lightness: HSV value, as in :func:`embedding_colors`.

    Returns:
        ``[size, size, 4]`` uint8 RGBA, transparent outside the unit disc.
    """
    ax = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(ax, -ax)  # y up, as on a plot of the projection
    r = np.hypot(x, y)
    hue = (np.arctan2(y, x) / (2 * np.pi)) % 1.0
    sat = 0.25 + 0.75 * np.clip(r, 0, 1)
    rgb = np.array([colorsys.hsv_to_rgb(h, s, lightness) for h, s in zip(hue.ravel(), sat.ravel())])
    out = np.zeros((size, size, 4), np.uint8)
    out[..., :3] = np.round(rgb.reshape(size, size, 3) * 255).astype(np.uint8)
    out[..., 3] = np.where(r <= 1.0, 255, 0)
    return out


def value_colors(
    values: Any, *, cmap: str = "magma", vmin: float | None = None, vmax: float | None = None
) -> list[str]:
    """Colours for one number per tile (a change distance, a probe's confidence) from a matplotlib colour map.

    Args:
        values: ``[N]`` numbers.
        cmap: colour map name.
        vmin: value of the first colour (default: the minimum).
        vmax: value of the last colour (default: the maximum).

    Returns:
        ``N`` hex colours.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, to_hex

    v = to_numpy(values).astype(np.float64).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError(
            f"values: expected finite numbers, one per tile, got {v.size} values with NaN or inf"
        )
    norm = Normalize(v.min() if vmin is None else vmin, v.max() if vmax is None else vmax, clip=True)
    return [to_hex(c) for c in colormaps[cmap](norm(v))]
