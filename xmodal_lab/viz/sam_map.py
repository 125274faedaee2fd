"""Segment Anything on the map: click (or draw a box) and SAM outlines what is there; export it as polygons.

As segment-geospatial's ``show_map``: a window of one composite around the click goes to the segmenter passed
in, and its best mask becomes polygons in the raster's CRS. An untrained SAM says so on the map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_lab.data.geo import transformer
from xmodal_lab.errors import InputValueError
from xmodal_lab.viz.colours import QUERY_COLOUR, TRUE_MATCH_COLOUR
from xmodal_lab.viz.maps import add_control, corners_lonlat
from xmodal_lab.viz.region_maps import RasterPair, _explorer, read_bands, to_lonlat_collection

#: Composites SAM can see: (label, the GeoTIFF read, rendering of ``data.composites.RENDERINGS``).
SAM_MODALITIES = (
    ("optical: true colour (B4, B3, B2)", "s2", "s2"),
    ("optical: colour infrared (B8, B4, B3)", "s2", "s2_false"),
    ("radar: VV, VH, VV-VH", "s1", "s1"),
)
#: Layer names (tests and notebooks find layers by them).
LAYER_SAM, LAYER_PROMPTS, LAYER_WINDOW = "SAM mask", "SAM prompts", "SAM window"
#: What the map says when SAM has random weights.
UNTRAINED_NOTE = "untrained SAM: masks are random (no checkpoint; load one with build_sam(checkpoint=...))"
_PROMPT_COLOURS = {1: TRUE_MATCH_COLOUR, 0: "#d62728"}
_EMPTY = {"type": "FeatureCollection", "features": []}


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
        ring = corners_lonlat(self.transform, *self.mask.shape, self.crs).tolist()
        return _collection([_feature("Polygon", [ring], {})])

    def to_polygons(self, properties: dict | None = None) -> dict:
        """The mask as polygons in the raster's CRS, each with the prompt's description."""
        from xmodal_lab.eval.segmentation import to_polygons
        props = {"rendering": self.rendering, "model_type": self.model_type, "untrained": int(self.untrained),
                 "score": float(self.score), "points": len(self.prompts), "box": int(self.box is not None),
                 **(properties or {})}  # fmt: skip
        return to_polygons(self.mask, self.transform, self.crs, properties=props)


def _feature(kind: str, coordinates: list, props: dict) -> dict:
    return {"type": "Feature", "geometry": {"type": kind, "coordinates": coordinates}, "properties": props}


def _collection(features: list) -> dict:
    return {"type": "FeatureCollection", "features": features}


def _prompt_collection(prompts: list, box: tuple | None = None) -> dict:
    """Points ``(lon, lat, label)`` in their label's colour, and the box ``(west, south, east, north)``."""
    features = [_feature("Point", [x, y], {"label": k, "color": _PROMPT_COLOURS[k]}) for x, y, k in prompts]
    if box is not None:
        w, s, e, n = box
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        features.append(_feature("Polygon", [ring], {"label": "box", "color": QUERY_COLOUR}))
    return _collection(features)


def sam_explorer(
    segmenter: Any, tiles: Any, point: tuple[float, float] | None = None, modality: str = "s2", window=256,
    export_dir: str | Path = ".", basemap: str | None = "OpenStreetMap",
):  # fmt: skip
    """Click the map: Segment Anything outlines the object under the click in a ``window``-pixel window.

    ``tiles`` is a ``TileEmbeddings``, ``RasterPair`` or ``(s1_path, s2_path)``; ``modality`` a rendering of
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
        tiles = RasterPair.open(*tiles)
    untrained = bool(getattr(segmenter, "untrained", False))
    mask_style = {"color": TRUE_MATCH_COLOUR, "weight": 2, "fillOpacity": 0.35}
    mask_layer = ipyleaflet.GeoJSON(data=_EMPTY, name=LAYER_SAM, style=mask_style)
    window_style = {"color": "#ffffff", "weight": 1, "dashArray": "4", "fillOpacity": 0.0}
    window_layer = ipyleaflet.GeoJSON(data=_EMPTY, name=LAYER_WINDOW, style=window_style)
    prompt_layer = ipyleaflet.GeoJSON(
        data=_EMPTY, name=LAYER_PROMPTS, point_style={"radius": 5, "fillOpacity": 1.0, "weight": 1},
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
        box.map.sam_note = add_control(box.map, widgets.HTML(note), "bottomright")

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
        if bbox:
            west, south, east, north = bbox
            lonlats = [(west, south), (east, north), (west, north), (east, south)]
            corners = lonlat_to_pixels(lonlats, transform, crs)
            lo, hi = corners.min(0), corners.max(0)
            xyxy = [*np.clip(lo, 0, (w - 1, h - 1)), *np.clip(hi, 0, (w - 1, h - 1))]
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
        label = 1 if sign.value == "positive" else 0
        prompts = [*box.prompts, (float(lon), float(lat), label)]
        if (not box.prompts and box.box_prompt is None) or not box.result.contains(lon, lat):  # a new object
            prompts, box.box_prompt = prompts[-1:], None
        if box.box_prompt is None and not any(p[2] == 1 for p in prompts):
            raise InputValueError(
                "start an object with a positive point (or draw a box), then add negative ones"
            )
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
        polygons = r.to_polygons()
        mask_layer.data = to_lonlat_collection(polygons) if polygons["features"] else _EMPTY
        window_layer.data = r.window_collection()
        prompt_layer.data = _prompt_collection(r.prompts, r.box)
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
    if point is None:
        (south, west), (north, east) = box.map.raster_bounds
        point = ((west + east) / 2, (south + north) / 2)
    box.start(point)
    return box


__all__ = ["SAM_MODALITIES", "SamMapResult", "UNTRAINED_NOTE", "lonlat_to_pixels", "sam_explorer"]
