"""fetch_pair against a loopback STAC API in Planetary Computer's and Earth Search's shapes (no network).

odc-stac reads the fixture's COGs over HTTP with range requests; Planetary Computer's assets are signed with
SAS tokens from the fixture's token endpoint (the SDK's ``PC_SDK_SAS_URL``), and answer 403 unsigned.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import time
import warnings
from dataclasses import replace

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

import xmodal_lab as xl
from tests.data import stac_fixture as fx
from xmodal_lab.data import stac
from xmodal_lab.errors import CatalogError, InputValueError, NoSceneError, OutputExistsError, UnitsWarning

WHERE = (fx.CENTRE, fx.SIDE)
DATES = ("2023-07-01", "2023-07-31")


@contextlib.contextmanager
def serving():
    """A fixture catalog standing in for both named catalogs and the SAS token service."""
    from planetary_computer.settings import Settings

    cat = fx.FixtureCatalog()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GDAL_HTTP_PROXY", cat.url.removeprefix("http://"))  # blob hosts reach the fixture
        mp.setenv("PC_SDK_SAS_URL", cat.sas_url)
        mp.delenv("XMODAL_STAC_CATALOG", raising=False)
        mp.setitem(stac.CATALOGS, "planetary-computer", replace(stac.CATALOGS["planetary-computer"], url=cat.pc_url))
        mp.setitem(stac.CATALOGS, "earth-search", replace(stac.CATALOGS["earth-search"], url=cat.es_url))
        Settings.get.cache_clear()
        try:
            yield cat
        finally:
            Settings.get.cache_clear()
            cat.close()


@pytest.fixture(scope="module")
def catalog():
    with serving() as cat:
        yield cat


@pytest.fixture(scope="module")
def pair(catalog, tmp_path_factory):
    start = time.perf_counter()
    result = xl.data.fetch_pair(WHERE, DATES, out_dir=tmp_path_factory.mktemp("pc"), name="rondonia", progress=False)
    print(f"fetch_pair from the Planetary Computer fixture: {time.perf_counter() - start:.2f} s")
    return result


def read(path):
    with rasterio.open(path) as src:
        return src.read(), src


def test_scene_choice_cloud_filter_date_pairing_and_paging(pair, catalog):
    assert pair.info["s2"]["id"] == catalog.expected["s2"]  # A is clearer by eo:cloud_cover but cloudy over the box
    assert pair.info["s2"]["cloud_percent_over_box"] == pytest.approx(100 * catalog.cloud_pixels / 40_000, abs=0.5)
    assert pair.info["s1"]["id"] == catalog.expected["s1"]  # the VV-only and partial acquisitions are closer
    assert pair.info["s1"]["days_from_s2"] == pytest.approx(2.33, abs=0.01)
    assert pair.info["s1"]["sat:orbit_state"] == "ascending"
    searches = [u for m, u in catalog.requests if m == "POST"]
    assert len(searches) >= 3, "the S2 search (3 hits, 2 a page) must follow its next link"


def test_planetary_computer_assets_are_signed(pair, catalog):
    blobs = [u for _, u in catalog.requests if ".blob.core.windows.net" in u]
    assert blobs and all("sig=" in u and "se=" in u for u in blobs)
    assert any("/api/sas/v1/token/sentinel2l2a01/sentinel2-l2" in u for _, u in catalog.requests)
    assert any("/api/sas/v1/token/sentinel1euwestrtc/sentinel1-grd-rtc" in u for _, u in catalog.requests)
    assert any(m == "GET" for m, u in catalog.requests if ".tif" in u), "odc-stac reads the COGs over HTTP"


def test_grid_is_the_optical_utm_zone_at_10_m_with_exact_bounds(pair):
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32720", always_xy=True).transform(*fx.CENTRE)
    left, bottom = math.floor((x - 1000) / 10) * 10, math.floor((y - 1000) / 10) * 10
    right, top = math.ceil((x + 1000) / 10) * 10, math.ceil((y + 1000) / 10) * 10
    for path in (pair.s1, pair.s2, pair.cloud):
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 32720
            assert src.res == (10.0, 10.0)
            assert tuple(src.bounds) == pytest.approx((left, bottom, right, top), abs=1e-6)
            assert (src.width, src.height) == ((right - left) // 10, (top - bottom) // 10)
    s2, _ = read(pair.s2)
    sq_left, sq_bottom, sq_right, sq_top = fx.bright_square()  # the B8 square lands where it is on the ground
    rows, cols = np.nonzero(np.isclose(s2[7], fx.BRIGHT, atol=1e-4))
    assert (rows.min(), rows.max() + 1) == ((top - sq_top) / 10, (top - sq_bottom) / 10)
    assert (cols.min(), cols.max() + 1) == ((sq_left - left) / 10, (sq_right - left) / 10)


def test_units_db_with_nodata_and_reflectance_with_the_baseline_offset(pair):
    s1, _ = read(pair.s1)
    valid = np.isfinite(s1).all(axis=0)
    np.testing.assert_allclose(s1[0][valid], 10 * np.log10(fx.VV), atol=1e-4)  # -10 dB
    np.testing.assert_allclose(s1[1][valid], 10 * np.log10(fx.VH), atol=1e-4)  # -20 dB
    nodata_cols = np.nonzero(~valid.any(axis=0))[0]
    assert 3 <= len(nodata_cols) <= 6, "the strip of radar nodata stays NaN (bilinear widens it by a pixel)"
    s2, _ = read(pair.s2)
    assert s2.shape[0] == 12 and s2.dtype == np.float32
    bright = np.isclose(s2[7], fx.BRIGHT, atol=1e-4)
    for b, expected in enumerate(fx.REFLECTANCE):  # DN - 1000 (baseline 05.09), / 10000
        values = s2[b][~bright] if b == 7 else s2[b]
        np.testing.assert_allclose(values, expected, atol=1e-5 if b != 7 else 1e-5)
    assert pair.info["s2"]["processing_baseline"] == "05.09" and pair.info["s2"]["offset_dn"] == -1000.0


def test_scl_cloud_and_shadow_classes_make_the_mask(pair, catalog):
    mask = pair.cloud_mask()
    assert mask.sum() == catalog.cloud_pixels  # classes 8 and 3; the saturated class 1 is not cloud
    cloud, _ = read(pair.cloud)
    assert set(np.unique(cloud)) <= {0, 1}


def test_sidecar_names_items_times_catalog_licence(pair, catalog):
    info = json.loads(pair.sidecar.read_text())
    assert info == pair.info
    assert info["catalog"] == catalog.pc_url and info["s1_catalog"] == catalog.pc_url
    assert info["s2"]["datetime"].startswith("2023-07-15T14:17:39")
    assert info["s1"]["datetime"].startswith("2023-07-17T22:10:40")
    assert info["attribution"] == "Contains modified Copernicus Sentinel data 2023"
    assert "CC BY 4.0" in info["licence"] and "Copernicus" in info["licence"]
    assert info["files"] == {"s1": pair.s1.name, "s2": pair.s2.name, "cloud": pair.cloud.name}
    assert pair.s2.name.startswith("rondonia_") and pair.s2.name.endswith("_S2.tif")


def test_the_pair_opens_with_paired_raster_dataset(pair):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitsWarning)
        ds = xl.data.PairedRasterDataset(pair.s1, pair.s2, size=64)
    item = ds[0]
    assert item["s1"].shape == (2, 64, 64) and item["s2"].shape == (12, 64, 64)
    assert item["crs"] == "EPSG:32720" and item["gsd"] == pytest.approx(10.0) and item["date"] == "2023-07-15"
    assert float(item["s1"][0].mean()) == pytest.approx(-10.0, abs=1e-3)
    assert float(item["s2"][1].mean()) == pytest.approx(fx.REFLECTANCE[1], abs=1e-5)
    assert len(pair.dataset(size=64)) == len(ds)


def test_a_second_call_is_served_from_the_cache_without_network(pair, catalog):
    seen = len(catalog.requests)
    catalog.status = 503  # the catalog is down: a cached pair does not notice
    try:
        again = xl.data.fetch_pair(WHERE, DATES, out_dir=pair.s1.parent, name="rondonia", progress=False)
        renamed = xl.data.fetch_pair(WHERE, DATES, out_dir=pair.s1.parent, name="my_box", progress=False)
    finally:
        catalog.status = None
    assert len(catalog.requests) == seen
    assert (again.s1, again.s2, again.sidecar) == (pair.s1, pair.s2, pair.sidecar) and again.info == pair.info
    assert renamed.sidecar == pair.sidecar, "the same request under another name is the cached pair"


def test_earth_search_items_give_the_same_pair(catalog, pair, tmp_path):
    es = xl.data.fetch_pair(WHERE, "2023-07-01/2023-07-31", catalog="earth-search", out_dir=tmp_path, progress=False)
    assert es.info["s2"]["id"] == catalog.expected["es_s2"] and es.info["catalog"] == catalog.es_url
    assert es.info["s1_catalog"] == catalog.pc_url and es.info["s1"]["id"] == catalog.expected["s1"]
    assert es.info["s2"]["offset_dn"] == 0.0  # earthsearch:boa_offset_applied: the offset is already removed
    np.testing.assert_allclose(read(es.s2)[0], read(pair.s2)[0], atol=1e-6)
    np.testing.assert_array_equal(read(es.cloud)[0], read(pair.cloud)[0])


@pytest.mark.parametrize("down", ["refused", "503"])
def test_a_catalog_that_is_down_fails_quickly_and_leaves_nothing(catalog, tmp_path, down):
    if down == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/api/stac/v1"
    else:
        url, catalog.status = catalog.pc_url, 503
    start = time.perf_counter()
    try:
        with pytest.raises(CatalogError, match=url.replace(".", r"\.")) as error:
            xl.data.fetch_pair(WHERE, DATES, catalog=url, out_dir=tmp_path / "out", progress=False)
    finally:
        catalog.status = None
    assert time.perf_counter() - start < 10
    assert "check the connection" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_an_interrupted_download_leaves_no_partial_pair(tmp_path):
    with serving() as fresh:  # new URLs: GDAL has none of them cached
        fresh.truncate = "_B05_20m"  # one band's file drops half way
        start = time.perf_counter()
        with pytest.raises(CatalogError, match="could not be read"):
            xl.data.fetch_pair(WHERE, DATES, out_dir=tmp_path, name="cut", progress=False)
        assert time.perf_counter() - start < 15
        assert any("_B05_20m" in u for _, u in fresh.requests)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_while_writing_removes_what_was_published(catalog, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        assert len(list(tmp_path.glob("*.tif"))) == 3  # the GeoTIFFs are published; the sidecar comes last
        raise KeyboardInterrupt

    monkeypatch.setattr(stac, "publish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        xl.data.fetch_pair(WHERE, DATES, out_dir=tmp_path, name="ctrl_c", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_no_scene_in_the_window_is_a_clear_error(catalog, tmp_path):
    with pytest.raises(NoSceneError, match="widen the dates"):
        xl.data.fetch_pair(WHERE, ("2022-01-01", "2022-01-31"), out_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_gap_too_small_for_the_radar_scenes_names_the_gap_and_the_fix(catalog, tmp_path):
    with pytest.raises(NoSceneError, match=r"within 2 days of 2023-07-15 \(max_days_apart=2\).*raise max_days_apart"):
        xl.data.fetch_pair(WHERE, DATES, max_days_apart=2, out_dir=tmp_path, progress=False)  # the nearest: 2.33 d
    assert list(tmp_path.iterdir()) == []


def test_the_gap_is_part_of_the_request_that_keys_the_cache(pair, catalog):
    assert pair.info["request"]["max_days_apart"] == 12.0  # the default
    seen = len(catalog.requests)
    wider = xl.data.fetch_pair(WHERE, DATES, max_days_apart=3, out_dir=pair.s1.parent, name="rondonia", progress=False)
    assert len(catalog.requests) > seen, "a different gap is a different request, not the cached pair"
    assert wider.sidecar != pair.sidecar and wider.info["request"]["max_days_apart"] == 3.0
    assert wider.info["s1"]["id"] == pair.info["s1"]["id"]
    np.testing.assert_array_equal(read(wider.s1)[0], read(pair.s1)[0])


@pytest.mark.parametrize("gap", [0, -1, float("nan"), float("inf"), "12", True, None])
def test_a_gap_that_is_not_a_positive_number_fails_before_any_download(gap, tmp_path):
    with pytest.raises(InputValueError, match="max_days_apart: expected a positive number of days"):
        xl.data.fetch_pair(WHERE, DATES, max_days_apart=gap, catalog="http://127.0.0.1:9/none", out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("props", "offset"),
    [
        ({"s2:processing_baseline": "02.12"}, 0.0),
        ({"s2:processing_baseline": "03.01"}, 0.0),
        ({"s2:processing_baseline": "04.00"}, -1000.0),
        ({"s2:processing_baseline": "05.10"}, -1000.0),
        ({"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": True}, 0.0),
        ({"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": False}, -1000.0),
        ({"datetime": "2021-12-30T10:00:00Z"}, 0.0),
        ({"datetime": "2022-02-01T10:00:00Z"}, -1000.0),
    ],
)
def test_s2_offset_follows_the_processing_baseline(props, offset):
    assert stac.s2_offset(props)[0] == offset


@pytest.mark.parametrize(
    ("where", "dates"),
    [
        ((10, 50, 9, 51), DATES),  # west > east
        (((10, 50), 50_000), DATES),  # 50 km: larger than a pair may be
        ((0, 0, 1, 1), DATES),  # about 111 km a side
        (WHERE, ("2023-07-31", "2023-07-01")),
        (WHERE, "July"),
    ],
)
def test_bad_requests_fail_before_any_download(where, dates, tmp_path):
    with pytest.raises(InputValueError):
        xl.data.fetch_pair(where, dates, catalog="http://127.0.0.1:9/none", out_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_course_places_are_small_boxes_with_dated_windows():
    from xmodal_lab.data.stac import _area, _grid, _window

    assert {"rondonia", "sindh_flood", "rotterdam_port", "pilat_coast", "kansas_farmland"} <= set(xl.data.COURSE_PLACES)
    assert set(xl.data.COURSE_PLACES["rondonia"].dates) == {"before", "after"}
    assert set(xl.data.COURSE_PLACES["sindh_flood"].dates) == {"before", "during"}
    for place in xl.data.COURSE_PLACES.values():
        (lon, lat), side = place.where
        assert 2000 <= side <= 5000
        grid = _grid(_area(place.where), 32600 + int((lon + 180) // 6) + 1 + (100 if lat < 0 else 0))
        assert grid.shape.x <= 501 and grid.shape.y <= 501
        windows = sorted(_window(d) for d in place.dates.values())
        assert all(start < end for start, end in windows)


def test_the_command_line_fetches_a_box_and_reports_it(catalog, tmp_path, capsys):
    from xmodal_lab.data.fetch import main

    x, y = fx.CENTRE
    box = [str(v) for v in (x - 0.005, y - 0.005, x + 0.005, y + 0.005)]
    assert main(["--bbox", *box, "--dates", "2023-07-01/2023-07-31", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"box: 2023-07-15 {catalog.expected['s2']}" in out and catalog.expected["s1"] in out
    assert len(list(tmp_path.glob("box_*.json"))) == 1


def test_the_command_line_passes_the_radar_optical_gap(catalog, tmp_path, capsys):
    from xmodal_lab.data.fetch import main

    x, y = fx.CENTRE
    box = [str(v) for v in (x - 0.005, y - 0.005, x + 0.005, y + 0.005)]
    args = ["--bbox", *box, "--dates", "2023-07-01/2023-07-31", "--out", str(tmp_path), "--quiet"]
    assert main([*args, "--max-days-apart", "2"]) == 1
    assert "box: no pair" in (out := capsys.readouterr().out) and "max_days_apart=2" in out
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_offline_says_so_in_one_line_and_stops(tmp_path, capsys):
    from xmodal_lab.data.fetch import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/api/stac/v1"
    start = time.perf_counter()
    assert main(["--course", "--catalog", url, "--out", str(tmp_path), "--quiet"]) == 2
    assert time.perf_counter() - start < 10
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "offline" in out[0] and url in out[0]
    assert list(tmp_path.iterdir()) == []


def test_xmodal_stac_catalog_sets_the_default_catalog(catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_STAC_CATALOG", "earth-search")
    assert stac.resolve_catalog(None) is stac.CATALOGS["earth-search"]
    monkeypatch.setenv("XMODAL_STAC_CATALOG", catalog.pc_url + "/")  # a mirror or a local catalog
    assert stac.resolve_catalog(None).url == catalog.pc_url
    assert stac.resolve_catalog("planetary-computer") is stac.CATALOGS["planetary-computer"]
    pair = xl.data.fetch_pair(WHERE, DATES, out_dir=tmp_path, progress=False)
    assert pair.info["catalog"] == catalog.pc_url and pair.info["s2"]["id"] == catalog.expected["s2"]
    with pytest.raises(InputValueError, match="STAC API URL"):
        stac.resolve_catalog("sentinel-hub")


def test_a_file_in_the_way_is_never_overwritten(pair, catalog, tmp_path):
    mine = tmp_path / pair.s2.name  # the same request in another folder has the same names
    mine.write_text("my own file")
    seen = len(catalog.requests)
    with pytest.raises(OutputExistsError, match="refusing to overwrite"):
        xl.data.fetch_pair(WHERE, DATES, out_dir=tmp_path, name="rondonia", progress=False)
    assert len(catalog.requests) == seen, "the name is checked before any download"
    assert mine.read_text() == "my own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]


@pytest.mark.slow
def test_live_planetary_computer_pair_of_a_course_place(tmp_path):
    """Needs the network: the course's Rondônia box from Planetary Computer, opened as the kit reads it."""
    place = xl.data.COURSE_PLACES["rondonia"]
    pair = xl.data.fetch_pair(place.where, place.dates["after"], catalog="planetary-computer", out_dir=tmp_path)
    s1, s2 = read(pair.s1)[0], read(pair.s2)[0]
    assert -30 < np.nanmedian(s1[0]) < 5 and np.nanmedian(s1[1]) < np.nanmedian(s1[0])  # VH below VV, in dB
    assert 0.0 < np.nanmedian(s2[3]) < 0.3 and np.nanmedian(s2[7]) > np.nanmedian(s2[3])  # red < NIR
    assert len(pair.dataset(size=64)) > 0


def test_a_catalog_with_other_asset_names_is_named_as_such(catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(stac, "S2_ASSETS", {"B02": ("B1_10m",) * 13})  # as if the items used other names
    with pytest.raises(NoSceneError, match="lack the assets the kit reads"):
        xl.data.fetch_pair(WHERE, DATES, out_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())
