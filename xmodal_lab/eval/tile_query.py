"""Query a raster's tile embeddings from a point: similarity maps, thresholds, masks, vector export."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.transform import rowcol

from xmodal_lab.files import check_new, publish

from .embed_raster import TileEmbeddings
from .retrieval import cosine_similarity
from .segmentation import to_polygons

CLICK_RADIUS = 6  # pixels around a click that make the reference mask of segment_region
CONTEXT_TILES = 4  # side of segment_region's reference window, in tiles


def _pixel(transform: tuple, shape: tuple[int, int], x: float, y: float, crs: str, grid_crs: str) -> tuple:
    """``(row, col)`` of a point in ``crs`` on a grid in ``grid_crs``; ValueError outside the grid."""
    from xmodal_lab.data.geo import transformer
    if str(crs) != grid_crs:
        x, y = transformer(str(crs), grid_crs).transform(x, y)
    row, col = (int(v) for v in rowcol(Affine(*transform[:6]), x, y, op=math.floor))
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        where, size = f"({x:.1f}, {y:.1f}) in {grid_crs}", f"{shape[0]}x{shape[1]}"
        raise ValueError(f"point {where} lies outside the raster's {size} grid")
    return row, col


def tile_at(tiles: TileEmbeddings, x: float, y: float, crs: str = "EPSG:4326") -> int:
    """Index of the tile whose grid cell holds the point ``(x, y)`` (longitude, latitude by default)."""
    row, col = _pixel(tiles.grid_transform, tiles.grid_shape, x, y, crs, tiles.crs)
    if (index := tiles.index_of_cell(row, col)) is None:
        raise ValueError(f"point lies on tile cell ({row}, {col}), which was dropped (too much nodata)")
    return index


def similarity_grid(tiles: TileEmbeddings, index: int, query: str = "s2", gallery: str | None = None) -> np.ndarray:
    """Cosine similarity of every ``gallery`` tile to ``query`` tile ``index`` on the grid ``[rows, cols]``."""
    for role, name in (("query", query), ("gallery", gallery or query)):
        if name not in tiles.vectors:
            raise ValueError(f"{role}: {name!r} not among the embedded modalities {sorted(tiles.vectors)}")
    if not 0 <= index < len(tiles.vectors[query]):
        raise ValueError(f"index: expected a tile in 0..{len(tiles.vectors[query]) - 1}, got {index}")
    row = tiles.vectors[query][index : index + 1]  # [1, D]
    return tiles.to_grid(cosine_similarity(row, tiles.vectors[gallery or query])[0].numpy())


def threshold_grid(similarity: Any, threshold: float) -> np.ndarray:
    """Cells ``[rows, cols]`` at least as similar as ``threshold`` in ``[-1, 1]`` (NaN cells never are)."""
    if not -1.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold: expected a cosine similarity in [-1, 1], got {threshold}")
    return np.nan_to_num(np.asarray(similarity, dtype=np.float64), nan=-np.inf) >= float(threshold)


def grid_to_polygons(tiles: TileEmbeddings, mask: Any, properties: dict | None = None) -> dict:
    """Selected tile-grid cells ``[rows, cols]`` as a GeoJSON FeatureCollection; touching cells merge."""
    m = np.asarray(mask, dtype=bool)
    if m.shape != tuple(tiles.grid_shape):
        raise ValueError(f"mask: expected the tile grid's shape {tiles.grid_shape}, got {m.shape}")
    return to_polygons(m, tiles.grid_transform, tiles.crs, properties=properties)


def export_vectors(collection: dict, out_path: str | Path, layer: str = "selection") -> Path:
    """Write a FeatureCollection to a new ``.gpkg`` (as ``layer``) or ``.geojson`` file and read it back."""
    import geopandas as gpd
    path = check_new(out_path, "GeoPackage or GeoJSON", (".gpkg", ".geojson", ".json"))
    if not collection.get("features"):
        raise ValueError("export_vectors: the collection has no features; lower the threshold or click elsewhere")
    if not collection.get("crs"):
        raise ValueError("export_vectors: the collection has no 'crs'; expected one from to_polygons")
    frame = gpd.GeoDataFrame.from_features(collection["features"], crs=collection["crs"])
    options = {"driver": "GPKG", "layer": layer} if path.suffix.lower() == ".gpkg" else {"driver": "GeoJSON"}

    def reads_back(tmp: Path) -> bool:
        back = gpd.read_file(tmp)
        return len(back) == len(frame) and back.crs == frame.crs

    return publish(path, lambda tmp: frame.to_file(tmp, **options), "file", check=reads_back, writer_creates=True)


@dataclass
class RegionMask:
    """A mask over a whole raster from :func:`segment_region`, on the optical grid (False/NaN: dropped).

    ``reference_tile`` is the tile under the click (-1 when dropped), ``point`` its optical pixel.
    """

    mask: np.ndarray
    confidence: np.ndarray
    transform: tuple[float, ...]
    crs: str
    reference_tile: int
    point: tuple[int, int]
    threshold: float

    def to_polygons(self, min_area: float = 0.0, properties: dict | None = None) -> dict:
        """The mask as polygons in the raster's CRS."""
        return to_polygons(self.mask, self.transform, self.crs, min_area=min_area, properties=properties)


def segment_region(model: Any, tiles: TileEmbeddings, x: float, y: float, crs: str = "EPSG:4326",
                   modality: str = "s2", threshold: float = 0.5) -> RegionMask:
    """One-shot segmentation of the concept under a clicked point, over every tile of the raster.

    The pixels within :data:`CLICK_RADIUS` of the click are the reference mask of ``one_shot_segment``; with
    no counter-examples (``n_background=0``) the confidence is the plain cosine (the similarity slider's).
    """
    from xmodal_lab.data.rasters import PairedRasterDataset
    from xmodal_lab.segment import one_shot_segment
    if tiles.s1_path is None or tiles.s2_path is None:
        raise ValueError("segment_region: tiles must come from embed_raster (they name their files)")
    row, col = _pixel(tiles.source_transform, tiles.source_shape, x, y, crs, tiles.crs)
    t, (h, w) = tiles.tile, tiles.source_shape
    side = min(CONTEXT_TILES * t, (h // t) * t, (w // t) * t)
    r0, c0 = int(np.clip(row - side // 2, 0, h - side)), int(np.clip(col - side // 2, 0, w - side))
    reference = PairedRasterDataset(tiles.s1_path, tiles.s2_path, size=side, stride=side, max_nodata=1.0)
    reference.windows = [(r0, c0)]
    ref = reference.load(0)
    rr, cc = np.mgrid[0:side, 0:side]
    ref_mask = (rr - (row - r0)) ** 2 + (cc - (col - c0)) ** 2 <= CLICK_RADIUS**2
    grid = PairedRasterDataset(tiles.s1_path, tiles.s2_path, size=t, stride=t, max_nodata=1.0)
    targets = [grid.load(i) for i in range(len(grid))]
    result = one_shot_segment(model, ref, ref_mask, targets, modality, threshold, n_background=0,
                              upsample="bilinear", batch_size=64)
    mask, confidence = np.zeros((h, w), dtype=bool), np.full((h, w), np.nan, dtype=np.float32)
    for i, (r, c) in enumerate(grid.windows):
        nodata = targets[i]["nodata_mask"].numpy()
        mask[r : r + t, c : c + t] = result.masks[i] & ~nodata
        confidence[r : r + t, c : c + t] = np.where(nodata, np.nan, result.confidence[i])
    try:
        reference_tile = tile_at(tiles, x, y, crs)
    except ValueError:
        reference_tile = -1
    transform, threshold = tiles.source_transform, float(result.threshold)
    return RegionMask(mask, confidence, transform, tiles.crs, reference_tile, (row, col), threshold)
