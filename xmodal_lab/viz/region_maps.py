"""Click-to-query maps of one raster pair: similar tiles, a one-shot mask, SAM's mask (samgeo's ``show_map``).

Each starts from a default click (so it shows something headless); the first two have a static figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from types import SimpleNamespace
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
#: Composites SAM can see: (label, the GeoTIFF read, rendering of ``data.composites.RENDERINGS``).
SAM_MODALITIES = (
    ("optical: true colour (B4, B3, B2)", "s2", "s2"),
    ("optical: colour infrared (B8, B4, B3)", "s2", "s2_false"),
    ("radar: VV, VH, VV-VH", "s1", "s1"),
)
LAYER_SAM, LAYER_PROMPTS, LAYER_WINDOW = "SAM mask", "SAM prompts", "SAM window"
#: What the map says when SAM has random weights.
UNTRAINED_NOTE = "untrained SAM: masks are random (no checkpoint; load one with build_sam(checkpoint=...))"
_PROMPT_COLOURS = {1: TRUE_MATCH_COLOUR, 0: "#d62728"}
_BLANK = np.zeros((1, 1, 4), np.uint8)
_NO_FEATURES = {"type": "FeatureCollection", "features": []}


def raster_pair(s1_path: str | Path, s2_path: str | Path) -> SimpleNamespace:
    """An S1 and an S2 GeoTIFF of one place as ``tiles`` without embeddings, on the optical one's grid."""
    import rasterio
    with rasterio.open(s2_path) as src:  # the grid only, no pixels
        return SimpleNamespace(s1_path=Path(s1_path), s2_path=Path(s2_path), crs=str(src.crs),
                               source_transform=tuple(src.transform)[:6], source_shape=src.shape)


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

    All of it at most ``max_px`` pixels per side, or the ``max_px``-pixel window around ``around`` (lon, lat).
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
                raise InputValueError(f"point ({around[0]:.5f}, {around[1]:.5f}) is outside the raster "
                                      f"{Path(path).name}; click on the image")  # fmt: skip
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


def _explorer(tiles, threshold, basemap, export_dir, stem: str, layers: list, controls=()):
    """Explorers' VBox: map (S1, S2, PCA, ``layers``), controls, export; callers add query, redraw, write."""
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
        m.add(maps.image_layer(rgba, grid_bounds, LAYER_PCA, opacity=0.6))
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
            click(*event["coordinates"][::-1])  # (lat, lon) from Leaflet

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
    sim_layer = maps.image_layer(_BLANK, grid_bounds, LAYER_SIM, opacity=0.85)
    sel_style = {"color": TRUE_MATCH_COLOUR, "weight": 2, "fillOpacity": 0.0}
    sel_layer = ipyleaflet.GeoJSON(data=_NO_FEATURES, name=LAYER_SEL, style=sel_style)
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
    seg_layer = maps.image_layer(_BLANK, bounds, LAYER_SEG, opacity=0.9)
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


def lonlat_to_pixels(points: Any, transform: Any, crs: str) -> np.ndarray:
    """``[N, 2]`` ``(lon, lat)`` as ``[N, 2]`` ``(x, y)`` pixels of a grid (``transform``, ``crs``)."""
    from affine import Affine
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    xs, ys = transformer("EPSG:4326", str(crs)).transform(p[:, 0], p[:, 1])
    return np.stack(~Affine(*tuple(transform)[:6]) @ (np.asarray(xs), np.asarray(ys)), axis=1)


@dataclass
class SamMapResult:
    """SAM's best mask ``[h, w]`` on a raster window, its ``prompts`` ``(lon, lat, label)`` and ``box``."""

    mask: np.ndarray
    transform: tuple[float, ...]
    crs: str
    score: float
    rendering: str
    untrained: bool
    model_type: str
    prompts: list = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None

    def contains(self, lon: float, lat: float) -> bool:
        """Whether ``(lon, lat)`` falls in the window SAM saw."""
        x, y = lonlat_to_pixels([(lon, lat)], self.transform, self.crs)[0]
        return bool(0 <= x < self.mask.shape[1] and 0 <= y < self.mask.shape[0])

    def window_collection(self) -> dict:
        """The window's outline as a lon/lat FeatureCollection."""
        ring = maps.corners_lonlat(self.transform, *self.mask.shape, self.crs).tolist()
        return {"type": "FeatureCollection", "features": [maps.feature("Polygon", [ring], {})]}

    def to_polygons(self, properties: dict | None = None) -> dict:
        """The mask as polygons in the raster's CRS, each with the prompt's description."""
        from xmodal_lab.eval.segmentation import to_polygons
        props = {"rendering": self.rendering, "model_type": self.model_type, "untrained": int(self.untrained),
                 "score": float(self.score), "points": len(self.prompts), "box": int(self.box is not None),
                 **(properties or {})}  # fmt: skip
        return to_polygons(self.mask, self.transform, self.crs, properties=props)


def sam_explorer(
    segmenter: Any, tiles: Any, point: tuple[float, float] | None = None, modality: str = "s2", window=256,
    export_dir: str | Path = ".", basemap: str | None = "OpenStreetMap",
):  # fmt: skip
    """Click the map: Segment Anything outlines the object under the click in a ``window``-pixel window.

    ``tiles`` is ``TileEmbeddings``, ``raster_pair()`` or ``(s1_path, s2_path)``; ``modality`` a rendering of
    :data:`SAM_MODALITIES`. Clicks add points to the object; one outside its window, or "new object", starts
    another; a drawn rectangle is a box prompt. The VBox keeps ``map``, ``info``, ``sign``, ``modality``,
    ``prompts``, ``result``, ``click``, ``prompt_box``, ``new_object()`` and ``export(path=None)``.
    """
    import ipyleaflet
    import ipywidgets as widgets

    from xmodal_lab.eval.tile_query import export_vectors
    files = {rendering: key for _, key, rendering in SAM_MODALITIES}
    if modality not in files:
        raise InputValueError(f"modality: expected one of {list(files)}, got {modality!r}")
    if isinstance(tiles, (tuple, list)):
        tiles = raster_pair(*tiles)
    untrained = bool(getattr(segmenter, "untrained", False))
    mask_style = {"color": TRUE_MATCH_COLOUR, "weight": 2, "fillOpacity": 0.35}
    mask_layer = ipyleaflet.GeoJSON(data=_NO_FEATURES, name=LAYER_SAM, style=mask_style)
    window_style = {"color": "#ffffff", "weight": 1, "dashArray": "4", "fillOpacity": 0.0}
    window_layer = ipyleaflet.GeoJSON(data=_NO_FEATURES, name=LAYER_WINDOW, style=window_style)
    prompt_layer = ipyleaflet.GeoJSON(
        data=_NO_FEATURES, name=LAYER_PROMPTS, point_style={"radius": 5, "fillOpacity": 1.0, "weight": 1},
        style_callback=lambda f: {"color": f["properties"]["color"], "fillColor": f["properties"]["color"],
                                  "fillOpacity": 0.0 if f["properties"]["label"] == "box" else 1.0},
    )  # fmt: skip
    sign = widgets.ToggleButtons(options=["positive", "negative"], value="positive", description="point",
                                 style={"button_width": "70px"})  # fmt: skip
    dropdown = widgets.Dropdown(options=[(label, r) for label, _, r in SAM_MODALITIES], value=modality,
                                description="SAM sees")  # fmt: skip
    new_button = widgets.Button(description="new object", icon="eraser")
    box = _explorer(tiles, None, basemap, export_dir, "sam", [window_layer, mask_layer, prompt_layer],
                    [dropdown, sign, new_button])  # fmt: skip
    box.sign, box.modality, box.prompts, box.box_prompt, box.result = sign, dropdown, [], None, None
    if untrained:
        style = "background:#fff3cd;color:#a00;padding:4px;font-weight:bold"
        note = f'<div style="{style}">{UNTRAINED_NOTE}</div>'
        box.map.sam_note = maps.add_control(box.map, widgets.HTML(note), "bottomright")

    def segment(prompts: list, bbox: tuple | None) -> SamMapResult:
        rendering = dropdown.value
        path = tiles.s1_path if files[rendering] == "s1" else tiles.s2_path
        anchor = ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2) if bbox else prompts[0][:2]
        bands, transform, crs = read_bands(path, files[rendering], window, around=anchor)
        h, w = bands.shape[1:]
        pts = labels = xyxy = None
        if prompts:
            pts = lonlat_to_pixels([p[:2] for p in prompts], transform, crs)
            labels = np.array([p[2] for p in prompts], np.int64)
        if bbox:  # (west, south, east, north): the pixels of its four corners
            corners = lonlat_to_pixels(list(product(bbox[::2], bbox[1::2])), transform, crs)
            xyxy = [*np.clip(corners.min(0), 0, (w - 1, h - 1)), *np.clip(corners.max(0), 0, (w - 1, h - 1))]
        segmenter.set_image(bands, rendering=rendering)
        multimask = len(prompts) == 1 and not bbox
        masks = segmenter.predict(points=pts, labels=labels, box=xyxy, multimask=multimask)
        best = int(np.argmax(masks.scores))
        return SamMapResult(
            np.asarray(masks.masks[best], bool), tuple(transform), crs, float(masks.scores[best]), rendering,
            bool(getattr(masks, "untrained", untrained)), str(getattr(segmenter, "model_type", "unknown")),
            list(prompts), bbox,
        )  # fmt: skip

    def query(lon: float, lat: float) -> SamMapResult:
        prompts = [*box.prompts, (float(lon), float(lat), 1 if sign.value == "positive" else 0)]
        if (not box.prompts and box.box_prompt is None) or not box.result.contains(lon, lat):  # a new object
            prompts, box.box_prompt = prompts[-1:], None
        if box.box_prompt is None and not any(p[2] == 1 for p in prompts):
            raise InputValueError("start an object with a positive point (or draw a box), "
                                  "then add negative ones")  # fmt: skip
        box.result = segment(prompts, box.box_prompt)
        box.prompts = prompts
        return box.result

    def prompt_box(west: float, south: float, east: float, north: float) -> SamMapResult:
        """Segment what lies in a lon/lat box (the draw tool's rectangle), starting a new object."""
        bbox = (float(west), float(south), float(east), float(north))
        box.result, box.prompts, box.box_prompt = segment([], bbox), [], bbox
        box.point = ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)
        box.marker.location = box.point[::-1]
        redraw()
        return box.result

    def redraw() -> None:
        r = box.result
        mask_layer.data = to_lonlat_collection(r.to_polygons())
        window_layer.data = r.window_collection()
        prompts = [maps.feature("Point", [x, y], {"label": k, "color": _PROMPT_COLOURS[k]})
                   for x, y, k in r.prompts]  # fmt: skip
        if r.box is not None:  # (west, south, east, north)
            w, s, e, n = r.box
            prompts.append(maps.feature("Polygon", [[[w, s], [e, s], [e, n], [w, n], [w, s]]],
                                        {"label": "box", "color": QUERY_COLOUR}))  # fmt: skip
        prompt_layer.data = {"type": "FeatureCollection", "features": prompts}
        label = next(lab for lab, _, rendering in SAM_MODALITIES if rendering == r.rendering)
        positive = sum(p[2] for p in r.prompts)
        note = f"<b style='color:#a00'>{UNTRAINED_NOTE}</b><br>" if r.untrained else ""
        box.info.value = (
            f"{note}SAM ({r.model_type}) on <b>{label}</b>: {positive} positive, {len(r.prompts) - positive} "
            f"negative point(s){' and a box' if r.box else ''}; mask {r.mask.mean():.1%} of the "
            f"{r.mask.shape[1]} x {r.mask.shape[0]} px window, score {r.score:.2f}"
        )

    def new_object(_: Any = None) -> None:
        box.prompts, box.box_prompt = [], None
        box.info.value += "<br>next click starts a new object"

    def rerun(_: Any) -> None:
        if box.result is not None:
            box.result = segment(box.prompts, box.box_prompt)
            redraw()

    def on_draw(target: Any, action: str, geo_json: dict) -> None:
        if action == "created" and geo_json.get("geometry", {}).get("type") == "Polygon":
            lons, lats = zip(*geo_json["geometry"]["coordinates"][0])
            try:
                prompt_box(min(lons), min(lats), max(lons), max(lats))
            except ValueError as err:
                box.info.value = f"<i>{err}</i>"
            draw.clear()

    draw = ipyleaflet.DrawControl(rectangle={"shapeOptions": {"color": QUERY_COLOUR, "fillOpacity": 0.0}},
                                  polygon={}, polyline={}, circlemarker={}, marker={}, circle={})  # fmt: skip
    draw.on_draw(on_draw)
    box.map.add(draw)
    box.map.draw_control_sam = draw
    new_button.on_click(new_object)
    dropdown.observe(rerun, names="value")
    box.query, box.redraw, box.prompt_box, box.new_object = query, redraw, prompt_box, new_object
    box.write = lambda path: export_vectors(box.result.to_polygons(), path, layer="sam")
    box.start(box.map.center[::-1] if point is None else point)  # default: the raster's centre
    return box


def _extent(transform: Any, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    a, _, c, _, e, f = (float(v) for v in tuple(transform)[:6])
    return (c, c + a * shape[1], f + e * shape[0], f)


def _optical_axes(tiles: Any, ax: Any, figsize: tuple[float, float]):
    """``(figure, axes, extent)``: axes showing the raster's optical image in its CRS (metres)."""
    fig, ax = figure_axes(ax, figsize=figsize)
    extent = _extent(tiles.source_transform, tiles.source_shape)
    ax.imshow(read_rgb(tiles.s2_path, "s2", 512), extent=extent)
    label(ax, xlabel=f"easting (m, {tiles.crs})", ylabel="northing (m)")
    return fig, ax, extent


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
    """Static region_explorer: similarity over the optical; ``threshold`` outlined, ``point`` ringed."""
    fig, ax, _ = _optical_axes(tiles, ax, (6.5, 5.5))
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
    fig, ax, extent = _optical_axes(tiles, None, (6, 5.5))
    m = np.asarray(mask, dtype=bool)
    step = max(1, int(np.ceil(max(m.shape) / 512)))
    ax.imshow(mask_rgba(m[::step, ::step]), extent=extent, interpolation="nearest", gid="mask")
    if truth is not None:
        truth = np.asarray(truth, dtype=bool)[::step, ::step]
        outline(ax, truth, "white", width=1.0, extent=extent, origin="upper")
    label(ax, title or f"one-shot mask ({m.mean():.1%} of the raster)")
    return fig
