"""predict_raster / raster_to_vectors: seams, tile centres, TTA, nodata, the grid, polygons, safe publishing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

from xmodal_lab.data.collate import collate_pairs
from xmodal_lab.data.rasters import PairedRasterDataset
from xmodal_lab.data.region import render_region, write_pair_geotiffs
from xmodal_lab.errors import InputTypeError, InputValueError, NodataError, OutputExistsError
from xmodal_lab.eval.predict import (
    LABEL_NODATA,
    blend_weights,
    dihedral,
    predict_raster,
    raster_to_vectors,
    tile_starts,
    undo_dihedral,
)

TILE, OVERLAP = 32, 8  # 100 px: tiles at 0, 24, 48 and 68 (the last flush with the edge)


def local_model(batch):
    """Logits of each pixel from that pixel only: water where VV is dark."""
    vv = batch["s1"][:, :1]
    return torch.cat([-(vv + 15.0), vv + 15.0], dim=1)


def context_model(batch):
    """Logits that depend on the whole tile (its mean VV) and on the pixel: tile edges would show as seams."""
    vv = batch["s1"][:, :1]
    z = 0.3 * (vv + 15.0) + 2.0 * (vv.mean(dim=(2, 3), keepdim=True) + 15.0)
    return torch.cat([-z, z], dim=1)


def tile_mean_model(batch):
    """Logits from the tile's mean VV only: one value per tile, so stitching without blending shows steps."""
    z = 2.0 * (batch["s1"][:, :1].mean(dim=(2, 3), keepdim=True) + 15.0).expand_as(batch["s1"][:, :1])
    return torch.cat([-z, z], dim=1)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile, src.tags()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 100 x 100 px simulated pair, a copy with holes, and a constant scene."""
    folder = tmp_path_factory.mktemp("pairs")
    pair = render_region(seed=0, size=100, gsd=10.0)
    paths = write_pair_geotiffs(pair, folder, "scene")
    holed = write_pair_geotiffs(pair, folder, "holed")
    with rasterio.open(
        holed["s2"], "r+"
    ) as dst:  # our own fixture: optical nodata over the first tile and more
        dst.write(np.zeros((12, 40, 40), np.uint16), window=Window(0, 0, 40, 40))
    with rasterio.open(holed["s1"], "r+") as dst:  # radar NaN in a strip
        dst.write(np.full((2, 10, 30), np.nan, np.float32), window=Window(60, 70, 30, 10))
    flat = {**pair, "s1": np.stack([np.full((96, 96), -12.0), np.full((96, 96), -19.0)]),
            "s2": np.full((12, 96, 96), 0.12)}  # fmt: skip
    flat.pop("landcover")
    constant = write_pair_geotiffs(flat, folder, "constant")
    return paths, holed, constant, pair


def test_tile_grid_covers_the_scene_and_weights_are_positive():
    assert tile_starts(100, 32, 24) == [0, 24, 48, 68]
    assert tile_starts(96, 32, 32) == [0, 32, 64]
    starts = tile_starts(100, 32, 24)
    cosine = blend_weights(starts, 100, 32, OVERLAP, "cosine")
    assert all(w.min() > 0 for w in cosine), "a weight of 0 would leave pixels undefined"
    assert cosine[0][0] == 1 and cosine[-1][-1] == 1, "scene edges get full weight"
    assert cosine[1][0] < 0.01 and cosine[1][OVERLAP:-OVERLAP].min() == 1
    assert np.allclose(cosine[0][-OVERLAP:] + cosine[1][:OVERLAP], 1), "two tapers sum to 1"
    crops = blend_weights(starts, 100, 32, OVERLAP, "none")
    cover = np.zeros(100)
    for s, w in zip(starts, crops):
        cover[s : s + 32] += w
    assert np.array_equal(cover, np.ones(100)), "centre crops partition the scene: one tile per pixel"


def test_constant_model_on_constant_scene_has_no_seams(files, tmp_path):
    _, _, constant, _ = files
    for blend in ("cosine", "none"):
        out = predict_raster(lambda b: torch.ones(b["s1"].shape[0], 2, TILE, TILE) * torch.tensor([0.0, 1.0])[:, None, None],
                             constant["s1"], constant["s2"], tmp_path / f"{blend}.tif", tile=TILE, overlap=OVERLAP,
                             blend=blend)  # fmt: skip
        p, _, _ = _read(out)
        assert np.abs(np.diff(p, axis=1)).max() < 1e-6 and np.abs(np.diff(p, axis=2)).max() < 1e-6
        assert np.allclose(p[1], 1 / (1 + np.exp(-1.0)), atol=1e-6)


def test_cosine_blending_leaves_no_seams(files, tmp_path):
    """Tiles that disagree: centre crops leave a step at every cut, the cosine taper fades one into the next."""
    paths, _, _, _ = files
    steps = {}
    for blend in ("cosine", "none"):
        out = tmp_path / f"{blend}.tif"
        predict_raster(
            tile_mean_model, paths["s1"], paths["s2"], out, tile=TILE, overlap=OVERLAP, blend=blend
        )
        p = _read(out)[0][1]
        steps[blend] = max(np.abs(np.diff(p, axis=0)).max(), np.abs(np.diff(p, axis=1)).max())
    print(
        f"largest step between neighbouring pixels: cosine {steps['cosine']:.3f}, centre crops {steps['none']:.3f}"
    )
    assert steps["none"] > 0.05, "the tiles disagree"
    assert steps["cosine"] < steps["none"] / 3


def test_local_model_gives_the_same_map_whatever_the_tiling(files, tmp_path):
    paths, _, _, pair = files
    direct = torch.softmax(local_model({"s1": torch.as_tensor(pair["s1"])[None]}), dim=1)[0].numpy()
    for blend in ("cosine", "none"):
        p, profile, tags = _read(predict_raster(local_model, paths["s1"], paths["s2"], tmp_path / f"{blend}.tif",
                                                tile=TILE, overlap=OVERLAP, blend=blend))  # fmt: skip
        assert profile["dtype"] == "float32" and p.shape == (2, 100, 100) and tags["blend"] == blend
        assert np.abs(p - direct).max() < 1e-5


def test_grid_is_exactly_the_optical_files(files, tmp_path):
    paths, _, _, _ = files
    out = predict_raster(
        local_model, paths["s1"], paths["s2"], tmp_path / "p.tif", tile=TILE, overlap=OVERLAP
    )
    with rasterio.open(out) as src, rasterio.open(paths["s2"]) as s2:
        assert src.crs == s2.crs and src.transform == s2.transform and src.shape == s2.shape
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert np.isnan(src.nodata) and src.descriptions == ("class_0", "class_1")


def test_tile_centres_equal_the_model_on_that_tile(files, tmp_path):
    from xmodal_lab.models import SegmentationModel, build

    paths, _, _, _ = files
    torch.manual_seed(0)
    seg = SegmentationModel(build("croma", preset="tiny", img_size=TILE), num_classes=3, modality="joint",
                            head_dim=8).train()  # fmt: skip
    p, _, _ = _read(
        predict_raster(seg, paths["s1"], paths["s2"], tmp_path / "p.tif", tile=TILE, overlap=OVERLAP)
    )
    assert seg.training, "the model's mode is restored"
    assert p.shape == (3, 100, 100) and np.allclose(p.sum(0), 1, atol=1e-5)
    ds = PairedRasterDataset(paths["s1"], paths["s2"], size=TILE, stride=TILE - OVERLAP)
    seg.eval()
    own = {24: slice(OVERLAP, TILE - OVERLAP), 48: slice(OVERLAP, 68 - 48)}  # pixels no other tile reaches
    for row, col in ((24, 24), (48, 24), (24, 48)):
        ds.windows = [(row, col)]
        with torch.no_grad():
            ref = torch.softmax(seg.logits(collate_pairs([ds[0]])), dim=1)[0].numpy()
        got = p[:, row : row + TILE, col : col + TILE]
        assert np.abs(got[:, own[row], own[col]] - ref[:, own[row], own[col]]).max() < 1e-5
        assert np.abs(got - ref).max() > 1e-4, "the overlaps are blended with the neighbours"


def test_context_model_centres_and_blended_overlaps(files, tmp_path):
    paths, _, _, _ = files
    cos, _, _ = _read(predict_raster(context_model, paths["s1"], paths["s2"], tmp_path / "c.tif", tile=TILE,
                                     overlap=OVERLAP))  # fmt: skip
    crop, _, _ = _read(predict_raster(context_model, paths["s1"], paths["s2"], tmp_path / "n.tif", tile=TILE,
                                      overlap=OVERLAP, blend="none"))  # fmt: skip
    core = np.zeros(100, bool)
    core[32:48] = core[56:68] = True  # pixels of one tile only
    inside = np.ix_(core, core)
    assert np.abs(cos[1][inside] - crop[1][inside]).max() < 1e-6, "one tile per pixel there, blended or not"
    assert np.abs(cos[1] - crop[1]).max() > 1e-3, "the overlaps differ"


def test_dihedral_views_are_inverted():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    views = [dihedral(x, k) for k in range(8)]
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8, "eight different views"
    assert all(torch.equal(undo_dihedral(v, k), x) for k, v in enumerate(views))


def test_tta_inverts_each_view(files, tmp_path):
    paths, _, constant, _ = files
    plain, _, _ = _read(predict_raster(local_model, paths["s1"], paths["s2"], tmp_path / "a.tif", tile=TILE,
                                       overlap=OVERLAP))  # fmt: skip
    tta, _, tags = _read(predict_raster(local_model, paths["s1"], paths["s2"], tmp_path / "b.tif", tile=TILE,
                                        overlap=OVERLAP, tta=True))  # fmt: skip
    assert tags["tta"] == "True"
    assert np.abs(plain - tta).max() < 1e-5, "a map turned the wrong way back would not match the plain one"

    def ramp(batch):  # not flip-invariant: water more likely towards each tile's right edge
        z = torch.linspace(-2, 2, batch["s1"].shape[-1]).expand_as(batch["s1"][:, :1])
        return torch.cat([-z, z], dim=1)

    kw = dict(tile=96, overlap=0)
    one, _, _ = _read(predict_raster(ramp, constant["s1"], constant["s2"], tmp_path / "r.tif", **kw))
    sym, _, _ = _read(
        predict_raster(ramp, constant["s1"], constant["s2"], tmp_path / "s.tif", tta=True, **kw)
    )
    assert np.abs(one[1] - one[1][:, ::-1]).max() > 0.5
    for k in range(8):  # the average over the eight views is symmetric under all of them
        assert np.allclose(dihedral(torch.from_numpy(sym), k).numpy(), sym, atol=1e-6)


def test_labels_are_the_argmax_of_the_probabilities(files, tmp_path):
    paths, _, _, _ = files
    p, _, _ = _read(predict_raster(context_model, paths["s1"], paths["s2"], tmp_path / "p.tif", tile=TILE,
                                   overlap=OVERLAP))  # fmt: skip
    labels, profile, _ = _read(predict_raster(context_model, paths["s1"], paths["s2"], tmp_path / "l.tif",
                                              tile=TILE, overlap=OVERLAP, output="labels"))  # fmt: skip
    assert profile["dtype"] == "uint8" and profile["nodata"] == LABEL_NODATA and labels.shape == (1, 100, 100)
    assert np.array_equal(labels[0], p.argmax(0))
    assert 0.05 < labels.mean() < 0.95, "both classes present"


def test_missing_inputs_are_nodata(files, tmp_path):
    _, holed, _, _ = files
    calls = []

    def counting(batch):
        calls.append(batch["s1"].shape[0])
        return local_model(batch)

    p, _, _ = _read(predict_raster(counting, holed["s1"], holed["s2"], tmp_path / "p.tif", tile=TILE,
                                   overlap=OVERLAP, batch_size=5))  # fmt: skip
    labels, _, _ = _read(predict_raster(local_model, holed["s1"], holed["s2"], tmp_path / "l.tif", tile=TILE,
                                        overlap=OVERLAP, output="labels"))  # fmt: skip
    missing = np.zeros((100, 100), bool)
    missing[:40, :40] = True
    missing[70:80, 60:90] = True
    assert np.array_equal(np.isnan(p).any(0), missing) and np.array_equal(np.isnan(p).all(0), missing)
    assert np.array_equal(labels[0] == LABEL_NODATA, missing)
    assert sum(calls) == 16 - 1, "the tile without data is not predicted"


def test_refuses_bad_settings_and_models(files, tmp_path):
    paths, _, _, _ = files
    s1, s2, out = paths["s1"], paths["s2"], tmp_path / "p.tif"
    bad = [
        (InputTypeError, dict(tile=32.0)),
        (InputTypeError, dict(overlap=True)),
        (InputValueError, dict(overlap=32)),
        (InputValueError, dict(overlap=-1)),
        (InputValueError, dict(blend="gaussian")),
        (InputValueError, dict(output="logits")),
        (InputTypeError, dict(tta="yes")),
        (InputValueError, dict(tile=128)),
    ]
    for error, kwargs in bad:
        with pytest.raises(error):
            predict_raster(local_model, s1, s2, out, **{"tile": TILE, **kwargs})
    with pytest.raises(InputValueError, match="at least 2"):
        predict_raster(lambda b: b["s1"][:, :1], s1, s2, out, tile=TILE)
    with pytest.raises(InputValueError, match=r"logits \[B, K, H, W\]"):
        predict_raster(lambda b: b["s1"].mean(dim=(2, 3)), s1, s2, out, tile=TILE)
    with pytest.raises(InputValueError, match="not found"):
        predict_raster(local_model, tmp_path / "none.tif", s2, out, tile=TILE)
    with pytest.raises(ValueError, match=r"\.tif"):
        predict_raster(local_model, s1, s2, tmp_path / "p.png", tile=TILE)
    assert list(tmp_path.iterdir()) == []


def test_grids_that_differ_are_refused(files, tmp_path):
    paths, _, _, pair = files
    shifted = {
        **pair,
        "transform": (10.0, 0.0, pair["transform"][2] + 10.0, 0.0, -10.0, pair["transform"][5]),
    }
    other = write_pair_geotiffs(shifted, tmp_path, "shifted")
    with pytest.raises(InputValueError, match="not on the grid"):
        predict_raster(local_model, other["s1"], paths["s2"], tmp_path / "p.tif", tile=TILE)


def test_nothing_published_on_failure_and_no_overwrite(files, tmp_path):
    paths, _, _, _ = files
    seen = []

    def fails_late(batch):
        seen.append(1)
        if len(seen) > 2:
            raise RuntimeError("out of memory")
        return local_model(batch)

    out = tmp_path / "p.tif"
    with pytest.raises(RuntimeError, match="out of memory"):
        predict_raster(fails_late, paths["s1"], paths["s2"], out, tile=TILE, overlap=OVERLAP, batch_size=4)
    assert list(tmp_path.iterdir()) == [], "no output and no temporary file left"
    out.write_bytes(b"user data")
    with pytest.raises(OutputExistsError, match="refusing to overwrite"):
        predict_raster(local_model, paths["s1"], paths["s2"], out, tile=TILE)
    assert out.read_bytes() == b"user data"


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_vectors_hold_the_pixels_of_each_class(files, tmp_path, suffix):
    import geopandas as gpd

    _, holed, _, _ = files
    labels_path = predict_raster(context_model, holed["s1"], holed["s2"], tmp_path / "l.tif", tile=TILE,
                                 overlap=OVERLAP, output="labels")  # fmt: skip
    labels, profile, _ = _read(labels_path)
    out = raster_to_vectors(labels_path, tmp_path / f"v{suffix}", classes={0: "land", 1: "water"})
    frame = gpd.read_parquet(out) if suffix == ".parquet" else gpd.read_file(out)
    assert frame.crs == profile["crs"]
    pixel = abs(profile["transform"].a * profile["transform"].e)
    for k, name in ((0, "land"), (1, "water")):
        part = frame[frame["class"] == k]
        assert (part["name"] == name).all()
        assert part.geometry.area.sum() == pytest.approx((labels[0] == k).sum() * pixel)
        assert np.allclose(part["area"], part.geometry.area)
    assert frame.geometry.is_valid.all()
    assert frame.geometry.union_all().area == pytest.approx((labels[0] != LABEL_NODATA).sum() * pixel)
    water = raster_to_vectors(labels_path, tmp_path / f"w{suffix}", classes=[1], min_area=5 * pixel)
    kept = gpd.read_parquet(water) if suffix == ".parquet" else gpd.read_file(water)
    assert set(kept["class"]) == {1} and kept.geometry.area.min() >= 5 * pixel
    with pytest.raises(OutputExistsError):
        raster_to_vectors(labels_path, out)


def test_vectors_refuse_bad_input(files, tmp_path):
    paths, _, _, _ = files
    with pytest.raises(InputValueError, match="one band of integer"):
        raster_to_vectors(paths["s1"], tmp_path / "v.gpkg")
    with pytest.raises(ValueError, match=r"\.gpkg"):
        raster_to_vectors(paths["landcover"], tmp_path / "v.shp")
    with pytest.raises(InputValueError, match="min_area"):
        raster_to_vectors(paths["landcover"], tmp_path / "v.gpkg", min_area=-1)
    assert list(tmp_path.iterdir()) == []


def test_publishes_atomically_with_no_warning(files, tmp_path):
    paths, _, _, _ = files
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_raster(local_model, paths["s1"], paths["s2"], tmp_path / "p.tif", tile=TILE, overlap=OVERLAP)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tif"]


def test_memory_does_not_grow_with_the_scenes_height(files, tmp_path):
    """Rows are written as they are finished: a scene 4 times taller needs no more memory (tracemalloc).

    Both scenes are taller than the 256 px previews the unit checks read, so only the scene's size differs.
    """
    import tracemalloc

    _, _, _, pair = files
    scenes = {}
    for name, k in (("short", 3), ("tall", 12)):
        stacked = {key: np.tile(np.asarray(pair[key]), (1, k, 1)) for key in ("s1", "s2")}
        scenes[name] = write_pair_geotiffs({**pair, **stacked, "landcover": None}, tmp_path, name)
    predict_raster(
        local_model, scenes["short"]["s1"], scenes["short"]["s2"], tmp_path / "warm.tif", tile=TILE
    )
    peaks = {}
    for name, paths in scenes.items():
        tracemalloc.start()
        out = tmp_path / f"{name}.tif"
        predict_raster(local_model, paths["s1"], paths["s2"], out, tile=TILE, overlap=OVERLAP, rows=TILE)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print({k: f"{v / 2**20:.2f} MB" for k, v in peaks.items()})
    assert peaks["tall"] < 1.1 * peaks["short"]


def test_a_scene_without_data_is_refused(files, tmp_path):
    _, _, _, pair = files
    empty = write_pair_geotiffs({**pair, "landcover": None}, tmp_path, "empty")
    with rasterio.open(empty["s2"], "r+") as dst:
        dst.write(np.zeros((12, 100, 100), np.uint16))
    with pytest.raises(NodataError, match="every pixel"):
        predict_raster(local_model, empty["s1"], empty["s2"], tmp_path / "p.tif", tile=TILE)
    assert not (tmp_path / "p.tif").exists()
