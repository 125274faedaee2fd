"""A loopback STAC API in the shape of Planetary Computer and Earth Search, with small COGs behind it.

The way pystac-client and odc-stac test themselves (recorded API answers, items of real catalogs, COGs read
over HTTP), without a network: one threaded ``http.server`` on 127.0.0.1 answers

- ``/api/stac/v1`` (+ ``/conformance``, ``POST /search``): Planetary Computer's stac-fastapi/pgstac shapes
  (landing page with ``conformsTo`` and ``search`` links; ``FeatureCollection`` pages with a ``next`` link
  whose POST ``body`` carries ``token: "next:<id>"``; ``sentinel-2-l2a`` items as a recorded one of 2024
  (STAC 1.1, ``proj:code``, six-number ``proj:transform``, blob hrefs down to ``IMG_DATA/R10m/..._B02_10m.tif``),
  asset titles and ``gsd`` from microsoft/planetary-computer-tasks ``datasets/sentinel-2/collection/
  template.json``; ``sentinel-1-rtc`` items from ``datasets/sentinel-1-rtc`` there (``vv``/``vh`` assets with
  ``raster:bands`` nodata -32768 float32, item-level ``proj:epsg`` and nine-number ``proj:transform``));
- ``/api/sas/v1/token/{account}/{container}``: the SAS token endpoint (``{"msft:expiry", "token"}``, the
  ``SASToken`` model of microsoft/planetary-computer-sdk-for-python);
- ``/v1`` (+ ``POST /search``): Earth Search v1 (stac-server) shapes: ``numberMatched``/``numberReturned``,
  ``next`` links with ``merge: false`` and a ``next`` cursor, items with common-name asset keys, ``proj:code``,
  ``raster:bands`` (scale 0.0001, offset -0.1) and ``earthsearch:boa_offset_applied``;
- the COGs, with HTTP Range requests. Planetary Computer's assets keep their blob-storage host names
  (``http://sentinel2l2a01.blob.core.windows.net/...``): GDAL reaches them through this server as its HTTP
  proxy (``GDAL_HTTP_PROXY``), and they answer 403 without a SAS signature, as Azure does.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
from pyproj import Transformer

EPSG = 32720  # UTM 20 S: Rondônia
CENTRE = (-63.05, -9.95)  # lon, lat of the test box: the centre of COURSE_PLACES["rondonia"]
SIDE = 2000.0  # metres: the test box is a 2 km square around CENTRE
TILE = 5760.0  # metres: the fixture's "tile" (96 px at 60 m, 288 at 20 m, 576 at 10 m)
REFLECTANCE = tuple(round(0.02 + 0.02 * b, 4) for b in range(12))  # per band, the kit's order
BRIGHT = 0.6  # B8 reflectance of a bright 10 x 10 px square
VV, VH = 0.1, 0.01  # linear gamma0: -10 dB, -20 dB
S1_NODATA = -32768.0
PC_KEYS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
ES_KEYS = ("coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "nir09",
           "swir16", "swir22")  # fmt: skip
GSD = {"B01": 60, "B09": 60, "B05": 20, "B06": 20, "B07": 20, "B8A": 20, "B11": 20, "B12": 20}
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]


def utm_centre() -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True).transform(*CENTRE)


def tile_origin() -> tuple[float, float]:
    """Top-left corner of the fixture tile, on the 60 m grid as Sentinel-2 tiles are."""
    x, y = utm_centre()
    return float(np.floor((x - TILE / 2) / 60) * 60), float(np.ceil((y + TILE / 2) / 60) * 60)


def bright_square() -> tuple[float, float, float, float]:
    """UTM bounds (left, bottom, right, top) of the bright B8 square: 100 m, 300 m east and north of the centre."""
    x0, y0 = tile_origin()
    x, y = utm_centre()
    left = x0 + np.floor((x + 300 - x0) / 10) * 10
    top = y0 - np.floor((y0 - (y + 400)) / 10) * 10
    return left, top - 100, left + 100, top


def _cog(array: np.ndarray, res: float, origin: tuple[float, float], nodata: float | None) -> bytes:
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin
    profile = dict(driver="COG", width=array.shape[1], height=array.shape[0], count=1, dtype=array.dtype,
                   crs=f"EPSG:{EPSG}", transform=from_origin(*origin, res, res), nodata=nodata,
                   blocksize=256, compress="deflate")  # fmt: skip
    with rasterio.Env(GDAL_NUM_THREADS="1"), MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(array, 1)
        return memory.read()


def _footprint(left: float, bottom: float, right: float, top: float) -> dict:
    to_ll = Transformer.from_crs(f"EPSG:{EPSG}", "EPSG:4326", always_xy=True)
    ring = [list(to_ll.transform(x, y)) for x, y in ((left, bottom), (right, bottom), (right, top), (left, top))]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _bbox(geometry: dict) -> list[float]:
    xs, ys = zip(*geometry["coordinates"][0])
    return [min(xs), min(ys), max(xs), max(ys)]


class FixtureCatalog:
    """The server, its items and the COGs; ``requests`` logs ``(method, url)``; ``status``, ``truncate`` break it."""

    page_size = 2  # the servers cap ``limit``: two items a page, so every search pages

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.status: int | None = None  # answer everything with this status (a catalog that is down)
        self.truncate: str | None = None  # cut the body of files whose URL contains this (a broken download)
        self.blobs: dict[str, bytes] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.pc_url, self.es_url = f"{self.url}/api/stac/v1", f"{self.url}/v1"
        self.sas_url = f"{self.url}/api/sas/v1/token"
        self.nonce = uuid.uuid4().hex[:8]  # GDAL caches by URL: no two fixtures share one
        self._build()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- content -------------------------------------------------------------------------------------
    def _build(self) -> None:
        x0, y0 = tile_origin()
        tile = (x0, y0 - TILE, x0 + TILE, y0)
        half = (x0, y0 - TILE, x0 + TILE / 2 - 500, y0)  # a scene ending west of the box's east edge
        bands_pc, bands_es = {}, {}
        for b, key in enumerate(PC_KEYS):
            res = GSD.get(key, 10)
            n = int(TILE / res)
            refl = np.full((n, n), REFLECTANCE[b], np.float64)
            if key == "B08":
                left, bottom, right, top = bright_square()
                refl[int((y0 - top) / 10):int((y0 - bottom) / 10), int((left - x0) / 10):int((right - x0) / 10)] = BRIGHT
            bands_pc[key] = _cog(np.round(refl * 10000 + 1000).astype(np.uint16), res, (x0, y0), 0)
            bands_es[ES_KEYS[b]] = _cog(np.round(refl * 10000).astype(np.uint16), res, (x0, y0), 0)
        n20 = int(TILE / 20)
        x, y = utm_centre()
        centre_col = int((x - x0) / 20)
        scl_clear = np.full((n20, n20), 4, np.uint8)  # 4: vegetation
        scl_b = scl_clear.copy()
        self.cloud_pixels = self._clouds(scl_b)
        scl_a = scl_clear.copy()
        scl_a[:, :centre_col] = 9  # everything west of the centre under thick cloud: half of the box
        s1 = {}
        for key, value in (("vv", VV), ("vh", VH)):
            power = np.full((int(TILE / 10),) * 2, value, np.float32)
            power[:, 2 * centre_col + 30:2 * centre_col + 34] = S1_NODATA  # a strip without data through the box
            s1[key] = _cog(power, 10, (x0, y0), S1_NODATA)
        s2 = [  # id stem, date, eo:cloud_cover, footprint, SCL
            ("A", "2023-07-10", 5.0, tile, _cog(scl_a, 20, (x0, y0), 0)),
            ("B", "2023-07-15", 12.0, tile, _cog(scl_b, 20, (x0, y0), 0)),
            ("C", "2023-07-20", 60.0, tile, _cog(scl_clear, 20, (x0, y0), 0)),
            ("D", "2023-07-25", 2.0, half, _cog(scl_clear, 20, (x0, y0), 0)),
        ]
        self.pc_s2 = [self._pc_s2(*row, bands_pc) for row in s2]
        self.es_s2 = [self._es_s2(*row, bands_es) for row in s2]
        s1_rows = [  # id stem, time, polarisations, orbit, footprint
            ("a", "2023-07-10T09:50:12Z", ("vv", "vh"), "descending", tile),
            ("b", "2023-07-16T09:50:12Z", ("vv",), "descending", tile),
            ("c", "2023-07-17T22:10:40Z", ("vv", "vh"), "ascending", tile),
            ("d", "2023-07-15T22:10:40Z", ("vv", "vh"), "ascending", half),
            ("e", "2023-07-29T22:10:40Z", ("vv", "vh"), "ascending", tile),
        ]
        self.pc_s1 = [self._pc_s1(*row, s1) for row in s1_rows]
        self.expected = {"s2": self.pc_s2[1]["id"], "s1": self.pc_s1[2]["id"], "es_s2": self.es_s2[1]["id"]}

    @staticmethod
    def _clouds(scl: np.ndarray) -> int:
        """Paint a medium-probability cloud (8) and its shadow (3) inside the box; return their 10 m pixels."""
        x0, y0 = tile_origin()
        x, y = utm_centre()
        r, c = int((y0 - y) / 20), int((x - x0) / 20)
        scl[r - 20:r - 12, c - 30:c - 20] = 8  # 8 x 10 px at 20 m
        scl[r + 5:r + 11, c + 10:c + 14] = 3  # 6 x 4 px at 20 m
        scl[r + 20:r + 24, c - 5:c + 5] = 1  # saturated: not a cloud class
        return (8 * 10 + 6 * 4) * 4

    def _assets_common(self, key: str, href: str, res: float) -> dict:
        x0, y0 = tile_origin()
        n = int(TILE / res)
        return {"href": href, "proj:bbox": [x0, y0 - TILE, x0 + TILE, y0], "proj:shape": [n, n],
                "proj:transform": [res, 0.0, x0, 0.0, -res, y0], "gsd": float(res), "type": COG,
                "roles": ["data"]}  # fmt: skip

    def _pc_s2(self, stem: str, date: str, cloud: float, foot: tuple, scl: bytes, bands: dict) -> dict:
        day = date.replace("-", "")
        iid = f"S2B_MSIL2A_{day}T141739_R010_T20LMP_{day}T213512"
        safe = f"S2B_MSIL2A_{day}T141739_N0509_R010_T20LMP_{day}T213512.SAFE"
        base = (f"http://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/20/L/MP/{date.replace('-', '/')}/"
                f"{self.nonce}{stem}/{safe}/GRANULE/L2A_T20LMP_A033000_{day}T142210/IMG_DATA")  # fmt: skip
        assets = {}
        for key in (*PC_KEYS, "SCL"):
            res = GSD.get(key, 20 if key == "SCL" else 10)
            href = f"{base}/R{res}m/T20LMP_{day}T141739_{key}_{res}m.tif"
            self.blobs[href] = scl if key == "SCL" else bands[key]
            assets[key] = {**self._assets_common(key, href, res), "title": f"Band {key} - {res}m"}
            if key != "SCL":
                assets[key]["eo:bands"] = [{"name": key, "description": f"Band {key}", "center_wavelength": 0.5}]
        assets["rendered_preview"] = {"href": f"https://planetarycomputer.microsoft.com/api/data/v1/item/"
                                              f"preview.png?collection=sentinel-2-l2a&item={iid}",
                                      "type": "image/png", "roles": ["overview"], "title": "Rendered preview"}  # fmt: skip
        geometry = _footprint(*foot)
        return {
            "type": "Feature", "stac_version": "1.1.0", "id": iid, "collection": "sentinel-2-l2a",
            "bbox": _bbox(geometry), "geometry": geometry,
            "properties": {
                "datetime": f"{date}T14:17:39.024000Z", "platform": "Sentinel-2B", "proj:code": f"EPSG:{EPSG}",
                "instruments": ["msi"], "s2:mgrs_tile": "20LMP", "constellation": "Sentinel 2",
                "eo:cloud_cover": cloud, "s2:product_uri": safe, "s2:product_type": "S2MSI2A",
                "sat:orbit_state": "descending", "sat:relative_orbit": 10, "s2:processing_baseline": "05.09",
                "s2:datatake_type": "INS-NOBS", "s2:generation_time": f"{date}T21:35:12.000000Z",
                "s2:high_proba_clouds_percentage": cloud / 2, "s2:nodata_pixel_percentage": 0.0,
            },
            "links": [
                {"rel": "collection", "href": f"{self.pc_url}/collections/sentinel-2-l2a", "type": "application/json"},
                {"rel": "parent", "href": f"{self.pc_url}/collections/sentinel-2-l2a", "type": "application/json"},
                {"rel": "root", "href": self.pc_url, "type": "application/json",
                 "title": "Microsoft Planetary Computer STAC API"},
                {"rel": "self", "href": f"{self.pc_url}/collections/sentinel-2-l2a/items/{iid}",
                 "type": "application/geo+json"},
                {"rel": "license", "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"},
                {"rel": "preview", "type": "text/html", "title": "Map of item",
                 "href": f"https://planetarycomputer.microsoft.com/api/data/v1/item/map?collection=sentinel-2-l2a&item={iid}"},
            ],  # fmt: skip
            "assets": assets,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/projection/v2.0.0/schema.json"],  # fmt: skip
        }

    def _es_s2(self, stem: str, date: str, cloud: float, foot: tuple, scl: bytes, bands: dict) -> dict:
        day = date.replace("-", "")
        iid = f"S2B_20LMP_{day}_0_L2A"
        base = f"{self.url}/sentinel-cogs/sentinel-s2-l2a-cogs/20/L/MP/{date[:4]}/{int(date[5:7])}/{self.nonce}{stem}/{iid}"
        assets = {}
        for b, key in enumerate((*ES_KEYS, "scl")):
            pc_key = (*PC_KEYS, "SCL")[b]
            res = GSD.get(pc_key, 20 if key == "scl" else 10)
            href = f"{base}/{key.upper() if key == 'scl' else pc_key}.tif"
            self.blobs[href] = scl if key == "scl" else bands[key]
            rb = {"nodata": 0, "data_type": "uint8" if key == "scl" else "uint16", "spatial_resolution": res}
            if key != "scl":
                rb.update(bits_per_sample=15, scale=0.0001, offset=-0.1)
            common = self._assets_common(key, href, res)
            common.pop("proj:bbox")
            assets[key] = {**common, "title": key, "raster:bands": [rb]}
        geometry = _footprint(*foot)
        return {
            "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": "sentinel-2-l2a",
            "bbox": _bbox(geometry), "geometry": geometry,
            "properties": {
                "created": f"{date}T20:00:00.000Z", "platform": "sentinel-2b", "constellation": "sentinel-2",
                "instruments": ["msi"], "eo:cloud_cover": cloud, "proj:code": f"EPSG:{EPSG}",
                "mgrs:utm_zone": 20, "mgrs:latitude_band": "L", "mgrs:grid_square": "MP",
                "grid:code": "MGRS-20LMP", "view:sun_azimuth": 40.0, "view:sun_elevation": 50.0,
                "s2:processing_baseline": "05.09", "s2:product_type": "S2MSI2A",
                "sat:orbit_state": "descending", "sat:relative_orbit": 10,
                "earthsearch:boa_offset_applied": True, "processing:software": {"sentinel2-to-stac": "0.1.1"},
                "datetime": f"{date}T14:17:39.024000Z", "updated": f"{date}T20:00:00.000Z",
            },
            "links": [{"rel": "self", "type": "application/geo+json",
                       "href": f"{self.es_url}/collections/sentinel-2-l2a/items/{iid}"},
                      {"rel": "collection", "type": "application/json",
                       "href": f"{self.es_url}/collections/sentinel-2-l2a"}],  # fmt: skip
            "assets": assets,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/sat/v1.0.0/schema.json"],  # fmt: skip
        }

    def _pc_s1(self, stem: str, when: str, pols: tuple, orbit: str, foot: tuple, data: dict) -> dict:
        t = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        name = f"S1A_IW_GRDH_1SDV_{t:%Y%m%dT%H%M%S}_{t + dt.timedelta(seconds=25):%Y%m%dT%H%M%S}_049000_05E000"
        iid = f"{name}_rtc"
        kind = "DV" if len(pols) == 2 else "SV"
        base = (f"http://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/GRD/{t.year}/{t.month}/"
                f"{t.day}/IW/{kind}/{self.nonce}{stem}_{name}_4A1B/measurement")  # fmt: skip
        assets = {}
        for pol in pols:
            href = f"{base}/iw-{pol}.rtc.tiff"
            self.blobs[href] = data[pol]
            common = self._assets_common(pol, href, 10)
            proj = {k: common.pop(k) for k in ("proj:bbox", "proj:shape", "proj:transform")}
            proj["proj:transform"] = [*proj["proj:transform"], 0.0, 0.0, 1.0]  # the 9-number form
            assets[pol] = {**common,
                           "title": f"{pol.upper()}: vertical transmit", "description": "Terrain-corrected gamma naught",
                           "raster:bands": [{"nodata": S1_NODATA, "data_type": "float32", "spatial_resolution": 10}]}  # fmt: skip
        geometry = _footprint(*foot)
        return {
            "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": "sentinel-1-rtc",
            "bbox": _bbox(geometry), "geometry": geometry,
            "properties": {
                "datetime": when.replace("Z", ".000000Z"), "platform": "SENTINEL-1A", "constellation": "Sentinel-1",
                "sar:polarizations": [p.upper() for p in pols], "sar:product_type": "GRD",
                "sar:instrument_mode": "IW", "sar:frequency_band": "C", "sat:orbit_state": orbit,
                "sat:relative_orbit": 83 if orbit == "ascending" else 10, "s1:resolution": "high",
                "proj:epsg": EPSG, **proj, "s1:processing_level": "1",
            },
            "links": [{"rel": "derived_from", "type": "application/json", "title": "Sentinel 1 GRD Item",
                       "href": f"{self.pc_url}/collections/sentinel-1-grd/items/{name}"}],  # fmt: skip
            "assets": assets,
            "stac_extensions": ["https://stac-extensions.github.io/sar/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.0.0/schema.json"],  # fmt: skip
        }

    # --- API answers ---------------------------------------------------------------------------------
    def landing(self, root: str, ident: str, title: str) -> dict:
        return {
            "type": "Catalog", "id": ident, "title": title, "description": title, "stac_version": "1.0.0",
            "conformsTo": CONFORMS,
            "links": [
                {"rel": "self", "type": "application/json", "href": root},
                {"rel": "root", "type": "application/json", "href": root},
                {"rel": "data", "type": "application/json", "href": f"{root}/collections"},
                {"rel": "conformance", "type": "application/json", "href": f"{root}/conformance"},
                {"rel": "search", "type": "application/geo+json", "method": "GET", "href": f"{root}/search"},
                {"rel": "search", "type": "application/geo+json", "method": "POST", "href": f"{root}/search"},
            ],
        }

    def search(self, root: str, body: dict) -> dict:
        pc = root == self.pc_url
        pool = (self.pc_s2 + self.pc_s1) if pc else self.es_s2
        hits = [copy.deepcopy(i) for i in pool if _matches(i, body)]
        hits.sort(key=lambda i: (i["properties"]["datetime"], i["id"]), reverse=True)
        if pc:
            token = str(body.get("token", ""))
            start = next((k + 1 for k, i in enumerate(hits) if token == f"next:{i['id']}"), 0)
        else:
            start = int(body.get("next", 0) or 0)
        size = min(int(body.get("limit", 10)), self.page_size)
        page = hits[start:start + size]
        links = [{"rel": "root", "type": "application/json", "href": root}]
        if start + size < len(hits):
            if pc:
                links.append({"rel": "next", "type": "application/geo+json", "method": "POST",
                              "href": f"{root}/search", "body": {**body, "token": f"next:{page[-1]['id']}"}})  # fmt: skip
            else:
                links.append({"rel": "next", "title": "Next page of Items", "method": "POST",
                              "type": "application/geo+json", "href": f"{root}/search", "merge": False,
                              "body": {**body, "next": str(start + size)}})  # fmt: skip
        answer = {"type": "FeatureCollection", "features": page, "links": links}
        if pc:
            answer["context"] = {"limit": size, "returned": len(page)}
        else:
            answer.update(numberMatched=len(hits), numberReturned=len(page))
        return answer

    def token(self) -> dict:
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        se = expiry.strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
        return {"msft:expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "token": f"st=2023-07-15T00%3A00%3A00Z&se={se}&sp=rl&sv=2021-06-08&sr=c&skoid=fixture"
                         f"&sktid=fixture&skt=2023-07-15T00%3A00%3A00Z&ske={se}&sks=b&skv=2021-06-08"
                         f"&sig={self.nonce}fixture%3D"}  # fmt: skip


def _matches(item: dict, body: dict) -> bool:
    if body.get("collections") and item["collection"] not in body["collections"]:
        return False
    if body.get("bbox"):
        w, s, e, n = body["bbox"]
        iw, is_, ie, in_ = item["bbox"]
        if iw > e or ie < w or is_ > n or in_ < s:
            return False
    if body.get("datetime"):
        start, end = (dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in body["datetime"].split("/"))
        when = dt.datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        if not start <= when <= end:
            return False
    ops = {"lt": float.__lt__, "lte": float.__le__, "gt": float.__gt__, "gte": float.__ge__, "eq": float.__eq__}
    for name, tests in (body.get("query") or {}).items():
        value = item["properties"].get(name)
        if value is None or not all(ops[op](float(value), float(ref)) for op, ref in tests.items()):
            return False
    return True


def _handler(fixture: FixtureCatalog):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _url(self) -> str:
            return self.path if self.path.startswith("http") else f"http://{self.headers['Host']}{self.path}"

        def _send(self, status: int, body: bytes, kind: str = "application/json", extra: dict | None = None,
                  cut: bool = False) -> None:  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            if cut:  # half the promised bytes, then the connection drops
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, json.dumps(obj).encode(), "application/geo+json" if "features" in obj else "application/json")

        def _route(self, body: dict | None = None) -> None:
            url = self._url()
            fixture.requests.append((self.command, url))
            if fixture.status is not None:
                return self._json(fixture.status, {"code": "ServiceUnavailable", "description": "down"})
            parsed = urlparse(url)
            plain = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
            if plain in fixture.blobs:
                return self._file(plain, parsed)
            path = plain.removeprefix(fixture.url)
            for root, ident, title in ((fixture.pc_url, "microsoft-pc", "Microsoft Planetary Computer STAC API"),
                                       (fixture.es_url, "earth-search-aws", "Earth Search by Element 84")):  # fmt: skip
                rel = path.removeprefix(root.removeprefix(fixture.url))
                if rel == path:
                    continue
                if rel in ("", "/") and self.command in ("GET", "HEAD"):
                    return self._json(200, fixture.landing(root, ident, title))
                if rel == "/conformance":
                    return self._json(200, {"conformsTo": CONFORMS})
                if rel == "/search" and self.command == "POST":
                    return self._json(200, fixture.search(root, body or {}))
            if path.startswith("/api/sas/v1/token/"):
                return self._json(200, fixture.token())
            return self._json(404, {"code": "NotFoundError", "description": f"{path} not found"})

        def _file(self, plain: str, parsed) -> None:
            data = fixture.blobs[plain]
            if ".blob.core.windows.net" in parsed.netloc and "sig" not in parse_qs(parsed.query):
                return self._send(403, b"<Error><Code>AuthenticationFailed</Code></Error>", "application/xml")
            cut = fixture.truncate is not None and fixture.truncate in plain
            header = self.headers.get("Range")
            if not header:
                return self._send(200, data, "image/tiff", {"Accept-Ranges": "bytes"}, cut)
            first, _, last = header.removeprefix("bytes=").partition("-")
            first, last = int(first), min(int(last or len(data) - 1), len(data) - 1)
            self._send(206, data[first:last + 1], "image/tiff",
                       {"Content-Range": f"bytes {first}-{last}/{len(data)}", "Accept-Ranges": "bytes"}, cut)  # fmt: skip

        def do_GET(self) -> None:  # noqa: N802
            self._route()

        def do_HEAD(self) -> None:  # noqa: N802
            self._route()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0) or 0)
            self._route(json.loads(self.rfile.read(length) or b"{}"))

    return Handler
