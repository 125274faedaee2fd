"""Maps of tiles: footprints in lon/lat, leafmap maps and their shared plumbing (layers, legend, fly-to).

Data layers (GeoJSON, PNG data URLs) travel inside the notebook: only the basemap needs the internet.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import hsv_to_rgb, to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from xmodal_lab.data.geo import lonlat_to_utm, transformer
from xmodal_lab.viz._common import image_size, pair_list, scalar, to_numpy
from xmodal_lab.viz.colours import MODALITY_COLOURS, render
from xmodal_lab.viz.figure import figure_axes, label

Bounds = tuple[tuple[float, float], tuple[float, float]]  # ((south, west), (north, east)), Leaflet's order

_VIEW_PX = (640, 360)  # pixels the automatic zoom lets the data fill (a 480-px map, with margins)
_MARKER_ZOOM = 11  # below it a 1-km tile is a few pixels wide: the maps add markers at tile centres
_MAX_OVERLAYS = 32  # tile images at most: each adds its PNG to the notebook
#: What the tile colours of a map coloured by embedding mean.
EMBEDDING_LEGEND = (
    "Tile colour = its embedding, projected to 2-D (PCA) and placed on a colour wheel: the angle around the "
    "centre of the cloud gives the hue, the distance from it the saturation. Similar colours = similar "
    "embeddings; a colour has no fixed meaning (it is not a class)."
)


def corners_lonlat(transform: Any, height: int, width: int, crs: str) -> np.ndarray:
    """A raster's corners (affine ``transform`` in ``crs``) in lon/lat: a closed ring ``[5, 2]``."""
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    cols, rows = np.array([[0, width, width, 0, 0], [0, 0, height, height, 0]], dtype=np.float64)
    lon, lat = transformer(str(crs), "EPSG:4326").transform(a * cols + b * rows + c, d * cols + e * rows + f)
    return np.stack([lon, lat], axis=1)


def bounds_of(points: np.ndarray) -> Bounds:
    """``((south, west), (north, east))`` of ``[N, 2]`` ``(lon, lat)`` points."""
    (west, south), (east, north) = points.min(axis=0), points.max(axis=0)
    return (float(south), float(west)), (float(north), float(east))


def footprint_lonlat(pair: Mapping, index: int = 0) -> np.ndarray:
    """A tile's corners in lon/lat ``[5, 2]``, from ``crs`` and ``transform``, or ``lat``/``lon``/``gsd``."""
    height, width = image_size(pair)
    crs, transform = pair.get("crs"), pair.get("transform")
    if crs and transform is not None:
        return corners_lonlat(to_numpy(transform).astype(np.float64).ravel(), height, width, str(scalar(crs)))
    if missing := [k for k in ("lat", "lon", "gsd") if pair.get(k) is None]:
        raise ValueError(f"pairs[{index}]: needs 'crs' and 'transform', or 'lat', 'lon' and 'gsd' to place "
                         f"it on a map; missing {missing}")  # fmt: skip
    lat, lon, gsd = (float(scalar(pair[k])) for k in ("lat", "lon", "gsd"))
    x0, y0, epsg = lonlat_to_utm(lat, lon)  # centred on the tile's UTM point
    transform = (gsd, 0.0, x0 - width * gsd / 2, 0.0, -gsd, y0 + height * gsd / 2)
    return corners_lonlat(transform, height, width, f"EPSG:{epsg}")


def feature(kind: str, coordinates: list, properties: dict, **extra: Any) -> dict:
    """A GeoJSON Feature of one ``kind`` of geometry (``"Point"``, ``"Polygon"``)."""
    geometry = {"type": kind, "coordinates": coordinates}
    return {"type": "Feature", "geometry": geometry, "properties": properties, **extra}


def footprints_geojson(pairs: Any, colors: Sequence[str] | None = None) -> dict:
    """FeatureCollection (EPSG:4326) of the tiles' footprints: ``index`` ``i``, ``color`` ``colors[i]``."""
    items = pair_list(pairs)
    if colors is not None and len(colors) != len(items):
        raise ValueError(f"colors: expected one colour per tile ({len(items)}), got {len(colors)}")
    features = []
    for i, pair in enumerate(items):
        ring = footprint_lonlat(pair, i)
        props: dict[str, Any] = {}
        for key, value in pair.items():
            value = scalar(value)  # numbers as Python numbers, dates as text
            value = value.isoformat() if hasattr(value, "isoformat") else value
            if isinstance(key, str) and isinstance(value, bool | int | float | str):
                props[key] = value
        centre = ring[:4].mean(axis=0)
        props.setdefault("lat", float(centre[1]))
        props.setdefault("lon", float(centre[0]))
        if "index" in props:  # a dataset's own index (the world's scene number) stays readable
            props["scene_index"] = props["index"]
        props["index"] = i
        if colors is not None:
            props["color"] = str(colors[i])
        features.append(feature("Polygon", [ring.tolist()], props, id=i))
    return {"type": "FeatureCollection", "features": features}


def geojson_bounds(collection: Mapping) -> Bounds:
    """``((south, west), (north, east))`` of every polygon in a FeatureCollection."""
    rings = [np.asarray(f["geometry"]["coordinates"][0]) for f in collection["features"]]
    if not rings:
        raise ValueError("the FeatureCollection has no features")
    return bounds_of(np.concatenate(rings))


def _wheel(x: np.ndarray, y: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """RGB of the colour wheel: hue from the angle of ``(x, y)``, saturation from ``radius`` in 0..1."""
    hue = (np.arctan2(y, x) / (2 * np.pi)) % 1.0
    sat = 0.25 + 0.75 * np.clip(radius, 0.0, 1.0)
    return hsv_to_rgb(np.stack([hue, sat, np.full_like(hue, 0.9)], axis=-1))


def embedding_colors(coords_2d: Any) -> list[str]:
    """Hex colours on a colour wheel: similar embeddings ``[N, 2]`` (``[N, D]``: their PCA), similar colours.

    The angle around the cloud's centre picks the hue, the distance (to the 95th percentile) the saturation.
    """
    from sklearn.decomposition import PCA
    c = to_numpy(coords_2d).astype(np.float64)
    if c.ndim != 2 or len(c) == 0 or c.shape[1] < 2:
        raise ValueError(f"coords_2d: expected an [N, 2] (or [N, D]) array with N >= 1, got shape {c.shape}")
    c = c - c.mean(axis=0)  # one scale for both axes: a direction with only noise must not pick hues
    if c.shape[1] > 2:  # the two strongest principal axes (identical embeddings: all at the centre)
        c = PCA(n_components=2, svd_solver="full").fit_transform(c) if c.any() else c[:, :2]
    radius = np.linalg.norm(c, axis=1)
    scale = np.percentile(radius, 95) if len(c) > 2 else radius.max()
    return [to_hex(rgb) for rgb in _wheel(c[:, 0], c[:, 1], radius / (scale if scale > 0 else 1.0))]


def colour_wheel(size: int = 96) -> np.ndarray:
    """The key of :func:`embedding_colors`: ``[size, size, 4]`` uint8 RGBA, transparent outside the disc."""
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(axis, -axis)  # y up, as on a plot of the projection
    r = np.hypot(x, y)
    rgb = np.round(_wheel(x, y, r) * 255).astype(np.uint8)
    return np.dstack([rgb, np.where(r <= 1.0, 255, 0).astype(np.uint8)])


def png_data_url(image: np.ndarray) -> str:
    """An ``[H, W, 3]`` (or ``[H, W, 4]``) uint8 picture as a PNG data URL, which works offline."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def view_of(bounds: Bounds) -> tuple[tuple[float, float], int]:
    """Centre ``(lat, lon)`` and the Web-Mercator zoom (world 256 * 2**z px wide) that shows ``bounds``."""
    (south, west), (north, east) = bounds
    centre = ((south + north) / 2, (west + east) / 2)
    lon_span = max(east - west, 1e-6)
    lat_span = max((north - south) / max(math.cos(math.radians(centre[0])), 1e-6), 1e-6)
    fit = min(_VIEW_PX[0] * 360.0 / (256.0 * lon_span), _VIEW_PX[1] * 360.0 / (256.0 * lat_span))
    return centre, max(1, min(int(math.floor(math.log2(fit))), 18))


def fit_to(m: Any, bounds: Bounds) -> list[list[float]]:
    """Fit a map to ``bounds`` now and in the browser; kept in ``m.fitted_bounds``."""
    box = [[float(v) for v in corner] for corner in bounds]  # [[south, west], [north, east]]
    m.center, m.zoom = view_of(bounds)
    with contextlib.suppress(RuntimeError):  # no event loop (plain Python): the centre and zoom above fit
        m.fit_bounds(box)
    m.fitted_bounds = box
    return box


def new_map(bounds: Bounds, basemap: str | None, height: str):
    """A leafmap map fitted to ``bounds`` with a layer control; ``basemap=None``: no tile layer."""
    import ipyleaflet
    from leafmap import leafmap
    kwargs = {} if basemap is None else {"basemap": basemap}
    with warnings.catch_warnings():  # leafmap forwards its own options to ipyleaflet, which warns about them
        warnings.simplefilter("ignore", DeprecationWarning)
        m = leafmap.Map(height=height, draw_control=False, measure_control=False, toolbar_control=False,
                        search_control=False, layers_control=True, **kwargs)  # fmt: skip
    if basemap is None:
        for layer in [la for la in m.layers if isinstance(la, ipyleaflet.TileLayer)]:
            m.remove(layer)
    fit_to(m, bounds)
    return m


def image_layer(image: np.ndarray, bounds: Bounds, name: str, opacity: float = 1.0):
    """An image overlay of an RGB(A) uint8 picture over ``bounds``."""
    import ipyleaflet
    return ipyleaflet.ImageOverlay(url=png_data_url(image), bounds=bounds, name=name, opacity=opacity)


def add_control(m: Any, widget: Any, position: str) -> Any:
    """Put an ipywidget on the map at ``position`` (``"topright"`` ...)."""
    import ipyleaflet
    m.add(ipyleaflet.WidgetControl(widget=widget, position=position))
    return widget


def add_legend(m: Any, text: str, wheel: bool = True) -> None:
    """Explain the map's colours in its lower-left corner (``m.legend``), with a colour-wheel key."""
    import ipywidgets as widgets
    img = ""
    if wheel:
        key = colour_wheel(64)
        rgb = np.where(key[..., 3:] > 0, key[..., :3], 255).astype(np.uint8)  # white outside the disc
        img = f'<img src="{png_data_url(rgb)}" width="64" style="float:left;margin-right:6px">'
    html = f'<div style="max-width:300px;font-size:11px;line-height:1.25">{img}<b>colours</b>: {text}</div>'
    m.legend = add_control(m, widgets.HTML(html), "bottomleft")


def add_fly_to(m: Any, places: Mapping[str, Any]) -> Any:
    """A "fly to" dropdown; choosing a name fits the map to ``places[name]()``, the bounds it returns."""
    import ipywidgets as widgets
    selector = widgets.Dropdown(options=list(places), value=next(iter(places)), description="fly to",
                                layout=widgets.Layout(width="260px"))  # fmt: skip
    selector.observe(lambda change: fit_to(m, places[change["new"]]()), names="value")
    m.fly_to_selector = add_control(m, selector, "topright")
    return selector


def footprint_layer(collection: Mapping, name: str, weight: float = 2.0, fill_opacity: float = 0.35):
    """A GeoJSON layer painting each feature in its ``color`` (else the optical colour); sizes in pixels."""
    import ipyleaflet
    c = MODALITY_COLOURS["s2"]
    return ipyleaflet.GeoJSON(
        data=dict(collection), name=name, point_style={"radius": 6},
        style=dict(color=c, fillColor=c, weight=weight, opacity=0.9, fillOpacity=fill_opacity),
        hover_style={"weight": weight + 2, "fillOpacity": min(fill_opacity + 0.3, 1.0)},
        style_callback=lambda f: dict.fromkeys(("color", "fillColor"), f["properties"].get("color", c)),
    )  # fmt: skip


def centre_layer(collection: Mapping):
    """Circle markers at the tile centres in the tiles' colours, for when footprints are specks."""
    points = [feature("Point", [f["properties"]["lon"], f["properties"]["lat"]], dict(f["properties"]))
              for f in collection["features"]]  # fmt: skip
    return footprint_layer({"type": "FeatureCollection", "features": points}, "tile centres", 1.0, 0.9)


def describe_tile(properties: Mapping) -> str:
    """An HTML description of a tile's properties (the maps' hover box)."""
    shown = [(key, properties[key]) for key in ("index", "place", "biome", "date", "gsd", "lat", "lon")
             if key in properties]  # fmt: skip
    spec = {key: ".4f" for key, value in shown if isinstance(value, float) and key in ("lat", "lon")}
    return "<br>".join(f"<b>{key}</b> {value:{spec.get(key, '')}}" for key, value in shown)


def find_layer(m: Any, name: str):
    """The layer of a map called ``name``."""
    for layer in m.layers:
        if getattr(layer, "name", None) == name:
            return layer
    raise KeyError(f"no layer named {name!r}; the map has {[getattr(la, 'name', '?') for la in m.layers]}")


def _colours_for(n: int, embeddings: Any) -> list[str]:
    """One colour per tile: by embedding (similar tiles, similar colours), else the optical colour."""
    if embeddings is None:
        return [MODALITY_COLOURS["s2"]] * n
    emb = to_numpy(embeddings)
    if len(emb) != n:
        raise ValueError(f"embeddings: expected one row per tile ({n}), got shape {emb.shape}")
    return embedding_colors(emb)


def explore_map(
    pairs: Any, embeddings: Any = None, *, overlays: str | None = "s2", basemap: str | None = "OpenStreetMap"
):
    """A leafmap map of tile footprints coloured by embedding ``[N, D]``, with the tiles' images underneath.

    ``overlays`` is the images' rendering (``"s2"``, ``"s1"`` ...) or None. The map keeps ``footprints``,
    ``hover_info``, ``legend`` and ``fly_to_selector`` (all tiles, then each ``place`` or tile).
    """
    import ipyleaflet
    import ipywidgets as widgets
    items = pair_list(pairs)
    if not items:
        raise ValueError("explore_map: got no pairs to show")
    collection = footprints_geojson(items, _colours_for(len(items), embeddings))
    bounds = geojson_bounds(collection)
    m = new_map(bounds, basemap, "480px")
    m.footprints = collection
    if overlays is not None:  # the first tiles' images, each over its footprint's bounding box
        key = "s1" if overlays.startswith("s1") else "s2"
        images = [image_layer(render(pair[key], overlays), geojson_bounds({"features": [f]}), f"tile {i}")
                  for i, (pair, f) in enumerate(zip(items[:_MAX_OVERLAYS], collection["features"]))
                  if pair.get(key) is not None]  # fmt: skip
        what = {"s2": "optical", "s2_false": "optical false colour"}.get(overlays, "radar")
        m.add(ipyleaflet.LayerGroup(layers=images, name=f"tiles ({what})"))
    layer = footprint_layer(collection, "footprints")
    m.add(layer)
    if view_of(bounds)[1] < _MARKER_ZOOM:
        m.add(centre_layer(collection))
    m.hover_info = add_control(m, widgets.HTML("hover over a tile"), "bottomright")
    layer.on_hover(lambda **event: setattr(m.hover_info, "value", describe_tile(event["properties"])))
    groups: dict[str, list[dict]] = {}
    for f in collection["features"]:
        p = f["properties"]
        name = p.get("place") or f"tile {p['index']} ({p['lat']:.3f}, {p['lon']:.3f})"
        groups.setdefault(str(name), []).append(f)
    places = {"all tiles": lambda: geojson_bounds(collection)}
    for name, feats in list(groups.items())[:200]:
        places[name] = lambda feats=feats: geojson_bounds({"features": feats})
    add_fly_to(m, places)
    if embeddings is not None:
        add_legend(m, EMBEDDING_LEGEND)
    return m


def plot_footprints(pairs: Any, *, embeddings: Any = None) -> Figure:
    """Static :func:`explore_map`: footprints (dots for specks) on lon/lat axes coloured by ``embeddings``."""
    collection = footprints_geojson(pairs)
    rings = [np.asarray(f["geometry"]["coordinates"][0]) for f in collection["features"]]
    colors = _colours_for(len(rings), embeddings)
    fig, ax = figure_axes(figsize=(6, 5))
    (south, west), (north, east) = geojson_bounds(collection)
    for ring, colour in zip(rings, colors):
        ax.add_patch(Polygon(ring, closed=True, fc=colour, ec="0.25", lw=0.6, alpha=0.8, gid="footprint"))
    if max(np.ptp(ring[:, 0]) for ring in rings) < 0.02 * max(east - west, north - south):  # specks
        centres = np.array([ring[:4].mean(axis=0) for ring in rings])  # [N, 2] lon, lat
        ax.scatter(*centres.T, s=30, c=colors, edgecolors="0.25", linewidths=0.5, zorder=3, gid="centres")
    if embeddings is not None:
        inset = ax.inset_axes((0.78, 0.02, 0.2, 0.2))
        inset.imshow(colour_wheel(64))
        inset.set_axis_off()
        label(inset, "embedding\ncolour key", 6, gid="colour_key")
    pad_x, pad_y = 0.05 * (east - west) + 1e-4, 0.05 * (north - south) + 1e-4
    key = ", coloured by embedding (key: colour wheel)" if embeddings is not None else ""
    aspect = 1.0 / max(math.cos(math.radians((south + north) / 2)), 1e-6)  # metres look square
    label(ax, f"{len(rings)} tile footprints{key}", xlim=(west - pad_x, east + pad_x),
          ylim=(south - pad_y, north + pad_y), aspect=aspect, xlabel="longitude (°)", ylabel="latitude (°)")
    return fig
