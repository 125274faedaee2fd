"""Embed a whole co-registered GeoTIFF pair tile by tile, and write the embeddings for GIS tools.

``embed_raster(model, s1_path, s2_path, out_path)`` cuts the pair into tiles with
:class:`~xmodal_lab.data.rasters.PairedRasterDataset`, embeds them in batches with ``model.embed`` (a
progress bar shows how far it got) and writes a Cloud-Optimised GeoTIFF: one pixel per tile, one band per
embedding dimension (or principal components, or a ``pca=3`` RGB picture), on the optical raster's grid
(same CRS; the tile grid's affine is the optical affine scaled by the stride and shifted so that each pixel
is centred on its tile). Tiles the dataset dropped (too much nodata) are nodata. The returned
:class:`TileEmbeddings` keeps every modality's vectors for the map queries of :mod:`xmodal_lab.eval.tile_query`;
:func:`embeddings_to_geoparquet` writes them as tile polygons with their vectors (GeoParquet).

Input files are only read; output files are never overwritten, and each is read back before it is reported.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Embedding keys a model may return (``embed(s1=, s2=)``): radar, optical, and both together.
RASTER_MODALITIES = ("s1", "s2", "joint")


@dataclass
class TileEmbeddings:
    """Embeddings of the tiles of one raster pair, and where each tile lies.

    Attributes:
        vectors: ``{modality: [N, D]}`` float32, one row per kept tile (``"s1"``, ``"s2"``, ``"joint"`` as the
            model gives them).
        cells: ``[N, 2]`` ``(row, col)`` of each tile in the tile grid.
        windows: ``[N, 2]`` ``(row, col)`` of each tile's top-left pixel in the optical raster.
        grid_shape: ``(rows, cols)`` of the tile grid.
        grid_transform: affine ``(a, b, c, d, e, f)`` of the tile grid (one pixel per tile, centred on it).
        source_transform: affine of the optical raster.
        source_shape: ``(H, W)`` of the optical raster.
        crs: CRS of both (``"EPSG:32629"``).
        tile: tile side in optical pixels.
        stride: step between tiles in optical pixels.
        s1_path: the radar file.
        s2_path: the optical file.
        path: the embedding GeoTIFF written, if any.
        modality: the modality written to ``path``.
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
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def valid(self) -> np.ndarray:
        """``[rows, cols]`` bool: grid cells that hold a tile."""
        out = np.zeros(self.grid_shape, dtype=bool)
        out[self.cells[:, 0], self.cells[:, 1]] = True
        return out

    def to_grid(self, values: Any, fill: float = np.nan) -> np.ndarray:
        """Place one value (``[N]``) or vector (``[N, K]``) per tile on the tile grid.

        Args:
            values: ``[N]`` or ``[N, K]``.
            fill: value of the cells without a tile.

        Returns:
            ``[rows, cols]`` or ``[K, rows, cols]`` float (``fill`` where a tile was dropped).
        """
        v = np.asarray(values, dtype=np.float64)
        if v.shape[0] != len(self):
            raise ValueError(f"values: expected one row per tile ({len(self)}), got shape {v.shape}")
        rows, cols = self.cells[:, 0], self.cells[:, 1]
        if v.ndim == 1:
            out = np.full(self.grid_shape, fill, dtype=np.float64)
            out[rows, cols] = v
            return out
        out = np.full((v.shape[1], *self.grid_shape), fill, dtype=np.float64)
        out[:, rows, cols] = v.T
        return out

    def footprint(self, index: int) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of tile ``index`` in the CRS (north-up rasters)."""
        a, b, c, d, e, f = self.source_transform
        r, col = (int(v) for v in self.windows[index])
        xs = [a * cc + b * rr + c for cc, rr in ((col, r), (col + self.tile, r + self.tile))]
        ys = [d * cc + e * rr + f for cc, rr in ((col, r), (col + self.tile, r + self.tile))]
        return min(xs), min(ys), max(xs), max(ys)

    def index_of_cell(self, row: int, col: int) -> int | None:
        """The tile at grid cell ``(row, col)``, or None when the cell holds none."""
        hit = np.flatnonzero((self.cells[:, 0] == row) & (self.cells[:, 1] == col))
        return int(hit[0]) if hit.size else None


def _check_out_path(out_path: str | Path, suffixes: tuple[str, ...], what: str) -> Path:
    path = Path(out_path)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: expected a {what} file name ending in {' or '.join(suffixes)}")
    if path.exists():
        raise FileExistsError(f"{path}: exists; refusing to overwrite it (choose another name or delete it)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: output folder does not exist")
    return path


def _publish(tmp: Path, path: Path) -> None:
    """Move a verified temporary file to ``path``, failing (not overwriting) if ``path`` appeared meanwhile."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # temporary files are private; the result gets the usual permissions
    try:
        os.link(tmp, path)  # fails if path exists
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise FileExistsError(f"{path}: appeared while writing; refusing to overwrite it") from None
    except OSError:  # no hard links on this file system
        if path.exists():
            tmp.unlink(missing_ok=True)
            raise FileExistsError(f"{path}: appeared while writing; refusing to overwrite it") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _write_published(
    path: Path,
    suffix: str,
    write: Callable[[Path], None],
    reads_back: Callable[[Path], bool],
    what: str,
    driver_creates: bool = False,
) -> Path:
    """Write through a temporary file beside ``path``, read it back, then :func:`_publish` it as ``path``.

    ``write(tmp)`` writes the file, ``reads_back(tmp)`` says whether it holds what was meant (else
    ``OSError`` names ``what``); ``driver_creates`` removes the empty temporary file first, for writers
    that create the file themselves. The temporary file never outlives the call.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    if driver_creates:
        tmp.unlink()
    try:
        write(tmp)
        if not reads_back(tmp):
            raise OSError(f"{path}: the written {what} does not read back as written")
        _publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def grid_transform(transform: Any, tile: int, stride: int) -> tuple[float, ...]:
    """Affine of the tile grid: one pixel per tile, ``stride`` optical pixels wide, centred on its tile.

    Args:
        transform: the optical raster's affine (``affine.Affine`` or 6 numbers ``a, b, c, d, e, f``).
        tile: tile side in optical pixels.
        stride: step between tiles in optical pixels.

    Returns:
        ``(a, b, c, d, e, f)`` of the grid: the source affine composed with a shift by
        ``off = (tile - stride) / 2`` pixels and a scaling by ``stride``.
    """
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    off = (tile - stride) / 2.0
    return (a * stride, b * stride, c + (a + b) * off, d * stride, e * stride, f + (d + e) * off)


def pca_project(x: Any, k: int) -> np.ndarray:
    """Scores of the first ``k`` principal components (sign fixed so the largest loading is positive).

    Args:
        x: ``[N, D]``.
        k: components, ``1 <= k <= min(N, D)``.

    Returns:
        ``[N, k]`` float64.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or not 1 <= k <= min(a.shape):
        raise ValueError(f"pca: expected 1 <= k <= min(N, D) for embeddings {a.shape}, got k={k}")
    centred = a - a.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
    return centred @ (comps * signs[:, None]).T


def pca_rgb(x: Any) -> np.ndarray:
    """The first three principal components as 8-bit colours (2-98 % stretch per component; 1..255).

    Args:
        x: ``[N, D]`` embeddings.

    Returns:
        ``[N, 3]`` uint8, never 0 (0 is the raster's nodata).
    """
    p = pca_project(x, 3)
    lo, hi = np.percentile(p, 2, axis=0), np.percentile(p, 98, axis=0)
    scaled = (p - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.clip(np.round(1 + 254 * scaled), 1, 255).astype(np.uint8)


class BlockTiles(torch.utils.data.Dataset):
    """The tiles of a :class:`PairedRasterDataset`, read block by block: the same items, much faster.

    ``PairedRasterDataset`` opens the files and decompresses a whole GeoTIFF block for every tile; on a
    tiled, compressed pair that is most of the time ``embed_raster`` takes. This view reads square blocks
    of ``block`` pixels once (through the dataset itself, so scaling, units, reprojection and nodata rules
    are the dataset's), cuts the tiles out of them and fills each tile's nodata pixels with its own per-band
    median, as the dataset does. Tiles that cross a block edge are read one by one.

    Args:
        dataset: the tiles to read.
        block: block side in pixels (rounded down to a multiple of the stride; at most the raster's size).
    """

    def __init__(self, dataset: Any, block: int = 256) -> None:
        from xmodal_lab.data.rasters import PairedRasterDataset

        self.ds = dataset
        t, step = dataset.size, dataset.stride
        side = min(max(block // step, 1) * step, dataset.height, dataset.width)
        self.block = max(side, t)
        self._blocks = None
        if self.block > t and self.block <= min(dataset.height, dataset.width):
            self._blocks = PairedRasterDataset.__new__(PairedRasterDataset)
            self._blocks.__dict__.update(dataset.__dict__)  # same files, checks and options; bigger windows
            self._blocks.size, self._blocks.transform = self.block, None
        self._cache: tuple[tuple[int, int], dict] | None = None

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row, col = self.ds.windows[index]
        t, b = self.ds.size, self.block
        r0, c0 = (row // b) * b, (col // b) * b
        inside = (
            self._blocks is not None and row + t <= r0 + b and col + t <= c0 + b
            and r0 + b <= self.ds.height and c0 + b <= self.ds.width
        )  # fmt: skip
        if not inside:
            return self.ds[index]
        if self._cache is None or self._cache[0] != (r0, c0):
            self._blocks.windows = [(r0, c0)]
            self._cache = ((r0, c0), self._blocks.load(0))
        big = self._cache[1]
        rs, cs = slice(row - r0, row - r0 + t), slice(col - c0, col - c0 + t)
        nodata = big["nodata_mask"][rs, cs].numpy()
        item = {
            "s1": torch.from_numpy(_refill(big["s1"][:, rs, cs].numpy(), nodata)),
            "s2": torch.from_numpy(_refill(big["s2"][:, rs, cs].numpy(), nodata)),
            **_tile_geo(self.ds, row, col),
            "date": self.ds.date,
            "nodata_mask": torch.from_numpy(nodata.copy()),
            "window": (row, col),
        }
        return self.ds.transform(item) if self.ds.transform is not None else item


def _refill(stack: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Nodata pixels of each band set to the band's median over the tile's valid pixels (as the dataset)."""
    out = np.array(stack, dtype=np.float32, copy=True)
    if nodata.any():
        valid = ~nodata
        for band in out:
            band[nodata] = np.median(band[valid]) if valid.any() else 0.0
    return out


def _tile_geo(ds: Any, row: int, col: int) -> dict[str, Any]:
    from xmodal_lab.data.io import geo_fields, window_transform

    return geo_fields(ds.crs, window_transform(tuple(ds.grid_transform)[:6], row, col), ds.size, ds.size)


@torch.no_grad()
def embed_tiles(
    model: torch.nn.Module,
    dataset: Any,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Embed every tile of a :class:`PairedRasterDataset` with both modalities, in batches.

    Args:
        model: a model with ``embed(s1=, s2=, gsd=) -> {key: [B, D]}``.
        dataset: the tiles.
        batch_size: tiles per forward pass.
        device: where to run (default: the model's device).
        progress: show a progress bar (tqdm).

    Returns:
        ``{key: [N, D]}`` float32 for every key the model returns.
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from xmodal_lab.data import collate_pairs
    from xmodal_lab.eval.embeddings import CONTEXT

    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive number of tiles, got {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    accepted = inspect.signature(model.embed).parameters
    context = [k for k in CONTEXT if k in accepted]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_pairs)
    was_training = model.training
    model.eval()
    out: dict[str, list[np.ndarray]] = {}
    try:
        for batch in tqdm(loader, desc="embedding tiles", unit="batch", disable=not progress):
            gsd = batch.get("gsd")
            emb = model.embed(
                s1=batch["s1"].to(device),
                s2=batch["s2"].to(device),
                gsd=gsd.to(device) if isinstance(gsd, torch.Tensor) else gsd,
                **{k: batch[k] for k in context if k in batch},
            )
            for key, value in emb.items():
                if isinstance(value, torch.Tensor) and value.ndim == 2:
                    out.setdefault(key, []).append(value.float().cpu().numpy())
    finally:
        model.train(was_training)
    if not out:
        raise ValueError(f"{type(model).__name__}.embed returned no [B, D] tensor")
    return {k: np.concatenate(v) for k, v in out.items()}


def _raster_bands(tiles: TileEmbeddings, modality: str, pca: int | None) -> tuple[np.ndarray, list[str], Any]:
    """``([K, rows, cols] array, band names, nodata)`` to write."""
    vec = tiles.vectors[modality]
    if pca is None:
        return tiles.to_grid(vec).astype(np.float32), [f"{modality}_{i}" for i in range(vec.shape[1])], np.nan
    if pca == 3:
        rgb = tiles.to_grid(pca_rgb(vec), fill=0).astype(np.uint8)
        return rgb, ["red (PC1)", "green (PC2)", "blue (PC3)"], 0
    scores = pca_project(vec, pca)
    return tiles.to_grid(scores).astype(np.float32), [f"{modality}_pc{i + 1}" for i in range(pca)], np.nan


def write_cog(
    array: np.ndarray,
    out_path: str | Path,
    crs: str,
    transform: tuple[float, ...],
    nodata: float | None,
    descriptions: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write ``[K, H, W]`` as a Cloud-Optimised GeoTIFF (tiled, deflate, overviews), then verify it.

    Args:
        array: the bands.
        out_path: a ``.tif`` path that does not exist yet.
        crs: the CRS.
        transform: the affine ``(a, b, c, d, e, f)``.
        nodata: the nodata value (``nan`` for float bands).
        descriptions: one name per band.
        tags: dataset tags.

    Returns:
        The path, after reading the file back and comparing shape, CRS, transform and values.

    Raises:
        FileExistsError: the file exists (it is never overwritten).
        OSError: the written file does not hold what was meant.
    """
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.io import MemoryFile

    path = _check_out_path(out_path, (".tif", ".tiff"), "GeoTIFF")
    k, h, w = array.shape
    block = 16 if max(h, w) <= 256 else 256  # small tile grids still get a few overview levels
    profile = dict(driver="GTiff", width=w, height=h, count=k, dtype=array.dtype, crs=crs,
                   transform=Affine(*transform), nodata=nodata)  # fmt: skip

    def write(tmp: Path) -> None:
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(array)
                if descriptions:
                    dst.descriptions = tuple(descriptions)
                dst.update_tags(**(tags or {}))
            with mem.open() as src:
                resampling = "NEAREST" if np.issubdtype(array.dtype, np.integer) else "AVERAGE"
                rasterio.shutil.copy(src, tmp, driver="COG", compress="DEFLATE", blocksize=block,
                                     overviews="AUTO", resampling=resampling)  # fmt: skip

    def reads_back(tmp: Path) -> bool:
        with rasterio.open(tmp) as chk:
            back = chk.read()
            return (
                (chk.count, chk.height, chk.width) == (k, h, w)
                and chk.crs == rasterio.crs.CRS.from_user_input(crs)
                and chk.transform.almost_equals(Affine(*transform), precision=1e-9)
                and np.array_equal(back, array, equal_nan=np.issubdtype(array.dtype, np.floating))
            )

    return _write_published(path, ".tif", write, reads_back, "GeoTIFF")


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

    Args:
        model: any model of the kit (``embed(s1=, s2=, gsd=)``); run in eval mode without gradients.
        s1_path: Sentinel-1 GeoTIFF (VV, VH).
        s2_path: Sentinel-2 GeoTIFF (12 or 13 bands); its grid is the output's grid.
        out_path: the ``.tif`` to write (must not exist), or None to only embed.
        tile: tile side in optical pixels (a multiple of the model's patch size).
        stride: step between tiles (default ``tile``); the output has one pixel per step.
        modality: which embedding to write: ``"s1"`` (radar), ``"s2"`` (optical) or ``"joint"`` (models
            with a joint embedding, e.g. CROMA). All of them are kept in the result.
        pca: None: one float32 band per embedding dimension; ``3``: an RGB picture (uint8, nodata 0) of the
            first three principal components over the raster's tiles; another integer ``k``: the first ``k``
            principal-component scores (float32).
        batch_size: tiles per forward pass.
        max_nodata: tiles with a larger nodata fraction are dropped (nodata in the output).
        device: where to run (default: the model's device).
        progress: show a progress bar.
        **dataset_kwargs: passed to :class:`~xmodal_lab.data.rasters.PairedRasterDataset` (``s1_units``,
            ``s2_scale``, ``reproject`` ...).

    Returns:
        :class:`TileEmbeddings` (``path`` set when a file was written).

    Raises:
        FileExistsError: ``out_path`` exists.
        ValueError: an unknown modality, one the model does not give, a bad ``pca``, or a bad tiling.
    """
    from xmodal_lab.data.rasters import PairedRasterDataset

    if modality not in RASTER_MODALITIES:
        raise ValueError(f"modality: expected one of {RASTER_MODALITIES}, got {modality!r}")
    if pca is not None and (isinstance(pca, bool) or not isinstance(pca, int) or pca < 1):
        raise ValueError(f"pca: expected None or a positive number of components (3 for RGB), got {pca!r}")
    if out_path is not None:
        out_path = _check_out_path(out_path, (".tif", ".tiff"), "GeoTIFF")
    multiple = int(getattr(model, "input_multiple", 1))
    if tile % multiple:
        raise ValueError(f"tile: {tile} px is not a multiple of the model's patch size ({multiple} px)")
    stride = tile if stride is None else int(stride)
    ds = PairedRasterDataset(s1_path, s2_path, size=tile, stride=stride, max_nodata=max_nodata,
                             **dataset_kwargs)  # fmt: skip
    vectors = embed_tiles(model, BlockTiles(ds), batch_size=batch_size, device=device, progress=progress)
    if modality not in vectors:
        raise ValueError(f"modality {modality!r}: {type(model).__name__}.embed gives only {sorted(vectors)}")
    windows = np.asarray(ds.windows, dtype=np.int64).reshape(-1, 2)
    rows, cols = (ds.height - tile) // stride + 1, (ds.width - tile) // stride + 1
    epsg = ds.crs.to_epsg()
    tiles = TileEmbeddings(
        vectors=vectors,
        cells=windows // stride,
        windows=windows,
        grid_shape=(rows, cols),
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
    if pca is not None and not pca <= min(vectors[modality].shape):
        raise ValueError(f"pca: {pca} components need at least {pca} tiles and dimensions")
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


def embeddings_to_geoparquet(
    tiles: TileEmbeddings, out_path: str | Path, modalities: tuple[str, ...] | None = None
) -> Path:
    """Write tile footprints (polygons in the raster's CRS) with their embedding vectors as GeoParquet.

    Columns: ``tile`` (index), ``row``, ``col`` (tile grid), ``window_row``, ``window_col`` (optical pixel
    of the top-left corner), ``embedding_<modality>`` (list of floats) for each modality, and ``geometry``.

    Args:
        tiles: from :func:`embed_raster`.
        out_path: a ``.parquet`` path that does not exist yet.
        modalities: which vectors to store (default: all of them).

    Returns:
        The path, after reading the file back (row count and CRS).

    Raises:
        FileExistsError: the file exists.
        ValueError: an unknown modality.
    """
    import geopandas as gpd
    from shapely.geometry import box

    path = _check_out_path(out_path, (".parquet", ".geoparquet"), "GeoParquet")
    modalities = tuple(tiles.vectors) if modalities is None else tuple(modalities)
    unknown = [m for m in modalities if m not in tiles.vectors]
    if unknown:
        raise ValueError(f"modalities: {unknown} not among the embedded {sorted(tiles.vectors)}")
    columns: dict[str, Any] = {
        "tile": np.arange(len(tiles)),
        "row": tiles.cells[:, 0],
        "col": tiles.cells[:, 1],
        "window_row": tiles.windows[:, 0],
        "window_col": tiles.windows[:, 1],
    }
    for m in modalities:
        columns[f"embedding_{m}"] = [row.astype(np.float32) for row in tiles.vectors[m]]
    geometry = [box(*tiles.footprint(i)) for i in range(len(tiles))]
    frame = gpd.GeoDataFrame(columns, geometry=geometry, crs=tiles.crs)

    def reads_back(tmp: Path) -> bool:
        back = gpd.read_parquet(tmp)
        return len(back) == len(frame) and back.crs == frame.crs

    return _write_published(path, ".parquet", frame.to_parquet, reads_back, "GeoParquet")


__all__ = [
    "RASTER_MODALITIES",
    "TileEmbeddings",
    "embed_raster",
    "embed_tiles",
    "embeddings_to_geoparquet",
    "grid_transform",
    "pca_project",
    "pca_rgb",
    "write_cog",
]
