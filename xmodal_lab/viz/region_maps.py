"""Click-to-query maps of one raster pair: what is like the clicked tile, and a one-shot mask of it.

Each widget starts from a default click (so it shows something headless) and has a static figure beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from xmodal_lab.data.geo import transformer
from xmodal_lab.data.io import read_window, window_transform
from xmodal_lab.errors import InputValueError
from xmodal_lab.viz import maps
from xmodal_lab.viz.colours import QUERY_COLOUR, TRUE_MATCH_COLOUR, render
from xmodal_lab.viz.figure import colorbar, figure_axes, label, outline

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
#: What the PCA layer's colours mean (the region maps' legend).
PCA_LEGEND = (
    "layer 'embeddings (PCA)': each tile's embedding reduced to its first three principal components, "
    "shown as red, green and blue (2-98 % stretch each). Similar colours = similar embeddings; the colours "
    "have no fixed meaning. 'similarity': cosine to the clicked tile, dark -1 to bright +1."
)
_EMPTY = np.zeros((1, 1, 4), np.uint8)


@dataclass
class RasterPair:
    """An S1 and an S2 GeoTIFF of one place (the grid is the optical one's): ``tiles`` without embeddings."""

    s1_path: Path
    s2_path: Path
    source_transform: tuple[float, ...]
    source_shape: tuple[int, int]
    crs: str

    @classmethod
    def open(cls, s1_path: str | Path, s2_path: str | Path) -> RasterPair:
        """Read the optical raster's grid (no pixels)."""
        import rasterio
        with rasterio.open(s2_path) as src:
            return cls(Path(s1_path), Path(s2_path), tuple(src.transform)[:6], src.shape, str(src.crs))


def raster_lonlat_bounds(transform: Any, shape: tuple[int, int], crs: str) -> tuple[tuple[float, float], ...]:
    """``((south, west), (north, east))`` of a raster (affine ``transform``, ``(H, W)`` pixels, ``crs``)."""
    return maps.bounds_of(maps.corners_lonlat(transform, *shape, crs))


def similarity_rgba(similarity: Any, threshold: float | None = None) -> np.ndarray:
    """A ``[rows, cols]`` cosine grid as ``[rows, cols, 4]`` RGBA, faint below ``threshold``, clear at NaN."""
    from matplotlib import colormaps
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"similarity: expected [rows, cols], got shape {s.shape}")
    norm = np.clip((np.nan_to_num(s, nan=-1.0) + 1.0) / 2.0, 0.0, 1.0)
    rgba = (colormaps["magma"](norm) * 255).round().astype(np.uint8)
    rgba[..., 3] = 210
    if threshold is not None:
        rgba[~(np.nan_to_num(s, nan=-np.inf) >= threshold), 3] = 40
    rgba[~np.isfinite(s), 3] = 0
    return rgba


def mask_rgba(mask: Any, colour: str = TRUE_MATCH_COLOUR, alpha: int = 150) -> np.ndarray:
    """A boolean ``[H, W]`` mask as ``[H, W, 4]`` uint8 RGBA, clear where False."""
    from matplotlib.colors import to_rgb
    m = np.asarray(mask, dtype=bool)
    out = np.zeros((*m.shape, 4), dtype=np.uint8)
    out[m] = [*(np.array(to_rgb(colour)) * 255).round().astype(np.uint8), alpha]
    return out


def read_bands(
    path: str | Path, modality: str, max_px: int = 512, around: Any = None
) -> tuple[np.ndarray, tuple, str]:
    """``(bands [C, h, w], transform, crs)`` of an S1 (dB) or S2 GeoTIFF (reflectance, no B10), nodata as NaN.

    All of it at most ``max_px`` pixels per side, or with ``around`` ``(lon, lat)`` the ``max_px``-pixel
    window around that point, kept inside the raster (``InputValueError`` when the point is off it).
    """
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(path) as src:
        bands = list(range(1, src.count + 1))
        if modality.startswith("s2") and src.count == 13:
            bands.pop(10)  # B10
        digital = modality.startswith("s2") and np.issubdtype(np.dtype(src.dtypes[0]), np.integer)
        if around is None:
            step = max(1, int(np.ceil(max(src.height, src.width) / max_px)))
            shape = (src.height // step, src.width // step)
            data = read_window(src, path, bands, out_shape=(len(bands), *shape), masked=True)
            transform = src.transform @ rasterio.Affine.scale(src.width / shape[1], src.height / shape[0])
        else:
            row, col = src.index(*transformer("EPSG:4326", str(src.crs)).transform(*around))
            if not (0 <= col < src.width and 0 <= row < src.height):
                lon, lat = around
                raise InputValueError(
                    f"point ({lon:.5f}, {lat:.5f}) is outside the raster {Path(path).name}; click on the image"
                )
            h, w = min(max_px, src.height), min(max_px, src.width)
            r0 = int(np.clip(int(row) - h // 2, 0, src.height - h))
            c0 = int(np.clip(int(col) - w // 2, 0, src.width - w))
            data = read_window(src, path, bands, window=Window(c0, r0, w, h), masked=True)
            transform = window_transform(tuple(src.transform), r0, c0)
        values = data.astype(np.float32).filled(np.nan) / np.float32(10000.0 if digital else 1.0)
        return values, tuple(transform)[:6], str(src.crs)


def read_rgb(path: str | Path, modality: str, max_px: int = 1024) -> np.ndarray:
    """A Sentinel-1 or Sentinel-2 GeoTIFF rendered as ``[h, w, 3]`` uint8, at most ``max_px`` per side."""
    return render(np.nan_to_num(read_bands(path, modality, max_px)[0]), modality)


def to_lonlat_collection(collection: dict) -> dict:
    """A FeatureCollection in its ``crs`` reprojected to longitude/latitude (for a Leaflet layer)."""
    from rasterio.warp import transform_geom
    crs = str(collection.get("crs", "EPSG:4326"))
    features = [{**f, "geometry": transform_geom(crs, "EPSG:4326", f["geometry"])}
                for f in collection["features"]]  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def _explorer(
    tiles: Any, threshold: float | None, basemap: str | None, export_dir, stem: str, layers: list, controls=()
):
    """The explorers' VBox: the raster's map (S1, S2, PCA of any ``vectors``, ``layers``), slider, export.

    The caller sets ``box.query(lon, lat)``, ``box.redraw()`` and ``box.write(path)``, then calls
    ``box.start(point)``; ``box.export()`` writes the first free ``stem_NNN.gpkg`` in ``export_dir``.
    """
    import ipyleaflet
    import ipywidgets as widgets

    from xmodal_lab.eval.embed_raster import pca_rgb
    bounds = raster_lonlat_bounds(tiles.source_transform, tiles.source_shape, tiles.crs)
    m = maps.new_map(bounds, basemap, "520px")
    m.raster_bounds = bounds
    m.add(maps.image_layer(read_rgb(tiles.s1_path, "s1"), bounds, LAYER_S1))
    m.add(maps.image_layer(read_rgb(tiles.s2_path, "s2"), bounds, LAYER_S2))
    if getattr(tiles, "vectors", None):
        key = tiles.modality if tiles.modality in tiles.vectors else next(iter(tiles.vectors))
        colours = tiles.to_grid(pca_rgb(tiles.vectors[key]), fill=0).astype(np.uint8)  # [3, rows, cols]
        alpha = np.where(colours[0] > 0, 255, 0).astype(np.uint8)  # no tile: transparent
        rgba = np.dstack([np.moveaxis(colours, 0, -1), alpha])
        grid_bounds = raster_lonlat_bounds(tiles.grid_transform, tiles.grid_shape, tiles.crs)
        m.pca_layer = maps.image_layer(rgba, grid_bounds, LAYER_PCA, opacity=0.6)
        m.add(m.pca_layer)
        maps.add_legend(m, PCA_LEGEND, wheel=False)
    for layer in layers:
        m.add(layer)
    marker = ipyleaflet.CircleMarker(location=m.center, radius=7, color=QUERY_COLOUR, fill_opacity=0.9,
                                     name=LAYER_CLICK)  # fmt: skip
    m.add(marker)
    slider = None if threshold is None else widgets.FloatSlider(
        value=threshold, min=-1.0, max=1.0, step=0.01, description="threshold", continuous_update=False,
        readout_format=".2f")  # fmt: skip
    info, button = widgets.HTML(), widgets.Button(description=f"export {stem}", icon="download")
    box = widgets.VBox([widgets.HBox([*controls, *([slider] if slider else []), button]), info, m])
    box.map, box.slider, box.info, box.marker, box.exported = m, slider, info, marker, None

    def click(lon: float, lat: float) -> Any:
        try:
            answer = box.query(lon, lat)
        except ValueError as err:
            info.value = f"<i>{err}</i>"
            return None
        box.point = (float(lon), float(lat))
        marker.location = (float(lat), float(lon))
        box.redraw()
        return answer

    def on_interaction(**event: Any) -> None:
        if event.get("type") == "click":
            lat, lon = event["coordinates"]
            click(lon, lat)

    def start(point: Any = None) -> None:
        if point is None:  # the headless default: the centre of the first tile
            left, bottom, right, top = tiles.footprint(0)
            point = transformer(str(tiles.crs), "EPSG:4326").transform((left + right) / 2, (bottom + top) / 2)
        if click(*point) is None:
            raise ValueError(f"point {tuple(point)} is not on a tile of the raster: {info.value}")

    def export(path: str | Path | None = None) -> Path:
        if path is None:
            n = 1
            while (path := Path(export_dir) / f"{stem}_{n:03d}.gpkg").exists():
                n += 1
        box.exported = box.write(Path(path))
        info.value += f"<br>wrote {box.exported}"
        return box.exported

    def on_button(_: Any) -> None:
        try:
            export()
        except (ValueError, OSError) as err:
            info.value += f"<br><i>export failed: {err}</i>"

    m.on_interaction(on_interaction)
    button.on_click(on_button)
    if slider is not None:
        slider.observe(lambda _: box.redraw(), names="value")
    box.click, box.start, box.export = click, start, export
    return box


def region_explorer(
    tiles: Any, point: tuple[float, float] | None = None, mode: str = "radar -> optical", threshold=0.5,
    export_dir: str | Path = ".", basemap: str | None = "OpenStreetMap",
):  # fmt: skip
    """Click the map: cosine similarity of every tile of ``tiles`` (``TileEmbeddings``) to the clicked tile.

    ``mode`` is a label of :data:`QUERY_MODES`; ``point`` ``(lon, lat)`` is the first click (default: the
    first tile). The VBox keeps ``map``, ``slider``, ``mode``, ``info``, ``similarity``, ``selected``,
    ``query_index``, ``point``, ``click``, ``selection()`` and ``export`` (``selection_NNN.gpkg``).
    """
    import ipyleaflet
    import ipywidgets as widgets

    from xmodal_lab.eval import tile_query
    modes = {name: (q, g) for name, q, g in QUERY_MODES}
    if mode not in modes:
        raise ValueError(f"mode: expected one of {list(modes)}, got {mode!r}")
    grid_bounds = raster_lonlat_bounds(tiles.grid_transform, tiles.grid_shape, tiles.crs)
    sim_layer = maps.image_layer(_EMPTY, grid_bounds, LAYER_SIM, opacity=0.85)
    sel_style = {"color": TRUE_MATCH_COLOUR, "weight": 2, "fillOpacity": 0.0}
    empty = {"type": "FeatureCollection", "features": []}
    sel_layer = ipyleaflet.GeoJSON(data=empty, name=LAYER_SEL, style=sel_style)
    dropdown = widgets.Dropdown(options=list(modes), value=mode, description="query")
    box = _explorer(tiles, threshold, basemap, export_dir, "selection", [sim_layer, sel_layer], [dropdown])

    def selection() -> dict:
        properties = {"mode": dropdown.value, "threshold": box.slider.value}
        return tile_query.grid_to_polygons(tiles, box.selected, properties)

    def query(lon: float, lat: float) -> int:
        box.query_index = tile_query.tile_at(tiles, lon, lat)
        return box.query_index

    def redraw() -> None:
        t = box.slider.value
        box.similarity = tile_query.similarity_grid(tiles, box.query_index, *modes[dropdown.value])
        box.selected = tile_query.threshold_grid(box.similarity, t)
        sim_layer.url = maps.png_data_url(similarity_rgba(box.similarity, t))
        sel_layer.data = to_lonlat_collection(selection())
        box.info.value = (
            f"<b>{dropdown.value}</b>: tile {box.query_index} at ({box.point[1]:.4f}, {box.point[0]:.4f}); "
            f"{int(box.selected.sum())} of {len(tiles)} tiles have cosine >= {t:.2f}"
        )

    def tile_bounds():
        left, bottom, right, top = tiles.footprint(box.query_index)
        return raster_lonlat_bounds((right - left, 0, left, 0, bottom - top, top), (1, 1), tiles.crs)

    maps.add_fly_to(box.map, {"whole place": lambda: box.map.raster_bounds, "clicked tile": tile_bounds})
    dropdown.observe(lambda _: redraw(), names="value")
    box.mode, box.selection, box.query, box.redraw = dropdown, selection, query, redraw
    box.write = lambda path: tile_query.export_vectors(selection(), path)
    box.start(point)
    return box


def segment_explorer(
    model: Any, tiles: Any, point: tuple[float, float] | None = None, modality: str = "s2", threshold=0.5,
    export_dir: str | Path = ".", basemap: str | None = "OpenStreetMap",
):  # fmt: skip
    """Click the map: a one-shot mask of the clicked concept over the whole raster (``eval.segment_region``).

    ``model`` gives the ``modality`` features (``"s2"``, ``"s1"`` or ``"s1+s2"``). The VBox keeps ``map``,
    ``slider``, ``info``, ``result`` (a ``RegionMask``), ``click`` and ``export`` (``mask_NNN.gpkg``).
    """
    from xmodal_lab.eval.tile_query import export_vectors, segment_region
    bounds = raster_lonlat_bounds(tiles.source_transform, tiles.source_shape, tiles.crs)
    seg_layer = maps.image_layer(_EMPTY, bounds, LAYER_SEG, opacity=0.9)
    box = _explorer(tiles, threshold, basemap, export_dir, "mask", [seg_layer])

    def query(lon: float, lat: float) -> Any:
        box.result = segment_region(model, tiles, lon, lat, modality=modality, threshold=box.slider.value)
        return box.result

    def redraw() -> None:
        result, t = box.result, box.slider.value
        result.mask = np.nan_to_num(result.confidence, nan=-np.inf) >= t
        result.threshold = float(t)
        step = max(1, int(np.ceil(max(result.mask.shape) / 1024)))
        seg_layer.url = maps.png_data_url(mask_rgba(result.mask[::step, ::step]))
        box.info.value = (
            f"one-shot ({modality}) from ({box.point[1]:.4f}, {box.point[0]:.4f}): "
            f"{result.mask.mean():.1%} of the raster has confidence >= {t:.2f}"
        )

    def write(path: Path) -> Path:
        props = {"modality": modality, "threshold": float(box.slider.value)}
        return export_vectors(box.result.to_polygons(properties=props), path, layer="segment")

    box.query, box.redraw, box.write = query, redraw, write
    box.start(point)
    return box


def _extent(transform: Any, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    a, _, c, _, e, f = (float(v) for v in tuple(transform)[:6])
    return (c, c + a * shape[1], f + e * shape[0], f)


def _optical_axes(tiles: Any, ax: Any, figsize: tuple[float, float]):
    """A figure whose axes show the raster's optical image in its CRS (metres)."""
    fig, ax = figure_axes(ax, figsize=figsize)
    ax.imshow(read_rgb(tiles.s2_path, "s2", 512), extent=_extent(tiles.source_transform, tiles.source_shape))
    label(ax, xlabel=f"easting (m, {tiles.crs})", ylabel="northing (m)")
    return fig, ax


def plot_region_pair(s1_path: str | Path, s2_path: str | Path, title: str | None = None, **kwargs) -> Figure:
    """Static fallback of the region maps: ``plot_coregistration`` of an S1 and an S2 GeoTIFF."""
    from xmodal_lab.viz.data_plots import plot_coregistration
    s2, transform, crs = read_bands(s2_path, "s2")
    pair = {"s1": np.nan_to_num(read_bands(s1_path, "s1")[0], nan=-30.0), "s2": np.nan_to_num(s2), "crs": crs,
            "transform": transform}  # fmt: skip
    return plot_coregistration(pair, title=title, **kwargs)


def plot_region_query(
    tiles: Any, similarity: Any, threshold: float | None = None, point: tuple[float, float] | None = None,
    title: str | None = None, ax: Any = None,
) -> Figure:  # fmt: skip
    """Static :func:`region_explorer`: the similarity (``eval.similarity_grid``) over the optical image.

    Tiles at or above ``threshold`` are outlined and ``point`` ``(lon, lat)`` is circled.
    """
    fig, ax = _optical_axes(tiles, ax, (6.5, 5.5))
    s = np.asarray(similarity, dtype=np.float64)
    extent = _extent(tiles.grid_transform, tiles.grid_shape)
    im = ax.imshow(np.ma.masked_invalid(s), extent=extent, cmap="magma", vmin=-1, vmax=1, alpha=0.75,
                   interpolation="nearest", gid="similarity")  # fmt: skip
    colorbar(fig, im, ax, "cosine similarity to the clicked tile", location="right", shrink=0.8)
    if threshold is not None:
        outline(ax, np.nan_to_num(s, nan=-np.inf) >= threshold, TRUE_MATCH_COLOUR, width=1.5, extent=extent,
                origin="upper")  # fmt: skip
    if point is not None:
        x, y = transformer("EPSG:4326", tiles.crs).transform(*point)
        ax.plot(x, y, "o", ms=10, mfc="none", mec=QUERY_COLOUR, mew=2.5)
    label(ax, title or "cosine similarity of every tile to the clicked tile (circled)")
    return fig


def plot_region_mask(tiles: Any, mask: Any, truth: Any = None, title: str | None = None) -> Figure:
    """Static :func:`segment_explorer`: an ``[H, W]`` mask (``gid="mask"``) over the optical; truth white."""
    fig, ax = _optical_axes(tiles, None, (6, 5.5))
    extent = _extent(tiles.source_transform, tiles.source_shape)
    m = np.asarray(mask, dtype=bool)
    step = max(1, int(np.ceil(max(m.shape) / 512)))
    ax.imshow(mask_rgba(m[::step, ::step]), extent=extent, interpolation="nearest", gid="mask")
    if truth is not None:
        truth = np.asarray(truth, dtype=bool)[::step, ::step]
        outline(ax, truth, "white", width=1.0, extent=extent, origin="upper")
    label(ax, title or f"one-shot mask ({m.mean():.1%} of the raster)")
    return fig
