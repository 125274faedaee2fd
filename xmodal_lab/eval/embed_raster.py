"""Embed a co-registered GeoTIFF pair tile by tile and write the embeddings for GIS tools.

The output raster has one pixel per tile on the optical raster's CRS; outputs are never overwritten.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from affine import Affine
from rasterio.transform import xy
from rasterio.windows import Window

from xmodal_lab.config import requested_device
from xmodal_lab.data.io import check_whole, open_raster
from xmodal_lab.errors import InputTypeError
from xmodal_lab.files import check_new, publish

from .embeddings import CONTEXT, concat_rows, embed_batches, embed_each

#: Rows x columns of pixels read at a time, rounded up to the optical file's blocks.
CHUNK = (256, 1024)
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


def tile_geo_fields(dataset: Any) -> list[dict[str, Any]]:
    """``geo_fields`` of every tile of a ``PairedRasterDataset`` at once, with the same arithmetic.

    Tile by tile, ``Affine(grid) @ Affine.translation(col, row)`` term by term as the affine package computes
    it, the centre with rasterio's ``xy`` product, then one pyproj call for all centres.
    """
    from xmodal_lab.data.geo import transformer

    a, b, c, d, e, f = (float(v) for v in tuple(dataset.grid_transform)[:6])
    rows, cols = np.asarray(dataset.windows, dtype=np.float64).reshape(-1, 2).T
    ones = np.ones_like(rows)
    tiles = np.stack([ones * (a * 1.0 + b * 0.0), ones * (a * 0.0 + b * 1.0), a * cols + b * rows + c,
                      ones * (d * 1.0 + e * 0.0), ones * (d * 0.0 + e * 1.0), d * cols + e * rows + f], axis=1)  # fmt: skip
    half = dataset.size / 2
    centres, matrix, point = np.empty((len(tiles), 2)), np.empty((3, 3)), np.empty((3, 1))
    for i, t in enumerate(tiles):  # rasterio.transform.xy(affine, half, half, offset="ul")
        matrix.flat[:] = (*t, 0.0, 0.0, 1.0)
        point[:, 0] = (half, half, 1.0)
        matrix.dot(point, out=point)
        centres[i] = point[:2, 0]
    epsg = dataset.crs.to_epsg()
    crs = f"EPSG:{epsg}" if epsg else str(dataset.crs)
    lon, lat = transformer(crs, "EPSG:4326").transform(centres[:, 0], centres[:, 1])
    gsd = float(np.hypot(a * 1.0 + b * 0.0, d * 1.0 + e * 0.0))
    return [{"gsd": gsd, "lat": float(y), "lon": float(x), "crs": crs, "transform": tuple(t)}
            for x, y, t in zip(np.atleast_1d(lon).tolist(), np.atleast_1d(lat).tolist(), tiles.tolist())]  # fmt: skip


def tile_windows(
    dataset: Any, rows: int = 256, cols: int | None = None, check: bool = False
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, np.ndarray]]:
    """Yield ``(index, s1, s2, nodata)`` for every tile of a ``PairedRasterDataset``, each chunk decoded once.

    The tiles are the dataset's items (see :func:`~xmodal_lab.data.rasters.tile_tensors`), read in chunks of
    ``rows`` x ``cols`` pixels rounded up to the optical file's blocks (``cols`` None: the full width) and
    converted to the kit's units in a thread while the caller uses the chunk before. Tiles come chunk by chunk
    (in the dataset's order within a chunk); a chunk is dropped after its last tile, so with ``cols`` set
    memory does not grow with the raster's size. ``check``: run the dataset's pixel checks on every chunk
    read (for a dataset made with ``scan="later"``) and skip the tiles with too much nodata.
    """
    from xmodal_lab.data.rasters import tile_tensors

    for index, tile, _ in _tiles(dataset, rows, cols, check):
        yield index, *tile_tensors(tile)


def _tiles(dataset: Any, rows: int, cols: int | None, check: bool) -> Iterator[tuple[int, dict[str, np.ndarray], bool]]:
    """:func:`tile_windows`' tiles as ``(index, {"s1", "s2", "nodata": views of the chunk, or copies}, clean)``.

    ``clean``: the tile's chunks hold no nodata or invalid pixel, so the tile needs no per-pixel look.
    """
    from xmodal_lab.data import rasters

    t, windows = dataset.size, dataset.windows
    with contextlib.ExitStack() as stack:
        s2, s1 = (stack.enter_context(open_raster(p)) for p in (dataset.s2_path, dataset.s1_path))
        grid = stack.enter_context(dataset._open_s1(s1))
        n, m = rasters.strip_rows(s2, rows), rasters.chunk_cols(s2, cols)
        stack.enter_context(rasters.block_cache(s1, s2, n, m))

        def chunks_of(index: int) -> list[tuple[int, int]]:
            row, col = windows[index]
            down, across = range(row // n, (row + t - 1) // n + 1), range(col // m, (col + t - 1) // m + 1)
            return [(a, b) for a in down for b in across]

        order = sorted(range(len(windows)), key=lambda i: (windows[i][0] // n, windows[i][1] // m))
        last: dict[tuple[int, int], int] = {}  # chunk -> its last tile's position; keys in first-need order
        for position, index in enumerate(order):  # (no per-tile list kept: whole scenes have many tiles)
            last.update(dict.fromkeys(chunks_of(index), position))

        checks = rasters.PixelChecks(dataset) if check else None

        def read(key: tuple[int, int]) -> tuple[dict[str, np.ndarray], bool]:
            top, left = key[0] * n, key[1] * m
            raw = dataset.read_raw(grid, s2, Window(left, top, min(m, dataset.width - left), min(n, dataset.height - top)))
            units = dataset.to_units(raw)
            if checks is not None:
                units["invalid"] = checks.add(raw)
            return units, not any(units[k].any() for k in ("nodata", "invalid") if k in units)

        chunks = stack.enter_context(contextlib.closing(rasters.prefetch(read, last)))  # closed before the files
        held: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        clean: dict[tuple[int, int], bool] = {}
        kept = 0
        for position, index in enumerate(order):
            row, col, need = *windows[index], chunks_of(index)
            while any(key not in held for key in need):
                key, (held[key], clean[key]) = next(chunks)
            if len(need) == 1:
                (a, b), = need
                r, c = row - a * n, col - b * m
                tile = {key: v[..., r : r + t, c : c + t] for key, v in held[a, b].items()}
            else:  # a tile across chunk edges, copied together piece by piece
                tile = {key: np.empty((*v.shape[:-2], t, t), v.dtype) for key, v in held[need[0]].items()}
                for a, b in need:
                    r0, r1 = max(row, a * n), min(row + t, (a + 1) * n)
                    c0, c1 = max(col, b * m), min(col + t, (b + 1) * m)
                    for key, v in held[a, b].items():
                        piece = v[..., r0 - a * n : r1 - a * n, c0 - b * m : c1 - b * m]
                        tile[key][..., r0 - row : r1 - row, c0 - col : c1 - col] = piece
            tile_clean = all(clean[key] for key in need)
            for key in need:
                if last[key] == position:
                    del held[key], clean[key]
            if checks is None or tile_clean or dataset.keeps(int(tile["invalid"].sum())):
                kept += 1
                yield index, tile, tile_clean
        if checks is not None:
            if dataset.scan == "later":  # the optical units preview, left to the reader too
                dataset._check_s2_units(s2, dataset._offset_unknown)
            checks.finish()
            if not kept:
                dataset.no_tiles(len(windows))


def tile_batches(
    dataset: Any, batch_size: int, context: tuple[str, ...] = (), rows: int = CHUNK[0], cols: int | None = CHUNK[1],
    check: bool = False, order: list[int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Batches of :class:`BlockTiles`' items as ``collate_pairs`` makes them, copied straight from each chunk.

    Only what ``embed`` reads: ``s1 [B, 2, t, t]``, ``s2 [B, C, t, t]``, ``gsd [B]`` and the ``context`` keys
    (``date``, ``lat``, ``lon``); no per-tile dicts. ``order`` collects the dataset index of each tile.
    """
    from xmodal_lab.data.rasters import _fill

    geo = tile_geo_fields(dataset) if {"lat", "lon"} & set(context) else None
    a, _, _, d = (float(v) for v in tuple(dataset.grid_transform)[:4])
    gsd = float(np.hypot(a, d))
    t, channels = dataset.size, len(dataset._s2_bands)
    tiles = _tiles(dataset, rows, cols, check)
    while True:
        s1, s2 = np.empty((batch_size, 2, t, t), np.float32), np.empty((batch_size, channels, t, t), np.float32)
        indices = []
        for i, (index, tile, clean) in zip(range(batch_size), tiles):
            nodata = tile["nodata"]
            missing = not clean and nodata.any()
            s1[i] = _fill(tile["s1"], nodata) if missing else tile["s1"]
            s2[i] = _fill(tile["s2"], nodata) if missing else tile["s2"]
            indices.append(index)
        if not indices:
            return
        n = len(indices)
        batch = {"s1": torch.from_numpy(s1[:n]), "s2": torch.from_numpy(s2[:n]),
                 "gsd": torch.full((n,), gsd, dtype=torch.float32)}  # fmt: skip
        if "date" in context:
            batch["date"] = [dataset.date] * n
        if geo is not None:
            for key in ("lat", "lon"):
                batch[key] = torch.tensor([geo[i][key] for i in indices], dtype=torch.float64)
        if order is not None:
            order.extend(indices)
        yield batch


class BlockTiles(torch.utils.data.IterableDataset):
    """The items of a ``PairedRasterDataset`` read by :func:`tile_windows`: the same items, faster.

    Items come chunk by chunk (``rows`` x ``cols`` pixels); ``order`` lists the dataset index of each item
    yielded (``check``: see :func:`tile_windows`). Scaling, units, nodata masks and median fills follow the
    dataset's rules; the grid fields of all tiles are computed at once.
    """

    def __init__(self, dataset: Any, rows: int = CHUNK[0], cols: int | None = CHUNK[1], check: bool = False) -> None:
        self.ds, self.rows, self.cols, self.check = dataset, rows, cols, check
        self.order: list[int] = []

    def __len__(self) -> int:
        return len(self.ds)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        ds, geo = self.ds, tile_geo_fields(self.ds)
        self.order.clear()
        for index, s1, s2, nodata in tile_windows(ds, self.rows, self.cols, self.check):
            item = {
                "s1": s1,
                "s2": s2,
                **geo[index],
                "date": ds.date,
                "nodata_mask": torch.from_numpy(nodata),
                "window": tuple(ds.windows[index]),
            }
            self.order.append(index)
            yield ds.transform(item) if ds.transform is not None else item


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
                    blocksize=min(256, max(16, -(-max(h, w) // 32) * 16)),  # half the grid: one overview level or more
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
    if pca == 3:
        rgb = tiles.to_grid(pca_rgb(vectors), fill=0).astype(np.uint8)
        return rgb, ["red (PC1)", "green (PC2)", "blue (PC3)"], 0
    names = [f"{modality}_{i}" for i in range(vectors.shape[1])]
    if pca is not None:
        names, vectors = [f"{modality}_pc{i + 1}" for i in range(pca)], pca_project(vectors, pca)
    return tiles.to_grid(vectors).astype(np.float32), names, np.nan


@contextlib.contextmanager
def _core_for_reader(model: torch.nn.Module, device: Any) -> Iterator[None]:
    """On the CPU, one core fewer for the model while a thread reads: the two do not wait on each other."""
    threads = torch.get_num_threads()
    cpu = (requested_device(device) if device is not None else next(model.parameters()).device).type == "cpu"
    torch.set_num_threads(max(1, threads - 1) if cpu else threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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
    from xmodal_lab.data.rasters import PairedRasterDataset, background
    from xmodal_lab.models.validation import checked_upstream

    if modality not in RASTER_MODALITIES:
        raise ValueError(f"modality: expected one of {RASTER_MODALITIES}, got {modality!r}")
    if pca is not None and (isinstance(pca, bool) or not isinstance(pca, int) or pca < 1):
        raise ValueError(f"pca: expected None or a positive number of components (3 for RGB), got {pca!r}")
    if out_path is not None:
        out_path = check_new(out_path, "GeoTIFF", (".tif", ".tiff"))
    for name, value in (("tile", tile), ("stride", stride)):
        if value is not None and not (check_whole(value, name) >= 1):
            raise InputTypeError(f"{name}: expected a positive whole number of pixels, got {value!r}; pass e.g. 64")
    multiple = int(getattr(model, "input_multiple", 1))
    if tile % multiple:
        raise ValueError(f"tile: {tile} px is not a multiple of the model's patch size ({multiple} px)")
    stride = tile if stride is None else stride
    # one read of the pair checks its pixels, drops the tiles with too much nodata and embeds the others
    ds = PairedRasterDataset(s1_path, s2_path, size=tile, stride=stride, max_nodata=max_nodata, scan="later",
                             **dataset_kwargs)  # fmt: skip
    if ds.transform is not None:  # items go through the dataset's transform one by one
        reader = BlockTiles(ds, *CHUNK, check=True)
        order, batches = reader.order, embed_batches(model, reader, batch_size, device, progress=progress)
        vectors = concat_rows((emb for emb, _ in batches), len(ds), order)  # in the dataset's order
    else:  # batches cut from each chunk in a thread; it checks every pixel, so the model need not again
        context = tuple(key for key in CONTEXT if key in inspect.signature(model.embed).parameters)
        order = []
        reader = background(tile_batches(ds, batch_size, context, *CHUNK, check=True, order=order))
        with checked_upstream(), _core_for_reader(model, device):
            batches = embed_each(model, reader, device, progress=progress, total=-(-len(ds) // batch_size))
            vectors = concat_rows((emb for emb, _ in batches), len(ds), order)  # read chunk by chunk
    if len(order) < len(ds.windows):  # tiles dropped for nodata (order: every tile read, once)
        ds.windows = [ds.windows[i] for i in sorted(order)]
    if modality not in vectors:
        raise ValueError(f"modality {modality!r}: {type(model).__name__}.embed gives only {sorted(vectors)}")
    if pca is not None and pca > min(vectors[modality].shape):
        raise ValueError(f"pca: {pca} components need at least {pca} tiles and dimensions")
    windows, epsg = np.asarray(ds.windows, dtype=np.int64).reshape(-1, 2), ds.crs.to_epsg()
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
