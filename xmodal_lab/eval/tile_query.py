"""Query a raster's tile embeddings from a point: similarity maps, thresholds, one-shot masks, vector export.

The computations behind the click-to-query maps of :mod:`xmodal_lab.viz.region_maps`, as plain functions
(no widgets) so they can be tested and used from scripts:

- :func:`tile_at`: the tile under a point given in longitude/latitude (a map click) or in the raster's CRS;
- :func:`similarity_to_tile`: cosine similarity of every tile to one tile, within a modality or across
  (a radar query against the optical tiles); :func:`similarity_grid` puts it on the tile grid;
- :func:`threshold_grid`: tiles at least as similar as a threshold (the slider of the map);
- :func:`grid_to_polygons` and :func:`export_vectors`: the selected tiles (or a pixel mask) as polygons in
  the raster's CRS, written to GeoPackage or GeoJSON and read back;
- :func:`segment_region`: one-shot segmentation (encoder features, :func:`xmodal_lab.models.one_shot_segment`)
  of the concept under a clicked point, over every tile of the raster, stitched into one mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_lab.eval.embed_raster import TileEmbeddings, _check_out_path, _write_published


def _modality(tiles: TileEmbeddings, name: str, role: str) -> np.ndarray:
    if name not in tiles.vectors:
        raise ValueError(f"{role}: {name!r} not among the embedded modalities {sorted(tiles.vectors)}")
    return tiles.vectors[name]


def _to_pixel(transform: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
    """``(col, row)`` of a point under the affine ``(a, b, c, d, e, f)`` (its inverse)."""
    a, b, c, d, e, f = transform[:6]
    det = a * e - b * d
    dx, dy = x - c, y - f
    return (e * dx - b * dy) / det, (a * dy - d * dx) / det


def tile_at(tiles: TileEmbeddings, x: float, y: float, crs: str = "EPSG:4326") -> int:
    """The tile whose grid cell holds a point.

    Args:
        tiles: from :func:`~xmodal_lab.eval.embed_raster.embed_raster`.
        x: longitude (or easting in ``crs``).
        y: latitude (or northing).
        crs: CRS of the point (default longitude/latitude, as a map click gives it).

    Returns:
        The tile index.

    Raises:
        ValueError: the point lies outside the raster, or on a cell whose tile was dropped (nodata).
    """
    from xmodal_lab.data.geo import transformer

    if str(crs) != tiles.crs:
        x, y = transformer(str(crs), tiles.crs).transform(x, y)
    col, row = _to_pixel(tiles.grid_transform, x, y)
    r, c = int(np.floor(row)), int(np.floor(col))
    rows, cols = tiles.grid_shape
    if not (0 <= r < rows and 0 <= c < cols):
        raise ValueError(
            f"point ({x:.1f}, {y:.1f}) in {tiles.crs} lies outside the raster's {rows}x{cols} tiles"
        )
    index = tiles.index_of_cell(r, c)
    if index is None:
        raise ValueError(f"point lies on tile cell ({r}, {c}), which was dropped (too much nodata)")
    return index


def similarity_to_tile(query: Any, gallery: Any, index: int) -> np.ndarray:
    """Cosine similarity of every gallery vector to query vector ``index``.

    Args:
        query: ``[N, D]`` (e.g. radar embeddings of the tiles).
        gallery: ``[N, D]`` (e.g. optical embeddings of the same tiles; the same array for one modality).
        index: the query tile.

    Returns:
        ``[N]`` float64 in ``[-1, 1]``.
    """
    q, g = np.asarray(query, dtype=np.float64), np.asarray(gallery, dtype=np.float64)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery: expected [N, D] and [M, D], got {q.shape} and {g.shape}")
    if not 0 <= index < len(q):
        raise ValueError(f"index: expected a tile in 0..{len(q) - 1}, got {index}")
    v = q[index] / max(np.linalg.norm(q[index]), 1e-12)
    return (g @ v) / np.maximum(np.linalg.norm(g, axis=1), 1e-12)


def similarity_grid(
    tiles: TileEmbeddings, index: int, query: str = "s2", gallery: str | None = None
) -> np.ndarray:
    """Similarity of every tile to tile ``index``, on the tile grid (NaN where a tile was dropped).

    Args:
        tiles: the raster's tile embeddings.
        index: the clicked tile.
        query: modality of the clicked tile (``"s1"`` radar, ``"s2"`` optical, ``"joint"``).
        gallery: modality of the tiles compared with it (default: ``query``; ``"s2"`` with ``query="s1"``
            asks "which optical tiles look like this radar tile?").

    Returns:
        ``[rows, cols]`` float64.
    """
    q = _modality(tiles, query, "query")
    g = _modality(tiles, gallery or query, "gallery")
    return tiles.to_grid(similarity_to_tile(q, g, index))


def threshold_grid(similarity: Any, threshold: float) -> np.ndarray:
    """Cells at least as similar as ``threshold`` (NaN cells are never selected).

    Args:
        similarity: ``[rows, cols]`` from :func:`similarity_grid`.
        threshold: cosine similarity in ``[-1, 1]``.

    Returns:
        ``[rows, cols]`` bool.
    """
    if not -1.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold: expected a cosine similarity in [-1, 1], got {threshold}")
    s = np.asarray(similarity, dtype=np.float64)
    return np.nan_to_num(s, nan=-np.inf) >= float(threshold)


def grid_to_polygons(tiles: TileEmbeddings, mask: Any, properties: dict | None = None) -> dict:
    """Selected tile-grid cells as polygons in the raster's CRS (touching cells merge into one polygon).

    Args:
        tiles: the raster's tile embeddings.
        mask: ``[rows, cols]`` bool from :func:`threshold_grid`.
        properties: copied into every feature.

    Returns:
        A GeoJSON FeatureCollection with ``crs`` (see :func:`xmodal_lab.eval.segmentation.to_polygons`).
    """
    from xmodal_lab.eval.segmentation import to_polygons

    m = np.asarray(mask, dtype=bool)
    if m.shape != tuple(tiles.grid_shape):
        raise ValueError(f"mask: expected the tile grid's shape {tiles.grid_shape}, got {m.shape}")
    return to_polygons(m, tiles.grid_transform, tiles.crs, properties=properties)


def export_vectors(collection: dict, out_path: str | Path, layer: str = "selection") -> Path:
    """Write a FeatureCollection (in its ``crs``) as GeoPackage (``.gpkg``) or GeoJSON (``.geojson``).

    Args:
        collection: from :func:`grid_to_polygons` or :func:`~xmodal_lab.eval.segmentation.to_polygons`.
        out_path: a path that does not exist yet.
        layer: layer name inside a GeoPackage.

    Returns:
        The path, after reading it back with geopandas (same number of features and CRS).

    Raises:
        FileExistsError: the file exists (it is never overwritten).
        ValueError: no features, or no ``crs`` in the collection.
    """
    import geopandas as gpd

    path = _check_out_path(out_path, (".gpkg", ".geojson", ".json"), "GeoPackage or GeoJSON")
    features = collection.get("features") or []
    if not features:
        raise ValueError(
            "export_vectors: the collection has no features; lower the threshold or click elsewhere"
        )
    if not collection.get("crs"):
        raise ValueError("export_vectors: the collection has no 'crs'; expected one from to_polygons")
    frame = gpd.GeoDataFrame.from_features(features, crs=collection["crs"])
    driver = "GPKG" if path.suffix.lower() == ".gpkg" else "GeoJSON"

    def write(tmp: Path) -> None:
        if driver == "GPKG":
            frame.to_file(tmp, driver=driver, layer=layer)
        else:
            frame.to_file(tmp, driver=driver)

    def reads_back(tmp: Path) -> bool:
        back = gpd.read_file(tmp)
        return len(back) == len(frame) and back.crs == frame.crs

    return _write_published(path, path.suffix, write, reads_back, "file", driver_creates=True)


@dataclass
class RegionMask:
    """A mask over a whole raster from :func:`segment_region`.

    Attributes:
        mask: ``[H, W]`` bool on the optical grid (False on dropped tiles).
        confidence: ``[H, W]`` float, the one-shot location confidence (NaN on dropped tiles).
        transform: the optical raster's affine.
        crs: its CRS.
        reference_tile: index of the tile under the click.
        point: ``(row, col)`` optical pixel of the click.
        threshold: the confidence threshold used.
    """

    mask: np.ndarray
    confidence: np.ndarray
    transform: tuple[float, ...]
    crs: str
    reference_tile: int
    point: tuple[int, int]
    threshold: float

    def to_polygons(self, min_area: float = 0.0, properties: dict | None = None) -> dict:
        """The mask as polygons in the raster's CRS (:func:`xmodal_lab.eval.segmentation.to_polygons`)."""
        from xmodal_lab.eval.segmentation import to_polygons

        return to_polygons(self.mask, self.transform, self.crs, min_area=min_area, properties=properties)


def _pixel_of(tiles: TileEmbeddings, x: float, y: float, crs: str) -> tuple[int, int]:
    from xmodal_lab.data.geo import transformer

    if str(crs) != tiles.crs:
        x, y = transformer(str(crs), tiles.crs).transform(x, y)
    col, row = _to_pixel(tiles.source_transform, x, y)
    h, w = tiles.source_shape
    r, c = int(np.floor(row)), int(np.floor(col))
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"point ({x:.1f}, {y:.1f}) in {tiles.crs} lies outside the {w}x{h} px raster")
    return r, c


def segment_region(
    model: Any,
    tiles: TileEmbeddings,
    x: float,
    y: float,
    crs: str = "EPSG:4326",
    modality: str = "s2",
    threshold: float = 0.5,
    radius: int = 6,
    context: int = 4,
    batch_size: int = 64,
    **one_shot_kwargs: Any,
) -> RegionMask:
    """One-shot segmentation of the concept under a clicked point, over every tile of the raster.

    The click is the prompt: the pixels within ``radius`` of it are the reference mask, on a reference
    window of ``context`` tiles around it; their mean patch feature is the target embedding of
    :func:`xmodal_lab.models.one_shot_segment`. Every tile of a non-overlapping tiling of the raster is then
    segmented and the masks are stitched. By default the confidence is the plain cosine similarity of each
    patch feature to the target embedding (PerSAM's location confidence, ``n_background=0``), upsampled
    bilinearly and cut at ``threshold``, the same cosine scale as the map's similarity slider: a click
    prompt gives no counter-examples, and background prototypes drawn from a window that is all one
    concept (open sea) would be that concept. Pass ``n_background=4`` for the prototypes of the
    reference-mask workflow.

    Args:
        model: a kit model with ``features(s1=, s2=)``.
        tiles: the raster's tile embeddings (their files and grid are reused).
        x: longitude of the click (or easting in ``crs``).
        y: latitude (or northing).
        crs: CRS of the point.
        modality: ``"s1"``, ``"s2"`` or ``"s1+s2"`` features.
        threshold: cosine confidence at which a pixel belongs to the concept.
        radius: reference-mask radius in pixels around the click.
        context: side of the reference window in tiles (clamped to the raster).
        batch_size: tiles per encoder call.
        **one_shot_kwargs: passed to :func:`~xmodal_lab.models.one_shot_segment` (``threshold``,
            ``n_background``, ``upsample`` ...).

    Returns:
        :class:`RegionMask`.
    """
    import torch

    from xmodal_lab.data.rasters import PairedRasterDataset
    from xmodal_lab.models import one_shot_segment

    if tiles.s1_path is None or tiles.s2_path is None:
        raise ValueError("segment_region: tiles must come from embed_raster (they name their files)")
    if radius < 1 or context < 1:
        raise ValueError(f"radius and context: expected positive numbers, got {radius} and {context}")
    row, col = _pixel_of(tiles, x, y, crs)
    t = tiles.tile
    grid = PairedRasterDataset(tiles.s1_path, tiles.s2_path, size=t, stride=t, max_nodata=1.0)
    h, w = tiles.source_shape
    side = min(context * t, (h // t) * t, (w // t) * t)
    r0 = int(np.clip(row - side // 2, 0, h - side))
    c0 = int(np.clip(col - side // 2, 0, w - side))
    reference = PairedRasterDataset(tiles.s1_path, tiles.s2_path, size=side, stride=side, max_nodata=1.0)
    reference.windows = [(r0, c0)]
    ref = reference.load(0)
    rr, cc = np.mgrid[0:side, 0:side]
    ref_mask = (rr - (row - r0)) ** 2 + (cc - (col - c0)) ** 2 <= radius**2
    one_shot_kwargs.setdefault("n_background", 0)
    one_shot_kwargs.setdefault("upsample", "bilinear")
    keys = ("s1", "s2") if modality == "s1+s2" else (modality,)
    targets = [grid.load(i) for i in range(len(grid))]
    batch = {k: torch.stack([p[k] for p in targets]) for k in keys}
    result = one_shot_segment(model, {k: ref[k] for k in keys}, ref_mask, batch, modality=modality,
                              threshold=threshold, batch_size=batch_size, **one_shot_kwargs)  # fmt: skip
    mask = np.zeros((h, w), dtype=bool)
    conf = np.full((h, w), np.nan, dtype=np.float32)
    for i, (r, c) in enumerate(grid.windows):
        nodata = targets[i]["nodata_mask"].numpy()
        mask[r : r + t, c : c + t] = result.masks[i] & ~nodata
        conf[r : r + t, c : c + t] = np.where(nodata, np.nan, result.confidence[i])
    try:
        ref_tile = tile_at(tiles, x, y, crs)
    except ValueError:
        ref_tile = -1
    return RegionMask(
        mask, conf, tiles.source_transform, tiles.crs, ref_tile, (row, col), float(result.threshold)
    )


__all__ = [
    "RegionMask",
    "export_vectors",
    "grid_to_polygons",
    "segment_region",
    "similarity_grid",
    "similarity_to_tile",
    "threshold_grid",
    "tile_at",
]
