"""embed_raster: the written COG's grid, values, layout and nodata; inputs untouched; nothing overwritten."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

from xmodal_lab.data.region import render_region, write_pair_geotiffs
from xmodal_lab.eval.embed_raster import embed_raster, embeddings_to_geoparquet, pca_project
from xmodal_lab.models import build

TILE = 32


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("contrastive", preset="tiny").eval()


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    """A 96 x 96 px region (3 x 3 tiles of 32 px) and a copy whose top-left tile is optical nodata."""
    folder = tmp_path_factory.mktemp("pair")
    pair = render_region(seed=0, size=96, gsd=10.0)
    paths = write_pair_geotiffs(pair, folder, "region")
    holed = write_pair_geotiffs(pair, folder, "holed")
    with rasterio.open(holed["s2"], "r+") as dst:  # a test fixture of our own, not a user file
        dst.write(np.zeros((12, TILE, TILE), np.uint16), window=Window(0, 0, TILE, TILE))
    return paths, holed, pair


def test_written_raster_has_the_exact_grid_and_values(model, pair_files, tmp_path):
    paths, _, pair = pair_files
    hashes = {k: _sha(p) for k, p in paths.items()}
    out = tmp_path / "emb.tif"
    tiles = embed_raster(model, paths["s1"], paths["s2"], out, tile=TILE, stride=16, progress=False)
    assert tiles.path == out and out.is_file()
    assert {k: _sha(p) for k, p in paths.items()} == hashes, "embed_raster modified its inputs"
    a, _, c, _, e, f = pair["transform"]
    with rasterio.open(out) as src:
        assert src.crs.to_string() == pair["crs"]
        # one pixel per 16 px step, centred on its 32 px tile: shifted by (32 - 16) / 2 = 8 px
        expected = (a * 16, 0.0, c + a * 8, 0.0, e * 16, f + e * 8)
        assert tuple(src.transform)[:6] == pytest.approx(expected, abs=1e-6)
        assert (src.height, src.width) == ((96 - TILE) // 16 + 1,) * 2 == (5, 5)
        assert src.count == tiles.vectors["s2"].shape[1] == model.config.proj_dim
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        data = src.read()
    with rasterio.open(paths["s2"]) as s2:  # independent reference: read the tile, embed it
        raw = s2.read(window=Window(16, 32, TILE, TILE)).astype(np.float32) / 10000.0
    with torch.no_grad():
        ref = model.embed(s2=torch.from_numpy(raw)[None])["s2"][0].numpy()
    assert np.allclose(data[:, 2, 1], ref, atol=1e-5)  # the tile at row 32, col 16 is grid cell (2, 1)


def test_dropped_tiles_are_nodata(model, pair_files, tmp_path):
    _, holed, _ = pair_files
    tiles = embed_raster(model, holed["s1"], holed["s2"], tmp_path / "e.tif", tile=TILE, progress=False)
    valid = ~np.isnan(tiles.to_grid(np.zeros(len(tiles))))
    assert len(tiles) == 8 and not valid[0, 0] and valid.sum() == 8
    with rasterio.open(tiles.path) as src:
        data = src.read(masked=True)
        assert np.isnan(src.nodata)
    assert data.mask[:, 0, 0].all() and not data.mask[:, 1:, 1:].any()


def test_pca_rgb_and_components(model, pair_files, tmp_path):
    paths, _, _ = pair_files
    tiles = embed_raster(model, paths["s1"], paths["s2"], tmp_path / "rgb.tif", tile=TILE, stride=16, pca=3,
                         progress=False)  # fmt: skip
    with rasterio.open(tiles.path) as src:
        assert src.count == 3 and src.dtypes[0] == "uint8" and src.nodata == 0
        assert src.read().min() >= 1
    scores = embed_raster(model, paths["s1"], paths["s2"], tmp_path / "pc.tif", tile=TILE, stride=16, pca=2,
                          modality="s1", progress=False)  # fmt: skip
    with rasterio.open(scores.path) as src:
        pcs = src.read()
    # independent PCA: the eigenvectors of the covariance, up to sign
    x = scores.vectors["s1"].astype(np.float64)
    centred = x - x.mean(0)
    _, vecs = np.linalg.eigh(np.cov(centred.T))
    ref = centred @ vecs[:, ::-1][:, :2]
    got = pcs[:, scores.cells[:, 0], scores.cells[:, 1]].T
    for k in range(2):
        assert abs(np.corrcoef(got[:, k], ref[:, k])[0, 1]) > 0.999
    assert np.allclose(pca_project(x, 2), got, atol=1e-4)


def test_never_overwrites_and_rejects_bad_arguments(model, pair_files, tmp_path):
    paths, _, _ = pair_files
    out = tmp_path / "taken.tif"
    out.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        embed_raster(model, paths["s1"], paths["s2"], out, tile=TILE, progress=False)
    assert out.read_bytes() == b"user data"
    with pytest.raises(ValueError, match="modality"):
        embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, modality="radar", progress=False)
    with pytest.raises(ValueError, match="gives only"):
        embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, modality="joint", progress=False)
    with pytest.raises(ValueError, match="patch size"):
        embed_raster(model, paths["s1"], paths["s2"], None, tile=30, progress=False)
    with pytest.raises(ValueError, match="pca"):
        embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, pca=0, progress=False)
    with pytest.raises(ValueError, match="GeoTIFF"):
        embed_raster(model, paths["s1"], paths["s2"], tmp_path / "emb.png", tile=TILE, progress=False)


def test_geoparquet_holds_tile_polygons_and_vectors(model, pair_files, tmp_path):
    import geopandas as gpd

    paths, _, pair = pair_files
    tiles = embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, progress=False)
    out = embeddings_to_geoparquet(tiles, tmp_path / "emb.parquet")
    frame = gpd.read_parquet(out)
    assert len(frame) == 9 and frame.crs.to_string() == pair["crs"]
    a, _, c, _, e, f = pair["transform"]
    row = frame.iloc[4]  # tile 4: grid cell (1, 1), pixels 32..64
    assert row["row"] == 1 and row["col"] == 1
    assert row.geometry.bounds == pytest.approx((c + 32 * a, f + 64 * e, c + 64 * a, f + 32 * e))
    assert row.geometry.area == pytest.approx((TILE * a) ** 2)
    assert np.allclose(np.asarray(row["embedding_s2"]), tiles.vectors["s2"][4])
    with pytest.raises(FileExistsError):
        embeddings_to_geoparquet(tiles, out)


def _same_items(ds, fast) -> None:
    """Every item of ``fast`` equals the dataset's own (per-tile rasterio windows): the independent reference."""
    items = list(fast)
    assert len(fast) == len(items) == len(ds)
    order = getattr(fast, "order", range(len(ds)))
    assert sorted(order) == list(range(len(ds)))
    for i, b in zip(order, items):
        a = ds[i]
        assert a["window"] == b["window"]
        for key in ("s1", "s2", "nodata_mask"):
            assert torch.equal(a[key], b[key]), (i, key)
        for key in ("transform", "lat", "lon", "gsd", "crs", "date"):  # exactly: models may read them
            assert a[key] == b[key], (i, key)


@pytest.mark.parametrize(("stride", "rows"), [(32, 64), (16, 64), (16, 1), (32, 256)])
def test_block_reader_gives_the_datasets_own_items(pair_files, stride, rows):
    from xmodal_lab.data import PairedRasterDataset
    from xmodal_lab.eval.embed_raster import BlockTiles

    _, holed, _ = pair_files
    with rasterio.open(holed["s2"], "r+") as dst:  # a few nodata pixels inside a kept tile, too
        dst.write(np.zeros((12, 3, 3), np.uint16), window=Window(40, 70, 3, 3))
    ds = PairedRasterDataset(holed["s1"], holed["s2"], size=TILE, stride=stride)
    _same_items(ds, BlockTiles(ds, rows=rows))  # rows=1: every tile spans strips


@pytest.mark.parametrize("s1_units", ["db", "linear"])
def test_block_reader_decodes_each_strip_once_on_a_tiled_file(tmp_path, s1_units, monkeypatch):
    from xmodal_lab.data import PairedRasterDataset
    from xmodal_lab.eval.embed_raster import BlockTiles

    pair = render_region(seed=1, size=512, gsd=10.0)
    if s1_units == "linear":
        pair = {**pair, "s1": 10.0 ** (np.asarray(pair["s1"], dtype=np.float32) / 10.0)}
    paths = write_pair_geotiffs(pair, tmp_path, "tiled")
    with rasterio.open(paths["s2"], "r+") as dst:  # nodata straddling the strip edge at row 256
        dst.write(np.zeros((12, 20, 20), np.uint16), window=Window(100, 250, 20, 20))
    with rasterio.open(paths["s2"]) as src:
        assert src.block_shapes[0] == (256, 256)
    scanned, scan = [], PairedRasterDataset.read_raw
    monkeypatch.setattr(
        PairedRasterDataset, "read_raw", lambda ds, s1, s2, w: scanned.append((w.row_off, w.height)) or scan(ds, s1, s2, w)
    )
    ds = PairedRasterDataset(paths["s1"], paths["s2"], size=TILE, stride=16, s1_units=s1_units)
    assert scanned == [(0, 256), (256, 256)]  # the checks, too, read strip by strip, never the whole raster
    monkeypatch.undo()
    tops, read = [], ds.read_raw
    monkeypatch.setattr(ds, "read_raw", lambda s1, s2, w: tops.append((w.row_off, w.height)) or read(s1, s2, w))
    items = list(BlockTiles(ds, rows=100))  # rounded up to the file's 256-row blocks
    assert tops == [(0, 256), (256, 256)]  # each strip once (both kept for the tiles across row 256)
    monkeypatch.undo()
    _same_items(ds, items)


def test_block_reader_takes_windows_in_any_order_and_stops_early(pair_files):
    from xmodal_lab.data import PairedRasterDataset
    from xmodal_lab.eval.embed_raster import tile_windows

    paths, _, _ = pair_files
    ds = PairedRasterDataset(paths["s1"], paths["s2"], size=TILE, stride=16)
    reader = tile_windows(ds, rows=1)
    assert next(reader)[0] == 0
    reader.close()  # the strip read ahead is waited for before the files close
    ds.windows = ds.windows[::-1]
    seen = {}
    for index, s1, s2, _ in tile_windows(ds, rows=1):
        seen[index] = (s1, s2)
    assert sorted(seen) == list(range(len(ds)))
    for index in (0, len(ds) // 2, len(ds) - 1):
        assert torch.equal(seen[index][0], ds[index]["s1"]) and torch.equal(seen[index][1], ds[index]["s2"])


@pytest.mark.parametrize("stride", [32, 16, 48])
def test_block_reader_reads_block_aligned_chunks_once(tmp_path, stride, monkeypatch):
    """With ``cols`` set, the reader never holds more than a chunk's width: memory flat in the raster's width."""
    from xmodal_lab.data import PairedRasterDataset
    from xmodal_lab.eval.embed_raster import BlockTiles

    paths = write_pair_geotiffs(render_region(seed=2, size=512, gsd=10.0), tmp_path, "tiled")
    with rasterio.open(paths["s2"], "r+") as dst:  # nodata across the corner of four chunks
        dst.write(np.zeros((12, 20, 20), np.uint16), window=Window(250, 250, 20, 20))
    ds = PairedRasterDataset(paths["s1"], paths["s2"], size=TILE, stride=stride)
    reads, read = [], ds.read_raw
    monkeypatch.setattr(ds, "read_raw", lambda s1, s2, w: reads.append((w.row_off, w.col_off, w.height, w.width)) or read(s1, s2, w))
    fast = BlockTiles(ds, rows=100, cols=100)  # rounded up to the file's 256 x 256 blocks
    list(fast)
    assert sorted(reads) == [(0, 0, 256, 256), (0, 256, 256, 256), (256, 0, 256, 256), (256, 256, 256, 256)]
    assert fast.order != sorted(fast.order)  # chunk by chunk, not row by row
    monkeypatch.undo()
    _same_items(ds, fast)


@pytest.mark.parametrize(("stride", "cols"), [(32, 1024), (16, 100)])
def test_tile_batches_equal_collated_items(pair_files, stride, cols):
    """The batches embed_raster feeds the model are the collated items, nodata fills and chunk edges included."""
    from xmodal_lab.data import PairedRasterDataset, collate_pairs
    from xmodal_lab.eval.embed_raster import BlockTiles, tile_batches

    _, holed, _ = pair_files
    with rasterio.open(holed["s2"], "r+") as dst:  # a few nodata pixels inside a kept tile
        dst.write(np.zeros((12, 3, 3), np.uint16), window=Window(40, 70, 3, 3))
    ds = PairedRasterDataset(holed["s1"], holed["s2"], size=TILE, stride=stride)
    items = list(BlockTiles(ds, rows=1, cols=cols))
    order: list[int] = []
    batches = list(tile_batches(ds, 5, ("date", "lat", "lon"), rows=1, cols=cols, order=order))
    assert order == [int(np.flatnonzero([w == it["window"] for w in map(tuple, ds.windows)])[0]) for it in items]
    assert [len(b["s2"]) for b in batches] == [5] * (len(items) // 5) + ([len(items) % 5] if len(items) % 5 else [])
    for k, batch in enumerate(batches):
        ref = collate_pairs(items[5 * k : 5 * k + 5])
        for key in ("s1", "s2", "gsd", "lat", "lon"):
            assert batch[key].dtype == ref[key].dtype and torch.equal(batch[key], ref[key]), (k, key)
        assert batch["date"] == ref["date"]
    assert any(it["nodata_mask"].any() for it in items)  # the fill was exercised


def test_embed_raster_in_chunks_keeps_the_datasets_order(model, tmp_path, monkeypatch):
    import importlib

    from xmodal_lab.data import PairedRasterDataset

    module = importlib.import_module("xmodal_lab.eval.embed_raster")

    paths = write_pair_geotiffs(render_region(seed=3, size=512, gsd=10.0), tmp_path, "tiled")
    whole = embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, batch_size=4096, progress=False)
    monkeypatch.setattr(module, "CHUNK", (256, 256))  # two chunks across
    tiles = embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, batch_size=4096, progress=False)
    ds = PairedRasterDataset(paths["s1"], paths["s2"], size=TILE)
    assert [tuple(w) for w in tiles.windows] == [tuple(w) for w in ds.windows]
    for key, value in whole.vectors.items():
        np.testing.assert_allclose(tiles.vectors[key], value, rtol=1e-5, atol=1e-6)


def test_embed_raster_vectors_equal_per_tile_reads(model, pair_files):
    from xmodal_lab.data import PairedRasterDataset
    from xmodal_lab.eval.embeddings import concat_rows, embed_batches

    _, holed, _ = pair_files
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # equal bits need equal arithmetic: embed_raster leaves a core to its reader
    try:
        tiles = embed_raster(model, holed["s1"], holed["s2"], None, tile=TILE, stride=16, progress=False)
        ds = PairedRasterDataset(holed["s1"], holed["s2"], size=TILE, stride=16)
        ref = concat_rows((emb for emb, _ in embed_batches(model, ds, 64)), len(ds))
    finally:
        torch.set_num_threads(threads)
    assert [tuple(w) for w in tiles.windows] == ds.windows  # the same tiles kept in one read as by the scan
    assert set(ref) == set(tiles.vectors)
    for key, value in ref.items():
        assert np.array_equal(tiles.vectors[key], value), key


def test_embed_raster_warns_once_on_radar_in_the_wrong_units(model, tmp_path):
    """The reader checks the units of every chunk; the model, handed checked pixels, does not warn again."""
    import warnings

    from xmodal_lab.errors import UnitsWarning

    pair = render_region(seed=4, size=128, gsd=10.0)
    paths = write_pair_geotiffs({**pair, "s1": 10.0 ** (np.asarray(pair["s1"], np.float32) / 10.0)}, tmp_path, "lin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, progress=False)
    units = [str(w.message) for w in caught if issubclass(w.category, UnitsWarning)]
    assert len(units) == 1 and str(paths["s1"]) in units[0] and "linear power" in units[0], units


def test_embed_raster_checks_the_optical_units_once_while_it_reads(model, tmp_path):
    """scan="later" leaves the optical units preview to the reader: no warning at opening, one from the call."""
    import warnings

    from xmodal_lab.data import PairedRasterDataset
    from xmodal_lab.errors import UnitsWarning

    paths = write_pair_geotiffs(render_region(seed=4, size=128, gsd=10.0), tmp_path, "u8")
    with rasterio.open(paths["s2"]) as src:
        profile, reflectance = {**src.profile, "dtype": "uint8", "nodata": None}, src.read() / 10000
    with rasterio.open(paths["s2"], "w", **profile) as dst:  # 8 bits cannot hold digital numbers
        dst.write(np.clip(reflectance * 255, 1, 255).astype(np.uint8))

    def units_warnings(call):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        return [str(w.message) for w in caught if issubclass(w.category, UnitsWarning)]

    assert units_warnings(lambda: PairedRasterDataset(paths["s1"], paths["s2"], size=TILE, scan="later")) == []
    assert any("8-bit" in m for m in units_warnings(lambda: PairedRasterDataset(paths["s1"], paths["s2"], size=TILE)))
    found = units_warnings(lambda: embed_raster(model, paths["s1"], paths["s2"], None, tile=TILE, progress=False))
    assert len(found) == 1 and "8-bit" in found[0] and str(paths["s2"]) in found[0], found


def test_background_reader_hands_over_errors_and_stops_with_its_caller():
    import threading

    from xmodal_lab.data.rasters import background

    closed = []

    def numbers(fail_at=None):
        try:
            for i in range(1000):
                if i == fail_at:
                    raise OSError(f"block {i} is corrupt")
                yield i
        finally:
            closed.append(threading.current_thread().name)

    assert list(background(numbers())) == list(range(1000))
    with pytest.raises(OSError, match="block 7 is corrupt"):
        list(background(numbers(fail_at=7)))
    reader = background(numbers(), ahead=2)
    assert [next(reader), next(reader)] == [0, 1]
    reader.close()  # the caller stops early: the thread stops and closes its source, in the thread
    assert closed == ["xmodal_lab reader"] * 3
    assert not [t for t in threading.enumerate() if t.name == "xmodal_lab reader"]


def test_embed_raster_gives_the_cores_back_when_the_model_fails(pair_files):
    import threading

    class Broken(torch.nn.Module):
        input_multiple = 1

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def embed(self, s1=None, s2=None, gsd=None):
            assert torch.get_num_threads() == max(1, threads - 1)  # one core left to the reader
            raise RuntimeError("the model broke")

    paths, _, _ = pair_files
    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="the model broke"):
        embed_raster(Broken(), paths["s1"], paths["s2"], None, tile=TILE, progress=False)
    assert torch.get_num_threads() == threads
    assert not [t for t in threading.enumerate() if t.name == "xmodal_lab reader"]


def test_larger_grids_get_overviews(model, tmp_path):
    pair = render_region(seed=0, size=256, gsd=10.0)
    paths = write_pair_geotiffs(pair, tmp_path, "big")
    tiles = embed_raster(model, paths["s1"], paths["s2"], tmp_path / "e.tif", tile=8, progress=False)
    with rasterio.open(tiles.path) as src:
        assert (src.height, src.width) == (32, 32) and src.block_shapes[0] == (16, 16)
        assert src.overviews(1) == [2]  # a reduced level for zoomed-out GIS views


@pytest.mark.parametrize(("side", "block", "levels"), [(64, 32, [2]), (100, 64, [2]), (512, 256, [2]), (1100, 256, [2, 4, 8])])
def test_cog_blocks_are_half_the_grid_up_to_256(tmp_path, side, block, levels):
    """Blocks of half the grid give small grids one overview level; big grids keep GIS's 256 px blocks."""
    from xmodal_lab.eval.embed_raster import write_cog

    array = np.arange(side * side * 2, dtype=np.float32).reshape(2, side, side)
    path = write_cog(array, tmp_path / "e.tif", "EPSG:32633", (320.0, 0.0, 5e5, 0.0, -320.0, 6e6), np.nan,
                     ["a", "b"], {})  # fmt: skip
    with rasterio.open(path) as src:
        assert src.block_shapes[0] == (block, block) and src.overviews(1) == levels
        assert np.array_equal(src.read(), array)
