"""A seeded simulated world in which Sentinel-1 and Sentinel-2 observe the same co-registered scenes."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.biomes import BIOME_NAMES, BIOMES, Scene, apply_event, biome_name, event_plan, tag_key
from xmodal_lab.data.clouds import add_clouds
from xmodal_lab.data.geo import centred_transform, lonlat_to_utm
from xmodal_lab.data.io import check_index, check_whole, parse_date
from xmodal_lab.data.noise import HashStream, fbm, gamma_speckle, mix_key, standard_normal
from xmodal_lab.errors import InputValueError

_NESZ = np.array([10 ** (-2.4), 10 ** (-2.8)], dtype=np.float32)[:, None, None]  # noise floor (VV, VH), linear
#: Spectrally correlated sensor noise: two smooth spectral shapes (flat, tilted) mixed into the 12 bands.
_NOISE_BASIS = np.array([np.ones(12), np.linspace(1.0, -1.0, 12)], dtype=np.float32).T
_SWATH_DEG_PER_M = 16.0 / 250_000.0  # IW swath: incidence 30 -> 46 degrees over about 250 km
LAYOUT_EXTENT_M = 640.0  # layouts (rivers, towns, events) are sized to this footprint at every size and GSD
FINE_GSD, MAX_OVERSAMPLE = 10.0, 4  # coarser GSDs average a rendering at FINE_GSD, oversampled at most 4 times
LABEL_THRESHOLD = 0.02  # a class covering this fraction of a tile is one of its scene labels


@dataclass(frozen=True)
class WorldConfig:
    """Settings of a :class:`SimulatedWorld` (metres, degrees); ``gsd`` may be a tuple (one drawn per scene)."""

    seed: int = 0
    size: int = 64
    gsd: float | tuple[float, ...] = 10.0
    n_scenes: int = 4096
    cloud_cover: float = 0.0
    looks: float = 4.4
    biomes: tuple[str, ...] | None = None
    incidence: tuple[float, float] = (30.0, 46.0)
    years: tuple[int, int] = (2018, 2023)
    noise: bool = True
    speckle_sigma: float = 9.3  # correlates neighbouring speckle (a GRD pixel is smaller than a resolution cell)
    radar_blur: float = 0.0  # blurs sigma0 before speckle
    radar_contrast: float = 1.0  # scales each tile's dB around its mean
    cache_mb: float = 256.0


#: ``realism=`` settings; ``"calibrated"`` is fitted to the tuning split of the bundled real pairs.
REALISM: dict[str, dict[str, float]] = {"default": {}, "calibrated": {"radar_blur": 9.3, "radar_contrast": 0.4}}


@dataclass(frozen=True)
class Place:
    """Where and when scene ``index`` is observed: biome, place, tile centre (degrees, UTM metres), radar geometry."""

    index: int
    biome: str
    name: str
    lat: float
    lon: float
    epsg: int
    easting: float
    northing: float
    date: dt.date
    gsd: float
    incidence: float
    ascending: bool


def _ordered_pair(value: Any, ok: Callable[[Any], bool]) -> bool:
    v = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return len(v) == 2 and all(ok(x) and not isinstance(x, bool) for x in v) and v[0] <= v[1]


def _validate(cfg: WorldConfig) -> WorldConfig:
    gsds = cfg.gsd if isinstance(cfg.gsd, tuple) else (cfg.gsd,)
    years_ok = _ordered_pair(cfg.years, lambda y: isinstance(y, (int, np.integer)) and 1 <= y <= 9999)
    incidence_ok = _ordered_pair(cfg.incidence, lambda a: isinstance(a, (int, float, np.number)) and 0 < a < 90)
    checks = {
        "years": (years_ok, "(first year, last year) with first <= last, e.g. years=(2018, 2023)"),
        "incidence": (incidence_ok, "(near, far) degrees, 0 < near <= far < 90, e.g. (30.0, 46.0)"),
        "seed": (cfg.seed >= 0, "a non-negative integer"),
        "size": (cfg.size >= 1, "a positive tile side in pixels"),
        "gsd": (bool(gsds) and all(np.isfinite(g) and g > 0 for g in gsds), "positive metres (or a tuple of them)"),
        "n_scenes": (1 <= cfg.n_scenes < 2**31, "between 1 and 2**31 - 1 scenes (each is drawn from its index)"),
        "cloud_cover": (0.0 <= cfg.cloud_cover <= 1.0, "a fraction in [0, 1]"),
        "looks": (np.isfinite(cfg.looks) and cfg.looks > 0, "a finite positive number of looks, e.g. looks=4.4"),
        "speckle_sigma": (np.isfinite(cfg.speckle_sigma) and cfg.speckle_sigma >= 0, "metres >= 0"),
        "radar_blur": (np.isfinite(cfg.radar_blur) and cfg.radar_blur >= 0, "metres >= 0"),
        "radar_contrast": (np.isfinite(cfg.radar_contrast) and 0 <= cfg.radar_contrast <= 2, "a factor in [0, 2]"),
        "cache_mb": (cfg.cache_mb >= 0, "megabytes >= 0"),
        "biomes": (cfg.biomes is None or len(cfg.biomes) > 0, f"a non-empty subset of {list(BIOME_NAMES)}"),
    }
    for name, (ok, expected) in checks.items():
        if not ok:
            raise InputValueError(f"SimulatedWorld {name}: expected {expected}, got {getattr(cfg, name)!r}")
    return cfg


class SimulatedWorld(Dataset):
    """Co-registered S1/S2 pair dicts (plus ``biome``, ``place``, ``index``) from a seeded simulated Earth.

    ``realism`` names a :data:`REALISM` setting; other keywords are :class:`WorldConfig` fields.
    """

    def __init__(self, seed: int = 0, size: int = 64, gsd: float | Sequence[float] = 10.0, n_scenes: int = 4096,
                 cloud_cover: float = 0.0, transform: Callable[[dict], dict] | None = None, realism: str = "default",
                 **kwargs: Any) -> None:
        if realism not in REALISM:
            raise ValueError(f"realism: unknown setting {realism!r}; expected one of {sorted(REALISM)}")
        self.realism = realism
        kwargs = {**REALISM[realism], **kwargs}
        fields = {f.name for f in dataclasses.fields(WorldConfig)}
        if unknown := set(kwargs) - fields:
            raise TypeError(f"SimulatedWorld: unknown argument(s) {sorted(unknown)}; expected {sorted(fields)}")
        for name, value in (("seed", seed), ("size", size), ("n_scenes", n_scenes)):
            check_whole(value, f"SimulatedWorld {name}")
        if isinstance(gsd, Sequence) and not isinstance(gsd, str):
            gsd = tuple(float(g) for g in gsd)
        if kwargs.get("biomes") is not None:
            names = (kwargs["biomes"],) if isinstance(kwargs["biomes"], str) else tuple(kwargs["biomes"])
            kwargs["biomes"] = tuple(biome_name(b) for b in names)
        self.config = _validate(WorldConfig(int(seed), int(size), gsd, int(n_scenes), float(cloud_cover), **kwargs))
        self.transform = transform
        self._cache, self._cache_bytes = OrderedDict(), 0
        self._biomes = tuple(self.config.biomes or BIOME_NAMES)
        weights = np.array([BIOMES[b].weight for b in self._biomes])
        self._cum_weights = np.cumsum(weights / weights.sum()).tolist()
        first, last = dt.date(self.config.years[0], 1, 1), dt.date(self.config.years[1], 12, 31)
        self._first_day, self._n_days = first.toordinal(), last.toordinal() - first.toordinal() + 1
        self._gsds = self.config.gsd if isinstance(self.config.gsd, tuple) else (self.config.gsd,)

    def __len__(self) -> int:
        return self.config.n_scenes

    def __repr__(self) -> str:
        c = self.config
        realism = f", realism={self.realism!r}" if self.realism != "default" else ""
        return (f"SimulatedWorld(seed={c.seed}, size={c.size}, gsd={c.gsd}, n_scenes={c.n_scenes}, "
                f"cloud_cover={c.cloud_cover}, looks={c.looks}{realism})")

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_index(index, len(self), "SimulatedWorld")
        if index in self._cache:  # fresh tensors: a caller that edits a pair in place never edits the cache
            self._cache.move_to_end(index)
            pair = _clone(self._cache[index])
        else:
            pair, budget = self.render(index), self.config.cache_mb * 2**20
            if _nbytes(pair) <= budget:  # remembered; the least recently read pairs are forgotten first
                self._cache[index] = _clone(pair)
                self._cache_bytes += _nbytes(pair)
                while self._cache_bytes > budget:
                    self._cache_bytes -= _nbytes(self._cache.popitem(last=False)[1])
        return self.transform(pair) if self.transform is not None else pair

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers and pickles start with an empty cache: cheap to send, rebuilt where used.
        return {**self.__dict__, "_cache": OrderedDict(), "_cache_bytes": 0}

    def forget(self) -> None:
        """Empty the render cache (the pairs render again, identically, when next read)."""
        self._cache.clear()
        self._cache_bytes = 0

    def place(self, index: int) -> Place:
        """Biome, coordinates, date, GSD and radar geometry of scene ``index`` (cheap: no rendering)."""
        index = check_index(index, len(self), "SimulatedWorld")
        stream = HashStream(self.config.seed * 0x100000001B3 + index)
        u = [stream.random() for _ in range(9)]
        biome = self._biomes[min(bisect.bisect_right(self._cum_weights, u[0]), len(self._biomes) - 1)]
        anchors = BIOMES[biome].anchors
        lat0, lon0, radius, name = anchors[int(u[1] * len(anchors))]
        lat = min(max(lat0 + radius * (2 * u[2] - 1), -79.5), 83.5)
        lon = (lon0 + radius * (2 * u[3] - 1) / max(math.cos(math.radians(lat)), 0.2) + 180) % 360 - 180
        easting, northing, epsg = lonlat_to_utm(lat, lon)
        date = dt.date.fromordinal(self._first_day + int(u[4] * self._n_days))
        lo, hi = self.config.incidence
        gsd = float(self._gsds[int(u[7] * len(self._gsds))])
        incidence = float(lo + (hi - lo) * u[5])
        return Place(index, biome, name, lat, lon, epsg, easting, northing, date, gsd, incidence, u[6] < 0.5)

    def render(self, index: int, gsd: float | None = None, size: int | None = None, date: str | dt.date | None = None,
               event: tuple[str, str | dt.date] | None = None) -> dict[str, Any]:
        """Render scene ``index``, optionally at another GSD, size or date; ``event``: ``(kind, start date)``."""
        place = self.place(index)
        gsd, size = place.gsd if gsd is None else float(gsd), self.config.size if size is None else int(size)
        if not np.isfinite(gsd) or gsd <= 0 or size < 1:
            raise ValueError(f"render: expected gsd > 0 metres and size >= 1 pixels, got gsd={gsd}, size={size}")
        date = place.date if date is None else parse_date(date, "date")
        k = int(min(max(1, round(gsd / FINE_GSD)), MAX_OVERSAMPLE))  # coarser GSDs average a finer rendering
        fine = self._render_fine(place, gsd / k, size * k, date, event)
        if k > 1:
            fine = _area_average(fine, k)
        s1 = 10.0 * np.log10(fine["s1_linear"])
        pair: dict[str, Any] = {
            "s1": torch.from_numpy(s1.astype(np.float32, copy=False)),
            "s2": torch.from_numpy(fine["s2"].astype(np.float32, copy=False)),
            "landcover": torch.from_numpy(fine["landcover"].astype(np.int64, copy=False)),
            "labels": torch.from_numpy(lc.landcover_labels(fine["landcover"], LABEL_THRESHOLD)),
            "cloud_mask": torch.from_numpy(fine["cloud_mask"]),
            "gsd": gsd, "lat": place.lat, "lon": place.lon, "crs": f"EPSG:{place.epsg}",
            "transform": centred_transform(place.easting, place.northing, size, gsd),
            "date": date.isoformat(), "biome": place.biome, "place": place.name, "index": place.index,
        }
        if "change_mask" in fine:
            pair.update(change_mask=torch.from_numpy(fine["change_mask"]), event=fine["event"])
        return pair

    def _render_fine(self, place: Place, pitch: float, n: int, date: dt.date, event: tuple | None) -> dict[str, Any]:
        cfg, index, day = self.config, place.index, date.toordinal()
        key = mix_key(cfg.seed * 0x100000001B3 + index)
        coords = ((np.arange(n) - (n - 1) / 2.0) * pitch).astype(np.float32)
        scene = Scene(key, coords, -coords, date.timetuple().tm_yday, place.lat, HashStream(key + 1), LAYOUT_EXTENT_M)
        BIOMES[place.biome].paint(scene)
        out: dict[str, Any] = {}
        if event is not None:
            before = lc.MATERIAL_CLASS[scene.mat]
            rng = np.random.default_rng([cfg.seed, index, 5])
            active = apply_event(scene, event[0], parse_date(event[1], "event date"), date, rng)
            out["change_mask"] = lc.MATERIAL_CLASS[scene.mat] != before
            out["event"] = event[0] if active else "none"
        props = lc.PROPS[:, scene.mat]  # [34, H, W]: every per-material number, gathered once
        # Texture (tree crowns, roofs, furrows): one field for the optical, another for the radar.
        tex = fbm(tag_key(key, "texture"), scene.x, scene.y, 40.0, 2, 2)
        s2 = _optical(scene, props, tex[0], place)
        s1 = _radar(scene, props, tex[1], place, cfg.radar_contrast)
        if cfg.radar_blur > 0:  # the resolution cell averages the scene before speckle forms
            s1 = _blur(s1, cfg.radar_blur / pitch)
        if cfg.noise:
            rng = np.random.default_rng([cfg.seed, index, 2, day])
            s1 *= _speckle(rng, cfg.looks, cfg.speckle_sigma / pitch, n)  # drawn first
            s2 += (_NOISE_BASIS @ (0.005 * standard_normal(rng, (2, n * n)))).reshape(12, n, n)
        out["cloud_mask"] = np.zeros((n, n), dtype=bool)
        if cfg.cloud_cover > 0:
            rng = np.random.default_rng([cfg.seed, index, 4, day])
            s2, out["cloud_mask"] = add_clouds(scene, s2, cfg.cloud_cover, rng, day)
        out.update(s2=np.maximum(s2, np.float32(1e-4), out=s2), s1_linear=s1, landcover=lc.MATERIAL_CLASS[scene.mat])
        return out

    def time_series(self, index: int, dates: Sequence[str | dt.date], event: str | None = "auto") -> list[dict]:
        """One place on several dates, with a change event (``"auto"``, a name in ``EVENTS`` or None) between them.

        Each pair gets ``event`` (``"none"`` before it or after a flood recedes), ``event_date`` and ``change_mask``.
        """
        if isinstance(dates, (str, dt.date)) or len(dates) == 0:
            raise ValueError("dates: expected a non-empty list of dates, e.g. ['2020-04-01', '2020-08-01']")
        days = [parse_date(d, f"dates[{i}]") for i, d in enumerate(dates)]
        place = self.place(index)
        rng = np.random.default_rng([self.config.seed, place.index, 6])
        kind, when = event_plan(event, min(days), max(days), BIOMES[place.biome].events, rng)
        return [{**self.render(index, date=day, event=(kind, when)), "event_date": when.isoformat()} for day in days]

    def to_geotiff(self, index: int, folder: str | Path) -> dict[str, Path]:
        """Write scene ``index`` as GeoTIFFs in ``folder`` (see :func:`~xmodal_lab.data.region.write_pair_geotiffs`)."""
        from xmodal_lab.data.region import write_pair_geotiffs
        pair = self.render(index)
        stem = f"sim_seed{self.config.seed}_{pair['index']:06d}_{pair['date']}"
        tags = {"biome": pair["biome"], "seed": str(self.config.seed), "source": "xmodal_lab SimulatedWorld"}
        return write_pair_geotiffs(pair, folder, stem, tags=tags)


def _nbytes(pair: dict[str, Any]) -> int:
    return sum(v.nbytes for v in pair.values() if isinstance(v, torch.Tensor))


def _clone(pair: dict[str, Any]) -> dict[str, Any]:
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in pair.items()}


def _optical(scene: Scene, props: np.ndarray, tex: np.ndarray, place: Place) -> np.ndarray:
    """Noise-free reflectance ``[12, H, W]`` from the gathered material properties."""
    spec, gain = props[lc.P_SPEC] + props[lc.P_DSPEC] * scene.green, 1.0 + props[lc.P_TEX] * tex
    gain *= scene.brightness
    if scene.moisture.any():  # wet soil is darker; vegetation hides it
        gain *= 1.0 - 0.12 * props[lc.P_WET] * (1.0 - scene.green) * scene.moisture
    if scene.elevation.any():
        gain *= _hillshade(scene, place)
    return spec * gain


def _hillshade(scene: Scene, place: Place) -> np.ndarray:
    """Relative illumination of slopes (Lambert, sun on the equator side at 10:30 local time)."""
    gy, gx = np.gradient(scene.elevation, scene.y, scene.x)
    decl = 23.44 * math.sin(2 * math.pi * (scene.doy - 81) / 365)
    zenith = math.radians(min(max(abs(place.lat - decl), 5.0), 80.0))
    azimuth = math.radians(150.0 if place.lat >= 0 else 30.0)
    sx, sy, sz = math.sin(zenith) * math.sin(azimuth), math.sin(zenith) * math.cos(azimuth), math.cos(zenith)
    cos_i = (sz - gx * sx - gy * sy) / np.sqrt(1 + gx * gx + gy * gy)
    return np.clip(cos_i / sz, 0.15, 1.6)


def _radar(scene: Scene, props: np.ndarray, tex: np.ndarray, place: Place, contrast: float) -> np.ndarray:
    """Noise-free linear sigma0 plus the noise floor ``[2, H, W]``; ``contrast`` scales dB around the tile mean."""
    look = 1.0 if place.ascending else -1.0  # the radar looks east on ascending passes
    theta = place.incidence + (look * _SWATH_DEG_PER_M) * scene.X  # [1, W]
    db, extra = props[lc.P_SAR] + props[lc.P_DSAR] * scene.green, props[lc.P_TEX_DB] * tex
    if scene.moisture.any():
        extra += props[lc.P_MOIST_DB] * scene.moisture
    if scene.elevation.any():
        gy, gx = np.gradient(scene.elevation, scene.y, scene.x)
        # Slopes facing the radar see a smaller local incidence angle: brighter and foreshortened.
        local = np.clip(theta - look * np.degrees(np.arctan(-gx)), 20.0, 85.0)
        extra += props[lc.P_INC_DB] * (local - 35.0) + 10 * np.log10(
            np.sin(np.radians(theta)) / np.sin(np.radians(local))
        )
    else:
        extra += props[lc.P_INC_DB] * (theta - 35.0)
    if scene.wind.any():
        extra += props[lc.P_WATER] * scene.wind
    db += extra
    if contrast != 1.0:
        mean = db.mean(axis=(1, 2), keepdims=True)
        db = mean + np.float32(contrast) * (db - mean)
    db *= np.float32(0.1)
    return np.power(np.float32(10.0), db) + _NESZ


def _gauss_taps(sigma_px: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps ``[2r + 1]``, ``r = ceil(3 sigma)``."""
    r = max(1, math.ceil(3.0 * sigma_px))
    k = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float64) / sigma_px) ** 2)
    return k / k.sum()


def _blur(a: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur of ``[C, n, n]`` with mirrored borders (a tile narrower than the kernel: edge)."""
    if sigma_px < 0.05:
        return a
    k = _gauss_taps(sigma_px).astype(np.float32)
    r = len(k) // 2
    return _convolve(np.pad(a, ((0, 0), (r, r), (r, r)), mode="edge" if r >= min(a.shape[1:]) else "reflect"), k)


def _speckle(rng: np.random.Generator, looks: float, sigma_px: float, n: int) -> np.ndarray:
    """Multiplicative speckle ``[2, n, n]``: mean 1, variance ``1 / looks`` per pixel, correlated neighbours."""
    if sigma_px < 0.05:  # narrower than a twentieth of a pixel: independent pixels
        return gamma_speckle(rng, looks, (2, n, n))
    k = _gauss_taps(sigma_px)
    r = len(k) // 2
    # white speckle with more looks, so that the smoothed speckle keeps the variance 1 / looks
    white = gamma_speckle(rng, looks * float((k**2).sum()) ** 2, (2, n + 2 * r, n + 2 * r))
    return _convolve(white, k.astype(np.float32))


def _convolve(padded: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid separable convolution ``[C, H + 2r, W + 2r]`` -> ``[C, H, W]``."""
    r = len(k) // 2
    h, w = padded.shape[1] - 2 * r, padded.shape[2] - 2 * r
    rows = sum(k[i] * padded[:, i : i + h] for i in range(2 * r + 1))
    return sum(k[i] * rows[:, :, i : i + w] for i in range(2 * r + 1))


def _area_average(fine: dict[str, Any], k: int) -> dict[str, Any]:
    """Average ``k x k`` blocks: reflectance and linear intensity average, masks by half, classes by majority."""

    def pool(a: np.ndarray) -> np.ndarray:
        *lead, h, w = a.shape
        return a.reshape(*lead, h // k, k, w // k, k).mean(axis=(-3, -1))

    out = {**fine, "s2": pool(fine["s2"]), "s1_linear": pool(fine["s1_linear"])}
    for name in ("cloud_mask", "change_mask"):
        if name in fine:
            out[name] = pool(fine[name].astype(np.float32)) >= 0.5
    # the most frequent class of each block (ties go to the lower class id)
    h, w = fine["landcover"].shape
    blocks = fine["landcover"].reshape(h // k, k, w // k, k).transpose(0, 2, 1, 3).reshape(h // k, w // k, k * k)
    out["landcover"] = (blocks[..., None] == np.arange(len(lc.LANDCOVER_CLASSES))).sum(axis=2).argmax(axis=-1)
    return out
