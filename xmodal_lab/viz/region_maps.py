"""Click-to-query maps of one raster pair: similarity heat maps and one-shot masks of what you click.

The maps show the pair's S2 and S1 images and a PCA colour layer of the embeddings; results are exported
to GeoPackage or GeoJSON.

- :func:`region_explorer`: click a point -> cosine similarity of every tile to the clicked tile (within a
  modality, or a radar query against the optical tiles), a threshold slider, the selected tiles outlined,
  and an export button;
- :func:`segment_explorer`: click a point -> one-shot segmentation of the clicked concept over the whole
  raster (:func:`xmodal_lab.eval.segment_region`), drawn as a layer and exportable;
- :func:`plot_region_query` and :func:`plot_region_mask`: the same content as static figures.

Every widget starts from a default click (the headless default: nbmake and rendered notebooks show a
result) and opens fitted to the raster. The images travel as PNG data URLs inside the notebook, so the
maps work offline. Each raster is drawn over its longitude/latitude bounding box (UTM grid north and true
north differ by well under a degree near a zone's centre). The computations are the pure functions of
:mod:`xmodal_lab.eval.tile_query`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from xmodal_lab.viz.figure import figure_axes
from xmodal_lab.viz.palettes import QUERY_COLOUR, TRUE_MATCH_COLOUR

#: Query modes of :func:`region_explorer`: (label, query modality, gallery modality).
QUERY_MODES = (
    ("optical -> optical", "s2", "s2"),
    ("radar -> radar", "s1", "s1"),
    ("radar -> optical", "s1", "s2"),
    ("optical -> radar", "s2", "s1"),
)

#: Layer names (tests and notebooks find layers by them).
LAYER_S2, LAYER_S1, LAYER_PCA = "optical (S2)", "radar (S1)", "embeddings (PCA)"
LAYER_SIM, LAYER_SEL, LAYER_CLICK, LAYER_SEG = "similarity", "selection", "click", "segmentation"


# --- pure helpers ---------------------------------------------------------------------------------------
def raster_lonlat_bounds(transform: Any, shape: tuple[int, int], crs: str) -> tuple[tuple[float, float], ...]:
    """``((south, west), (north, east))`` of a raster's corners in longitude/latitude (Leaflet's order).

    Args:
        transform: affine ``(a, b, c, d, e, f)``.
        shape: ``(H, W)`` pixels.
        crs: the raster's CRS.
    """
    from xmodal_lab.data.geo import transformer

    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    h, w = shape
    cols = np.array([0, w, w, 0], dtype=np.float64)
    rows = np.array([0, 0, h, h], dtype=np.float64)
    lon, lat = transformer(str(crs), "EPSG:4326").transform(a * cols + b * rows + c, d * cols + e * rows + f)
    return (float(np.min(lat)), float(np.min(lon))), (float(np.max(lat)), float(np.max(lon)))


def similarity_rgba(
    similarity: Any,
    threshold: float | None = None,
    cmap: str = "magma",
    vmin: float = -1.0,
    vmax: float = 1.0,
) -> np.ndarray:
    """A similarity grid as an RGBA picture: colour by similarity, transparent where NaN or below threshold.

    Args:
        similarity: ``[rows, cols]`` cosine similarities (NaN: no tile).
        threshold: cells below it are drawn faintly (alpha 40) so the selection stands out; None: all opaque.
        cmap: matplotlib colour map.
        vmin: similarity of the first colour.
        vmax: similarity of the last colour.

    Returns:
        ``[rows, cols, 4]`` uint8.
    """
    from matplotlib import colormaps

    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"similarity: expected [rows, cols], got shape {s.shape}")
    norm = np.clip((np.nan_to_num(s, nan=vmin) - vmin) / (vmax - vmin), 0.0, 1.0)
    rgba = (colormaps[cmap](norm) * 255).round().astype(np.uint8)
    alpha = np.full(s.shape, 210, dtype=np.uint8)
    if threshold is not None:
        alpha[~(np.nan_to_num(s, nan=-np.inf) >= threshold)] = 40
    alpha[~np.isfinite(s)] = 0
    rgba[..., 3] = alpha
    return rgba


def mask_rgba(mask: Any, colour: str = TRUE_MATCH_COLOUR, alpha: int = 150) -> np.ndarray:
    """A boolean mask as an RGBA picture: ``colour`` where True, transparent elsewhere.

    Args:
        mask: ``[H, W]`` bool.
        colour: any matplotlib colour.
        alpha: opacity of the masked pixels (0..255).

    Returns:
        ``[H, W, 4]`` uint8.
    """
    from matplotlib.colors import to_rgb

    m = np.asarray(mask, dtype=bool)
    out = np.zeros((*m.shape, 4), dtype=np.uint8)
    out[m, :3] = (np.array(to_rgb(colour)) * 255).round().astype(np.uint8)
    out[m, 3] = alpha
    return out


def read_rgb(path: str | Path, modality: str, max_px: int = 1024) -> np.ndarray:
    """Render a Sentinel-1 or Sentinel-2 GeoTIFF as 8-bit RGB (decimated to at most ``max_px`` per side).

    Args:
        path: S1 (VV, VH dB) or S2 (12 or 13 bands; digital numbers are divided by 10000) GeoTIFF.
        modality: ``"s1"`` or ``"s2"`` (or another rendering of :func:`xmodal_lab.viz.composites.render`).
        max_px: longest side of the picture.

    Returns:
        ``[h, w, 3]`` uint8.
    """
    from xmodal_lab.viz.composites import render

    data, _, _, _ = read_bands(path, modality, max_px)
    return render(np.nan_to_num(data), modality)


def read_bands(path: str | Path, modality: str, max_px: int = 512) -> tuple[np.ndarray, float, str, tuple]:
    """A GeoTIFF's bands in physical units, decimated to at most ``max_px`` per side.

    Args:
        path: S1 (VV, VH dB) or S2 (12 or 13 bands; integer digital numbers are divided by 10000) GeoTIFF.
        modality: ``"s1"`` or ``"s2"``.
        max_px: longest side read.

    Returns:
        ``(bands [C, h, w], metres per pixel read, crs, transform of the source)``.
    """
    import rasterio

    with rasterio.open(path) as src:
        step = max(1, int(np.ceil(max(src.height, src.width) / max_px)))
        shape = (src.height // step, src.width // step)
        bands = list(range(1, src.count + 1))
        if modality.startswith("s2") and src.count == 13:
            bands.pop(10)  # B10
        data = src.read(bands, out_shape=(len(bands), *shape)).astype(np.float32)
        if modality.startswith("s2") and np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
            data /= 10000.0
        res = abs(src.transform.a) * src.width / shape[1]
        return data, float(res), str(src.crs), tuple(src.transform)[:6]


def plot_region_pair(
    s1_path: str | Path, s2_path: str | Path, max_px: int = 512, title: str | None = None, **kwargs: Any
) -> Figure:
    """The static fallback of the region maps: the pair's S2 and S1 on a metric grid, co-registration checks.

    Args:
        s1_path: the Sentinel-1 GeoTIFF (VV, VH in dB).
        s2_path: the Sentinel-2 GeoTIFF on the same grid.
        max_px: longest side read (the images are decimated for display).
        title: figure title.
        **kwargs: passed to :func:`~xmodal_lab.viz.place_plots.plot_coregistration` (``vv_contour``,
            ``checker`` ...).

    Returns:
        The figure of :func:`xmodal_lab.viz.place_plots.plot_coregistration`.
    """
    from xmodal_lab.viz.place_plots import plot_coregistration

    s1, _, _, _ = read_bands(s1_path, "s1", max_px)
    s2, res, crs, (a, b, c, d, e, f) = read_bands(s2_path, "s2", max_px)
    if s1.shape[1:] != s2.shape[1:]:
        raise ValueError(
            f"{s1_path} and {s2_path}: expected the same grid, got {s1.shape[1:]} and {s2.shape[1:]}"
        )
    pair = {"s1": np.nan_to_num(s1, nan=-30.0), "s2": np.nan_to_num(s2), "crs": crs,
            "transform": (res, 0.0, c, 0.0, -res, f)}  # fmt: skip
    return plot_coregistration(pair, title=title, **kwargs)


def to_lonlat_collection(collection: dict) -> dict:
    """A FeatureCollection in its ``crs`` reprojected to longitude/latitude (for a Leaflet layer)."""
    from shapely.geometry import mapping, shape
    from shapely.ops import transform as shp_transform

    from xmodal_lab.data.geo import transformer

    crs = collection.get("crs", "EPSG:4326")
    project = transformer(str(crs), "EPSG:4326").transform
    features = [
        {**f, "geometry": mapping(shp_transform(project, shape(f["geometry"])))}
        for f in collection["features"]
    ]
    return {"type": "FeatureCollection", "features": features}


# --- maps -----------------------------------------------------------------------------------------------
def _image_layer(rgb: np.ndarray, bounds, name: str, opacity: float = 1.0):
    import ipyleaflet

    from xmodal_lab.viz.maps import png_data_url

    return ipyleaflet.ImageOverlay(url=png_data_url(rgb), bounds=bounds, name=name, opacity=opacity)


def _png_rgba(rgba: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _base_map(tiles: Any, basemap: str | None, height: str, pca_rgb: bool = True):
    """A leafmap map fitted to the raster, with S2, S1 and PCA layers."""
    import ipyleaflet
    from leafmap import leafmap

    from xmodal_lab.eval.embed_raster import pca_rgb as pca_colours
    from xmodal_lab.viz.maps import _add_legend, fit_to, view_of

    bounds = raster_lonlat_bounds(tiles.source_transform, tiles.source_shape, tiles.crs)
    centre, zoom = view_of(bounds)
    kwargs = dict(center=centre, zoom=zoom, height=height, draw_control=False, measure_control=False,
                  toolbar_control=False, search_control=False, layers_control=True)  # fmt: skip
    if basemap is not None:
        kwargs["basemap"] = basemap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        m = leafmap.Map(**kwargs)
    if basemap is None:
        for layer in [la for la in m.layers if isinstance(la, ipyleaflet.TileLayer)]:
            m.remove(layer)
    m.add(_image_layer(read_rgb(tiles.s1_path, "s1"), bounds, LAYER_S1))
    m.add(_image_layer(read_rgb(tiles.s2_path, "s2"), bounds, LAYER_S2))
    if pca_rgb:
        key = tiles.modality if tiles.modality in tiles.vectors else next(iter(tiles.vectors))
        colours = tiles.to_grid(pca_colours(tiles.vectors[key]), fill=0).astype(np.uint8)  # [3, rows, cols]
        rgba = np.concatenate(
            [np.moveaxis(colours, 0, -1), (colours[:1] > 0).astype(np.uint8)[0][..., None] * 255], -1
        )
        grid_bounds = raster_lonlat_bounds(tiles.grid_transform, tiles.grid_shape, tiles.crs)
        pca_layer = ipyleaflet.ImageOverlay(
            url=_png_rgba(rgba), bounds=grid_bounds, name=LAYER_PCA, opacity=0.6
        )
        m.add(pca_layer)  # similar colours = similar embeddings; the layer control hides it
        m.pca_layer = pca_layer
    fit_to(m, bounds)
    m.raster_bounds = bounds
    if pca_rgb:
        _add_legend(m, PCA_LEGEND, wheel=False)
    return m


#: What the PCA layer's colours mean (the region maps' legend).
PCA_LEGEND = (
    "layer 'embeddings (PCA)': each tile's embedding reduced to its first three principal components, "
    "shown as red, green and blue (2-98 % stretch each). Similar colours = similar embeddings; the colours "
    "have no fixed meaning. 'similarity': cosine to the clicked tile, dark -1 to bright +1."
)


def _add_zoom_control(m: Any, tile_bounds: Any) -> None:
    """A "fly to" dropdown: the whole place or the clicked tile (``tile_bounds()`` gives its bounds)."""
    import ipyleaflet
    import ipywidgets as widgets

    from xmodal_lab.viz.maps import fit_to

    selector = widgets.Dropdown(options=["whole place", "clicked tile"], value="whole place",
                                description="fly to")  # fmt: skip

    def on_change(change: Any) -> None:
        fit_to(m, m.raster_bounds if change["new"] == "whole place" else tile_bounds())

    selector.observe(on_change, names="value")
    m.add(ipyleaflet.WidgetControl(widget=selector, position="topright"))
    m.fly_to_selector = selector


def _tile_lonlat_bounds(tiles: Any, index: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((south, west), (north, east))`` of one tile of the raster."""
    from xmodal_lab.data.geo import transformer

    left, bottom, right, top = tiles.footprint(index)
    lon, lat = transformer(str(tiles.crs), "EPSG:4326").transform(
        [left, right, right, left], [bottom, bottom, top, top]
    )
    return (min(lat), min(lon)), (max(lat), max(lon))


def _default_point(tiles: Any, point: tuple[float, float] | None) -> tuple[float, float]:
    """``(lon, lat)`` of the given point, or of the centre of the first tile (the headless default)."""
    if point is not None:
        return float(point[0]), float(point[1])
    from xmodal_lab.data.geo import to_lonlat

    left, bottom, right, top = tiles.footprint(0)
    return to_lonlat((left + right) / 2, (bottom + top) / 2, tiles.crs)


def _export_name(folder: Path, stem: str, suffix: str) -> Path:
    """The first ``stem_N.suffix`` in ``folder`` that does not exist (exports never overwrite)."""
    for n in range(1, 10_000):
        path = folder / f"{stem}_{n:03d}{suffix}"
        if not path.exists():
            return path
    raise FileExistsError(f"{folder}: 9999 exports named {stem}_NNN{suffix} already exist")


def _check_export_format(export_format: str) -> None:
    if export_format not in (".gpkg", ".geojson"):
        raise ValueError(f"export_format: expected '.gpkg' or '.geojson', got {export_format!r}")


def _click_controls(m: Any, threshold: float, button_label: str) -> tuple[Any, Any, Any, Any]:
    """The explorers' marker (added to ``m`` above its layers), threshold slider, info line and export button."""
    import ipyleaflet
    import ipywidgets as widgets

    marker = ipyleaflet.CircleMarker(location=m.center, radius=7, color=QUERY_COLOUR, fill_opacity=0.9,
                                     name=LAYER_CLICK)  # fmt: skip
    m.add(marker)
    slider = widgets.FloatSlider(value=threshold, min=-1.0, max=1.0, step=0.01, description="threshold",
                                 continuous_update=False, readout_format=".2f")  # fmt: skip
    info = widgets.HTML()
    button = widgets.Button(description=button_label, icon="download")
    return marker, slider, info, button


def _connect(m: Any, button: Any, info: Any, click: Any, export: Any) -> None:
    """Map clicks call ``click(lon, lat)``; the button calls ``export()`` and reports a failure in ``info``."""

    def on_interaction(**event: Any) -> None:
        if event.get("type") == "click":
            lat, lon = event["coordinates"]
            click(lon, lat)

    def on_button(_: Any) -> None:
        try:
            export()
        except (ValueError, OSError) as err:
            info.value += f"<br><i>export failed: {err}</i>"

    m.on_interaction(on_interaction)
    button.on_click(on_button)


def region_explorer(
    tiles: Any,
    point: tuple[float, float] | None = None,
    mode: str = "radar -> optical",
    threshold: float = 0.5,
    export_dir: str | Path = ".",
    export_format: str = ".gpkg",
    basemap: str | None = "OpenStreetMap",
    height: str = "520px",
):
    """Click the map: cosine similarity of every tile to the clicked tile, with a threshold slider.

    Args:
        tiles: :class:`~xmodal_lab.eval.embed_raster.TileEmbeddings` from ``embed_raster`` (with both
            ``s1`` and ``s2`` for the cross-modal modes).
        point: ``(lon, lat)`` of the first query (default: the centre of the first tile).
        mode: a label of :data:`QUERY_MODES`: ``"radar -> optical"`` compares the clicked tile's radar
            embedding with every tile's optical embedding.
        threshold: initial slider value (cosine similarity).
        export_dir: where the export button writes ``selection_NNN.gpkg`` (never overwriting).
        export_format: ``".gpkg"`` or ``".geojson"``.
        basemap: a leafmap basemap, or None.
        height: CSS height of the map.

    Returns:
        ``ipywidgets.VBox`` with attributes ``map``, ``slider``, ``mode`` (dropdown), ``info``,
        ``similarity`` (the current ``[rows, cols]`` grid), ``selected`` (bool grid), ``query_index``,
        ``point``, ``click(lon, lat)``, ``set_threshold(t)``, ``selection()`` (polygons in the raster's CRS)
        and ``export(path=None)``.
    """
    import ipyleaflet
    import ipywidgets as widgets

    from xmodal_lab.eval.tile_query import export_vectors, grid_to_polygons, similarity_grid, threshold_grid
    from xmodal_lab.eval.tile_query import tile_at as find_tile

    modes = {label: (q, g) for label, q, g in QUERY_MODES}
    if mode not in modes:
        raise ValueError(f"mode: expected one of {list(modes)}, got {mode!r}")
    _check_export_format(export_format)
    m = _base_map(tiles, basemap, height)
    grid_bounds = raster_lonlat_bounds(tiles.grid_transform, tiles.grid_shape, tiles.crs)
    sim_layer = ipyleaflet.ImageOverlay(url=_png_rgba(np.zeros((1, 1, 4), np.uint8)), bounds=grid_bounds,
                                        name=LAYER_SIM, opacity=0.85)  # fmt: skip
    sel_layer = ipyleaflet.GeoJSON(data={"type": "FeatureCollection", "features": []}, name=LAYER_SEL,
                                   style={"color": TRUE_MATCH_COLOUR, "weight": 2, "fillOpacity": 0.0})  # fmt: skip
    for layer in (sim_layer, sel_layer):
        m.add(layer)
    marker, slider, info, button = _click_controls(m, threshold, "export selection")
    dropdown = widgets.Dropdown(options=list(modes), value=mode, description="query")
    box = widgets.VBox([widgets.HBox([dropdown, slider, button]), info, m])
    state: dict[str, Any] = {}

    def redraw() -> None:
        q, g = modes[dropdown.value]
        sim = similarity_grid(tiles, state["index"], query=q, gallery=g)
        selected = threshold_grid(sim, slider.value)
        sim_layer.url = _png_rgba(similarity_rgba(sim, slider.value))
        collection = grid_to_polygons(tiles, selected, {"mode": dropdown.value, "threshold": slider.value})
        sel_layer.data = to_lonlat_collection(collection)
        box.similarity, box.selected, box.query_index = sim, selected, state["index"]
        info.value = (
            f"<b>{dropdown.value}</b>: tile {state['index']} at ({box.point[1]:.4f}, {box.point[0]:.4f}); "
            f"{int(selected.sum())} of {len(tiles)} tiles have cosine >= {slider.value:.2f}"
        )

    def click(lon: float, lat: float) -> int:
        try:
            index = find_tile(tiles, lon, lat)
        except ValueError as err:
            info.value = f"<i>{err}</i>"
            return -1
        state["index"] = index
        box.point = (float(lon), float(lat))
        marker.location = (float(lat), float(lon))
        redraw()
        return index

    def set_threshold(t: float) -> None:
        slider.value = float(t)

    def selection() -> dict:
        return grid_to_polygons(tiles, box.selected, {"mode": dropdown.value, "threshold": slider.value})

    def export(path: str | Path | None = None) -> Path:
        target = (
            Path(path) if path is not None else _export_name(Path(export_dir), "selection", export_format)
        )
        written = export_vectors(selection(), target)
        info.value += f"<br>wrote {written}"
        box.exported = written
        return written

    _connect(m, button, info, click, export)
    _add_zoom_control(m, lambda: _tile_lonlat_bounds(tiles, state["index"]))
    slider.observe(lambda _: redraw(), names="value")
    dropdown.observe(lambda _: redraw(), names="value")
    box.map, box.slider, box.mode, box.info, box.button = m, slider, dropdown, info, button
    box.click, box.set_threshold, box.selection, box.export, box.exported = (
        click,
        set_threshold,
        selection,
        export,
        None,
    )
    lon, lat = _default_point(tiles, point)
    if click(lon, lat) < 0:
        raise ValueError(f"point ({lon}, {lat}) is not on a tile of the raster: {info.value}")
    return box


def segment_explorer(
    model: Any,
    tiles: Any,
    point: tuple[float, float] | None = None,
    modality: str = "s2",
    threshold: float = 0.5,
    export_dir: str | Path = ".",
    export_format: str = ".gpkg",
    basemap: str | None = "OpenStreetMap",
    height: str = "520px",
    **segment_kwargs: Any,
):
    """Click the map: one-shot segmentation of the clicked concept over the whole raster, as a layer.

    Args:
        model: a kit model with ``features(s1=, s2=)``.
        tiles: :class:`~xmodal_lab.eval.embed_raster.TileEmbeddings` of the raster.
        point: ``(lon, lat)`` of the first click (default: the centre of the first tile).
        modality: features to compare: ``"s2"``, ``"s1"`` or ``"s1+s2"``.
        threshold: cosine confidence of the mask (see :func:`xmodal_lab.eval.segment_region`).
        export_dir: where the export button writes ``segment_NNN.gpkg``.
        export_format: ``".gpkg"`` or ``".geojson"``.
        basemap: a leafmap basemap, or None.
        height: CSS height of the map.
        **segment_kwargs: passed to :func:`~xmodal_lab.eval.segment_region`.

    Returns:
        ``ipywidgets.VBox`` with ``map``, ``slider``, ``info``, ``result`` (the current
        :class:`~xmodal_lab.eval.tile_query.RegionMask`), ``click(lon, lat)`` and ``export(path=None)``.
    """
    import ipyleaflet
    import ipywidgets as widgets

    from xmodal_lab.eval.tile_query import export_vectors, segment_region

    _check_export_format(export_format)
    m = _base_map(tiles, basemap, height)
    bounds = m.raster_bounds
    seg_layer = ipyleaflet.ImageOverlay(url=_png_rgba(np.zeros((1, 1, 4), np.uint8)), bounds=bounds,
                                        name=LAYER_SEG, opacity=0.9)  # fmt: skip
    m.add(seg_layer)
    marker, slider, info, button = _click_controls(m, threshold, "export mask")
    box = widgets.VBox([widgets.HBox([slider, button]), info, m])

    def show() -> None:
        result = box.result
        result.mask = np.nan_to_num(result.confidence, nan=-np.inf) >= slider.value
        result.threshold = float(slider.value)
        step = max(1, int(np.ceil(max(result.mask.shape) / 1024)))
        seg_layer.url = _png_rgba(mask_rgba(result.mask[::step, ::step]))
        info.value = (
            f"one-shot ({modality}) from ({box.point[1]:.4f}, {box.point[0]:.4f}): "
            f"{result.mask.mean():.1%} of the raster has confidence >= {slider.value:.2f}"
        )

    def click(lon: float, lat: float) -> bool:
        try:
            box.result = segment_region(model, tiles, lon, lat, modality=modality, threshold=slider.value,
                                        **segment_kwargs)  # fmt: skip
        except ValueError as err:
            info.value = f"<i>{err}</i>"
            return False
        box.point = (float(lon), float(lat))
        marker.location = (float(lat), float(lon))
        show()
        return True

    def export(path: str | Path | None = None) -> Path:
        target = Path(path) if path is not None else _export_name(Path(export_dir), "segment", export_format)
        props = {"modality": modality, "threshold": float(slider.value)}
        written = export_vectors(box.result.to_polygons(properties=props), target, layer="segment")
        info.value += f"<br>wrote {written}"
        box.exported = written
        return written

    _connect(m, button, info, click, export)
    slider.observe(lambda _: show(), names="value")
    box.map, box.slider, box.info, box.button, box.click, box.export, box.exported = (
        m, slider, info, button, click, export, None)  # fmt: skip
    lon, lat = _default_point(tiles, point)
    if not click(lon, lat):
        raise ValueError(f"point ({lon}, {lat}) is not on the raster: {info.value}")
    return box


# --- static figures -------------------------------------------------------------------------------------
def _extent(transform: Any, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    a, _, c, _, e, f = (float(v) for v in tuple(transform)[:6])
    h, w = shape
    return (c, c + a * w, f + e * h, f)


def plot_region_query(
    tiles: Any,
    similarity: Any,
    threshold: float | None = None,
    point: tuple[float, float] | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """Static counterpart of :func:`region_explorer`: the similarity heat map over the optical image.

    The selected tiles are outlined and the clicked point is circled, in the raster's CRS (metres).

    Args:
        tiles: the raster's tile embeddings.
        similarity: ``[rows, cols]`` from :func:`xmodal_lab.eval.similarity_grid`.
        threshold: outline the tiles at or above it.
        point: ``(lon, lat)`` of the query.
        title: axes title.
        ax: draw into these axes.

    Returns:
        The figure (the heat map is the image with ``gid="similarity"``).
    """
    from xmodal_lab.data.geo import transformer

    fig, ax = figure_axes(ax, figsize=(6.5, 5.5), layout="constrained")
    ax.imshow(read_rgb(tiles.s2_path, "s2", 512), extent=_extent(tiles.source_transform, tiles.source_shape))
    s = np.asarray(similarity, dtype=np.float64)
    im = ax.imshow(np.ma.masked_invalid(s), extent=_extent(tiles.grid_transform, tiles.grid_shape), cmap="magma",
                   vmin=-1, vmax=1, alpha=0.75, interpolation="nearest", gid="similarity")  # fmt: skip
    fig.colorbar(im, ax=ax, shrink=0.8, label="cosine similarity to the clicked tile")
    if threshold is not None:
        selected = np.nan_to_num(s, nan=-np.inf) >= threshold
        ax.contour(selected.astype(float), levels=[0.5], colors=[TRUE_MATCH_COLOUR], linewidths=1.5,
                   extent=_extent(tiles.grid_transform, tiles.grid_shape), origin="upper")  # fmt: skip
    if point is not None:
        x, y = transformer("EPSG:4326", tiles.crs).transform(*point)
        ax.plot(x, y, "o", ms=10, mfc="none", mec=QUERY_COLOUR, mew=2.5)
    ax.set_xlabel(f"easting (m, {tiles.crs})")
    ax.set_ylabel("northing (m)")
    ax.set_title(title or "cosine similarity of every tile to the clicked tile (circled)", fontsize=10)
    return fig


def plot_region_mask(
    tiles: Any, mask: Any, truth: Any = None, title: str | None = None, ax: Any = None
) -> Figure:
    """Static counterpart of :func:`segment_explorer`: the optical image with a mask (and a reference mask).

    Args:
        tiles: the raster's tile embeddings.
        mask: ``[H, W]`` bool on the optical grid (e.g. ``RegionMask.mask``).
        truth: optional ``[H, W]`` bool outlined in white (e.g. the simulated land cover's water).
        title: axes title.
        ax: draw into these axes.

    Returns:
        The figure.
    """
    fig, ax = figure_axes(ax, figsize=(6, 5.5), layout="constrained")
    extent = _extent(tiles.source_transform, tiles.source_shape)
    ax.imshow(read_rgb(tiles.s2_path, "s2", 512), extent=extent)
    m = np.asarray(mask, dtype=bool)
    step = max(1, int(np.ceil(max(m.shape) / 512)))
    ax.imshow(mask_rgba(m[::step, ::step]), extent=extent, interpolation="nearest", gid="mask")
    if truth is not None:
        t = np.asarray(truth, dtype=bool)[::step, ::step]
        ax.contour(
            t.astype(float), levels=[0.5], colors=["white"], linewidths=1.0, extent=extent, origin="upper"
        )
    ax.set_xlabel(f"easting (m, {tiles.crs})")
    ax.set_ylabel("northing (m)")
    ax.set_title(title or f"one-shot mask ({m.mean():.1%} of the raster)", fontsize=10)
    return fig


__all__ = [
    "LAYER_CLICK",
    "LAYER_PCA",
    "LAYER_S1",
    "LAYER_S2",
    "LAYER_SEG",
    "LAYER_SEL",
    "LAYER_SIM",
    "PCA_LEGEND",
    "QUERY_MODES",
    "mask_rgba",
    "plot_region_mask",
    "plot_region_query",
    "plot_region_pair",
    "raster_lonlat_bounds",
    "read_bands",
    "read_rgb",
    "region_explorer",
    "segment_explorer",
    "similarity_rgba",
    "to_lonlat_collection",
]
