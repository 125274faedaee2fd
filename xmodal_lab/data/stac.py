"""A real place as a co-registered Sentinel-1 / Sentinel-2 GeoTIFF pair, fetched from a STAC catalog.

:func:`fetch_pair` searches the least cloudy Sentinel-2 L2A scene over a box and the Sentinel-1 RTC
acquisition closest to it in time (pystac-client), loads both onto one 10 m grid in the optical scene's UTM
zone (odc-stac), converts them to the kit's units and writes the files :class:`PairedRasterDataset` reads,
with a JSON sidecar (item ids, times, catalog, licence). Pairs are cached by request: a second call reads
nothing from the network.

Catalogs: ``"planetary-computer"`` (Sentinel-2 L2A and Sentinel-1 RTC, signed with ``planetary-computer``),
``"earth-search"`` (Sentinel-2 L2A only: its ``sentinel-1-grd`` is GRD, not terrain-corrected, in a
requester-pays bucket, so the radar comes from Planetary Computer's RTC) or any STAC API URL serving both
collections. ``$XMODAL_STAC_CATALOG`` changes the default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_lab.config import cache_dir
from xmodal_lab.errors import CatalogError, InputValueError, NoSceneError, OutputWriteError
from xmodal_lab.files import check_new, claim, publish, publishing

#: Sentinel-2 L2A scene classes that hide the ground: cloud shadow, cloud (medium, high), thin cirrus.
SCL_CLOUD = (3, 8, 9, 10)
#: Days either side of a single date given as ``dates``.
AROUND_DAYS = 15
#: Grid spacing of the pair (metres) and the largest side it may have (pixels).
GSD, MAX_SIDE = 10.0, 2048
#: Baseline 04.00 (from 25 January 2022) adds 1000 to every L2A digital number.
BASELINE_OFFSET_DATE = dt.date(2022, 1, 25)
_FORMAT = 1  # bump when the files written for one request change


@dataclass(frozen=True)
class Catalog:
    """A STAC API and the names of its collections and Sentinel-2 assets (kit band order, then SCL)."""

    url: str
    s2_collection: str = "sentinel-2-l2a"
    s1_collection: str | None = "sentinel-1-rtc"
    s1_catalog: str | None = None  # the catalog the radar comes from when this one has none
    licence: str = ""


_PC_LICENCE = (
    "Sentinel-2: Copernicus Sentinel data terms (free, full and open access); Sentinel-1 RTC: CC BY 4.0 "
    "(processed by Catalyst, hosted by Microsoft Planetary Computer)"
)
#: Named catalogs; any other ``catalog=`` is a STAC API URL serving both collections under these names.
CATALOGS: dict[str, Catalog] = {
    "planetary-computer": Catalog("https://planetarycomputer.microsoft.com/api/stac/v1", licence=_PC_LICENCE),
    "earth-search": Catalog("https://earth-search.aws.element84.com/v1", s1_collection=None,
                            s1_catalog="planetary-computer", licence=_PC_LICENCE),  # fmt: skip
}
#: Sentinel-2 asset keys in the kit's band order (B1..B9 with B8A after B8, B11, B12), then the scene classes.
S2_ASSETS = {
    "B02": ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL"),
    "blue": ("coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "nir09",
             "swir16", "swir22", "scl"),  # fmt: skip
}
_GDAL_HTTP = {  # short timeouts and one retry: a dead catalog fails in seconds, not minutes
    "GDAL_HTTP_TIMEOUT": "30", "GDAL_HTTP_CONNECTTIMEOUT": "10", "GDAL_HTTP_MAX_RETRY": "1",
    "GDAL_HTTP_RETRY_DELAY": "0.5", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}  # fmt: skip
_FIX = "check the connection (or pass catalog='earth-search' or a mirror's URL) and call again"


@dataclass(frozen=True)
class FetchedPair:
    """The files of one fetched pair and its sidecar's contents (``info``).

    ``s1``: VV, VH in dB; ``s2``: 12 bands of reflectance; ``cloud``: 1 cloud or shadow, 0 clear, 255 nodata.
    """

    s1: Path
    s2: Path
    cloud: Path
    sidecar: Path
    info: dict[str, Any] = field(repr=False, compare=False)

    def dataset(self, **kwargs: Any):
        """The pair as a :class:`~xmodal_lab.data.rasters.PairedRasterDataset` (``kwargs`` go to it)."""
        from xmodal_lab.data.rasters import PairedRasterDataset
        return PairedRasterDataset(self.s1, self.s2, **kwargs)

    def cloud_mask(self) -> np.ndarray:
        """Cloud and shadow pixels of the optical scene, bool ``[H, W]`` (nodata counts as clear)."""
        import rasterio
        with rasterio.open(self.cloud) as src:
            return src.read(1) == 1


def fetch_pair(where: Any, dates: Any, *, catalog: str | None = None, max_cloud: float = 20.0,
               max_days_apart: float = 12.0, out_dir: str | Path | None = None, name: str | None = None,
               s1_catalog: str | None = None, progress: bool = True) -> FetchedPair:  # fmt: skip
    """Fetch a co-registered Sentinel-1 / Sentinel-2 pair of a real place (cached; see the module docstring).

    Args:
        where: ``(west, south, east, north)`` in degrees, or ``((lon, lat), side_m)``, a square around a centre.
        dates: the optical scene's window: ``("2021-06-01", "2021-08-31")``, ``"2021-06-01/2021-08-31"``, or one
            date (``AROUND_DAYS`` either side).
        catalog: ``"planetary-computer"``, ``"earth-search"`` or a STAC API URL (default
            ``$XMODAL_STAC_CATALOG``, else Planetary Computer).
        max_cloud: largest cloud cover in percent, of the scene (``eo:cloud_cover``) and of the box (SCL).
        max_days_apart: largest time between the radar and the optical acquisitions, in days.
        out_dir: folder of the files (default ``<cache>/places``).
        name: a readable prefix of the file names (the request's hash follows it).
        s1_catalog: where the radar comes from (default: ``catalog``, or Planetary Computer for Earth Search).
        progress: show a progress bar.

    Returns:
        The files: S1 float32 ``[2, H, W]`` dB (NaN nodata), S2 float32 ``[12, H, W]`` reflectance (NaN
        nodata), the cloud mask uint8 ``[1, H, W]``, and the sidecar.

    Raises:
        CatalogError: the catalog, its signing service or a file could not be read (nothing is written).
        NoSceneError: no scene matches the box, dates and limits.
    """
    area, (start, end) = _area(where), _window(dates)
    if not 0 <= float(max_cloud) <= 100:
        raise InputValueError(f"max_cloud: expected a percentage in [0, 100], got {max_cloud!r}")
    if not 0 <= float(max_days_apart) <= 60:
        raise InputValueError(f"max_days_apart: expected 0..60 days, got {max_days_apart!r}")
    from xmodal_lab.data.geo import utm_epsg
    west, south, east, north = _lonlat_box(area)
    _grid(area, utm_epsg((south + north) / 2, (west + east) / 2))  # a box too large fails before any download
    s2_cat = resolve_catalog(catalog)
    s1_cat = resolve_catalog(s1_catalog or s2_cat.s1_catalog) if (s1_catalog or s2_cat.s1_catalog) else s2_cat
    request = {"format": _FORMAT, "where": area, "dates": [start.isoformat(), end.isoformat()],
               "catalog": s2_cat.url, "s1_catalog": s1_cat.url, "max_cloud": float(max_cloud),
               "max_days_apart": float(max_days_apart)}  # fmt: skip
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:12]
    stem = f"{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_') or 'pair'}_{key}" if name else f"pair_{key}"
    folder = Path(out_dir).expanduser() if out_dir is not None else cache_dir() / "places"
    paths = {k: folder / f"{stem}{suffix}" for k, suffix in
             (("s1", "_S1.tif"), ("s2", "_S2.tif"), ("cloud", "_cloud.tif"), ("sidecar", ".json"))}  # fmt: skip
    if paths["sidecar"].is_file():  # published last: its presence means the whole pair is there
        return _cached(paths)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputWriteError(f"{folder}: cannot create the folder for the pair ({error.strerror})") from error
    try:
        return _fetch(paths, request, area, start, end, s2_cat, s1_cat, float(max_cloud), float(max_days_apart),
                      name, progress)  # fmt: skip
    except BaseException:
        if created:  # a failed first fetch leaves no empty folder either
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


def _fetch(paths, request, area, start, end, s2_cat, s1_cat, max_cloud, max_days_apart, name, progress):
    """Search, read and write one pair under the claim of its sidecar's name."""
    from tqdm.auto import tqdm

    with claim(paths["sidecar"], "pair sidecar"), tqdm(total=5, desc=name or "pair", disable=not progress) as bar:
        for key in ("s1", "s2", "cloud"):  # a file in the way fails now, not after the download
            check_new(paths[key], "GeoTIFF")
        bar.set_postfix_str("searching Sentinel-2")
        s2_item, grid, cloud_pct = _pick_s2(s2_cat, area, start, end, max_cloud)
        bar.update()
        bar.set_postfix_str("searching Sentinel-1")
        s1_item = _pick_s1(s1_cat, area, s2_item, max_days_apart)
        bar.update()
        bar.set_postfix_str("reading Sentinel-2")
        s2, cloud = _load_s2(s2_cat, s2_item, grid)
        bar.update()
        bar.set_postfix_str("reading Sentinel-1")
        s1 = _load_s1(s1_cat, s1_item, grid)
        bar.update()
        bar.set_postfix_str("writing")
        info = _sidecar(request, s2_cat, s1_cat, s2_item, s1_item, grid, cloud_pct, paths)
        _write(paths, grid, s1, s2, cloud, info)
        bar.update()
    return FetchedPair(paths["s1"], paths["s2"], paths["cloud"], paths["sidecar"], info)


def resolve_catalog(catalog: str | None) -> Catalog:
    """A catalog name or STAC API URL (None: ``$XMODAL_STAC_CATALOG`` or Planetary Computer) as a :class:`Catalog`."""
    catalog = catalog or os.environ.get("XMODAL_STAC_CATALOG") or "planetary-computer"
    if catalog in CATALOGS:
        return CATALOGS[catalog]
    if re.match(r"^https?://", str(catalog)):
        return Catalog(str(catalog).rstrip("/"), licence="see the catalog's collection licences")
    raise InputValueError(f"catalog: expected one of {sorted(CATALOGS)} or a STAC API URL, got {catalog!r}")


def s2_offset(properties: dict[str, Any]) -> tuple[float, str]:
    """The digital-number offset of an L2A item (-1000 from baseline 04.00, 0 before) and the baseline read.

    Earth Search's ``earthsearch:boa_offset_applied: true`` means the offset was already removed. Without
    ``s2:processing_baseline`` the baseline is inferred from the date (04.00 from 25 January 2022).
    """
    if properties.get("earthsearch:boa_offset_applied") is True:
        return 0.0, str(properties.get("s2:processing_baseline", ""))
    text = str(properties.get("s2:processing_baseline", "")).strip().upper().removeprefix("N")
    try:
        baseline = float(text) if "." in text else int(text) / 100.0
    except ValueError:
        when = dt.datetime.fromisoformat(str(properties["datetime"]).replace("Z", "+00:00")).date()
        return (-1000.0 if when >= BASELINE_OFFSET_DATE else 0.0), f"inferred from the date {when}"
    return (-1000.0 if baseline >= 4.0 else 0.0), text


# --- the request ----------------------------------------------------------------------------------------
def _area(where: Any) -> dict[str, Any]:
    """``where`` as ``{"bbox": [w, s, e, n]}`` or ``{"centre": [lon, lat], "side": metres}``, checked."""
    try:
        if len(where) == 2:
            (lon, lat), side = where
            lon, lat, side = float(lon), float(lat), float(side)
            if not (-180 <= lon <= 180 and -85 <= lat <= 85) or not 100 <= side <= MAX_SIDE * GSD:
                raise ValueError
            return {"centre": [lon, lat], "side": side}
        west, south, east, north = (float(v) for v in where)
    except (TypeError, ValueError):
        raise InputValueError(
            f"where: expected (west, south, east, north) in degrees or ((lon, lat), side in metres, 100.."
            f"{MAX_SIDE * GSD:.0f}), got {where!r}"
        ) from None
    if not (-180 <= west < east <= 180 and -85 <= south < north <= 85):
        raise InputValueError(f"where: expected west < east and south < north in degrees, got {where!r}")
    return {"bbox": [west, south, east, north]}


def _lonlat_box(area: dict[str, Any]) -> tuple[float, float, float, float]:
    """The request's box in degrees (a centred square is drawn in its UTM zone, then unprojected)."""
    if "bbox" in area:
        return tuple(area["bbox"])
    from xmodal_lab.data.geo import transformer, utm_epsg

    (lon, lat), half = area["centre"], area["side"] / 2
    zone = f"EPSG:{utm_epsg(lat, lon)}"
    x, y = transformer("EPSG:4326", zone).transform(lon, lat)
    corners = [(x + dx, y + dy) for dx in (-half, half) for dy in (-half, half)]
    lons, lats = zip(*(transformer(zone, "EPSG:4326").transform(*c) for c in corners))
    return min(lons), min(lats), max(lons), max(lats)


def _window(dates: Any) -> tuple[dt.date, dt.date]:
    def day(value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value).strip()[:10])

    try:
        if isinstance(dates, str) and "/" in dates:
            dates = dates.split("/")
        if isinstance(dates, (str, dt.date)):
            centre = day(dates)
            return centre - dt.timedelta(days=AROUND_DAYS), centre + dt.timedelta(days=AROUND_DAYS)
        start, end = (day(d) for d in dates)
    except (TypeError, ValueError):
        raise InputValueError(
            f"dates: expected ('2021-06-01', '2021-08-31'), '2021-06-01/2021-08-31' or one date, got {dates!r}"
        ) from None
    if end < start:
        raise InputValueError(f"dates: the window ends ({end}) before it starts ({start})")
    return start, end


def _grid(area: dict[str, Any], epsg: int):
    """The pair's GeoBox: ``GSD`` m in ``epsg``, bounds snapped outwards to whole pixels."""
    from odc.geo.geobox import GeoBox
    from odc.geo.geom import BoundingBox

    from xmodal_lab.data.geo import transformer
    if "centre" in area:
        x, y = transformer("EPSG:4326", f"EPSG:{epsg}").transform(*area["centre"])
        half = area["side"] / 2
        left, bottom, right, top = x - half, y - half, x + half, y + half
    else:
        left, bottom, right, top = BoundingBox(*area["bbox"], "EPSG:4326").to_crs(f"EPSG:{epsg}")
    left, bottom = math.floor(left / GSD) * GSD, math.floor(bottom / GSD) * GSD
    right, top = math.ceil(right / GSD) * GSD, math.ceil(top / GSD) * GSD
    if max(right - left, top - bottom) > MAX_SIDE * GSD:
        raise InputValueError(
            f"where: the box is {(right - left) / 1000:.1f} x {(top - bottom) / 1000:.1f} km; at most "
            f"{MAX_SIDE * GSD / 1000:.0f} km a side (fetch a smaller box, or several)"
        )
    return GeoBox.from_bbox((left, bottom, right, top), f"EPSG:{epsg}", resolution=GSD)


# --- searching ------------------------------------------------------------------------------------------
def _client(cat: Catalog):
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO
    try:
        return Client.open(cat.url, modifier=_sign, stac_io=StacApiIO(timeout=(10, 60), max_retries=1))
    except Exception as error:  # requests, pystac-client and JSON errors alike
        raise _catalog_error(cat.url, "could not be opened", error) from None


def _search(cat: Catalog, collection: str, bbox: Sequence[float], start: dt.datetime, end: dt.datetime,
            query: dict | None = None) -> list:  # fmt: skip
    client = _client(cat)
    window = f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}/{end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    try:
        search = client.search(collections=[collection], bbox=list(bbox), datetime=window, query=query,
                               limit=100, max_items=500)  # fmt: skip
        return list(search.items())
    except Exception as error:
        raise _catalog_error(cat.url, f"did not answer the {collection} search", error) from None


def _covers(item, area: dict[str, Any]) -> bool:
    from shapely.geometry import box, shape
    return item.geometry is not None and shape(item.geometry).contains(box(*_lonlat_box(area)))


def _epsg(item) -> int:
    from pystac.extensions.projection import ProjectionExtension
    epsg = ProjectionExtension.ext(item).epsg if ProjectionExtension.has_extension(item) else None
    epsg = epsg or item.properties.get("proj:epsg")
    code = str(item.properties.get("proj:code", ""))
    if epsg is None and code.upper().startswith("EPSG:"):
        epsg = int(code.split(":")[1])
    if epsg is None:
        raise NoSceneError(f"item {item.id}: has no proj:epsg / proj:code; the kit cannot place its grid")
    return int(epsg)


def _pick_s2(cat: Catalog, area: dict[str, Any], start: dt.date, end: dt.date, max_cloud: float):
    """The least cloudy scene over the box: by ``eo:cloud_cover``, then SCL over the box among the three best."""
    t0 = dt.datetime.combine(start, dt.time.min, dt.UTC)
    t1 = dt.datetime.combine(end, dt.time.max, dt.UTC)
    items = _search(cat, cat.s2_collection, _lonlat_box(area), t0, t1, {"eo:cloud_cover": {"lte": max_cloud}})
    if items and all(_s2_keys(i) is None for i in items):
        raise NoSceneError(
            f"{cat.url}: its {cat.s2_collection} items ({items[0].id}, ...) lack the assets the kit reads "
            f"({' or '.join(', '.join(keys) for keys in S2_ASSETS.values())})"
        )
    items = [i for i in items if _covers(i, area) and _s2_keys(i) is not None]
    if not items:
        raise NoSceneError(
            f"{cat.url}: no {cat.s2_collection} scene covers {area} between {start} and {end} with at most "
            f"{max_cloud:g} % cloud; widen the dates, raise max_cloud or move the box"
        )
    best = None
    for item in sorted(items, key=lambda i: (float(i.properties.get("eo:cloud_cover", 100.0)), i.id))[:3]:
        grid = _grid(area, _epsg(item))
        scl_key = _s2_keys(item)[-1]
        scl = _read(cat, [item], [scl_key], grid, "nearest", {scl_key: ("uint8", 0)})[0]
        valid = scl > 0
        pct = 100.0 * float(np.isin(scl, SCL_CLOUD)[valid].mean()) if valid.any() else 100.0
        if best is None or pct < best[2]:
            best = (item, grid, pct)
    if best[2] > max_cloud:
        raise NoSceneError(
            f"{cat.url}: the clearest {cat.s2_collection} scene over the box ({best[0].id}) is {best[2]:.0f} % "
            f"cloud or shadow there (max_cloud={max_cloud:g}); widen the dates or raise max_cloud"
        )
    return best


def _pick_s1(cat: Catalog, area: dict[str, Any], s2_item, max_days: float):
    """The VV+VH radar acquisition covering the box closest in time to the optical scene."""
    if cat.s1_collection is None:
        raise NoSceneError(f"{cat.url}: has no Sentinel-1 RTC collection; pass s1_catalog='planetary-computer'")
    when, span = s2_item.datetime, dt.timedelta(days=max_days)
    items = _search(cat, cat.s1_collection, _lonlat_box(area), when - span, when + span)
    items = [i for i in items if _covers(i, area) and {"vv", "vh"} <= set(i.assets)]
    if not items:
        raise NoSceneError(
            f"{cat.url}: no {cat.s1_collection} acquisition with VV and VH covers the box within "
            f"{max_days:g} days of {when:%Y-%m-%d}; raise max_days_apart or pick other dates"
        )
    return min(items, key=lambda i: (abs((i.datetime - when).total_seconds()), i.id))


def _s2_keys(item) -> tuple[str, ...] | None:
    for marker, keys in S2_ASSETS.items():
        if marker in item.assets and set(keys) <= set(item.assets):
            return keys
    return None


# --- reading --------------------------------------------------------------------------------------------
def _read(cat: Catalog, items: list, bands: Sequence[str], grid, resampling: str | dict,
          types: dict[str, tuple[str, float]]) -> np.ndarray:  # fmt: skip
    """``bands`` of ``items`` on ``grid`` (odc-stac), ``[C, H, W]``; ``types``: asset -> (dtype, nodata)."""
    import odc.stac
    import rasterio
    cfg = {"*": {"assets": {k: {"data_type": t, "nodata": n} for k, (t, n) in types.items()}}}
    try:
        with rasterio.Env(**_GDAL_HTTP):
            data = odc.stac.load(items, bands=list(bands), geobox=grid, resampling=resampling,
                                 groupby="solar_day", stac_cfg=cfg)  # fmt: skip
            return np.stack([data[b].values[0] for b in bands])
    except Exception as error:  # rasterio, GDAL/curl and odc-stac errors alike
        raise _catalog_error(cat.url, f"files of {items[0].id} could not be read", error) from None


def _load_s2(cat: Catalog, item, grid) -> tuple[np.ndarray, np.ndarray]:
    """Reflectance float32 ``[12, H, W]`` (NaN nodata) and the SCL cloud mask uint8 ``[H, W]`` (255 nodata)."""
    keys = _s2_keys(item)
    resampling = {"*": "bilinear", keys[-1]: "nearest"}
    raw = _read(cat, [item], keys, grid, resampling, {"*": ("uint16", 0), keys[-1]: ("uint8", 0)})
    offset, _ = s2_offset(item.properties)
    dn, scl = raw[:-1].astype(np.float32), raw[-1]
    s2 = np.where(dn > 0, (dn + np.float32(offset)) / np.float32(10000.0), np.float32(np.nan))
    cloud = np.where(scl == 0, 255, np.isin(scl, SCL_CLOUD)).astype(np.uint8)
    return s2.astype(np.float32), cloud


def _load_s1(cat: Catalog, item, grid) -> np.ndarray:
    """VV, VH backscatter float32 ``[2, H, W]`` in dB; nodata and non-positive power become NaN."""
    power = _read(cat, [item], ("vv", "vh"), grid, "bilinear", {"*": ("float32", -32768.0)})
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(power) & (power > 0), 10.0 * np.log10(power), np.nan).astype(np.float32)


def _sign(obj: Any) -> None:
    """pystac-client's modifier: Planetary Computer SAS tokens on Azure blob hrefs (others stay as they are)."""
    from urllib.parse import urlparse

    import planetary_computer
    from planetary_computer.sas import get_token
    from planetary_computer.utils import parse_blob_url
    from pystac import Item
    if isinstance(obj, Item):
        hrefs = [a.href for a in obj.assets.values()]
    elif isinstance(obj, dict):  # a page of items as a dict, or one item
        hrefs = [a.get("href", "") for f in obj.get("features", [obj]) for a in f.get("assets", {}).values()]
    else:  # an ItemCollection
        hrefs = [a.href for item in obj for a in item.assets.values()]
    for account_container in {parse_blob_url(u) for u in map(urlparse, hrefs)
                              if u.netloc.endswith(".blob.core.windows.net") and "sig=" not in u.query}:  # fmt: skip
        try:  # fetch each token once, quickly; the SDK's own default retries for minutes
            get_token(*account_container, retry_total=1, retry_backoff_factor=0.2)
        except Exception as error:
            from planetary_computer.settings import Settings

            raise _catalog_error(Settings.get().sas_url, "gave no access token", error) from None
    planetary_computer.sign_inplace(obj)


_CAUSES = (  # what the usual network failures mean, instead of a page of urllib3's words
    (("NameResolutionError", "Failed to resolve", "Name or service not known", "Could not resolve host"),
     "its host name does not resolve: offline?"),
    (("Connection refused", "ConnectionRefusedError"), "the connection was refused"),
    (("timed out", "Timeout"), "the connection timed out"),
)  # fmt: skip


def _catalog_error(url: str, what: str, error: BaseException) -> CatalogError:
    text = str(error) or type(error).__name__
    detail = next((cause for keys, cause in _CAUSES if any(k in text for k in keys)), None)
    detail = detail or f"{type(error).__name__}: {text.splitlines()[0][:200]}"
    return CatalogError(f"{url}: {what} ({detail}); {_FIX}")


# --- writing --------------------------------------------------------------------------------------------
def _sidecar(request, s2_cat, s1_cat, s2_item, s1_item, grid, cloud_pct, paths) -> dict[str, Any]:
    offset, baseline = s2_offset(s2_item.properties)
    years = sorted({s2_item.datetime.year, s1_item.datetime.year})
    return {
        "request": request,
        "catalog": s2_cat.url,
        "s1_catalog": s1_cat.url,
        "s2": {"id": s2_item.id, "collection": s2_item.collection_id, "datetime": s2_item.datetime.isoformat(),
               "platform": s2_item.properties.get("platform"), "processing_baseline": baseline,
               "offset_dn": offset, "eo:cloud_cover": s2_item.properties.get("eo:cloud_cover"),
               "cloud_percent_over_box": round(cloud_pct, 2),
               "bands": ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"],
               "units": "surface reflectance (L2A digital numbers + offset) / 10000"},  # fmt: skip
        "s1": {"id": s1_item.id, "collection": s1_item.collection_id, "datetime": s1_item.datetime.isoformat(),
               "platform": s1_item.properties.get("platform"),
               "sat:orbit_state": s1_item.properties.get("sat:orbit_state"),
               "days_from_s2": round((s1_item.datetime - s2_item.datetime).total_seconds() / 86400.0, 2),
               "bands": ["VV", "VH"], "units": "terrain-corrected gamma0 backscatter in dB"},  # fmt: skip
        "grid": {"crs": str(grid.crs), "transform": list(grid.affine)[:6], "width": grid.shape.x,
                 "height": grid.shape.y, "resolution": GSD},  # fmt: skip
        "files": {k: p.name for k, p in paths.items() if k != "sidecar"},
        "cloud_classes": list(SCL_CLOUD),
        "licence": s2_cat.licence,
        "attribution": f"Contains modified Copernicus Sentinel data {'-'.join(str(y) for y in years)}",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _write(paths: dict[str, Path], grid, s1: np.ndarray, s2: np.ndarray, cloud: np.ndarray,
           info: dict[str, Any]) -> None:  # fmt: skip
    """The three GeoTIFFs, then the sidecar; on any failure (Ctrl-C too) the files already published go."""
    import rasterio
    layers = {
        "s1": (s1, ("VV", "VH"), float("nan"), info["s1"]["datetime"][:10]),
        "s2": (s2, tuple(info["s2"]["bands"]), float("nan"), info["s2"]["datetime"][:10]),
        "cloud": (cloud[None], ("cloud",), 255, info["s2"]["datetime"][:10]),
    }
    height, width = cloud.shape
    done: list[Path] = []
    try:
        for key, (array, names, nodata, date) in layers.items():
            profile = dict(driver="GTiff", width=width, height=height, count=array.shape[0], dtype=array.dtype,
                           crs=str(grid.crs), transform=grid.affine, nodata=nodata, compress="deflate")  # fmt: skip
            if height >= 256 and width >= 256:
                profile.update(tiled=True, blockxsize=256, blockysize=256)
            with publishing(paths[key], "GeoTIFF") as tmp:
                with rasterio.open(tmp, "w", **profile) as dst:
                    dst.write(array)
                    dst.descriptions = names
                    dst.update_tags(date=date, source="xmodal_lab.data.fetch_pair", attribution=info["attribution"],
                                    item=info["s1" if key == "s1" else "s2"]["id"])  # fmt: skip
            done.append(paths[key])
        publish(paths["sidecar"], lambda tmp: tmp.write_text(json.dumps(info, indent=2)), "pair sidecar")
    except BaseException:
        for path in done:  # this run created them (the names were free, and claimed)
            path.unlink(missing_ok=True)
        raise


def _cached(paths: dict[str, Path]) -> FetchedPair:
    missing = [p.name for k, p in paths.items() if not p.is_file()]
    if missing:
        raise OutputWriteError(
            f"{paths['sidecar']}: the pair's files {missing} are missing; delete {paths['sidecar'].name} to fetch again"
        )
    info = json.loads(paths["sidecar"].read_text())
    return FetchedPair(paths["s1"], paths["s2"], paths["cloud"], paths["sidecar"], info)


__all__ = ["CATALOGS", "Catalog", "FetchedPair", "SCL_CLOUD", "fetch_pair", "resolve_catalog", "s2_offset"]
