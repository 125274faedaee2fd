"""A real place as a co-registered S1/S2 GeoTIFF pair from a STAC catalog (pystac-client, odc-stac), cached."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_lab.config import cache_dir
from xmodal_lab.data.bands import S2_BAND_NAMES
from xmodal_lab.data.io import write_geotiff
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
S2_COLLECTION, S1_COLLECTION = "sentinel-2-l2a", "sentinel-1-rtc"
_FORMAT = 1  # bump when the files written for one request change


@dataclass(frozen=True)
class Catalog:
    """A STAC API serving both collections, or (``s1_catalog``) the named catalog its radar comes from."""

    url: str
    s1_catalog: str | None = None
    licence: str = "see the catalog's collection licences"


_PC_LICENCE = ("Sentinel-2: Copernicus Sentinel data terms (free, full and open access); Sentinel-1 RTC: CC BY 4.0 "
               "(processed by Catalyst, hosted by Microsoft Planetary Computer)")
#: Named catalogs (Earth Search's Sentinel-1 is GRD, requester pays: its radar is Planetary Computer's RTC).
CATALOGS: dict[str, Catalog] = {
    "planetary-computer": Catalog("https://planetarycomputer.microsoft.com/api/stac/v1", None, _PC_LICENCE),
    "earth-search": Catalog("https://earth-search.aws.element84.com/v1", "planetary-computer", _PC_LICENCE),
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
_CAUSES = {  # what the usual network failures mean, instead of a page of urllib3's words
    "its host name does not resolve: offline?": ("NameResolution", "Failed to resolve", "not known", "resolve host"),
    "the connection was refused": ("Connection refused", "ConnectionRefusedError"),
    "the connection timed out": ("timed out", "Timeout"),
}


@dataclass(frozen=True)
class Place:
    """A box (``((lon, lat), side_m)``), the dates to fetch by label, and what a lesson looks at there."""

    title: str
    where: tuple[tuple[float, float], float]
    dates: dict[str, tuple[str, str]]
    lesson: str
    max_cloud: float = 20.0
    notes: str = field(default="", compare=False)


#: The course's places; dry seasons and summers keep the optical scenes clear.
COURSE_PLACES: dict[str, Place] = {
    "rondonia": Place(
        "Deforestation front, Rondônia (Brazil)", ((-63.05, -9.95), 4000.0),
        {"before": ("2019-06-15", "2019-08-31"), "after": ("2023-06-15", "2023-08-31")},
        "04, 07: change between two dates; forest, pasture and fresh clearings",
        notes="dry season (June-August); fishbone clearings along the side roads of the BR-364 region"),
    "sindh_flood": Place(
        "Indus flood, Sindh (Pakistan)", ((67.75, 26.70), 4000.0),
        {"before": ("2022-06-01", "2022-07-10"), "during": ("2022-08-25", "2022-09-20")},
        "06, 09: flood mapping; radar sees the water through monsoon clouds", max_cloud=60.0,
        notes="the 2022 monsoon flood west of the Indus near Dadu; optical scenes during it are often cloudy"),
    "rotterdam_port": Place(
        "Port of Rotterdam, Maasvlakte (Netherlands)", ((4.03, 51.95), 3000.0),
        {"summer": ("2023-06-01", "2023-08-31")}, "05: embeddings on maps; quays, ships, containers and water"),
    "pilat_coast": Place(
        "Dune du Pilat and the open Atlantic (France)", ((-1.22, 44.59), 3000.0),
        {"summer": ("2023-06-01", "2023-08-31")},
        "01, 05: sea, sand and pine forest; smooth water is dark to the radar"),
    "kansas_farmland": Place(
        "Centre-pivot farmland, Finney County, Kansas (USA)", ((-100.75, 37.95), 4000.0),
        {"summer": ("2023-06-15", "2023-08-31")}, "02, 03: crop circles of different crops and growth stages"),
}  # fmt: skip


@dataclass(frozen=True)
class FetchedPair:
    """The files of one pair (see :func:`fetch_pair`) and its sidecar's contents (``info``)."""

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
               max_days_apart: float = 12, out_dir: str | Path | None = None, name: str | None = None,
               progress: bool = True) -> FetchedPair:
    """A co-registered S1 / S2 pair of a real place on one 10 m UTM grid; a second call reads the cache.

    ``where``: ``(west, south, east, north)`` degrees or ``((lon, lat), side_m)``; ``dates``: ``(start, end)``,
    ``"start/end"`` or one date (``AROUND_DAYS`` either side). The least cloudy L2A scene (``eo:cloud_cover`` and SCL
    over the box at most ``max_cloud`` %) and the RTC acquisition nearest it (``max_days_apart`` at most) become S1
    dB ``[2, H, W]``, S2 reflectance ``[12, H, W]`` (NaN nodata), a cloud mask ``[1, H, W]`` (1 cloud or shadow, 0
    clear, 255 nodata) and a JSON sidecar in ``out_dir`` (default ``<cache>/places``), named ``name`` and the
    request's hash. ``catalog``: a :data:`CATALOGS` name or STAC API URL (default ``$XMODAL_STAC_CATALOG``).

    Raises:
        CatalogError: the catalog, its signing service or a file could not be read (nothing is written).
        NoSceneError: no scene matches the box, dates and limits.
    """
    area, (start, end) = _area(where), _window(dates)
    if not 0 <= float(max_cloud) <= 100:
        raise InputValueError(f"max_cloud: expected a percentage in [0, 100], got {max_cloud!r}")
    days = max_days_apart
    if isinstance(days, bool) or not isinstance(days, numbers.Real) or not 0 < days < math.inf:
        raise InputValueError(f"max_days_apart: expected a positive number of days, got {max_days_apart!r}")
    _grid(area)  # a box too large fails before any download
    s2_cat = resolve_catalog(catalog)
    s1_cat = resolve_catalog(s2_cat.s1_catalog) if s2_cat.s1_catalog else s2_cat
    request = {"format": _FORMAT, "where": area, "dates": [start.isoformat(), end.isoformat()],
               "catalog": s2_cat.url, "s1_catalog": s1_cat.url, "max_cloud": float(max_cloud),
               "max_days_apart": float(days)}  # fmt: skip
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(out_dir).expanduser() if out_dir is not None else cache_dir() / "places"
    stem = f"{re.sub(r'[^A-Za-z0-9]+', '_', name or '').strip('_') or 'pair'}_{key}"
    if not (folder / f"{stem}.json").is_file():  # the same request fetched under another name is the same pair
        stem = next((p.stem for p in sorted(folder.glob(f"*_{key}.json"))), stem)
    suffixes = {"s1": "_S1.tif", "s2": "_S2.tif", "cloud": "_cloud.tif", "sidecar": ".json"}
    paths = {k: folder / f"{stem}{suffix}" for k, suffix in suffixes.items()}
    if paths["sidecar"].is_file():  # published last: its presence means the whole pair is there
        if missing := [p.name for p in paths.values() if not p.is_file()]:
            raise _error(OutputWriteError, paths["sidecar"], f"the pair's files {missing} are missing",
                         f"delete {paths['sidecar'].name} to fetch again")  # fmt: skip
        return FetchedPair(**paths, info=json.loads(paths["sidecar"].read_text()))
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _error(OutputWriteError, folder, f"cannot create it ({error.strerror})", "pass out_dir=") from error
    try:
        with claim(paths["sidecar"], "pair sidecar"):
            info = _fetch(paths, request, area, s2_cat, s1_cat, name, progress)
    except BaseException:
        if created:  # a failed first fetch leaves no empty folder either
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return FetchedPair(**paths, info=info)


def _fetch(paths, request, area, s2_cat, s1_cat, name, progress) -> dict[str, Any]:
    """Search, read and write one pair (a file in the way fails first); returns the sidecar's contents."""
    from tqdm.auto import tqdm

    for key in ("s1", "s2", "cloud"):
        check_new(paths[key], "GeoTIFF")
    with tqdm(total=3, desc=name or "pair", disable=not progress, postfix="searching") as bar:
        s2_item, grid, cloud_pct = _pick_s2(s2_cat, area, request)
        s1_item = _pick_s1(s1_cat, area, s2_item, request["max_days_apart"])
        bar.update()
        bar.set_postfix_str("reading")
        keys = _s2_keys(s2_item)
        raw = _read(s2_cat, s2_item, keys, grid, {"*": "bilinear", keys[-1]: "nearest"},
                    {"*": ("uint16", 0), keys[-1]: ("uint8", 0)})  # fmt: skip
        power = _read(s1_cat, s1_item, ("vv", "vh"), grid, "bilinear", {"*": ("float32", -32768.0)})
        bar.update()
        bar.set_postfix_str("writing")
        offset, dn, scl = s2_offset(s2_item.properties), raw[:-1].astype(np.float32), raw[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            layers = {  # VV, VH dB and reflectance, NaN nodata; cloud or shadow 1, clear 0, nodata 255
                "s1": np.where(np.isfinite(power) & (power > 0), 10 * np.log10(power), np.nan).astype(np.float32),
                "s2": np.where(dn > 0, (dn + np.float32(offset[0])) / np.float32(1e4), np.nan).astype(np.float32),
                "cloud": np.where(scl == 0, 255, np.isin(scl, SCL_CLOUD))[None].astype(np.uint8),
            }
        info = _sidecar(request, (s2_cat, s1_cat), (s2_item, s1_item), grid, cloud_pct, offset, paths)
        _write(paths, grid, layers, info)
        bar.update()
    return info


def resolve_catalog(catalog: str | None) -> Catalog:
    """A catalog name or STAC API URL (None: ``$XMODAL_STAC_CATALOG`` or Planetary Computer) as a Catalog."""
    catalog = catalog or os.environ.get("XMODAL_STAC_CATALOG") or "planetary-computer"
    if catalog in CATALOGS:
        return CATALOGS[catalog]
    if re.match(r"^https?://", str(catalog)):
        return Catalog(str(catalog).rstrip("/"))
    raise InputValueError(f"catalog: expected one of {sorted(CATALOGS)} or a STAC API URL, got {catalog!r}")


def s2_offset(properties: dict[str, Any]) -> tuple[float, str]:
    """The digital-number offset of an L2A item (-1000 from baseline 04.00, else 0) and the baseline read.

    An offset already removed (``earthsearch:boa_offset_applied``) is 0; no baseline: it follows the date.
    """
    from xmodal_lab.data.rasters import baseline_offset

    text = str(properties.get("s2:processing_baseline", "")).strip().upper().removeprefix("N")
    if properties.get("earthsearch:boa_offset_applied") is True:
        return 0.0, text
    if (offset := baseline_offset(text)) is not None:
        return offset, text
    when = dt.date.fromisoformat(str(properties["datetime"])[:10])
    return (-1000.0 if when >= BASELINE_OFFSET_DATE else 0.0), f"inferred from the date {when}"


def _error(kind: type[Exception], where: Any, what: str, fix: str = _FIX, cause: BaseException | None = None):
    """``kind("<where>: <what> (<cause in a few words>); <fix>")``: the one format of the module's errors."""
    if cause is not None:
        text = str(cause) or type(cause).__name__
        words = next((w for w, keys in _CAUSES.items() if any(k in text for k in keys)), None)
        what += f" ({words or f'{type(cause).__name__}: {text.splitlines()[0][:200]}'})"
    return kind(f"{where}: {what}; {fix}")


def _area(where: Any) -> dict[str, Any]:
    """``where`` as ``{"bbox": [w, s, e, n]}`` or ``{"centre": [lon, lat], "side": metres}``, checked."""
    try:
        if len(where) == 2:
            (lon, lat), side = (float(v) for v in where[0]), float(where[1])
            ok = -180 <= lon <= 180 and -85 <= lat <= 85 and 100 <= side <= MAX_SIDE * GSD
            area = {"centre": [lon, lat], "side": side}
        else:
            west, south, east, north = (float(v) for v in where)
            area = {"bbox": [west, south, east, north]}
            ok = -180 <= west < east <= 180 and -85 <= south < north <= 85
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputValueError(f"where: expected (west, south, east, north) in degrees, west < east and south < "
                              f"north, or ((lon, lat), side in metres, 100..{MAX_SIDE * GSD:.0f}), got {where!r}")
    return area


def _window(dates: Any) -> tuple[dt.date, dt.date]:
    """``dates`` as (start, end); one date stands for ``AROUND_DAYS`` either side of it."""
    try:
        parts = dates.split("/") if isinstance(dates, str) else [dates] if isinstance(dates, dt.date) else dates
        days = [dt.date.fromisoformat(str(d).strip()[:10]) for d in parts]
        around = dt.timedelta(days=AROUND_DAYS if len(days) == 1 else 0)
        if len(days) > 2:
            raise ValueError
        start, end = days[0] - around, days[-1] + around
    except (TypeError, ValueError, IndexError):
        raise InputValueError(f"dates: expected ('2021-06-01', '2021-08-31'), '2021-06-01/2021-08-31' or one "
                              f"date, got {dates!r}") from None
    if end < start:
        raise InputValueError(f"dates: the window ends ({end}) before it starts ({start})")
    return start, end


def _grid(area: dict[str, Any], epsg: int | None = None):
    """The pair's GeoBox: ``GSD`` m in ``epsg`` (default: the box's UTM zone), snapped outwards to pixels."""
    from odc.geo.geobox import GeoBox
    from odc.geo.geom import BoundingBox

    from xmodal_lab.data.geo import transformer, utm_epsg
    west, south, east, north = area.get("bbox") or 2 * area["centre"]  # a centre: a box of no size
    crs = f"EPSG:{epsg or utm_epsg((south + north) / 2, (west + east) / 2)}"
    if "centre" in area:
        (x, y), half = transformer("EPSG:4326", crs).transform(*area["centre"]), area["side"] / 2
        left, bottom, right, top = x - half, y - half, x + half, y + half
    else:
        left, bottom, right, top = BoundingBox(west, south, east, north, "EPSG:4326").to_crs(crs)
    left, bottom = math.floor(left / GSD) * GSD, math.floor(bottom / GSD) * GSD
    right, top = math.ceil(right / GSD) * GSD, math.ceil(top / GSD) * GSD
    if max(right - left, top - bottom) > MAX_SIDE * GSD:
        raise InputValueError(f"where: the box is {(right - left) / 1000:.1f} x {(top - bottom) / 1000:.1f} km; "
                              f"at most {MAX_SIDE * GSD / 1000:.0f} km a side (fetch a smaller box, or several)")
    return GeoBox.from_bbox((left, bottom, right, top), crs, resolution=GSD)


def _search(cat: Catalog, collection: str, area: dict[str, Any], start: dt.datetime, end: dt.datetime,
            query: dict | None = None) -> list:  # fmt: skip
    """The items of ``collection`` between ``start`` and ``end`` whose footprint holds the whole box."""
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO
    from shapely.geometry import box, shape

    bbox = area.get("bbox") or tuple(_grid(area).extent.to_crs("EPSG:4326").boundingbox)
    try:
        client = Client.open(cat.url, stac_io=StacApiIO(timeout=(10, 60), max_retries=1))
        items = list(client.search(collections=[collection], bbox=list(bbox), query=query, limit=100,
                                   datetime=f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
                                   max_items=500).items())  # fmt: skip
    except Exception as error:  # requests, pystac-client and JSON errors alike
        raise _error(CatalogError, cat.url, f"did not answer the {collection} search", cause=error) from None
    return [i for i in items if i.geometry is not None and shape(i.geometry).contains(box(*bbox))]


def _s2_keys(item) -> tuple[str, ...] | None:  # the item's names of the kit's bands, if it has them all
    return next((keys for keys in S2_ASSETS.values() if set(keys) <= set(item.assets)), None)


def _pick_s2(cat: Catalog, area: dict[str, Any], request: dict[str, Any]):
    """The least cloudy scene over the box: by ``eo:cloud_cover``, then SCL over the box among the 3 best."""
    (start, end), max_cloud = (dt.date.fromisoformat(d) for d in request["dates"]), request["max_cloud"]
    t0, t1 = dt.datetime.combine(start, dt.time.min, dt.UTC), dt.datetime.combine(end, dt.time.max, dt.UTC)
    found = _search(cat, S2_COLLECTION, area, t0, t1, {"eo:cloud_cover": {"lte": max_cloud}})
    items = [i for i in found if _s2_keys(i)]
    if found and not items:
        names = " or ".join(", ".join(keys) for keys in S2_ASSETS.values())
        raise _error(NoSceneError, cat.url, f"its {S2_COLLECTION} items ({found[0].id}, ...) lack the assets "
                     f"the kit reads ({names})", "pass catalog='planetary-computer' or 'earth-search'")  # fmt: skip
    if not items:
        raise _error(NoSceneError, cat.url, f"no {S2_COLLECTION} scene covers {area} from {start} to {end} with "
                     f"at most {max_cloud:g} % cloud", "widen the dates, raise max_cloud or move the box")  # fmt: skip
    best = (None, None, math.inf)
    for item in sorted(items, key=lambda i: (float(i.properties.get("eo:cloud_cover", 100.0)), i.id))[:3]:
        props = item.properties
        epsg = str(props.get("proj:epsg") or props.get("proj:code", "")).upper().removeprefix("EPSG:")
        if not epsg.isdigit():
            raise _error(NoSceneError, f"item {item.id}", "has no proj:epsg or proj:code to place its grid on",
                         "pass another catalog")  # fmt: skip
        grid, scl_key = _grid(area, int(epsg)), _s2_keys(item)[-1]
        scl = _read(cat, item, [scl_key], grid, "nearest", {scl_key: ("uint8", 0)})[0]
        pct = 100.0 * float(np.isin(scl, SCL_CLOUD)[scl > 0].mean()) if (scl > 0).any() else 100.0
        best = (item, grid, pct) if pct < best[2] else best
    if best[2] > max_cloud:
        raise _error(NoSceneError, cat.url, f"the clearest {S2_COLLECTION} scene over the box ({best[0].id}) "
                     f"is {best[2]:.0f} % cloud or shadow there (max_cloud={max_cloud:g})",
                     "widen the dates or raise max_cloud")  # fmt: skip
    return best


def _pick_s1(cat: Catalog, area: dict[str, Any], s2_item, days: float):
    """The VV+VH radar acquisition covering the box closest in time to the optical scene, ``days`` at most."""
    when, span = s2_item.datetime, dt.timedelta(days=days)
    items = [i for i in _search(cat, S1_COLLECTION, area, when - span, when + span) if {"vv", "vh"} <= set(i.assets)]
    if not items:
        raise _error(NoSceneError, cat.url, f"no {S1_COLLECTION} acquisition with VV and VH covers the box "
                     f"within {days:g} days of {when:%Y-%m-%d} (max_days_apart={days:g})",
                     "raise max_days_apart or pick other dates")  # fmt: skip
    return min(items, key=lambda i: (abs((i.datetime - when).total_seconds()), i.id))


def _read(cat: Catalog, item, bands, grid, resampling: str | dict, types: dict[str, tuple[str, float]]):
    """``bands`` of ``item`` on ``grid`` ``[C, H, W]`` (odc-stac); ``types``: asset -> (dtype, nodata)."""
    from urllib.parse import urlparse

    import odc.stac
    import planetary_computer as pc
    import rasterio
    urls = [urlparse(a.href) for a in item.assets.values()]
    for blob in {pc.utils.parse_blob_url(u) for u in urls if u.netloc.endswith(".blob.core.windows.net")}:
        try:  # Planetary Computer's blob hrefs: one token each, quickly (the SDK retries for minutes)
            pc.sas.get_token(*blob, retry_total=1, retry_backoff_factor=0.2)
        except Exception as error:
            sas_url = pc.settings.Settings.get().sas_url
            raise _error(CatalogError, sas_url, "gave no access token", cause=error) from None
    pc.sign_inplace(item)
    cfg = {"*": {"assets": {k: {"data_type": t, "nodata": n} for k, (t, n) in types.items()}}}
    try:
        with rasterio.Env(**_GDAL_HTTP):
            data = odc.stac.load([item], bands=list(bands), geobox=grid, resampling=resampling,
                                 groupby="solar_day", stac_cfg=cfg)  # fmt: skip
            return np.stack([data[b].values[0] for b in bands])
    except Exception as error:  # rasterio, GDAL/curl and odc-stac errors alike
        raise _error(CatalogError, cat.url, f"files of {item.id} could not be read", cause=error) from None


def _sidecar(request, catalogs, items, grid, cloud_pct, offset, paths) -> dict[str, Any]:
    """What the pair is: the request, the two items, the grid, the file names, licence and attribution."""
    (s2_cat, s1_cat), (s2, s1) = catalogs, items
    about = {key: {"id": item.id, "collection": item.collection_id, "datetime": item.datetime.isoformat(),
                   "platform": item.properties.get("platform")} for key, item in zip(("s2", "s1"), items)}  # fmt: skip
    about["s2"].update({"processing_baseline": offset[1], "offset_dn": offset[0],
                        "eo:cloud_cover": s2.properties.get("eo:cloud_cover"),
                        "cloud_percent_over_box": round(cloud_pct, 2), "bands": list(S2_BAND_NAMES),
                        "units": "surface reflectance (L2A digital numbers + offset) / 10000"})  # fmt: skip
    about["s1"].update({"sat:orbit_state": s1.properties.get("sat:orbit_state"), "bands": ["VV", "VH"],
                        "days_from_s2": round((s1.datetime - s2.datetime).total_seconds() / 86400, 2),
                        "units": "terrain-corrected gamma0 backscatter in dB"})  # fmt: skip
    years = "-".join(str(y) for y in sorted({s2.datetime.year, s1.datetime.year}))
    return {"request": request, "catalog": s2_cat.url, "s1_catalog": s1_cat.url, **about,
            "grid": {"crs": str(grid.crs), "transform": list(grid.affine)[:6], "width": grid.shape.x,
                     "height": grid.shape.y, "resolution": GSD},
            "files": {k: p.name for k, p in paths.items() if k != "sidecar"}, "cloud_classes": list(SCL_CLOUD),
            "licence": s2_cat.licence, "attribution": f"Contains modified Copernicus Sentinel data {years}",
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip


def _write(paths: dict[str, Path], grid, layers: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """The three GeoTIFFs ``[C, H, W]``, then the sidecar; on any failure (Ctrl-C too) the published files go."""
    done: list[Path] = []
    try:
        for key, array in layers.items():
            source = info["s1" if key == "s1" else "s2"]
            names = tuple(source["bands"]) if key != "cloud" else ("cloud",)
            tags = {"date": source["datetime"][:10], "source": "xmodal_lab.data.fetch_pair",
                    "attribution": info["attribution"], "item": source["id"]}
            with publishing(paths[key], "GeoTIFF") as tmp:
                write_geotiff(tmp, array, grid.crs, grid.affine, 255 if key == "cloud" else float("nan"), names, tags)
            done.append(paths[key])
        publish(paths["sidecar"], lambda tmp: tmp.write_text(json.dumps(info, indent=2)), "pair sidecar")
    except BaseException:
        for path in done:  # this run created them (the names were free, and claimed)
            path.unlink(missing_ok=True)
        raise

