"""The world's canvas (a scene's grid, fields and layers) and its biomes: where they lie, how painted, events."""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.noise import HashStream, fbm, hash_ints, hash_uniform, mix_key

# Crop types: (peak day of the northern growing season, half-width in days, greenness at the peak).
CROP_TYPES = np.array([
    (140.0, 45.0, 0.95),  # winter cereal: green in spring, harvested in July
    (215.0, 32.0, 1.00),  # maize: late, short and very green
    (205.0, 45.0, 0.95),  # sugar beet / potato
    (115.0, 35.0, 0.90),  # rapeseed: the earliest
    (175.0, 110.0, 0.75),  # ley / fodder grass: green most of the year
], dtype=np.float32)  # fmt: skip
_CROP_PEAK, _CROP_WIDTH, _CROP_TOP = (np.ascontiguousarray(c) for c in CROP_TYPES.T)
# Three bits of a parcel hash pick its crop: eight slots over five crops (cereals and maize twice).
_CROP_OF_BITS = np.array([0, 1, 2, 3, 4, 0, 1, 2], dtype=np.intp)


def bits(ids: np.ndarray, shift: int, n: int) -> np.ndarray:
    """``n`` bits of a uint64 hash starting at bit ``shift``, as small integers (cheap per-parcel dice)."""
    return ((ids >> np.uint64(shift)) & np.uint64((1 << n) - 1)).astype(np.intp)


def tag_key(key: int, tag: str) -> int:
    """Independent key for a named field of a scene (``"river"``, ``"moisture"``)."""
    return mix_key(key ^ (zlib.crc32(tag.encode()) * 0x9E3779B1))


class Scene:
    """Arrays of one scene on one grid (``x`` ``[W]``, ``y`` ``[H]`` metres east and north), painted by a biome.

    Layers ``[H, W]``: ``mat`` material ids, ``green`` 0..1, ``moisture`` about -1..1, ``elevation`` metres,
    ``wind`` extra dB on water, ``brightness`` optical gain; every helper is a function of map position.
    """

    def __init__(self, key: int, x: np.ndarray, y: np.ndarray, doy: int, lat: float, rng: HashStream,
                 extent: float | None = None):
        self.key, self.doy, self.lat, self.rng = key, doy, lat, rng
        self.uniform, self.integer = rng.uniform, rng.integers  # scene-level random numbers
        self.x, self.y = x.astype(np.float32), y.astype(np.float32)
        self.X, self.Y = self.x[None, :], self.y[:, None]
        self.shape = shape = (len(y), len(x))
        self.mat, self.green = np.full(shape, lc.GRASS, dtype=np.intp), np.full(shape, 0.8, dtype=np.float32)
        self.moisture, self.elevation, self.wind = (np.zeros(shape, dtype=np.float32) for _ in range(3))
        self.brightness = np.ones(shape, dtype=np.float32)
        self.season_doy = doy if lat >= 0 else (doy + 182) % 365  # the day of the matching northern season
        self.extent = float(max(x.max() - x.min(), y.max() - y.min()) if extent is None else extent)

    def field(self, tag: str, spacing: float, octaves: int = 2) -> np.ndarray:
        """Smooth noise ``[H, W]`` of unit variance with features of ``spacing`` metres."""
        return fbm(tag_key(self.key, tag), self.x, self.y, spacing, octaves)[0]

    def chance(self, p: float) -> bool:
        """A scene-level coin flip with probability ``p``."""
        return self.rng.random() < p

    def rotated(self, theta: float, ox: float = 0.0, oy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates ``(u, v)`` ``[H, W]`` of a frame turned by ``theta`` radians around ``(ox, oy)``."""
        c, s = math.cos(theta), math.sin(theta)
        dx, dy = self.X - ox, self.Y - oy
        return dx * c + dy * s, dy * c - dx * s

    def paint(self, mask: np.ndarray, material: int, green=None) -> None:
        """Set ``material`` (and optionally greenness, scalar or ``[H, W]``) where ``mask`` is true."""
        np.putmask(self.mat, mask, material)
        if green is not None:
            np.copyto(self.green, green, where=mask, casting="unsafe")

    def river(self, width: float, tag: str = "river") -> np.ndarray:
        """Signed distance in metres ``[H, W]`` to a meandering river centre line (water where ``|d| < w/2``)."""
        theta, offset = self.uniform(0, math.pi), self.uniform(-0.3, 0.3) * self.extent
        meander, wavelength = self.uniform(0.3, 1.2) * width + 20.0, self.uniform(8.0, 20.0) * width + 200.0
        p1, p2 = self.uniform(0, 2 * math.pi), self.uniform(0, 2 * math.pi)
        u, v = self.rotated(theta)
        f = 2 * math.pi / wavelength
        centre = offset + meander * (np.sin(u * f + p1) + 0.4 * np.sin(u * (f / 0.37) + p2))
        centre = centre + 0.25 * meander * self.field(tag, 3 * wavelength, 2)
        return v - centre

    def parcels(self, theta: float, length: float, depth: float, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """Parcels of variable width in a rotated grid: ``(ids, edge)`` ``[H, W]``, uint64 hash, metres to edge."""
        k = tag_key(self.key, tag)
        u, v = self.rotated(theta, self.uniform(-500, 500), self.uniform(-500, 500))
        iv = np.floor(v / depth)
        row_u = hash_uniform(k, iv).astype(np.float32)
        width = length * (0.5 + row_u)
        uu = u + row_u * 997.0
        iu = np.floor(uu / width)
        ids = hash_ints(k + 1, iu, iv)
        du, dv = uu - iu * width, v - iv * depth
        return ids, np.minimum(np.minimum(du, width - du), np.minimum(dv, depth - dv))

    def blob(self, radius: float, tag: str, cx: float | None = None, cy: float | None = None,
             roughness: float = 0.35) -> np.ndarray:
        """A rounded irregular patch ``[H, W]`` bool of about ``radius`` metres around (cx, cy)."""
        half = self.extent / 2
        cx = self.uniform(-0.6, 0.6) * half if cx is None else cx
        cy = self.uniform(-0.6, 0.6) * half if cy is None else cy
        return np.hypot(self.X - cx, self.Y - cy) < radius * (1.0 + roughness * self.field(tag, radius, 2))

    def crop_greenness(self, ids: np.ndarray, tropical: bool = False) -> np.ndarray:
        """Greenness ``[H, W]`` of crop parcels from their crop type, sowing jitter and the day of year."""
        kind = _CROP_OF_BITS[bits(ids, 0, 3)]
        if tropical:  # no winter: every parcel at its own stage of a continuous cycle
            day = self.season_doy + bits(ids, 32, 9).astype(np.float32) * (365.0 / 512.0)
        else:
            day = (self.season_doy - 16.0) + bits(ids, 20, 5).astype(np.float32)
        d = (day - _CROP_PEAK[kind] + 182.5) % 365.0 - 182.5
        d /= _CROP_WIDTH[kind]
        return _CROP_TOP[kind] * np.exp(-0.5 * d * d)

    def is_any(self, materials: tuple[int, ...]) -> np.ndarray:
        """Where the material map holds one of ``materials``, ``[H, W]`` bool."""
        table = np.zeros(len(lc.MATERIALS), dtype=bool)
        table[list(materials)] = True
        return table[self.mat]

    def winter(self) -> float:
        """0 in summer, 1 in mid-winter, for the scene's local season (a cosine of the day of year)."""
        return 0.5 + 0.5 * math.cos(2 * math.pi * (self.season_doy - 15) / 365)


@dataclass(frozen=True)
class Biome:
    """A kind of landscape: its share of scenes, ``(lat, lon, radius_deg, place)`` anchors, painter and events."""

    name: str
    weight: float
    anchors: tuple[tuple[float, float, float, str], ...]
    paint: Callable[[Scene], None]
    events: tuple[str, ...]


def _roads(s: Scene, n: int, width: float, material: int = lc.ROAD) -> None:
    mask = np.zeros(s.shape, bool)
    for _ in range(n):
        _, v = s.rotated(s.uniform(0, np.pi), s.uniform(-0.4, 0.4) * s.extent, s.uniform(-0.4, 0.4) * s.extent)
        mask |= np.abs(v) < width / 2
    s.paint(mask, material)


def _river(s: Scene, width: float, riparian: int | None = lc.BROADLEAF) -> None:
    d = s.river(width)
    if riparian is not None:
        s.paint(np.abs(d) < width / 2 + s.uniform(10, 40), riparian, 0.9)
    s.paint(np.abs(d) < width / 2, lc.RIVER)


def _town(s: Scene, radius: float, block: float, road: float) -> np.ndarray:
    """Paint blocks of buildings with streets and gardens inside a patch; returns the patch."""
    area = s.blob(radius, "town")
    ids, edge = s.parcels(s.uniform(0, np.pi), block, block * s.uniform(0.6, 1.0), "town-blocks")
    courtyard = edge > s.uniform(10, 18)
    s.paint(area & ~courtyard, lc.BUILDINGS)
    s.paint(area & courtyard, lc.GRASS, 0.85)
    s.paint(area & (bits(ids, 3, 3) == 0) & (edge > 3), lc.BROADLEAF, 0.9)  # gardens
    s.paint(area & (edge < road / 2), lc.ROAD)
    s.brightness = s.brightness * np.where(area, 1.0 + 0.25 * s.field("town-roofs", 15.0, 1), 1.0)
    return area


def paint_cropland(s: Scene) -> None:
    """European farmland: parcels of crops at their own phenological stage, hedges, woods, a river, a village."""
    ids, edge = s.parcels(s.uniform(0, np.pi), s.uniform(120, 300), s.uniform(70, 200), "fields")
    s.paint(np.ones(s.shape, bool), lc.CROP, s.crop_greenness(ids))
    pick = bits(ids, 40, 7)  # 0..127: per-parcel dice
    s.paint(pick < 15, lc.GRASS, 0.7 + 0.25 * s.field("pasture", 200.0, 1).clip(-1, 1))
    s.paint((pick >= 15) & (pick < 20), lc.BROADLEAF, 0.9)
    s.paint(edge < s.uniform(2.0, 6.0), lc.GRASS, 0.75)  # field margins and hedges
    s.paint(s.field("woods", 500.0) > s.uniform(1.0, 1.8), lc.BROADLEAF, 0.9)
    s.moisture = 0.6 * s.field("moisture", 400.0) + 0.5 * (hash01(ids) - 0.5)
    if s.chance(0.35):
        _river(s, s.uniform(15, 60))
    if s.chance(0.25):
        _town(s, s.uniform(80, 200), s.uniform(40, 80), 8.0)
    _roads(s, s.integer(0, 3), s.uniform(6, 12))
    _snow_cover(s, 0.85)


def paint_city(s: Scene) -> None:
    """A city: blocks of roofs, streets and avenues, courtyards and parks; a port basin or a river."""
    ids, edge = s.parcels(s.uniform(0, np.pi), s.uniform(60, 160), s.uniform(50, 120), "blocks")
    pick = bits(ids, 40, 7)  # 0..127: per-parcel dice
    courtyard = edge > s.uniform(12, 30)
    s.paint(np.ones(s.shape, bool), lc.BUILDINGS)
    s.paint(courtyard & (pick < 64), lc.GRASS, 0.8)
    s.paint((pick >= 112) & (edge > 4), lc.GRASS, 0.85)  # parks
    s.paint((pick >= 120) & (edge > 6) & (s.field("trees", 40.0, 1) > 0), lc.BROADLEAF, 0.9)
    s.paint((pick < 5) & (edge > 3), lc.ROAD)  # squares and car parks
    s.paint(edge < s.uniform(5.0, 12.0), lc.ROAD)
    _roads(s, s.integer(1, 3), s.uniform(20, 35))  # avenues
    s.brightness = 1.0 + 0.2 * s.field("roofs", 20.0, 1)
    if s.chance(0.5):  # a port: open water on one side, piers and basins
        u, v = s.rotated(s.uniform(0, 2 * np.pi))
        shore = s.uniform(-0.2, 0.3) * s.extent
        piers = np.abs(((u / s.uniform(90, 160)) % 1.0) - 0.5) < s.uniform(0.1, 0.25)
        piers &= v < shore + s.uniform(100, 250)
        s.paint((v > shore) & ~piers, lc.DEEP_WATER)
        s.paint((v > shore) & piers, lc.BUILDINGS)
        s.wind = 2.0 * s.field("wind", 800.0, 2)
    elif s.chance(0.6):
        _river(s, s.uniform(50, 180), riparian=lc.ROAD)


def paint_boreal(s: Scene) -> None:
    """Boreal forest: conifers with birch stands, lakes and bogs in hollows, clear-cuts, forest roads, snow."""
    s.paint(np.ones(s.shape, bool), lc.CONIFER, 0.85 + 0.1 * s.field("vigour", 150.0, 2).clip(-1, 1))
    s.paint(s.field("broadleaf", 250.0) > 0.8, lc.BROADLEAF, 0.9)
    low = s.field("terrain", 700.0, 3)
    s.elevation = 30.0 * low
    bog = low < -0.6 + 0.5 * s.field("bog", 120.0, 1)
    s.paint(bog, lc.MARSH, 0.5 + 0.2 * s.field("bogg", 80.0, 1).clip(-1, 1))
    lake = low < s.uniform(-1.6, -0.6)
    s.paint(lake, lc.DEEP_WATER)
    ids, edge = s.parcels(s.uniform(0, np.pi), s.uniform(150, 300), s.uniform(100, 250), "cuts")
    cut = (bits(ids, 3, 3) == 0) & (edge > 5) & ~lake
    s.paint(cut, lc.SOIL)
    s.paint(cut & (bits(ids, 6, 1) == 0), lc.GRASS, 0.6)
    s.moisture = 0.5 * s.field("moisture", 300.0)
    _roads(s, s.integer(0, 2), s.uniform(5, 9), lc.SOIL)
    _snow_cover(s, 0.6)


def paint_tropical(s: Scene) -> None:
    """Tropical forest with a river and a deforestation front (clearings along a road)."""
    s.paint(np.ones(s.shape, bool), lc.TROPICAL, 0.9 + 0.08 * s.field("vigour", 100.0, 2).clip(-1, 1))
    if s.chance(0.5):
        _river(s, s.uniform(30, 250), riparian=None)
    if s.chance(0.7):  # a deforestation front: a road with clearings along it (fishbone pattern)
        theta = s.uniform(0, np.pi)
        u, v = s.rotated(theta, 0.0, s.uniform(-0.3, 0.3) * s.extent)
        reach = s.uniform(150, 500)
        ids, edge = s.parcels(theta, s.uniform(80, 200), reach, "clearings")
        near = np.abs(v) < reach * (0.7 + 0.6 * hash01(ids))
        cleared = near & (bits(ids, 3, 2) != 0) & (edge > 3)
        kind = bits(ids, 30, 2) % 3
        s.paint(cleared & (kind == 0), lc.SOIL)
        s.paint(cleared & (kind == 1), lc.GRASS, 0.75)
        s.paint(cleared & (kind == 2), lc.CROP, s.crop_greenness(ids, tropical=True))
        s.paint(np.abs(v) < 6, lc.SOIL)
    s.moisture = 0.4 * s.field("moisture", 300.0) + 0.3


def paint_desert(s: Scene) -> None:
    """Sand sea: faint dunes, rare rock outcrops; nearly uniform on purpose (a hard case)."""
    s.paint(np.ones(s.shape, bool), lc.SAND)
    u, _ = s.rotated(s.uniform(0, np.pi))
    wavelength = s.uniform(150, 400)
    dunes = np.sin(2 * np.pi * u / wavelength + 1.5 * s.field("dunes", 2 * wavelength, 2))
    s.elevation = s.uniform(0.5, 2.0) * dunes
    s.brightness = 1.0 + 0.03 * dunes + 0.03 * s.field("sand", 500.0, 2)
    s.moisture = -0.8 + 0.1 * s.field("moisture", 500.0, 1)
    if s.chance(0.15):
        s.paint(s.field("outcrop", 300.0) > 1.8, lc.ROCK)


def paint_mountains(s: Scene) -> None:
    """Mountains: forest below the tree line, meadows and rock above, seasonal snow and glaciers."""
    relief, base = s.uniform(250, 700), s.uniform(600, 2800)
    s.elevation = base + relief * s.field("terrain", s.uniform(500, 1200), 4)
    gy, gx = np.gradient(s.elevation, s.y, s.x)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    treeline = s.uniform(1700, 2200) + 60 * s.field("treeline", 300.0, 2)
    s.paint(np.ones(s.shape, bool), lc.CONIFER, 0.85)
    s.paint((s.elevation < treeline - 600) & (s.field("mixed", 300.0) > 0.3), lc.BROADLEAF, 0.9)
    s.paint(s.elevation > treeline, lc.GRASS, 0.6 + 0.2 * s.field("meadow", 100.0, 1).clip(-1, 1))
    s.paint((s.elevation > treeline + 350) | (slope > 40), lc.ROCK)
    snowline = 2900 - 1400 * s.winter() + 100 * s.field("snowline", 400.0, 2)
    s.paint((s.elevation > snowline) & (slope < 50), lc.SNOWPACK)
    s.paint(s.elevation > np.maximum(3300.0, snowline + 400), lc.ICE)
    s.moisture = 0.3 * s.field("moisture", 300.0)
    if s.chance(0.35):
        d = s.river(s.uniform(10, 40))
        s.paint(np.abs(d) < 12 + 8 * s.field("riverw", 200.0, 1).clip(-1, 1), lc.RIVER)


def paint_coast(s: Scene) -> None:
    """A coast: sea, beach, marsh, fields and woods inland, sometimes a town."""
    _, v = s.rotated(s.uniform(0, 2 * np.pi))
    shore = s.uniform(-0.3, 0.3) * s.extent + s.uniform(40, 150) * s.field("coastline", 400.0, 3)
    beach = s.uniform(10, 60)
    inland = v < shore - beach
    ids, edge = s.parcels(s.uniform(0, np.pi), s.uniform(100, 250), s.uniform(70, 180), "fields")
    s.paint(inland, lc.CROP, s.crop_greenness(ids))
    pick = bits(ids, 40, 7)  # 0..127: per-parcel dice
    s.paint(inland & (pick < 45), lc.GRASS, 0.8)
    s.paint(inland & (edge < 4), lc.GRASS, 0.75)
    s.paint(inland & (s.field("woods", 400.0) > 0.7), lc.CONIFER, 0.85)
    if s.chance(0.4):
        marsh = inland & (v > shore - beach - s.uniform(60, 250)) & (s.field("marsh", 150.0) > -0.3)
        s.paint(marsh, lc.MARSH, 0.7)
    if s.chance(0.35):
        s.paint(_town(s, s.uniform(100, 250), s.uniform(40, 90), 9.0) & ~inland, lc.SAND)
    s.paint((v >= shore - beach) & (v < shore), lc.SAND)
    s.paint(v >= shore, lc.DEEP_WATER)
    s.wind = 2.5 * s.field("wind", 900.0, 2)
    s.moisture = 0.5 * s.field("moisture", 300.0)
    _snow_cover(s, 0.9)


def paint_ocean(s: Scene) -> None:
    """Open ocean: featureless water whose wind roughness only the radar sees (a hard case)."""
    s.paint(np.ones(s.shape, bool), lc.DEEP_WATER)
    s.wind = s.uniform(-3.5, 3.0) + 0.4 * s.field("wind", s.uniform(1500, 4000), 3)
    s.brightness = 1.0 + 0.03 * s.field("plankton", 2000.0, 2)


def paint_grassland(s: Scene) -> None:
    """Steppe or savanna: grass greening with the rains, scattered trees, bare patches, a river."""
    dry = 0.5 + 0.5 * math.cos(2 * math.pi * (s.season_doy - 200) / 365)  # 0 at the peak of the rains/summer
    s.paint(np.ones(s.shape, bool), lc.GRASS, 0.95 - 0.3 * dry + 0.1 * s.field("grass", 150.0, 2).clip(-1, 1))
    s.paint(s.field("trees", 60.0, 2) > s.uniform(1.2, 2.2), lc.BROADLEAF, 0.9)
    s.paint(s.field("bare", 250.0) > s.uniform(1.3, 2.0), lc.SOIL)
    s.moisture = 0.6 * s.field("moisture", 500.0) - 0.3 * dry
    if s.chance(0.4):
        _river(s, s.uniform(10, 40))
    _roads(s, s.integer(0, 2), s.uniform(4, 8), lc.SOIL)
    _snow_cover(s, 0.8)


def paint_wetland(s: Scene) -> None:
    """Wetland: reeds, channels, ponds, wooded islands and wet meadows."""
    s.paint(np.ones(s.shape, bool), lc.MARSH, 0.6 + 0.3 * s.field("reeds", 120.0, 2).clip(-1, 1))
    s.paint(s.field("islands", 300.0) > 0.8, lc.BROADLEAF, 0.9)
    s.paint(s.field("meadow", 200.0) > 1.0, lc.GRASS, 0.85)
    s.paint(s.field("ponds", 250.0) < -0.9, lc.DEEP_WATER)
    for k in range(s.integer(1, 4)):
        d = s.river(s.uniform(8, 60), tag=f"channel{k}")
        s.paint(np.abs(d) < s.uniform(4, 30), lc.RIVER)
    s.moisture = 0.5 + 0.3 * s.field("moisture", 300.0)


def paint_polar(s: Scene) -> None:
    """Ice sheet margin: snow and glacier ice, rock ridges, sometimes a fjord."""
    s.elevation = s.uniform(200, 600) * s.field("terrain", 900.0, 4)
    s.paint(np.ones(s.shape, bool), lc.ICE)
    s.paint(s.field("snow", 200.0) > -0.3, lc.SNOWPACK)
    gy, gx = np.gradient(s.elevation, s.y, s.x)
    s.paint(np.hypot(gx, gy) > s.uniform(0.5, 0.9), lc.ROCK)
    if s.chance(0.4):  # a fjord
        d = s.river(s.uniform(150, 400), tag="fjord")
        s.paint(np.abs(d) < 150, lc.DEEP_WATER)
        s.wind = 1.5 * s.field("wind", 800.0, 2)


def _snow_cover(s: Scene, threshold: float) -> None:
    """Seasonal snow on open land in winter at high latitude (forest canopies stay visible)."""
    if abs(s.lat) < 42:
        return
    depth = s.winter() - threshold + 0.004 * (abs(s.lat) - 50) + 0.05 * s.field("snowdepth", 600.0, 2)
    open_land = ~s.is_any((lc.BUILDINGS, lc.ROAD, lc.BROADLEAF, lc.CONIFER, lc.TROPICAL))
    s.paint((depth > 0) & open_land, lc.SNOWPACK)


def hash01(ids: np.ndarray) -> np.ndarray:
    """A uniform number in [0, 1) per parcel id, from bits no other per-parcel choice uses."""
    return bits(ids, 8, 10).astype(np.float32) * (1.0 / 1024.0)


BIOMES: dict[str, Biome] = {
    b.name: b
    for b in (
        Biome("cropland", 0.17, (
            (48.3, 1.6, 0.8, "Beauce, France"), (52.2, 10.5, 1.0, "Lower Saxony, Germany"),
            (52.0, 19.0, 1.2, "Masovia, Poland"), (49.0, 32.0, 1.5, "Central Ukraine"),
            (41.6, -4.6, 0.8, "Castile, Spain"), (47.0, 20.5, 0.7, "Great Hungarian Plain"),
            (55.8, 9.3, 0.5, "Jutland, Denmark"), (44.6, 11.5, 0.5, "Po Valley, Italy"),
        ), paint_cropland, ("flood", "construction")),
        Biome("city", 0.12, (
            (51.92, 4.40, 0.08, "Rotterdam"), (53.53, 9.95, 0.06, "Hamburg"), (51.25, 4.38, 0.05, "Antwerp"),
            (43.32, 5.38, 0.05, "Marseille"), (31.23, 121.47, 0.12, "Shanghai"), (1.30, 103.82, 0.06, "Singapore"),
            (6.48, 3.38, 0.08, "Lagos"), (-34.60, -58.40, 0.08, "Buenos Aires"), (48.86, 2.35, 0.06, "Paris"),
            (30.05, 31.24, 0.08, "Cairo"), (19.05, 72.88, 0.06, "Mumbai"), (35.68, 139.75, 0.12, "Tokyo"),
            (40.70, -74.00, 0.06, "New York"), (-33.90, 18.45, 0.05, "Cape Town"),
        ), paint_city, ("construction", "flood")),
        Biome("boreal", 0.10, (
            (62.5, 27.0, 1.5, "Finnish Lakeland"), (64.5, 18.5, 1.5, "Norrland, Sweden"),
            (50.5, -75.0, 2.0, "Quebec, Canada"), (60.0, 90.0, 3.0, "Central Siberia"),
            (58.5, 50.0, 2.0, "Kirov, Russia"), (54.5, -100.0, 2.5, "Manitoba, Canada"),
        ), paint_boreal, ("deforestation", "flood")),
        Biome("tropical forest", 0.10, (
            (-3.1, -60.0, 2.0, "Central Amazon"), (-10.0, -63.0, 1.5, "Rondonia, Brazil"),
            (0.5, 20.0, 2.0, "Congo Basin"), (1.0, 114.0, 1.5, "Borneo"), (-1.0, 102.0, 1.0, "Sumatra"),
        ), paint_tropical, ("deforestation", "flood")),
        Biome("desert", 0.07, (
            (23.0, 10.0, 3.0, "Central Sahara"), (25.0, 26.0, 2.0, "Libyan Desert"),
            (20.0, 50.0, 2.0, "Rub' al Khali"), (-24.5, 15.3, 0.8, "Namib"), (39.0, 83.0, 2.0, "Taklamakan"),
            (-25.5, 137.0, 1.5, "Simpson Desert"),
        ), paint_desert, ("construction",)),
        Biome("mountains", 0.10, (
            (46.5, 9.0, 1.0, "Alps"), (28.0, 86.5, 1.0, "Himalaya"), (-33.0, -70.0, 1.0, "Central Andes"),
            (39.5, -106.0, 1.0, "Rocky Mountains"), (43.0, 43.0, 0.8, "Caucasus"), (42.7, 0.5, 0.5, "Pyrenees"),
        ), paint_mountains, ("deforestation",)),
        Biome("coast", 0.10, (
            (48.3, -4.3, 0.4, "Brittany"), (53.3, 5.5, 0.3, "Wadden Sea"), (39.0, -9.3, 0.3, "Portugal"),
            (27.0, -82.5, 0.5, "Florida Gulf coast"), (-31.5, 115.7, 0.5, "Western Australia"),
            (56.5, 8.2, 0.3, "West Jutland"), (36.5, 127.0, 0.8, "Korean west coast"),
        ), paint_coast, ("flood", "construction")),
        Biome("open ocean", 0.05, (
            (35.0, -40.0, 8.0, "North Atlantic"), (0.0, -140.0, 10.0, "Equatorial Pacific"),
            (-20.0, 80.0, 10.0, "Indian Ocean"), (-30.0, -15.0, 8.0, "South Atlantic"),
        ), paint_ocean, ()),
        Biome("grassland", 0.08, (
            (50.0, 70.0, 3.0, "Kazakh Steppe"), (-2.3, 34.8, 1.0, "Serengeti"), (41.0, -100.0, 2.0, "Great Plains"),
            (-35.0, -62.0, 1.5, "Pampas"), (47.0, 105.0, 2.0, "Mongolian Steppe"),
        ), paint_grassland, ("flood", "construction")),
        Biome("wetland", 0.06, (
            (-18.0, -57.0, 1.5, "Pantanal"), (21.9, 89.2, 0.4, "Sundarbans"), (-19.3, 22.9, 0.6, "Okavango Delta"),
            (25.8, -80.8, 0.3, "Everglades"), (45.1, 29.3, 0.3, "Danube Delta"),
        ), paint_wetland, ("flood",)),
        Biome("polar", 0.05, (
            (67.0, -49.5, 1.0, "Greenland ice margin"), (78.5, 16.0, 1.0, "Svalbard"),
            (-64.5, -62.0, 1.0, "Antarctic Peninsula"), (61.5, -142.0, 1.0, "Saint Elias Mountains"),
        ), paint_polar, ()),
    )
}  # fmt: skip

BIOME_NAMES: tuple[str, ...] = tuple(BIOMES)

BIOME_ALIASES: dict[str, str] = {
    "ocean": "open ocean", "sea": "open ocean", "tropical": "tropical forest", "rainforest": "tropical forest",
    "cities": "city", "port": "city", "urban": "city", "mountain": "mountains", "agriculture": "cropland",
    "steppe": "grassland", "savanna": "grassland", "ice": "polar", "coastal": "coast",
}  # fmt: skip


def biome_name(name: str) -> str:
    """Canonical biome name from a name or alias (``"ocean"`` -> ``"open ocean"``)."""
    key = BIOME_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in BIOMES:
        raise ValueError(f"unknown biome {name!r}; expected one of {list(BIOME_NAMES)} (or {sorted(BIOME_ALIASES)})")
    return key


EVENTS: tuple[str, ...] = ("deforestation", "flood", "construction")
#: Days a flood stays before the water recedes, and a construction site stays bare before buildings appear.
FLOOD_DAYS, SITE_DAYS = 30, 60


def event_plan(event: str | None, first: dt.date, last: dt.date, allowed: tuple[str, ...],
               rng: np.random.Generator) -> tuple[str, dt.date]:
    """``(kind, date)`` of a time series' event; ``"auto"`` draws from ``allowed``; a flood shows on ``last``."""
    u = rng.random(2)
    if event == "auto":
        kind = allowed[int(u[0] * len(allowed))] if allowed else "none"
    elif event is None or event == "none":
        kind = "none"
    elif event in EVENTS:
        kind = event
    else:
        raise ValueError(f"event: expected 'auto', None or one of {EVENTS}, got {event!r}")
    span = (last - first).days
    if kind == "flood":
        back = min(int(u[1] * (FLOOD_DAYS - 1)), max(span - 1, 0))
        return kind, last - dt.timedelta(days=back)
    return kind, first + dt.timedelta(days=int(round((0.3 + 0.4 * u[1]) * span)))


def apply_event(scene: Scene, kind: str, start: dt.date, date: dt.date, rng: np.random.Generator) -> bool:
    """Paint the event onto ``scene`` if it shows on ``date`` (its geometry is the same on every date); return that."""
    if kind == "none":
        return False
    if kind not in EVENTS:
        raise ValueError(f"event: expected one of {EVENTS}, got {kind!r}")
    u = rng.random(6)
    cx, cy = (2 * u[0] - 1) * 0.4 * (scene.extent / 2), (2 * u[1] - 1) * 0.4 * (scene.extent / 2)
    days = (date - start).days
    if days < 0:
        return False
    if kind == "deforestation":
        forest = scene.is_any((lc.BROADLEAF, lc.CONIFER, lc.TROPICAL))
        scene.paint(_patch(scene, forest, scene.extent * (0.15 + 0.15 * u[2]), "event-cut", cx, cy), lc.SOIL, 0.0)
        return True
    if kind == "flood":
        if days > FLOOD_DAYS:
            return False
        dry = ~scene.is_any((lc.DEEP_WATER, lc.RIVER, lc.BUILDINGS, lc.ROAD))
        lowland = _patch(scene, dry, scene.extent * (0.25 + 0.2 * u[2]), "event-flood", cx, cy, roughness=0.5)
        scene.paint(lowland & dry, lc.RIVER)
        scene.wind = np.where(lowland & dry, -1.5, scene.wind)  # sheltered flood water is smooth
        return True
    # construction: a rectangular site; bare at first, then blocks and streets
    side = scene.extent * (0.2 + 0.15 * u[2])
    uu, vv = scene.rotated(np.pi * u[3], cx, cy)
    site = (np.abs(uu) < side / 2) & (np.abs(vv) < side * (0.3 + 0.3 * u[4]))
    site &= ~scene.is_any((lc.DEEP_WATER, lc.RIVER))
    if days < SITE_DAYS:
        scene.paint(site, lc.SITE, 0.0)
        return True
    street = (np.abs((uu % 40.0) - 20.0) > 15.0) | (np.abs((vv % 50.0) - 25.0) > 20.0)
    scene.paint(site & ~street, lc.BUILDINGS)
    scene.paint(site & street, lc.ROAD)
    return True


def _patch(scene: Scene, eligible: np.ndarray, radius: float, tag: str, cx: float, cy: float,
           roughness: float = 0.35) -> np.ndarray:
    """A blob around (cx, cy) within ``eligible``; moved to the eligible pixels if it misses them (sea)."""
    patch = scene.blob(radius, tag, cx, cy, roughness) & eligible
    if patch.mean() < 0.02 and eligible.any():
        rows, cols = np.nonzero(eligible)
        k = len(rows) // 2
        cx, cy = float(scene.x[cols[k]]), float(scene.y[rows[k]])
        patch = scene.blob(radius, tag, cx, cy, roughness) & eligible
    return patch
