"""Embed a co-registered GeoTIFF pair tile by tile and write the embeddings for GIS tools.

The output raster has one pixel per tile on the optical raster's CRS; outputs are never overwritten.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from affine import Affine
from rasterio.transform import xy
from rasterio.windows import Window

from xmodal_lab.files import check_new, publish

from .embeddings import concat_rows, embed_batches

#: Embedding keys a model may return (``embed(s1=, s2=)``): radar, optical, and both together.
RASTER_MODALITIES = ("s1", "s2", "joint")


@dataclass
class TileEmbeddings:
    """Embeddings of the tiles of one raster pair, and where each tile lies.

    ``vectors`` is ``{modality: [N, D]}``; ``cells`` the ``(row, col)`` of each tile in the tile grid and
    ``windows`` its top-left optical pixel; ``grid_transform`` is the affine of the tile grid (one pixel per
    tile, centred on it), ``source_transform`` / ``source_shape`` those of the optical raster.
    """

    vectors: dict[str, np.ndarray]
    cells: np.ndarray
    windows: np.ndarray
    grid_shape: tuple[int, int]
    grid_transform: tuple[float, ...]
    source_transform: tuple[float, ...]
    source_shape: tuple[int, int]
    crs: str
    tile: int
    stride: int
    s1_path: Path | None = None
    s2_path: Path | None = None
    path: Path | None = None
    modality: str | None = None

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def valid(self) -> np.ndarray:
        """``[rows, cols]`` bool: grid cells that hold a tile."""
        out = np.zeros(self.grid_shape, dtype=bool)
        out[self.cells[:, 0], self.cells[:, 1]] = True
        return out

    def to_grid(self, values: Any, fill: float = np.nan) -> np.ndarray:
        """Place one value ``[N]`` or vector ``[N, K]`` per tile on the grid, ``fill`` elsewhere."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape[0] != len(self):
            raise ValueError(f"values: expected one row per tile ({len(self)}), got shape {v.shape}")
        out = np.full((*v.shape[1:], *self.grid_shape), fill, dtype=np.float64)
        out[..., self.cells[:, 0], self.cells[:, 1]] = v.T
        return out

    def footprint(self, index: int) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of tile ``index`` in the CRS."""
        row, col = (int(v) for v in self.windows[index])
        corners = [row, row + self.tile], [col, col + self.tile]
        xs, ys = xy(Affine(*self.source_transform), *corners, offset="ul")
        return min(xs), min(ys), max(xs), max(ys)

    def index_of_cell(self, row: int, col: int) -> int | None:
        """The tile at grid cell ``(row, col)``, or None when the cell holds none."""
        hit = np.flatnonzero((self.cells[:, 0] == row) & (self.cells[:, 1] == col))
        return int(hit[0]) if hit.size else None


def grid_transform(transform: Any, tile: int, stride: int) -> tuple[float, ...]:
    """Affine of the tile grid: ``transform`` shifted by ``(tile - stride) / 2`` px, scaled by ``stride``."""
    offset = (tile - stride) / 2.0
    grid = Affine(*tuple(transform)[:6]) @ Affine.translation(offset, offset) @ Affine.scale(stride)
    return tuple(grid)[:6]


def pca_project(x: Any, k: int) -> np.ndarray:
    """Scores ``[N, k]`` of the first ``k`` principal components of ``x [N, D]``, largest loading positive."""
    from sklearn.decomposition import PCA

    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or not 1 <= k <= min(a.shape):
        raise ValueError(f"pca: expected 1 <= k <= min(N, D) for embeddings {a.shape}, got k={k}")
    components = PCA(n_components=k, svd_solver="full").fit(a).components_  # [k, D]
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    return (a - a.mean(axis=0)) @ (components * signs[:, None]).T


def pca_rgb(x: Any) -> np.ndarray:
    """The first three principal components of ``[N, D]`` as uint8 colours 1..255 (0: nodata)."""
    p = pca_project(x, 3)
    lo, hi = np.percentile(p, 2, axis=0), np.percentile(p, 98, axis=0)
    scaled = (p - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.clip(np.round(1 + 254 * scaled), 1, 255).astype(np.uint8)


def _fill_median(stack: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Nodata pixels of each band set to the band's valid median, as the dataset does."""
    out = np.array(stack, dtype=np.float32, copy=True)
    if nodata.any():
        for band in out:
            band[nodata] = np.median(band[~nodata]) if (~nodata).any() else 0.0
    return out


class BlockTiles(torch.utils.data.Dataset):
    """The tiles of a ``PairedRasterDataset`` read a ``block``-pixel square at a time: same items, faster.

    Reading tile by tile decompresses a GeoTIFF block per tile; a copy of the dataset reads bigger windows
    (so scaling, units and nodata rules stay the dataset's). Tiles crossing a block edge are read one by one.
    """

    def __init__(self, dataset: Any, block: int = 256) -> None:
        self.ds = dataset
        side = min(max(block // dataset.stride, 1) * dataset.stride, dataset.height, dataset.width)
        self.block = max(side, dataset.size)
        self._reader = None
        if dataset.size < self.block <= min(dataset.height, dataset.width):
            self._reader = copy.copy(dataset)  # same files, checks and options; bigger windows
            self._reader.size, self._reader.transform = self.block, None
        self._cached: tuple[tuple[int, int], dict] | None = None

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from xmodal_lab.data.io import geo_fields

        row, col = self.ds.windows[index]
        t, b = self.ds.size, self.block
        r0, c0 = (row // b) * b, (col // b) * b
        inside = row + t <= r0 + b and col + t <= c0 + b
        if self._reader is None or not inside or r0 + b > self.ds.height or c0 + b > self.ds.width:
            return self.ds[index]
        if self._cached is None or self._cached[0] != (r0, c0):
            self._reader.windows = [(r0, c0)]
            self._cached = ((r0, c0), self._reader.load(0))
        block = self._cached[1]
        rows, cols = Window(col - c0, row - r0, t, t).toslices()
        nodata = block["nodata_mask"][rows, cols].numpy()
        tile_transform = Affine(*tuple(self.ds.grid_transform)[:6]) @ Affine.translation(col, row)
        item = {
            "s1": torch.from_numpy(_fill_median(block["s1"][:, rows, cols].numpy(), nodata)),
            "s2": torch.from_numpy(_fill_median(block["s2"][:, rows, cols].numpy(), nodata)),
            **geo_fields(self.ds.crs, tuple(tile_transform)[:6], t, t),
            "date": self.ds.date,
            "nodata_mask": torch.from_numpy(nodata.copy()),
            "window": (row, col),
        }
        return self.ds.transform(item) if self.ds.transform is not None else item


def write_cog(
    array: np.ndarray,
    out_path: str | Path,
    crs: str,
    transform: tuple[float, ...],
    nodata: float | None,
    descriptions: list[str],
    tags: dict[str, str],
) -> Path:
    """Write bands ``[K, H, W]`` to a new Cloud-Optimised GeoTIFF with overviews, then read it back.

    Raises:
        FileExistsError: the file exists (it is never overwritten).
        OSError: the written file does not hold what was meant.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.crs import CRS
    from rasterio.io import MemoryFile

    path = check_new(out_path, "GeoTIFF", (".tif", ".tiff"))
    k, h, w = array.shape
    profile = {"driver": "GTiff", "width": w, "height": h, "count": k, "dtype": array.dtype, "crs": crs,
               "transform": Affine(*transform), "nodata": nodata}  # fmt: skip
    is_float = np.issubdtype(array.dtype, np.floating)

    def write(tmp: Path) -> None:
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(array)
                dst.descriptions = tuple(descriptions)
                dst.update_tags(**tags)
            with mem.open() as src:
                rasterio.shutil.copy(
                    src, tmp, driver="COG", compress="DEFLATE", overviews="AUTO",
                    blocksize=16 if max(h, w) <= 256 else 256,  # small grids still get overview levels
                    resampling="AVERAGE" if is_float else "NEAREST",
                )  # fmt: skip

    def reads_back(tmp: Path) -> bool:
        with rasterio.open(tmp) as chk:
            return (
                (chk.count, chk.height, chk.width) == (k, h, w)
                and chk.crs == CRS.from_user_input(crs)
                and chk.transform.almost_equals(Affine(*transform), precision=1e-9)
                and np.array_equal(chk.read(), array, equal_nan=is_float)
            )

    return publish(path, write, "GeoTIFF", check=reads_back)


def _raster_bands(tiles: TileEmbeddings, modality: str, pca: int | None) -> tuple[np.ndarray, list[str], Any]:
    """``([K, rows, cols] array, band names, nodata)`` to write."""
    vectors = tiles.vectors[modality]
    if pca is None:
        names = [f"{modality}_{i}" for i in range(vectors.shape[1])]
        return tiles.to_grid(vectors).astype(np.float32), names, np.nan
    if pca == 3:
        rgb = tiles.to_grid(pca_rgb(vectors), fill=0).astype(np.uint8)
        return rgb, ["red (PC1)", "green (PC2)", "blue (PC3)"], 0
    names = [f"{modality}_pc{i + 1}" for i in range(pca)]
    return tiles.to_grid(pca_project(vectors, pca)).astype(np.float32), names, np.nan


def embed_raster(
    model: torch.nn.Module,
    s1_path: str | Path,
    s2_path: str | Path,
    out_path: str | Path | None,
    tile: int = 32,
    stride: int | None = None,
    modality: str = "s2",
    pca: int | None = None,
    batch_size: int = 64,
    max_nodata: float = 0.1,
    device: str | torch.device | None = None,
    progress: bool = True,
    **dataset_kwargs: Any,
) -> TileEmbeddings:
    """Embed every tile of a co-registered S1/S2 GeoTIFF pair and write an embedding GeoTIFF (COG).

    The output has the optical grid, one pixel per ``stride`` (default ``tile``) optical pixels; tiles with
    more than ``max_nodata`` nodata are dropped. ``modality`` picks the embedding written (all are kept in
    the result); ``pca`` None writes one band per dimension, 3 an RGB picture of the first principal
    components, ``k`` the first ``k`` scores. ``out_path`` None only embeds; ``dataset_kwargs`` go to
    ``PairedRasterDataset``.
    """
    from xmodal_lab.data.rasters import PairedRasterDataset

    if modality not in RASTER_MODALITIES:
        raise ValueError(f"modality: expected one of {RASTER_MODALITIES}, got {modality!r}")
    if pca is not None and (isinstance(pca, bool) or not isinstance(pca, int) or pca < 1):
        raise ValueError(f"pca: expected None or a positive number of components (3 for RGB), got {pca!r}")
    if out_path is not None:
        out_path = check_new(out_path, "GeoTIFF", (".tif", ".tiff"))
    multiple = int(getattr(model, "input_multiple", 1))
    if tile % multiple:
        raise ValueError(f"tile: {tile} px is not a multiple of the model's patch size ({multiple} px)")
    stride = tile if stride is None else int(stride)
    ds = PairedRasterDataset(
        s1_path, s2_path, size=tile, stride=stride, max_nodata=max_nodata, **dataset_kwargs
    )
    batches = embed_batches(model, BlockTiles(ds), batch_size, device, progress=progress)
    vectors = concat_rows(emb for emb, _ in batches)
    if modality not in vectors:
        raise ValueError(f"modality {modality!r}: {type(model).__name__}.embed gives only {sorted(vectors)}")
    if pca is not None and pca > min(vectors[modality].shape):
        raise ValueError(f"pca: {pca} components need at least {pca} tiles and dimensions")
    windows = np.asarray(ds.windows, dtype=np.int64).reshape(-1, 2)
    epsg = ds.crs.to_epsg()
    tiles = TileEmbeddings(
        vectors=vectors,
        cells=windows // stride,
        windows=windows,
        grid_shape=((ds.height - tile) // stride + 1, (ds.width - tile) // stride + 1),
        grid_transform=grid_transform(ds.grid_transform, tile, stride),
        source_transform=tuple(float(v) for v in tuple(ds.grid_transform)[:6]),
        source_shape=(ds.height, ds.width),
        crs=f"EPSG:{epsg}" if epsg else ds.crs.to_string(),
        tile=tile,
        stride=stride,
        s1_path=Path(s1_path),
        s2_path=Path(s2_path),
        modality=modality,
    )
    if out_path is not None:
        array, names, nodata = _raster_bands(tiles, modality, pca)
        tags = {
            "source": "xmodal_lab.eval.embed_raster",
            "model": str(getattr(model, "name", type(model).__name__)),
            "modality": modality,
            "tile": str(tile),
            "stride": str(stride),
            "pca": str(pca),
            "s1_file": Path(s1_path).name,
            "s2_file": Path(s2_path).name,
            "pixel": "one tile, centred on the tile",
        }
        tiles.path = write_cog(array, out_path, tiles.crs, tiles.grid_transform, nodata, names, tags)
    return tiles


def embeddings_to_geoparquet(tiles: TileEmbeddings, out_path: str | Path) -> Path:
    """Write tile footprints (polygons in the raster's CRS) and their vectors to a new ``.parquet`` file."""
    import geopandas as gpd
    from shapely.geometry import box

    path = check_new(out_path, "GeoParquet", (".parquet", ".geoparquet"))
    columns: dict[str, Any] = {
        "tile": np.arange(len(tiles)),
        "row": tiles.cells[:, 0],
        "col": tiles.cells[:, 1],
        "window_row": tiles.windows[:, 0],
        "window_col": tiles.windows[:, 1],
    }
    for m, vectors in tiles.vectors.items():
        columns[f"embedding_{m}"] = [row.astype(np.float32) for row in vectors]
    geometry = [box(*tiles.footprint(i)) for i in range(len(tiles))]
    frame = gpd.GeoDataFrame(columns, geometry=geometry, crs=tiles.crs)

    def reads_back(tmp: Path) -> bool:
        back = gpd.read_parquet(tmp)
        return len(back) == len(frame) and back.crs == frame.crs

    return publish(path, frame.to_parquet, "GeoParquet", check=reads_back)
