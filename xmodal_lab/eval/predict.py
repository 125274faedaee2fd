"""Whole-scene predictions: tiles of a GeoTIFF pair blended without seams into one COG; its polygons."""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.data.io import check_whole
from xmodal_lab.errors import InputTypeError, InputValueError, NodataError, OutputWriteError
from xmodal_lab.files import check_new, publish, publishing

BLENDS = ("cosine", "none")
OUTPUTS = ("probabilities", "labels")
LABEL_NODATA = 255  # nodata of a label raster (class ids are 0..254)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """First pixels of the tiles along one axis: every ``stride`` px, the last one flush with the edge."""
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def blend_weights(starts: Sequence[int], length: int, tile: int, overlap: int,
                  blend: str) -> list[np.ndarray]:
    """One weight vector ``[tile]`` per tile along an axis.

    ``"cosine"``: 1, and ``sin^2(pi (i + 1/2) / (2 overlap))`` over each inner overlap (two sum to 1);
    ``"none"``: 1 on the tile's share of the overlaps (cut in their middle), else 0.
    """
    i = np.arange(tile, dtype=np.float64)
    ramp = np.sin(np.pi * (i[:overlap] + 0.5) / (2 * overlap)) ** 2
    weights = []
    for j, start in enumerate(starts):
        if blend == "cosine":
            w = np.ones(tile)
            if j > 0 and overlap:
                w[:overlap] = ramp
            if j < len(starts) - 1 and overlap:
                w[tile - overlap :] = ramp[::-1]
        else:
            lo = 0 if j == 0 else (starts[j - 1] + tile + start) // 2
            hi = length if j == len(starts) - 1 else (start + tile + starts[j + 1]) // 2
            w = ((i + start >= lo) & (i + start < hi)).astype(np.float64)
        weights.append(w.astype(np.float32))
    return weights


def dihedral(x: Tensor, k: int) -> Tensor:
    """Symmetry ``k`` in 0..7 on the last two axes: ``k % 4`` quarter turns, then a flip if ``k >= 4``."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if k >= 4 else x


def undo_dihedral(x: Tensor, k: int) -> Tensor:
    """The inverse of :func:`dihedral`: ``undo_dihedral(dihedral(x, k), k) == x``."""
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, -(k % 4), dims=(-2, -1))


def _logits_fn(model: Any) -> Callable[[dict], Tensor]:
    """``batch -> logits [B, K, H, W]`` for a kit ``SegmentationModel`` or any callable returning logits."""
    if callable(getattr(model, "logits", None)):
        return model.logits
    if not callable(model):
        raise InputTypeError("model: expected a SegmentationModel or a callable batch -> logits [B, K, H, W],"
                             f" got {type(model).__name__}")

    def call(batch: dict) -> Tensor:
        out = model(batch)
        if isinstance(out, Mapping):
            if "logits" not in out:
                raise InputValueError(f"model: its output holds {sorted(out)}, no 'logits' [B, K, H, W]")
            out = out["logits"]
        return torch.as_tensor(out)

    return call


@contextlib.contextmanager
def _inference(model: Any) -> Iterator[torch.device]:
    """Eval mode and no gradients while predicting; the model's training mode is restored after."""
    module = model if isinstance(model, torch.nn.Module) else torch.nn.Module()
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield next(module.parameters(), torch.empty(0)).device
    finally:
        module.train(was_training)


def _probabilities(logits_of: Callable[[dict], Tensor], batch: dict, tta: bool, tile: int) -> np.ndarray:
    """Class probabilities ``[B, K, tile, tile]``, averaged over the 8 dihedral views when ``tta``."""
    total, b = None, batch["s1"].shape[0]
    views = range(8) if tta else range(1)
    for k in views:
        logits = logits_of({**batch, "s1": dihedral(batch["s1"], k), "s2": dihedral(batch["s2"], k)})
        if logits.ndim != 4 or logits.shape[0] != b or tuple(logits.shape[-2:]) != (tile, tile):
            raise InputValueError(f"model: expected logits [B, K, H, W] = [{b}, K, {tile}, {tile}], got "
                                  f"{tuple(logits.shape)}")
        if logits.shape[1] < 2:
            raise InputValueError(f"model: expected logits of at least 2 classes, got {logits.shape[1]}; for "
                                  "one score z, return torch.cat([-z, z], dim=1)")
        p = undo_dihedral(torch.softmax(logits.float(), dim=1), k)
        total = p if total is None else total + p
    return (total / len(views)).cpu().numpy()


class _RowBuffer:
    """Weighted sums ``[K, tile, W]`` of the rows tiles in flight cover; finished rows are written out."""

    def __init__(self, classes: int, tile: int, width: int) -> None:
        self.sums = np.zeros((classes, tile, width), np.float32)
        self.weights = np.zeros((tile, width), np.float32)
        self.invalid = np.zeros((tile, width), bool)
        self.top = 0

    def add(self, row: int, col: int, probs: np.ndarray, weight: np.ndarray, invalid: np.ndarray) -> None:
        r, t = row - self.top, weight.shape[0]
        self.invalid[r : r + t, col : col + t] |= invalid
        self.sums[:, r : r + t, col : col + t] += probs * weight
        self.weights[r : r + t, col : col + t] += weight

    def write_until(self, dst: Any, end: int, output: str) -> None:
        """Write the rows above ``end`` (final) to ``dst``, a tile's rows at a time; the buffer moves down."""
        from rasterio.windows import Window
        while self.top < end:
            rows = min(end - self.top, self.weights.shape[0])
            with np.errstate(invalid="ignore", divide="ignore"):
                probs = self.sums[:, :rows] / self.weights[:rows]
            nodata = self.invalid[:rows] | (self.weights[:rows] == 0)
            if output == "probabilities":
                values = np.where(nodata, np.float32(np.nan), probs).astype(np.float32)
            else:
                labels = np.nan_to_num(probs).argmax(axis=0)
                values = np.where(nodata, LABEL_NODATA, labels).astype(np.uint8)[None]
            dst.write(values, window=Window(0, self.top, dst.width, rows))
            for a in (self.sums, self.weights, self.invalid):
                a[..., : a.shape[-2] - rows, :] = a[..., rows:, :].copy()
                a[..., a.shape[-2] - rows :, :] = 0
            self.top += rows


def _check_inputs(s1_path: Any, s2_path: Any, tile: Any, overlap: Any, blend: str, output: str,
                  batch_size: Any, tta: Any) -> None:  # fmt: skip
    import rasterio
    for name, value, low in (("tile", tile, 1), ("overlap", overlap, 0), ("batch_size", batch_size, 1)):
        if check_whole(value, name) < low:
            raise InputValueError(f"{name}: expected a whole number >= {low}, got {value}")
    if overlap >= tile:
        raise InputValueError(f"overlap: expected fewer pixels than the tile ({tile}), got {overlap}; e.g. "
                              "tile // 4")
    for name, value, allowed in (("blend", blend, BLENDS), ("output", output, OUTPUTS)):
        if value not in allowed:
            raise InputValueError(f"{name}: expected one of {allowed}, got {value!r}")
    if not isinstance(tta, bool):
        raise InputTypeError(f"tta: expected True or False, got {tta!r}")
    for path, what in ((s1_path, "Sentinel-1"), (s2_path, "Sentinel-2")):
        if not Path(path).is_file():
            raise InputValueError(f"{path}: {what} GeoTIFF not found; check the path")
    with rasterio.open(s1_path) as s1, rasterio.open(s2_path) as s2:
        if s2.height < tile or s2.width < tile:
            raise InputValueError(f"{s2_path}: {s2.width}x{s2.height} px is smaller than one {tile} px tile")
        same = s1.crs == s2.crs and s1.shape == s2.shape
        if not (same and s1.transform.almost_equals(s2.transform, precision=1e-6 * abs(s2.transform.a))):
            raise InputValueError(
                f"{s1_path} ({s1.crs}, {s1.width}x{s1.height} px) is not on the grid of {s2_path} ({s2.crs}, "
                f"{s2.width}x{s2.height} px); expected one grid (warp the radar onto the optical grid first, "
                "e.g. with rasterio.vrt.WarpedVRT or gdalwarp)")


def predict_raster(model: Any, s1_path: str | Path, s2_path: str | Path, out_path: str | Path, *,
                   tile: int = 32, overlap: int = 8, blend: str = "cosine", tta: bool = False,
                   output: str = "probabilities", batch_size: int = 32, rows: int = 256,
                   progress: bool = False, **dataset_kwargs: Any) -> Path:  # fmt: skip
    """Predict every pixel of a co-registered S1/S2 GeoTIFF pair into a new Cloud-Optimised GeoTIFF.

    ``model`` is a ``SegmentationModel`` or a callable ``batch -> logits [B, K, H, W]`` (or a dict with
    ``"logits"``); ``batch`` holds ``s1 [B, 2, H, W]`` dB and ``s2 [B, 12, H, W]`` reflectance. The radar file
    must lie on the optical file's grid, which is the output's. Tiles of ``tile`` px share ``overlap`` px,
    blended as :func:`blend_weights`; ``tta`` averages the 8 dihedral views of each tile, turned back.
    ``output="probabilities"`` writes float32 ``[K, H, W]`` (nodata NaN), ``"labels"`` uint8 argmax ids
    ``[1, H, W]`` (nodata 255); pixels missing in either input are nodata. ``batch_size`` tiles go per model
    call, ``rows`` input rows are read at a time; ``dataset_kwargs`` go to ``PairedRasterDataset``.
    """
    import rasterio
    import rasterio.shutil

    from xmodal_lab.data.collate import collate_pairs
    from xmodal_lab.data.rasters import PairedRasterDataset

    from .embed_raster import tile_windows
    path = check_new(out_path, "GeoTIFF", (".tif", ".tiff"))
    _check_inputs(s1_path, s2_path, tile, overlap, blend, output, batch_size, tta)
    logits_of = _logits_fn(model)
    ds = PairedRasterDataset(s1_path, s2_path, size=tile, stride=tile - overlap, scan=False, **dataset_kwargs)
    if ds.transform is not None:
        raise InputValueError("transform: predict_raster gives the model tiles as read; transform inside it")
    row_starts = tile_starts(ds.height, tile, tile - overlap)
    col_starts = tile_starts(ds.width, tile, tile - overlap)
    ds.windows = [(r, c) for r in row_starts for c in col_starts]  # the whole scene, edges included
    row_w = dict(zip(row_starts, blend_weights(row_starts, ds.height, tile, overlap, blend)))
    col_w = dict(zip(col_starts, blend_weights(col_starts, ds.width, tile, overlap, blend)))
    crs = f"EPSG:{epsg}" if (epsg := ds.crs.to_epsg()) else ds.crs.to_wkt()
    probabilities = output == "probabilities"
    tags = {
        "source": "xmodal_lab.eval.predict_raster",
        "model": str(getattr(model, "name", type(model).__name__)),
        "tile": str(tile), "overlap": str(overlap), "blend": blend, "tta": str(tta), "output": output,
        "s1_file": Path(s1_path).name, "s2_file": Path(s2_path).name,
    }  # fmt: skip

    def tiles_in_order() -> Iterator[tuple[tuple[int, int], np.ndarray, np.ndarray | None]]:
        """``(window, nodata [t, t], probabilities [K, t, t] or None for an empty tile)``, row by row."""
        gsd = float(np.hypot(ds.grid_transform.a, ds.grid_transform.d))
        tiles = tile_windows(ds, rows=rows)  # the kit's units, without BlockTiles' per-tile coordinates
        while pending := list(itertools.islice(tiles, batch_size)):
            full = [{"s1": s1, "s2": s2, "gsd": gsd} for _, s1, s2, nodata in pending if not nodata.all()]
            probs = iter(())
            if full:
                batch = collate_pairs(full)
                batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
                probs = iter(_probabilities(logits_of, batch, tta, tile))
            for index, _, _, nodata in pending:
                yield ds.windows[index], nodata, None if nodata.all() else next(probs)

    with _inference(model) as device, publishing(path, "GeoTIFF", writer_creates=True) as tmp:
        rows_tmp = tmp.with_name(tmp.name + ".rows.tif")  # in the target folder, removed whatever happens
        try:
            buffer = None
            with contextlib.ExitStack() as stack:
                for (row, col), nodata, probs in tiles_in_order():
                    if progress and col == col_starts[-1]:
                        print(f"\rrow {row + tile}/{ds.height}", end="", flush=True)
                    if probs is None:  # all its pixels are nodata: nothing to add
                        continue
                    if buffer is None:  # the first tile with data tells the number of classes
                        classes = probs.shape[0]
                        if output == "labels" and classes > LABEL_NODATA:
                            raise InputValueError(f"output='labels': at most 255 classes, got {classes}")
                        buffer = _RowBuffer(classes, tile, ds.width)
                        dst = stack.enter_context(rasterio.open(
                            rows_tmp, "w", driver="GTiff", width=ds.width, height=ds.height, crs=crs,
                            transform=ds.grid_transform, count=classes if probabilities else 1,
                            dtype="float32" if probabilities else "uint8",
                            nodata=np.nan if probabilities else LABEL_NODATA, tiled=True, blockxsize=256,
                            blockysize=256, compress="deflate"))  # fmt: skip
                    buffer.write_until(dst, row, output)  # rows above this tile row are final
                    buffer.add(row, col, probs, np.outer(row_w[row], col_w[col]), nodata)
                if buffer is None:
                    raise NodataError(f"{s1_path} / {s2_path}: every pixel is nodata in one of the files")
                buffer.write_until(dst, ds.height, output)
                dst.descriptions = tuple(f"class_{k}" for k in range(classes)) if probabilities else ("class",)
                dst.update_tags(**tags)
            with rasterio.open(rows_tmp) as src:
                rasterio.shutil.copy(src, tmp, driver="COG", compress="DEFLATE", overviews="AUTO",
                                     blocksize=256, resampling="AVERAGE" if probabilities else "MODE")
            if not _same_rasters(rows_tmp, tmp, rows):
                raise OutputWriteError(f"GeoTIFF {path} was not written: the COG does not read back")
        finally:
            rows_tmp.unlink(missing_ok=True)
    if progress:
        print()
    return path


def _same_rasters(a: Path, b: Path, rows: int) -> bool:
    """Grid, CRS and every value of two rasters equal, read ``rows`` rows at a time."""
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(a) as x, rasterio.open(b) as y:
        if any(getattr(x, a) != getattr(y, a) for a in ("count", "shape", "crs", "transform", "dtypes")):
            return False
        windows = (Window(0, top, x.width, min(rows, x.height - top)) for top in range(0, x.height, rows))
        return all(np.array_equal(x.read(window=w), y.read(window=w), equal_nan=True) for w in windows)


def raster_to_vectors(mask_path: str | Path, out_path: str | Path, *, min_area: float = 0.0,
                      classes: Sequence[int] | Mapping[int, str] | None = None) -> Path:  # fmt: skip
    """Polygons of a label raster (one band of class ids) in its CRS, written to a new GeoPackage or GeoParquet.

    Polygons (4-connected) of the ``classes`` ids (default: all) with ``area`` at least ``min_area`` carry
    ``class``, ``area`` and, when ``classes`` maps ids to names, ``name``.
    """
    import geopandas as gpd
    import rasterio
    from rasterio.features import shapes
    from shapely.geometry import shape
    path = check_new(out_path, "GeoPackage or GeoParquet", (".gpkg", ".parquet", ".geoparquet"))
    if not Path(mask_path).is_file():
        raise InputValueError(f"{mask_path}: label raster not found; check the path")
    if not (isinstance(min_area, (int, float)) and math.isfinite(min_area) and min_area >= 0):
        raise InputValueError(f"min_area: expected a number of squared CRS units >= 0, got {min_area!r}")
    with rasterio.open(mask_path) as src:
        if src.count != 1 or not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
            raise InputValueError(
                f"{mask_path}: expected one band of integer class ids, got {src.count} band(s) of {src.dtypes[0]}; "
                "write labels with predict_raster(output='labels')")
        if src.crs is None:
            raise InputValueError(f"{mask_path}: has no CRS; expected a georeferenced raster")
        labels, valid, transform, crs = src.read(1), src.dataset_mask() > 0, src.transform, src.crs
    keep = np.unique(labels[valid]) if classes is None else np.asarray(list(classes), dtype=np.int64)
    found = shapes(labels, mask=valid & np.isin(labels, keep), transform=transform, connectivity=4)
    polygons = [(int(value), polygon) for geom, value in found if (polygon := shape(geom)).area >= min_area]
    columns = {"class": np.array([c for c, _ in polygons], np.int64), "area": [p.area for _, p in polygons]}
    frame = gpd.GeoDataFrame(columns, geometry=[p for _, p in polygons], crs=crs)
    if isinstance(classes, Mapping):
        frame.insert(1, "name", [classes.get(c, str(c)) for c in frame["class"]])
    parquet = path.suffix.lower() != ".gpkg"

    def write(tmp: Path) -> None:
        frame.to_parquet(tmp) if parquet else frame.to_file(tmp, driver="GPKG", layer="classes")

    def reads_back(tmp: Path) -> bool:
        back = gpd.read_parquet(tmp) if parquet else gpd.read_file(tmp)
        return len(back) == len(frame) and back.crs == frame.crs

    return publish(path, write, "vector file", check=reads_back, writer_creates=not parquet)
