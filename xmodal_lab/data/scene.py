"""A scene under construction: the pixel grid, procedural fields and the layers every biome paints."""

from __future__ import annotations

import math
import zlib

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
        self.x, self.y = x.astype(np.float32), y.astype(np.float32)
        self.X, self.Y = self.x[None, :], self.y[:, None]
        self.shape = shape = (len(y), len(x))
        self.mat = np.full(shape, lc.GRASS, dtype=np.intp)
        self.green = np.full(shape, 0.8, dtype=np.float32)
        self.moisture, self.elevation, self.wind = (np.zeros(shape, dtype=np.float32) for _ in range(3))
        self.brightness = np.ones(shape, dtype=np.float32)
        self.season_doy = doy if lat >= 0 else (doy + 182) % 365  # the day of the matching northern season
        self.extent = float(max(x.max() - x.min(), y.max() - y.min()) if extent is None else extent)

    def field(self, tag: str, spacing: float, octaves: int = 2) -> np.ndarray:
        """Smooth noise ``[H, W]`` of unit variance with features of ``spacing`` metres."""
        return fbm(tag_key(self.key, tag), self.x, self.y, spacing, octaves)[0]

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        """One scene-level random number."""
        return self.rng.uniform(low, high)

    def integer(self, low: int, high: int) -> int:
        """One scene-level random integer in [low, high)."""
        return self.rng.integers(low, high)

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
            if np.ndim(green):
                np.copyto(self.green, green, where=mask, casting="unsafe")
            else:
                np.putmask(self.green, mask, green)

    def river(self, width: float, tag: str = "river") -> np.ndarray:
        """Signed distance in metres ``[H, W]`` to a meandering river centre line (water where ``|d| < w/2``)."""
        theta = self.uniform(0, math.pi)
        offset = self.uniform(-0.3, 0.3) * self.extent
        meander = self.uniform(0.3, 1.2) * width + 20.0
        wavelength = self.uniform(8.0, 20.0) * width + 200.0
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
