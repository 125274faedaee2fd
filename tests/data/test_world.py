"""The simulated world: the pair-dict contract, determinism, diversity, physics, scale, clouds, time and export."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from xmodal_lab.data import BIOME_NAMES, LANDCOVER_CLASSES, PairedRasterDataset, SimulatedWorld, ndvi

WATER = LANDCOVER_CLASSES.index("water")


def test_pair_dict_contract(world):
    p = world[3]
    assert p["s1"].shape == (2, 48, 48) and p["s1"].dtype == torch.float32
    assert p["s2"].shape == (12, 48, 48) and p["s2"].dtype == torch.float32
    assert p["landcover"].shape == (48, 48) and p["landcover"].dtype == torch.int64
    assert p["labels"].shape == (len(LANDCOVER_CLASSES),) and p["labels"].dtype == torch.float32
    assert p["cloud_mask"].shape == (48, 48) and p["cloud_mask"].dtype == torch.bool
    assert p["gsd"] == 10.0 and isinstance(p["lat"], float) and isinstance(p["lon"], float)
    assert p["crs"].startswith("EPSG:32") and len(p["transform"]) == 6 and len(p["date"]) == 10
    assert 0 <= int(p["landcover"].min()) and int(p["landcover"].max()) < len(LANDCOVER_CLASSES)
    assert torch.isfinite(p["s1"]).all() and torch.isfinite(p["s2"]).all()
    assert float(p["s2"].min()) > 0 and float(p["s2"].max()) < 1.5
    assert -45 < float(p["s1"].min()) and float(p["s1"].max()) < 25
    # labels: classes covering at least 2 % of the tile
    frac = torch.bincount(p["landcover"].flatten(), minlength=len(LANDCOVER_CLASSES)) / 48**2
    assert torch.equal(p["labels"], (frac >= 0.02).float())


def test_crs_and_transform_place_the_tile_at_its_lat_lon(world):
    from pyproj import Transformer

    for i in range(5):
        p = world[i]
        zone = int((p["lon"] + 180) // 6) + 1
        assert p["crs"] == f"EPSG:{(32600 if p['lat'] >= 0 else 32700) + zone}"
        a, b, c, d, e, f = p["transform"]
        assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0)
        lon, lat = Transformer.from_crs(p["crs"], "EPSG:4326", always_xy=True).transform(c + 240, f - 240)
        assert lat == pytest.approx(p["lat"], abs=1e-6) and lon == pytest.approx(p["lon"], abs=1e-6)


def test_same_seed_same_bytes_different_seed_different_world():
    a, b = SimulatedWorld(seed=7, size=32, n_scenes=10), SimulatedWorld(seed=7, size=32, n_scenes=10)
    c = SimulatedWorld(seed=8, size=32, n_scenes=10)
    for i in (0, 5, -1):
        pa, pb = a[i], b[i]
        for key in ("s1", "s2", "landcover", "cloud_mask"):
            assert pa[key].numpy().tobytes() == pb[key].numpy().tobytes()
        assert (pa["lat"], pa["lon"], pa["date"]) == (pb["lat"], pb["lon"], pb["date"])
    assert not torch.equal(a[0]["s2"], c[0]["s2"])
    # scene i does not depend on the dataset length or on the order of access
    assert torch.equal(SimulatedWorld(seed=7, size=32, n_scenes=500)[5]["s1"], a[5]["s1"])


def test_different_index_different_place_and_content(world):
    places = [world.place(i) for i in range(200)]
    coords = {(round(p.lat, 6), round(p.lon, 6)) for p in places}
    assert len(coords) == 200
    s2 = torch.stack([world[i]["s2"] for i in range(40)])
    flat = s2.flatten(1)
    dist = torch.cdist(flat, flat)
    assert float(dist[~torch.eye(40, dtype=torch.bool)].min()) > 0.5  # no two scenes alike
    counts = Counter(p.biome for p in places)
    assert set(counts) == set(BIOME_NAMES)  # eleven biomes within 200 scenes
    assert max(counts.values()) < 0.25 * 200
    lats = [p.lat for p in places]
    assert min(lats) < -20 and max(lats) > 60  # both hemispheres, tropics to the boreal zone


def linear_retrieval_top1(biomes: tuple[str, ...], n: int, n_train: int, seed: int = 1) -> float:
    """Fit a ridge map from pooled radar to pooled optical features; top-1 retrieval of held-out tiles."""
    w = SimulatedWorld(seed=seed, size=32, n_scenes=n, biomes=biomes)
    pool = torch.nn.functional.avg_pool2d
    xs, ys = [], []
    for i in range(n):
        p = w[i]
        xs.append(pool(p["s1"][None], 8).flatten())  # [2 * 4 * 4]
        ys.append(
            torch.cat(
                [pool(ndvi(p["s2"])[None, None], 8).flatten(), pool(p["s2"][None, [3, 10]], 8).flatten()]
            )
        )
    x, y = torch.stack(xs).double(), torch.stack(ys).double()
    x = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1)
    y = (y - y[:n_train].mean(0)) / y[:n_train].std(0).clamp_min(1e-9)
    tr = slice(0, n_train)
    coef = torch.linalg.solve(x[tr].T @ x[tr] + 0.1 * torch.eye(x.shape[1], dtype=x.dtype), x[tr].T @ y[tr])
    pred = x[n_train:] @ coef
    return float((torch.cdist(pred, y[n_train:]).argmin(1) == torch.arange(n - n_train)).float().mean())


def test_both_sensors_see_the_same_structure():
    """Pooled radar features predict pooled optical features of the same tile well enough to retrieve it."""
    top1 = linear_retrieval_top1(("cropland", "city", "coast", "wetland", "tropical"), 200, 150)
    print(f"SAR->optical retrieval through a linear map: top-1 {top1:.2f} (chance 0.02)")
    # world seeds 1-5 give 0.10-0.30 with independent speckle and 0.10-0.18 with the calibrated, correlated
    # speckle of real GRD data (fewer independent looks per 8 x 8 pool); seed 1: 0.24 and 0.18
    assert top1 > 0.12


def test_open_ocean_and_desert_are_hard_cases():
    for biome in ("open ocean", "desert"):
        top1 = linear_retrieval_top1((biome,), 120, 90)
        print(f"{biome}: top-1 {top1:.2f} (chance 0.03)")
        assert top1 <= 0.15
    # open ocean tiles look alike to the optical sensor
    spread = {}
    for biome in ("open ocean", "city"):
        w = SimulatedWorld(seed=2, size=32, n_scenes=40, biomes=(biome,))
        s2 = torch.stack([torch.nn.functional.avg_pool2d(w[i]["s2"][None], 8)[0] for i in range(12)]).flatten(
            1
        )
        spread[biome] = float(torch.pdist(s2).mean())
    assert spread["open ocean"] < 0.1 * spread["city"]


# --- physics ---------------------------------------------------------------------------------------------
def test_water_is_dark_in_radar(class_stats):
    water = class_stats["water"]["vv"].mean()
    land = np.concatenate([s["vv"] for n, s in class_stats.items() if n != "water"]).mean()
    print(f"VV water {water:.1f} dB, land {land:.1f} dB")
    assert water < -15 and land - water >= 5


def test_urban_is_the_brightest_class_in_vv(class_stats):
    means = {n: s["vv"].mean() for n, s in class_stats.items()}
    assert max(means, key=means.get) == "urban"


def test_forest_vh_above_cropland_vh(class_stats):
    assert class_stats["forest"]["vh"].mean() > class_stats["cropland"]["vh"].mean() + 2


def test_ndvi_vegetation_and_water(class_stats):
    for name in ("forest", "grassland"):
        assert class_stats[name]["ndvi"].mean() > 0.5, name
    assert class_stats["water"]["ndvi"].mean() < 0


def test_crop_ndvi_above_half_at_the_peak_of_the_season():
    w = SimulatedWorld(seed=0, size=48, n_scenes=50, biomes=("cropland",))
    crop = LANDCOVER_CLASSES.index("cropland")
    best = max(
        float(ndvi(p["s2"])[p["landcover"] == crop].mean())
        for i in range(6)
        for p in [w.render(i, date="2021-06-10")]
        if bool((p["landcover"] == crop).any())
    )
    assert best > 0.5


def test_snow_is_bright_in_the_visible_and_dark_in_the_swir():
    w = SimulatedWorld(seed=0, size=48, n_scenes=20, biomes=("polar",))
    snow = LANDCOVER_CLASSES.index("snow/ice")
    vis, swir = [], []
    for i in range(6):
        p = w[i]
        m = p["landcover"] == snow
        vis.append(p["s2"][1:4][:, m].mean(0))
        swir.append(p["s2"][10][m])
    assert float(torch.cat(vis).mean()) > 0.6 and float(torch.cat(swir).mean()) < 0.2


@pytest.mark.parametrize("looks", [1.0, 4.4, 16.0])
def test_speckle_cv_is_one_over_sqrt_looks_on_homogeneous_areas(looks):
    w = SimulatedWorld(seed=0, size=64, n_scenes=20, biomes=("open ocean",), looks=looks)
    clean = SimulatedWorld(seed=0, size=64, n_scenes=20, biomes=("open ocean",), looks=looks, noise=False)
    cvs = []
    for i in range(4):
        lin = 10 ** (w[i]["s1"][0].double() / 10)
        ref = 10 ** (clean[i]["s1"][0].double() / 10)
        for r in range(0, 64, 16):
            for c in range(0, 64, 16):
                block, flat = lin[r : r + 16, c : c + 16], ref[r : r + 16, c : c + 16]
                if float(flat.std() / flat.mean()) < 0.03:  # homogeneous: the clean scene barely varies
                    cvs.append(float(block.std() / block.mean()))
    assert len(cvs) >= 8
    cv = float(np.mean(cvs))
    print(f"looks {looks}: CV {cv:.3f}, theory {looks**-0.5:.3f}")
    assert abs(cv - looks**-0.5) < 0.15 * looks**-0.5


def test_speckle_is_multiplicative_gamma_with_unit_mean():
    w = SimulatedWorld(seed=4, size=64, n_scenes=5, looks=4.4)
    clean = SimulatedWorld(seed=4, size=64, n_scenes=5, looks=4.4, noise=False)
    ratio = torch.cat([(10 ** ((w[i]["s1"] - clean[i]["s1"]).double() / 10)).flatten() for i in range(5)])
    assert float(ratio.mean()) == pytest.approx(1.0, abs=0.02)
    assert float(ratio.var()) == pytest.approx(1 / 4.4, rel=0.05)


def test_clouds_change_the_optical_image_only(world):
    clear = SimulatedWorld(seed=0, size=48, n_scenes=400, cloud_cover=0.0)
    cloudy = SimulatedWorld(seed=0, size=48, n_scenes=400, cloud_cover=0.6)
    changed = 0
    for i in range(12):
        a, b = clear[i], cloudy[i]
        assert torch.equal(a["s1"], b["s1"]) and torch.equal(a["landcover"], b["landcover"])
        assert not a["cloud_mask"].any()
        outside = ~b["cloud_mask"]
        assert torch.equal(a["s2"][:, outside], b["s2"][:, outside])
        if b["cloud_mask"].any():
            changed += 1
            assert float((a["s2"][:, b["cloud_mask"]] - b["s2"][:, b["cloud_mask"]]).abs().max()) > 0.01
    assert changed >= 5
    frac = np.mean([float(cloudy[i]["cloud_mask"].float().mean()) for i in range(40)])
    assert 0.35 < frac < 0.85  # clouds and their shadows around the requested cover


# --- scale ------------------------------------------------------------------------------------------------
def test_coarser_gsd_is_the_area_average_of_the_fine_rendering():
    w = SimulatedWorld(seed=5, size=32, n_scenes=30)
    for i in range(4):
        fine, coarse = w.render(i, gsd=10.0, size=64), w.render(i, gsd=20.0, size=32)
        pool = torch.nn.functional.avg_pool2d
        torch.testing.assert_close(coarse["s2"], pool(fine["s2"][None], 2)[0], rtol=1e-5, atol=1e-6)
        lin = pool((10 ** (fine["s1"].double() / 10))[None], 2)[0]
        torch.testing.assert_close(coarse["s1"].double(), 10 * torch.log10(lin), rtol=0, atol=1e-4)
        # majority vote of the 2 x 2 blocks
        blocks = fine["landcover"].reshape(32, 2, 32, 2).permute(0, 2, 1, 3).reshape(32, 32, 4)
        counts = torch.nn.functional.one_hot(blocks, len(LANDCOVER_CLASSES)).sum(2)
        assert torch.equal(coarse["landcover"], counts.argmax(-1))
        assert coarse["gsd"] == 20.0 and coarse["transform"][0] == 20.0
        assert coarse["transform"][2] == pytest.approx(fine["transform"][2])  # same footprint


def test_coarse_gsd_multilooks_the_speckle():
    w = SimulatedWorld(seed=0, size=32, n_scenes=20, biomes=("desert",), looks=4.4)
    clean = SimulatedWorld(seed=0, size=32, n_scenes=20, biomes=("desert",), looks=4.4, noise=False)
    ratio = torch.cat(
        [
            10 ** ((w.render(i, gsd=40.0)["s1"] - clean.render(i, gsd=40.0)["s1"]).double() / 10).flatten()
            for i in range(4)
        ]
    )
    # 4 x 4 fine pixels per coarse pixel of correlated speckle: the white speckle (looks L0) passes the
    # separable Gaussian k then the 4-pixel box, so var = (sum_j g_j^2)^2 / L0 with g = box4 * k (1-D)
    k = gaussian_taps(w.config.speckle_sigma / 10.0)
    g = np.convolve(np.full(4, 0.25), k)
    looks0 = 4.4 * float((k**2).sum()) ** 2
    expected = (float((g**2).sum()) ** 2 / looks0) ** 0.5
    assert float(ratio.std()) == pytest.approx(expected, rel=0.15)
    assert expected > 1.5 * (4.4 * 16) ** -0.5  # correlated pixels hold fewer independent looks


def gaussian_taps(sigma: float) -> np.ndarray:
    """Sampled Gaussian exp(-x^2 / 2 sigma^2) on x = -4 sigma .. 4 sigma, normalised to sum 1."""
    x = np.arange(-math.ceil(4 * sigma), math.ceil(4 * sigma) + 1)
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def test_coarse_gsd_multilooks_independent_speckle_sixteen_fold():
    kw = {"seed": 0, "size": 32, "n_scenes": 20, "biomes": ("desert",), "looks": 4.4, "speckle_sigma": 0.0}
    w, clean = SimulatedWorld(**kw), SimulatedWorld(**kw, noise=False)
    ratio = torch.cat(
        [
            10 ** ((w.render(i, gsd=40.0)["s1"] - clean.render(i, gsd=40.0)["s1"]).double() / 10).flatten()
            for i in range(4)
        ]
    )
    # 4 x 4 independent fine pixels per coarse pixel: 16 times the looks
    assert float(ratio.std()) == pytest.approx((4.4 * 16) ** -0.5, rel=0.15)


@pytest.mark.parametrize("sigma", [0.0, 9.3, 15.0])
def test_speckle_of_neighbours_is_correlated_as_its_kernel_says(sigma):
    w = SimulatedWorld(seed=2, size=64, n_scenes=8, speckle_sigma=sigma)
    clean = SimulatedWorld(seed=2, size=64, n_scenes=8, speckle_sigma=sigma, noise=False)
    ratio = np.stack([10 ** ((w[i]["s1"] - clean[i]["s1"]).double().numpy() / 10) for i in range(6)])
    z = ratio - ratio.mean()
    for lag in (1, 2):
        acf = float((z[..., lag:, :] * z[..., :-lag, :]).mean() / (z * z).mean())
        # white noise through a Gaussian of sigma px has the autocorrelation exp(-lag^2 / (4 sigma^2))
        theory = math.exp(-(lag**2) / (4 * (sigma / 10.0) ** 2)) if sigma else 0.0
        assert acf == pytest.approx(theory, abs=0.04), (lag, acf, theory)
    assert float(ratio.var()) == pytest.approx(1 / 4.4, rel=0.06)  # every pixel keeps 1 / looks


def test_same_place_at_every_gsd():
    fine = SimulatedWorld(seed=3, size=32, n_scenes=10, gsd=10.0)
    coarse = SimulatedWorld(seed=3, size=32, n_scenes=10, gsd=40.0)
    a, b = fine[2], coarse[2]
    assert (a["lat"], a["lon"], a["date"], a["biome"]) == (b["lat"], b["lon"], b["date"], b["biome"])
    # the centre 8 x 8 coarse pixels cover the fine tile
    torch.testing.assert_close(
        b["s2"][:, 12:20, 12:20],
        torch.nn.functional.avg_pool2d(fine.render(2, size=128)["s2"][None], 4)[0][:, 12:20, 12:20],
    )


def test_gsd_tuple_draws_one_gsd_per_scene():
    w = SimulatedWorld(seed=0, size=16, n_scenes=40, gsd=(10.0, 20.0, 40.0))
    gsds = Counter(w[i]["gsd"] for i in range(40))
    assert set(gsds) == {10.0, 20.0, 40.0}


# --- time -------------------------------------------------------------------------------------------------
def test_crops_green_up_and_are_harvested():
    w = SimulatedWorld(seed=0, size=48, n_scenes=30, biomes=("cropland",), noise=False)
    crop = LANDCOVER_CLASSES.index("cropland")
    dates = ["2021-01-15", "2021-06-01", "2021-10-20"]
    curves = []
    for i in range(5):
        series = w.time_series(i, dates, event=None)
        m = series[1]["landcover"] == crop
        if m.sum() > 200:
            curves.append([float(ndvi(p["s2"])[m].mean()) for p in series])
    curves = np.array(curves)
    assert len(curves) >= 2
    assert (curves[:, 1] > curves[:, 0] + 0.15).all() and (curves[:, 1] > curves[:, 2] + 0.15).all()


@pytest.mark.parametrize(
    ("event", "biome", "after"),
    [
        ("deforestation", "tropical", "bare soil"),
        ("flood", "cropland", "water"),
        ("construction", "grassland", "urban"),
    ],
)
def test_change_events_and_their_masks(event, biome, after):
    w = SimulatedWorld(seed=0, size=48, n_scenes=10, biomes=(biome,))
    dates = ["2020-03-01", "2020-05-01", "2020-07-01", "2020-09-01", "2020-11-01"]
    series = w.time_series(0, dates, event=event)
    when = series[0]["event_date"]
    assert dates[0] < when <= dates[-1]
    before = [p for p in series if p["date"] < when]
    assert before and all(not p["change_mask"].any() and p["event"] == "none" for p in before)
    last = series[-1]
    assert last["event"] == event and last["change_mask"].float().mean() > 0.03
    changed = last["landcover"][last["change_mask"]]
    assert float((changed == LANDCOVER_CLASSES.index(after)).float().mean()) > 0.9
    # outside the mask, land cover is what it was before the event on that date
    quiet = w.render(0, date=dates[-1])
    assert torch.equal(quiet["landcover"][~last["change_mask"]], last["landcover"][~last["change_mask"]])


def test_time_series_rejects_bad_dates(world):
    with pytest.raises(ValueError, match="dates"):
        world.time_series(0, "2020-01-01")
    with pytest.raises(ValueError, match="ISO date"):
        world.time_series(0, ["2020-01-01", "January"])
    with pytest.raises(ValueError, match="event"):
        world.time_series(0, ["2020-01-01"], event="earthquake")


# --- export and arguments ---------------------------------------------------------------------------------
def test_to_geotiff_writes_georeferenced_files_and_never_overwrites(tmp_path):
    import rasterio

    w = SimulatedWorld(seed=0, size=32, n_scenes=3)
    paths = w.to_geotiff(1, tmp_path)
    p = w[1]
    with rasterio.open(paths["s1"]) as s1, rasterio.open(paths["s2"]) as s2:
        assert s1.count == 2 and s2.count == 12 and str(s1.crs) == p["crs"] == str(s2.crs)
        assert tuple(s1.transform)[:6] == pytest.approx(p["transform"]) and s2.transform == s1.transform
        np.testing.assert_array_equal(s1.read(), p["s1"].numpy())
        np.testing.assert_allclose(s2.read() / 10000.0, p["s2"].numpy(), atol=5.1e-5)
        assert s1.descriptions == ("VV", "VH") and s2.descriptions[8] == "B8A"
    before = {k: v.read_bytes() for k, v in paths.items()}
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        w.to_geotiff(1, tmp_path)
    assert {k: v.read_bytes() for k, v in paths.items()} == before
    tiles = PairedRasterDataset(paths["s1"], paths["s2"], size=16)
    assert len(tiles) == 4 and tiles[0]["date"] == p["date"]
    torch.testing.assert_close(tiles[3]["s1"], p["s1"][:, 16:, 16:])


def test_cache_returns_the_same_pairs_and_respects_its_budget():
    import pickle

    w = SimulatedWorld(seed=0, size=16, n_scenes=50, cache_mb=0.05)  # room for a few 16 x 16 pairs
    first = [w[i] for i in range(10)]
    assert 0 < len(w._cache) < 10 and w._cache_bytes <= 0.05 * 2**20
    first[9]["s2"] += 1.0  # editing a returned pair never edits the cache
    again = w[9]
    assert torch.equal(again["s2"], SimulatedWorld(seed=0, size=16, n_scenes=50, cache_mb=0)[9]["s2"])
    assert len(pickle.loads(pickle.dumps(w))._cache) == 0
    off = SimulatedWorld(size=16, n_scenes=5, cache_mb=0)
    off[0]
    assert len(off._cache) == 0


def test_bad_arguments_raise_clear_errors():
    for kwargs, match in [
        ({"size": 0}, "size"),
        ({"cloud_cover": 1.5}, "cloud_cover"),
        ({"looks": 0}, "looks"),
        ({"speckle_sigma": -1.0}, "speckle_sigma"),
        ({"gsd": -1}, "gsd"),
        ({"biomes": ("moon",)}, "unknown biome"),
        ({"n_scenes": 0}, "n_scenes"),
        ({"colour": 1}, "unknown argument"),
    ]:
        with pytest.raises((ValueError, TypeError), match=match):
            SimulatedWorld(**kwargs)
    w = SimulatedWorld(n_scenes=3, size=8)
    with pytest.raises(IndexError, match="out of range"):
        w[3]
    assert w[-1]["index"] == 2
    assert SimulatedWorld(biomes="ocean").config.biomes == ("open ocean",)
    assert math.isclose(len(w), 3)


def test_radar_blur_is_a_gaussian_of_the_noise_free_scene():
    from scipy.ndimage import gaussian_filter

    sharp = SimulatedWorld(seed=3, size=48, n_scenes=10, noise=False, radar_blur=0.0)
    blurred = SimulatedWorld(seed=3, size=48, n_scenes=10, noise=False, radar_blur=9.3)
    for i in range(3):
        a = 10 ** (sharp[i]["s1"].double().numpy() / 10)
        b = 10 ** (blurred[i]["s1"].double().numpy() / 10)
        # scipy's mirror mode is NumPy's reflect; radius int(3 sigma + 0.5) = ceil(3 sigma) for sigma 0.93 px
        ref = gaussian_filter(a, sigma=(0, 0.93, 0.93), mode="mirror", truncate=3.0)
        np.testing.assert_allclose(b, ref, rtol=1e-4)
        torch.testing.assert_close(blurred[i]["s2"], sharp[i]["s2"])  # the optical image is untouched
