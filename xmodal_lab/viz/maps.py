"""Interactive maps (leafmap with the ipyleaflet backend, ipywidgets) and their static fallbacks.

Data layers (footprints, tile images as PNG data URLs) travel inside the notebook, so they show offline;
only the basemap needs the internet and simply stays blank without it. Every widget starts with a default
selection, and :func:`plot_footprints` draws the same content as a matplotlib figure for nbmake and for
readers of a rendered notebook. leafmap, ipyleaflet and ipywidgets are imported inside the functions.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from xmodal_lab.viz._common import pair_list, scalar, to_numpy
from xmodal_lab.viz.composites import render
from xmodal_lab.viz.figure import figure_axes
from xmodal_lab.viz.geo import (
    colour_wheel,
    embedding_colors,
    footprints_geojson,
    geojson_bounds,
    value_colors,
)
from xmodal_lab.viz.palettes import MODALITY_COLOURS, QUERY_COLOUR, TRUE_MATCH_COLOUR

#: Pixels the automatic zoom lets the footprints fill (inside the default 480-pixel-high map, with margins).
_VIEW_PX = (640, 360)
#: Below this zoom a 1-km tile is a few pixels wide, so the maps add markers at tile centres.
_MARKER_ZOOM = 11


def png_data_url(rgb: np.ndarray) -> str:
    """Encode an ``[H, W, 3]`` uint8 picture as a ``data:image/png;base64,...`` URL (no file, works offline)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def view_of(bounds: tuple[tuple[float, float], tuple[float, float]]) -> tuple[tuple[float, float], int]:
    """Centre ``(lat, lon)`` and a Web-Mercator zoom level that shows ``((south, west), (north, east))``.

    Computed here rather than by ``Map.fit_bounds`` (which runs in the browser), so a map built headless
    already looks at its data.
    """
    (south, west), (north, east) = bounds
    centre = ((south + north) / 2, (west + east) / 2)
    # at zoom z the world is 256 * 2**z pixels wide; a degree of latitude is 1/cos(lat) longitude degrees
    lon_span = max(east - west, 1e-6)
    lat_span = max((north - south) / max(math.cos(math.radians(centre[0])), 1e-6), 1e-6)
    fit = min(_VIEW_PX[0] * 360.0 / (256.0 * lon_span), _VIEW_PX[1] * 360.0 / (256.0 * lat_span))
    return centre, max(1, min(int(math.floor(math.log2(fit))), 18))


#: What the tile colours of a map coloured by embedding mean (the map legend and the static figures' key).
EMBEDDING_LEGEND = (
    "Tile colour = its embedding, projected to 2-D (PCA) and placed on a colour wheel: the angle around the "
    "centre of the cloud gives the hue, the distance from it the saturation. Similar colours = similar "
    "embeddings; a colour has no fixed meaning (it is not a class)."
)


def fit_to(m: Any, bounds: tuple[tuple[float, float], tuple[float, float]]) -> list[list[float]]:
    """Fit a map to ``((south, west), (north, east))``: centre and zoom set now, ``fit_bounds`` in the browser.

    The centre and zoom are computed here (:func:`view_of`), so a map built headless already looks at its
    data; ``Map.fit_bounds`` then refines the view once the map is drawn. The bounds are kept in
    ``m.fitted_bounds``.

    Returns:
        The bounds as ``[[south, west], [north, east]]``.
    """
    (south, west), (north, east) = bounds
    box = [[float(south), float(west)], [float(north), float(east)]]
    centre, zoom = view_of(bounds)
    m.center, m.zoom = centre, zoom
    try:
        m.fit_bounds(box)
    except RuntimeError:  # no event loop (plain Python): the centre and zoom above already fit
        pass
    m.fitted_bounds = box
    return box


def _place_groups(collection: Mapping, max_places: int = 200) -> list[tuple[str, list[int]]]:
    """Fly-to targets: tiles grouped by their ``place`` property, or one entry per tile."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(collection["features"]):
        props = f["properties"]
        place = props.get("place")
        key = (
            str(place)
            if place is not None
            else f"tile {props.get('index', i)} ({props['lat']:.3f}, {props['lon']:.3f})"
        )
        groups.setdefault(key, []).append(i)
    return list(groups.items())[:max_places]


def _add_fly_to(m: Any, collection: Mapping) -> None:
    """A dropdown of places on the map; choosing one fits the map to its tiles (``m.fly_to(name)``)."""
    import ipyleaflet
    import ipywidgets as widgets

    groups = dict(_place_groups(collection))
    everything = "all tiles"
    selector = widgets.Dropdown(options=[everything, *groups], value=everything, description="fly to",
                                layout=widgets.Layout(width="260px"))  # fmt: skip

    def bounds_of(name: str):
        if name == everything:
            return geojson_bounds(collection)
        feats = [collection["features"][i] for i in groups[name]]
        return geojson_bounds({"features": feats})

    def on_change(change: Mapping) -> None:
        fit_to(m, bounds_of(change["new"]))

    selector.observe(on_change, names="value")

    def fly_to(name: str | int) -> list[list[float]]:
        """Fit the map to a place (its name in the dropdown, or a tile index)."""
        if isinstance(name, int):
            name = next(k for k, v in groups.items() if name in v)
        if name not in groups and name != everything:
            raise KeyError(f"fly_to: no place {name!r}; the map has {[everything, *groups]}")
        selector.value = name
        return m.fitted_bounds

    m.add(ipyleaflet.WidgetControl(widget=selector, position="topright"))
    m.fly_to_selector, m.fly_to_place = selector, fly_to


def legend_html(text: str, wheel: bool = True) -> str:
    """The HTML of a map legend: a colour-wheel key (a PNG data URL, white outside the disc) and a sentence."""
    img = ""
    if wheel:
        key = colour_wheel(64)
        rgb = np.where(key[..., 3:] > 0, key[..., :3], 255).astype(np.uint8)
        img = f'<img src="{png_data_url(rgb)}" width="64" style="float:left;margin-right:6px">'
    return f'<div style="max-width:300px;font-size:11px;line-height:1.25">{img}<b>colours</b>: {text}</div>'


def _add_legend(m: Any, text: str, wheel: bool = True) -> None:
    import ipyleaflet
    import ipywidgets as widgets

    html = widgets.HTML(legend_html(text, wheel))
    m.add(ipyleaflet.WidgetControl(widget=html, position="bottomleft"))
    m.legend = html


def _colours_for(n: int, embeddings: Any, colors: Sequence[str] | None) -> list[str]:
    if colors is not None:
        if len(colors) != n:
            raise ValueError(f"colors: expected one colour per tile ({n}), got {len(colors)}")
        return list(colors)
    if embeddings is not None:
        emb = to_numpy(embeddings)
        if len(emb) != n:
            raise ValueError(f"embeddings: expected one row per tile ({n}), got shape {emb.shape}")
        return embedding_colors(emb)
    return [MODALITY_COLOURS["s2"]] * n


def _style(feature: Mapping) -> dict:
    colour = feature["properties"].get("color", MODALITY_COLOURS["s2"])
    return {"color": colour, "fillColor": colour}


def footprint_layer(
    collection: Mapping,
    name: str = "footprints",
    weight: float = 2.0,
    fill_opacity: float = 0.35,
    point_radius: int = 6,
):
    """An ipyleaflet GeoJSON layer painting each feature in its ``color`` property.

    Args:
        collection: a FeatureCollection from :func:`footprints_geojson`.
        name: layer name (shown in the layer control; tests and notebooks find the layer by it).
        weight: outline width in pixels.
        fill_opacity: 0 for outlines only.
        point_radius: radius in pixels of ``Point`` features (tile centres), drawn as circle markers.

    Returns:
        ``ipyleaflet.GeoJSON``.
    """
    import ipyleaflet

    return ipyleaflet.GeoJSON(
        data=dict(collection),
        name=name,
        style={"weight": weight, "opacity": 0.9, "fillOpacity": fill_opacity},
        hover_style={"weight": weight + 2, "fillOpacity": min(fill_opacity + 0.3, 1.0)},
        point_style={"radius": point_radius},
        style_callback=_style,
    )


def _overlay_group(items: list[dict], collection: Mapping, modality: str, limit: int):
    import ipyleaflet

    key = "s1" if modality.startswith("s1") else "s2"
    overlays = []
    for pair, feature in zip(items[:limit], collection["features"]):
        if pair.get(key) is None:
            continue
        (south, west), (north, east) = geojson_bounds({"features": [feature]})
        overlays.append(
            ipyleaflet.ImageOverlay(
                url=png_data_url(render(pair[key], modality)),
                bounds=((south, west), (north, east)),
                name=f"tile {feature['properties']['index']}",
            )
        )
    label = {"s2": "optical", "s2_false": "optical false colour"}.get(modality, "radar")
    return ipyleaflet.LayerGroup(layers=overlays, name=f"tiles ({label})")


def explore_map(
    pairs: Any,
    embeddings: Any = None,
    *,
    colors: Sequence[str] | None = None,
    overlays: str | None = "s2",
    max_overlays: int = 32,
    properties: Sequence[Mapping] | Mapping[str, Sequence] | None = None,
    basemap: str | None = "OpenStreetMap",
    height: str = "480px",
    layer_name: str = "footprints",
    markers: bool | None = None,
    fly_to: bool = True,
    legend: str | None = None,
):
    """A leafmap map of tile footprints coloured by embedding, with the tiles' images underneath.

    The map opens fitted to the footprints' bounds (``map.fitted_bounds``); a "fly to" dropdown fits it to
    one place's tiles (tiles sharing a ``place`` property, else one tile each); a legend explains what the
    colours mean (the colour wheel of :func:`~xmodal_lab.viz.geo.embedding_colors` when colouring by
    embedding).

    Args:
        pairs: pair dicts, a collated batch or a dataset (each with ``crs`` and ``transform``, or ``lat``,
            ``lon`` and ``gsd``).
        embeddings: ``[N, D]`` embeddings or ``[N, 2]`` projections; similar tiles get similar colours
            (:func:`embedding_colors`). Ignored when ``colors`` is given.
        colors: one colour per tile, e.g. ``value_colors(change_distance)``.
        overlays: a rendering (``"s2"``, ``"s2_false"``, ``"s1"``, ``"s1_vv"``, ``"s1_vh"``) to lay the first
            ``max_overlays`` tile images on the map as PNG data URLs (each over its footprint's lon/lat
            bounding box); ``None`` for footprints only.
        max_overlays: tile images at most (each adds its PNG to the notebook).
        properties: extra GeoJSON properties per tile.
        basemap: a leafmap basemap name, or ``None`` for none (the data layers show either way).
        height: CSS height of the map.
        layer_name: name of the footprint layer.
        markers: add circle markers at the tile centres (layer ``"tile centres"``); by default only when
            the tiles are spread so far that their footprints would be specks on the map.
        fly_to: add the "fly to" dropdown (``map.fly_to_selector``; ``map.fly_to_place(name_or_tile)``).
        legend: text of the colour legend (default: the embedding colour wheel when colouring by
            ``embeddings``, none for plain or caller-given colours).

    Returns:
        ``leafmap.leafmap.Map`` fitted to the tiles (``map.fitted_bounds``), with a GeoJSON layer
        ``layer_name`` holding one feature per tile (also in ``map.footprints``), a layer control, a box
        describing the tile under the mouse (``map.hover_info``), the legend (``map.legend``), the fly-to
        control, and the image overlays and centre markers if asked.
    """
    import ipyleaflet
    from leafmap import leafmap

    items = pair_list(pairs)
    if not items:
        raise ValueError("explore_map: got no pairs to show")
    collection = footprints_geojson(items, _colours_for(len(items), embeddings, colors), properties)
    centre, zoom = view_of(geojson_bounds(collection))
    kwargs = dict(
        center=centre,
        zoom=zoom,
        height=height,
        draw_control=False,
        measure_control=False,
        toolbar_control=False,
        search_control=False,
        layers_control=True,
    )
    if basemap is not None:
        kwargs["basemap"] = basemap
    with warnings.catch_warnings():  # leafmap forwards its own options to ipyleaflet, which warns about them
        warnings.simplefilter("ignore", DeprecationWarning)
        m = leafmap.Map(**kwargs)
    if basemap is None:
        for layer in [la for la in m.layers if isinstance(la, ipyleaflet.TileLayer)]:
            m.remove(layer)
    if overlays is not None:
        m.add(_overlay_group(items, collection, overlays, max_overlays))
    layer = footprint_layer(collection, layer_name)
    m.add(layer)
    if markers if markers is not None else zoom < _MARKER_ZOOM:
        m.add(centre_layer(collection))
    _add_hover_info(m, layer)
    fit_to(m, geojson_bounds(collection))
    if fly_to:
        _add_fly_to(m, collection)
    if legend is not None or (embeddings is not None and colors is None):
        _add_legend(m, legend or EMBEDDING_LEGEND, wheel=legend is None)
    m.footprints = collection
    return m


def centre_layer(collection: Mapping, name: str = "tile centres", radius: int = 6):
    """Circle markers at the tile centres, in the tiles' colours: visible when footprints are sub-pixel.

    Args:
        collection: a FeatureCollection from :func:`footprints_geojson`.
        name: layer name.
        radius: marker radius in screen pixels.

    Returns:
        ``ipyleaflet.GeoJSON`` of ``Point`` features.
    """
    points = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [f["properties"]["lon"], f["properties"]["lat"]]},
            "properties": dict(f["properties"]),
        }
        for f in collection["features"]
    ]
    fc = {"type": "FeatureCollection", "features": points}
    return footprint_layer(fc, name, weight=1.0, fill_opacity=0.9, point_radius=radius)


def describe_tile(properties: Mapping) -> str:
    """A short HTML description of a tile's GeoJSON properties (for the hover box of the maps)."""
    shown = ("index", "place", "biome", "date", "gsd", "lat", "lon", "rank", "cosine", "true_match")
    rows = []
    for key in shown:
        if key in properties:
            value = properties[key]
            text = (
                f"{value:.4f}" if isinstance(value, float) and key in ("lat", "lon", "cosine") else str(value)
            )
            rows.append(f"<b>{key}</b> {text}")
    return "<br>".join(rows)


def _add_hover_info(m: Any, layer: Any) -> None:
    """A box in the corner of the map describing the tile under the mouse."""
    import ipyleaflet
    import ipywidgets as widgets

    info = widgets.HTML("hover over a tile")

    def show(**event: Any) -> None:
        feature = event.get("feature") or {}
        info.value = describe_tile(event.get("properties") or feature.get("properties", {}))

    layer.on_hover(show)
    m.add(ipyleaflet.WidgetControl(widget=info, position="bottomright"))
    m.hover_info = info


def find_layer(m: Any, name: str):
    """The layer of a map called ``name``.

    Raises:
        KeyError: naming the layers the map has.
    """
    for layer in m.layers:
        if getattr(layer, "name", None) == name:
            return layer
    raise KeyError(f"no layer named {name!r}; the map has {[getattr(la, 'name', '?') for la in m.layers]}")


def _top_matches(sim: np.ndarray, query: int, k: int) -> list[int]:
    from xmodal_lab.eval.retrieval import topk_matches

    return [int(i) for i in topk_matches(sim, query, k)[0]]


def _rank_of_true(sim: np.ndarray, query: int) -> int:
    """Rank of the true match (gallery item ``query``), ties counted against it as in ``eval.retrieval``."""
    return int((sim[query] >= sim[query, query]).sum())


def _with_centre(feature: Mapping, markers: bool) -> list[dict]:
    """The feature, plus a point at its centre when the map shows markers (tiles too small to see)."""
    if not markers:
        return [dict(feature)]
    props = feature["properties"]
    point = {"type": "Point", "coordinates": [props["lon"], props["lat"]]}
    return [dict(feature), {"type": "Feature", "geometry": point, "properties": dict(props)}]


def _match_collections(
    collection: Mapping, sim: np.ndarray, query: int, k: int, markers: bool = False
) -> tuple[dict, dict, list[int]]:
    features = collection["features"]
    top = _top_matches(sim, query, k)
    q = dict(
        features[query], properties={**features[query]["properties"], "color": QUERY_COLOUR, "role": "query"}
    )
    matches = []
    for rank, g in enumerate(top, start=1):
        props = {
            **features[g]["properties"],
            "rank": rank,
            "cosine": round(float(sim[query, g]), 4),
            "true_match": g == query,
            "color": TRUE_MATCH_COLOUR,
        }
        matches += _with_centre(dict(features[g], properties=props), markers)
    return (
        {"type": "FeatureCollection", "features": _with_centre(q, markers)},
        {"type": "FeatureCollection", "features": matches},
        top,
    )


def _summary_html(pairs: list[dict], sim: np.ndarray, query: int, top: list[int]) -> str:
    rows = "".join(
        f"<tr><td>{rank}</td><td>{g}</td><td>{sim[query, g]:.3f}</td>"
        f"<td>{'yes' if g == query else ''}</td></tr>"
        for rank, g in enumerate(top, start=1)
    )
    rank_true = _rank_of_true(sim, query)
    return (
        f"<b>SAR tile {query}</b>: its true optical partner ranks {rank_true} of {sim.shape[1]}"
        f"<table><tr><th>rank</th><th>optical tile</th><th>cosine</th><th>true match</th></tr>{rows}</table>"
    )


def match_explorer(
    pairs: Any,
    emb_s1: Any = None,
    emb_s2: Any = None,
    *,
    sim: Any = None,
    k: int = 4,
    query: int = 0,
    overlays: str | None = "s2",
    max_overlays: int = 32,
    basemap: str | None = "OpenStreetMap",
):
    """Choose a SAR tile and see its top-k optical matches on the map.

    The footprints of all tiles are coloured by their optical embedding; the chosen SAR tile is outlined in
    pink (layer ``"query"``) and its top-k optical matches in green (layer ``"matches"``, with ``rank``,
    ``cosine`` and ``true_match`` properties). Tile ``i``'s optical partner is gallery item ``i``.

    Args:
        pairs: pair dicts, a collated batch or a dataset (``N`` tiles).
        emb_s1: radar embeddings ``[N, D]`` (the queries).
        emb_s2: optical embeddings ``[N, D]`` (the gallery).
        sim: ``[N, N]`` similarities instead of the embeddings.
        k: matches to highlight.
        query: the SAR tile selected at start (the headless default).
        overlays: tile images under the footprints, as in :func:`explore_map`.
        max_overlays: tile images at most.
        basemap: a leafmap basemap name or ``None``.

    Returns:
        ``ipywidgets.VBox`` (dropdown, summary, map) with attributes ``map``, ``selector``, ``summary``,
        ``matches`` (the current top-k gallery indices) and ``select(i)`` to change the query from code.
    """
    import ipywidgets as widgets

    items = pair_list(pairs)
    n = len(items)
    if sim is None:
        if emb_s1 is None or emb_s2 is None:
            raise ValueError("match_explorer: pass emb_s1 and emb_s2, or sim")
        from xmodal_lab.eval.retrieval import cosine_similarity

        sim = cosine_similarity(emb_s1, emb_s2)
    s = to_numpy(sim).astype(np.float64)
    if s.shape != (n, n):
        raise ValueError(f"sim: expected [{n}, {n}] (one row and column per tile), got {s.shape}")
    if not 0 <= query < n:
        raise ValueError(f"query: expected a tile index in 0..{n - 1}, got {query}")
    k = min(k, n)
    m = explore_map(items, emb_s2, overlays=overlays, max_overlays=max_overlays, basemap=basemap)
    markers = any(getattr(layer, "name", None) == "tile centres" for layer in m.layers)
    q_fc, m_fc, top = _match_collections(m.footprints, s, query, k, markers)
    q_layer = footprint_layer(q_fc, "query", weight=4, fill_opacity=0.0, point_radius=11)
    m_layer = footprint_layer(m_fc, "matches", weight=3, fill_opacity=0.25, point_radius=8)
    m.add(m_layer)
    m.add(q_layer)

    def label(i: int) -> str:
        p = items[i]
        date = str(scalar(p["date"]))[:10] if p.get("date") is not None else ""
        return f"SAR tile {i}  {date}".strip()

    selector = widgets.Dropdown(options=[(label(i), i) for i in range(n)], value=query, description="query")
    summary = widgets.HTML(_summary_html(items, s, query, top))
    box = widgets.VBox([selector, summary, m])

    def on_change(change: Mapping) -> None:
        q = int(change["new"])
        new_q, new_m, new_top = _match_collections(m.footprints, s, q, k, markers)
        q_layer.data, m_layer.data = new_q, new_m
        summary.value = _summary_html(items, s, q, new_top)
        box.matches = new_top

    selector.observe(on_change, names="value")

    def select(i: int) -> None:
        selector.value = int(i)

    box.map, box.selector, box.summary, box.matches, box.select = m, selector, summary, top, select
    return box


def plot_footprints(
    pairs: Any,
    colors: Sequence[str] | None = None,
    *,
    embeddings: Any = None,
    query: int | None = None,
    matches: Sequence[int] | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """Static fallback of the maps: tile footprints on longitude/latitude axes.

    Args:
        pairs: pair dicts, a collated batch, a dataset, or a FeatureCollection from :func:`footprints_geojson`.
        colors: one colour per tile (default: from ``embeddings``, else the collection's ``color``).
        embeddings: ``[N, D]`` or ``[N, 2]`` to colour by (see :func:`embedding_colors`).
        query: a tile to outline in pink (the chosen SAR tile).
        matches: tiles to outline in green with their rank (its top-k optical matches).
        title: axes title.
        ax: draw into these axes instead of a new figure.

    Returns:
        The figure; one filled polygon per tile (``gid="footprint"``), outlines for query and matches, and,
        when the tiles are spread so far that polygons are specks, dots at their centres (``gid="centres"``);
        coloured by ``embeddings``, a colour-wheel key in the corner (``gid="colour_key"``). For the tiles'
        imagery on a metric grid, see :func:`xmodal_lab.viz.place_plots.plot_coregistration`.
    """
    if isinstance(pairs, Mapping) and pairs.get("type") == "FeatureCollection":
        collection = pairs
    else:
        collection = footprints_geojson(pair_list(pairs))
    features = collection["features"]
    n = len(features)
    coloured_by_embedding = colors is None and embeddings is not None
    if coloured_by_embedding:
        colors = _colours_for(n, embeddings, None)
    if colors is None:
        colors = [f["properties"].get("color", MODALITY_COLOURS["s2"]) for f in features]
    if len(colors) != n:
        raise ValueError(f"colors: expected one colour per tile ({n}), got {len(colors)}")
    fig, ax = figure_axes(ax, figsize=(6, 5), layout="constrained")
    rings = [np.asarray(f["geometry"]["coordinates"][0]) for f in features]
    centres = np.array([ring[:4].mean(axis=0) for ring in rings])  # [N, 2] lon, lat
    (south, west), (north, east) = geojson_bounds(collection)
    extent = max(east - west, north - south)
    tile = max(np.ptp(ring[:, 0]) for ring in rings)
    # tiles spread over a continent are specks: mark their centres too, as the maps do
    dots = tile < 0.02 * extent
    for ring, colour in zip(rings, colors):
        ax.add_patch(Polygon(ring, closed=True, fc=colour, ec="0.25", lw=0.6, alpha=0.8, gid="footprint"))
    if dots:
        ax.scatter(
            *centres.T, s=30, c=list(colors), edgecolors="0.25", linewidths=0.5, zorder=3, gid="centres"
        )
    for rank, g in enumerate(matches or [], start=1):
        ax.add_patch(Polygon(rings[g], closed=True, fill=False, ec=TRUE_MATCH_COLOUR, lw=2.5, gid="match"))
        if dots:
            ax.scatter(
                *centres[g], s=140, facecolors="none", edgecolors=TRUE_MATCH_COLOUR, linewidths=2, zorder=4
            )
        offset = (0, 9) if dots else (0, 0)
        ax.annotate(str(rank), centres[g], xytext=offset, textcoords="offset points", ha="center",
                    va="center", fontsize=8, weight="bold", zorder=5)  # fmt: skip
    if query is not None:
        ax.add_patch(
            Polygon(rings[query], closed=True, fill=False, ec=QUERY_COLOUR, lw=3, ls="--", gid="query")
        )
        if dots:
            ax.scatter(*centres[query], s=260, facecolors="none", edgecolors=QUERY_COLOUR, linewidths=2,
                       linestyles="--", zorder=4)  # fmt: skip
    if embeddings is not None and colors is not None and coloured_by_embedding:
        inset = ax.inset_axes((0.78, 0.02, 0.2, 0.2))
        inset.imshow(colour_wheel(64))
        inset.set_axis_off()
        inset.set_title("embedding\ncolour key", fontsize=6)
        inset.set_gid("colour_key")
    pad_x, pad_y = 0.05 * (east - west) + 1e-4, 0.05 * (north - south) + 1e-4
    ax.set_xlim(west - pad_x, east + pad_x)
    ax.set_ylim(south - pad_y, north + pad_y)
    ax.set_aspect(1.0 / max(math.cos(math.radians((south + north) / 2)), 1e-6))  # metres look square
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    default = f"{n} tile footprints" + (
        ", coloured by embedding (key: colour wheel)" if coloured_by_embedding else ""
    )
    ax.set_title(title or default, fontsize=10)
    return fig


def plot_match_footprints(pairs: Any, sim: Any, query: int = 0, k: int = 4, **kwargs: Any) -> Figure:
    """Static counterpart of :func:`match_explorer`: footprints with one SAR query and its top-k matches.

    Args:
        pairs: pair dicts, a collated batch or a dataset (``N`` tiles).
        sim: ``[N, N]`` similarities (SAR rows, optical columns).
        query: the SAR tile.
        k: matches to outline.
        **kwargs: passed to :func:`plot_footprints` (``colors``, ``embeddings``, ``ax``).

    Returns:
        The figure.
    """
    s = to_numpy(sim).astype(np.float64)
    top = _top_matches(s, query, min(k, s.shape[1]))
    title = (
        kwargs.pop("title", None) or f"SAR tile {query} (pink) and its top-{len(top)} optical matches (green)"
    )
    return plot_footprints(pairs, query=query, matches=top, title=title, **kwargs)


__all__ = [
    "centre_layer",
    "describe_tile",
    "embedding_colors",
    "EMBEDDING_LEGEND",
    "explore_map",
    "find_layer",
    "fit_to",
    "footprint_layer",
    "footprints_geojson",
    "legend_html",
    "match_explorer",
    "plot_footprints",
    "plot_match_footprints",
    "png_data_url",
    "value_colors",
]
