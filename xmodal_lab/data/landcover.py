"""Land-cover classes of the simulated world (what a map shows) and the materials behind them (what sensors see)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Land-cover classes; a pixel's ``landcover`` value is an index into this tuple.
LANDCOVER_CLASSES: tuple[str, ...] = ("water", "forest", "cropland", "grassland", "urban", "bare soil", "wetland", "snow/ice")
WATER, FOREST, CROPLAND, GRASSLAND, URBAN, BARE, WETLAND, SNOW = range(len(LANDCOVER_CLASSES))


@dataclass(frozen=True)
class Material:
    """A surface: 12-band reflectance and VV, VH dB (at 35 degrees) at greenness 0, ``_green`` ones at 1 (or None).

    ``moisture_db`` is dB per unit of moisture field, ``incidence_db`` dB per degree; ``texture*`` scale texture.
    """

    name: str
    landcover: int
    spectrum: tuple[float, ...]
    spectrum_green: tuple[float, ...] | None
    vv: float
    vv_green: float | None
    vh: float
    vh_green: float | None
    moisture_db: float
    incidence_db: float
    texture: float
    texture_db: float


_SOIL = (0.07, 0.09, 0.12, 0.15, 0.18, 0.20, 0.21, 0.22, 0.23, 0.24, 0.30, 0.26)
_DRY_GRASS = (0.06, 0.08, 0.11, 0.13, 0.16, 0.20, 0.22, 0.24, 0.25, 0.26, 0.32, 0.24)

MATERIALS: tuple[Material, ...] = (  # the index is the material id of a scene's material map
    Material("deep water", WATER, (0.055, 0.045, 0.035, 0.018, 0.014, 0.010, 0.008, 0.007, 0.006, 0.004, 0.002, 0.001),
             None, -21.0, None, -28.5, None, 0.0, -0.6, 0.02, 0.1),
    Material("river water", WATER, (0.075, 0.075, 0.085, 0.065, 0.055, 0.030, 0.024, 0.020, 0.017, 0.010, 0.005, 0.003),
             None, -22.5, None, -29.0, None, 0.0, -0.6, 0.03, 0.15),
    Material("broadleaf forest", FOREST, (0.04, 0.05, 0.07, 0.07, 0.10, 0.17, 0.20, 0.22, 0.23, 0.23, 0.20, 0.12),
             (0.025, 0.03, 0.06, 0.03, 0.095, 0.27, 0.33, 0.36, 0.37, 0.35, 0.18, 0.08),
             -8.5, -7.5, -15.0, -13.0, 0.3, -0.10, 0.12, 1.0),
    Material("conifer forest", FOREST, (0.025, 0.03, 0.05, 0.035, 0.07, 0.15, 0.18, 0.20, 0.21, 0.20, 0.12, 0.05),
             (0.02, 0.022, 0.04, 0.022, 0.065, 0.18, 0.22, 0.24, 0.25, 0.24, 0.11, 0.045),
             -8.0, -7.5, -14.0, -13.0, 0.3, -0.10, 0.12, 1.0),
    Material("tropical forest", FOREST, (0.02, 0.025, 0.05, 0.025, 0.085, 0.26, 0.32, 0.35, 0.36, 0.34, 0.16, 0.065),
             (0.02, 0.025, 0.055, 0.025, 0.09, 0.29, 0.36, 0.39, 0.40, 0.38, 0.17, 0.07),
             -7.0, -6.5, -12.5, -11.5, 0.2, -0.08, 0.10, 0.8),
    Material("crop", CROPLAND, _SOIL,
             (0.025, 0.035, 0.08, 0.035, 0.12, 0.34, 0.42, 0.46, 0.47, 0.45, 0.23, 0.10),
             -11.5, -9.5, -20.5, -15.0, 2.5, -0.15, 0.04, 0.6),
    Material("grassland", GRASSLAND, _DRY_GRASS,
             (0.03, 0.04, 0.085, 0.045, 0.13, 0.29, 0.35, 0.38, 0.39, 0.37, 0.25, 0.13),
             -12.5, -11.0, -21.0, -17.5, 1.5, -0.15, 0.05, 0.6),
    Material("buildings", URBAN, (0.11, 0.12, 0.14, 0.16, 0.17, 0.18, 0.19, 0.20, 0.20, 0.20, 0.23, 0.21), None,
             3.0, None, -6.0, None, 0.0, -0.05, 0.25, 3.0),
    Material("paved road", URBAN, (0.07, 0.075, 0.085, 0.095, 0.10, 0.105, 0.11, 0.115, 0.115, 0.115, 0.13, 0.12),
             None, -12.0, None, -20.0, None, 0.0, -0.15, 0.05, 1.5),
    Material("sand", BARE, (0.14, 0.19, 0.27, 0.36, 0.40, 0.43, 0.45, 0.47, 0.48, 0.49, 0.58, 0.52), None,
             -15.5, None, -24.5, None, 0.8, -0.20, 0.02, 0.4),
    Material("rock", BARE, (0.09, 0.11, 0.14, 0.17, 0.19, 0.20, 0.21, 0.22, 0.23, 0.23, 0.27, 0.24), None,
             -9.0, None, -17.0, None, 0.5, -0.15, 0.10, 1.5),
    Material("bare soil", BARE, (0.05, 0.06, 0.09, 0.14, 0.17, 0.19, 0.21, 0.22, 0.23, 0.24, 0.30, 0.25), None,
             -12.0, None, -21.0, None, 2.5, -0.15, 0.05, 0.8),
    Material("construction site", URBAN, (0.10, 0.12, 0.15, 0.18, 0.20, 0.22, 0.23, 0.24, 0.25, 0.25, 0.31, 0.27),
             None, -10.0, None, -18.0, None, 1.0, -0.15, 0.15, 2.0),
    Material("wetland", WETLAND, (0.04, 0.05, 0.06, 0.06, 0.07, 0.09, 0.10, 0.10, 0.10, 0.09, 0.06, 0.04),
             (0.025, 0.035, 0.06, 0.035, 0.08, 0.19, 0.23, 0.25, 0.26, 0.23, 0.10, 0.045),
             -13.0, -8.0, -22.0, -16.0, 0.5, -0.20, 0.06, 1.0),
    Material("snow", SNOW, (0.92, 0.93, 0.91, 0.89, 0.87, 0.85, 0.83, 0.80, 0.78, 0.62, 0.09, 0.05), None,
             -11.0, None, -19.0, None, 0.0, -0.12, 0.02, 0.5),
    Material("glacier ice", SNOW, (0.74, 0.76, 0.72, 0.64, 0.58, 0.52, 0.48, 0.44, 0.42, 0.32, 0.04, 0.02), None,
             -8.0, None, -15.0, None, 0.0, -0.12, 0.04, 1.0),
)  # fmt: skip

DEEP_WATER, RIVER, BROADLEAF, CONIFER, TROPICAL, CROP, GRASS, BUILDINGS, ROAD, SAND, ROCK, SOIL, SITE, \
    MARSH, SNOWPACK, ICE = range(len(MATERIALS))  # fmt: skip

MATERIAL_CLASS = np.array([m.landcover for m in MATERIALS], dtype=np.int64)


def _props() -> np.ndarray:
    spectrum = np.array([m.spectrum for m in MATERIALS], dtype=np.float32).T  # [12, M]
    green = np.array([m.spectrum_green or m.spectrum for m in MATERIALS], dtype=np.float32).T
    sar = np.array([[m.vv, m.vh] for m in MATERIALS], dtype=np.float32).T  # [2, M]
    sar_green = np.array([[m.vv if m.vv_green is None else m.vv_green, m.vh if m.vh_green is None else m.vh_green]
                          for m in MATERIALS], dtype=np.float32).T
    scalars = np.array([[m.moisture_db, m.incidence_db, m.texture, m.texture_db] for m in MATERIALS], np.float32).T
    wet = np.clip(scalars[:1] / 2.5, 0, 1)  # bare surfaces darken most when wet
    water = (MATERIAL_CLASS == WATER)[None].astype(np.float32)
    return np.concatenate([spectrum, green - spectrum, sar, sar_green - sar, scalars, wet, water])


#: Every per-material number ``[34, M]`` (gathered once when rendering): spectrum, its greenness delta, VV/VH dB,
#: their greenness delta, moisture dB, incidence dB/deg, optical and radar texture, soil wetness, is-water.
PROPS = _props()
P_SPEC, P_DSPEC, P_SAR, P_DSAR = slice(0, 12), slice(12, 24), slice(24, 26), slice(26, 28)
P_MOIST_DB, P_INC_DB, P_TEX, P_TEX_DB, P_WET, P_WATER = range(28, 34)

#: Reflectance of a thick cloud top (bright and flat, a little darker in the short-wave infrared).
CLOUD_SPECTRUM = np.array([0.80, 0.80, 0.79, 0.78, 0.78, 0.77, 0.77, 0.76, 0.76, 0.70, 0.55, 0.40], dtype=np.float32)


def landcover_labels(landcover: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Multi-hot scene labels ``[K]`` from a land-cover map: classes covering at least ``threshold``."""
    valid = landcover[landcover >= 0]
    counts = np.bincount(valid.ravel(), minlength=len(LANDCOVER_CLASSES))[: len(LANDCOVER_CLASSES)]
    return (counts >= threshold * max(valid.size, 1)).astype(np.float32)
