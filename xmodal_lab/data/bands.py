"""Sentinel-1 and Sentinel-2 bands in the kit's one order, and the per-tile measures of the first lessons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from xmodal_lab.data.landcover import LANDCOVER_CLASSES
from xmodal_lab.errors import InputValueError


@dataclass(frozen=True)
class OpticalBand:
    """One Sentinel-2 band: name, what it sees, centre wavelength (Sentinel-2A), native GSD."""

    name: str
    common_name: str
    wavelength_nm: float
    gsd: float


@dataclass(frozen=True)
class RadarBand:
    """One Sentinel-1 polarisation channel: name, description, wavelength, IW GRD pixel spacing."""

    name: str
    common_name: str
    wavelength_cm: float
    gsd: float


S2_BANDS: tuple[OpticalBand, ...] = (
    OpticalBand("B1", "coastal", 442.7, 60.0), OpticalBand("B2", "blue", 492.4, 10.0),
    OpticalBand("B3", "green", 559.8, 10.0), OpticalBand("B4", "red", 664.6, 10.0),
    OpticalBand("B5", "red edge 1", 704.1, 20.0), OpticalBand("B6", "red edge 2", 740.5, 20.0),
    OpticalBand("B7", "red edge 3", 782.8, 20.0), OpticalBand("B8", "nir", 832.8, 10.0),
    OpticalBand("B8A", "nir narrow", 864.7, 20.0), OpticalBand("B9", "water vapour", 945.1, 60.0),
    OpticalBand("B11", "swir 1", 1613.7, 20.0), OpticalBand("B12", "swir 2", 2202.4, 20.0),
)

S1_BANDS: tuple[RadarBand, ...] = (
    RadarBand("VV", "vertical transmit, vertical receive", 5.55, 10.0),
    RadarBand("VH", "vertical transmit, horizontal receive", 5.55, 10.0),
)

S2_BAND_NAMES: tuple[str, ...] = tuple(b.name for b in S2_BANDS)
RED, GREEN, NIR = 3, 2, 7  # indices into the 12-band stack
S2_SCALE = 10000.0  # the digital numbers of Sentinel-2 L2A products are reflectance x 10000


def ndvi(s2: Any, eps: float = 1e-6) -> Any:
    """Vegetation index ``(B8 - B4) / (B8 + B4)`` ``[..., H, W]`` of reflectance ``[..., 12, H, W]``."""
    nir, red = s2[..., NIR, :, :], s2[..., RED, :, :]
    return (nir - red) / (nir + red + eps)


def db_to_linear(db: Any) -> Any:
    """Backscatter from decibels to linear power, ``10 ** (dB / 10)`` (any shape, array or tensor)."""
    return 10.0 ** (db / 10.0)


def _landcover(pair: dict, caller: str) -> torch.Tensor:
    if "landcover" not in pair:
        raise InputValueError(f"{caller}: the pair has no 'landcover' map (simulated tiles carry one)")
    return torch.as_tensor(pair["landcover"])


def speckle_cv(pair: dict, band: int = 0) -> float:
    """Coefficient of variation of linear radar power (``band`` 0: VV) over the tile's most common class."""
    lc = _landcover(pair, "speckle_cv")
    major = torch.bincount(lc.flatten()).argmax()
    power = db_to_linear(torch.as_tensor(pair["s1"], dtype=torch.float64)[band][lc == major])
    return float(power.std() / power.mean())


def ndwi(s2: Any, eps: float = 1e-6) -> Any:
    """McFeeters' water index ``(B3 - B8) / (B3 + B8)`` ``[..., H, W]`` of reflectance ``[..., 12, H, W]``."""
    green, nir = s2[..., GREEN, :, :], s2[..., NIR, :, :]
    return (green - nir) / (green + nir + eps)


def class_fraction(pair: dict, name: str) -> float:
    """Fraction of a tile's pixels whose land-cover class is ``name`` (a :data:`LANDCOVER_CLASSES` name)."""
    if name not in LANDCOVER_CLASSES:
        raise InputValueError(f"class_fraction: unknown class {name!r}; expected one of {LANDCOVER_CLASSES}")
    lc = _landcover(pair, "class_fraction")
    return float((lc == LANDCOVER_CLASSES.index(name)).float().mean())
