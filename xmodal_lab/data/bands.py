"""Sentinel-1 and Sentinel-2 band tables: names, centre wavelengths, native ground sample distance, order.

The kit uses one band order everywhere: Sentinel-2 ``B1,B2,B3,B4,B5,B6,B7,B8,B8A,B9,B11,B12`` (B10, the
cirrus band, carries no surface signal and is dropped) and Sentinel-1 ``VV,VH``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpticalBand:
    """One Sentinel-2 MSI band.

    Attributes:
        name: ESA band name (``"B8A"``).
        common_name: what it sees (``"nir08"`` style short name, here a plain word such as ``"red"``).
        wavelength_nm: centre wavelength in nanometres (Sentinel-2A).
        gsd: native ground sample distance in metres (10, 20 or 60).
    """

    name: str
    common_name: str
    wavelength_nm: float
    gsd: float


@dataclass(frozen=True)
class RadarBand:
    """One Sentinel-1 C-band polarisation channel.

    Attributes:
        name: ``"VV"`` or ``"VH"`` (transmit, receive polarisation).
        common_name: a plain description.
        wavelength_cm: radar wavelength in centimetres (5.405 GHz C-band).
        gsd: pixel spacing of the Interferometric Wide swath GRD product in metres.
    """

    name: str
    common_name: str
    wavelength_cm: float
    gsd: float


#: The 12 Sentinel-2 bands of the kit, in order.
S2_BANDS: tuple[OpticalBand, ...] = (
    OpticalBand("B1", "coastal", 442.7, 60.0),
    OpticalBand("B2", "blue", 492.4, 10.0),
    OpticalBand("B3", "green", 559.8, 10.0),
    OpticalBand("B4", "red", 664.6, 10.0),
    OpticalBand("B5", "red edge 1", 704.1, 20.0),
    OpticalBand("B6", "red edge 2", 740.5, 20.0),
    OpticalBand("B7", "red edge 3", 782.8, 20.0),
    OpticalBand("B8", "nir", 832.8, 10.0),
    OpticalBand("B8A", "nir narrow", 864.7, 20.0),
    OpticalBand("B9", "water vapour", 945.1, 60.0),
    OpticalBand("B11", "swir 1", 1613.7, 20.0),
    OpticalBand("B12", "swir 2", 2202.4, 20.0),
)

#: The cirrus band that the kit drops from 13-band products.
S2_B10 = OpticalBand("B10", "cirrus", 1373.5, 60.0)

#: The 13 bands of an L1C product, in ESA order (B10 between B9 and B11).
S2_BANDS_13: tuple[OpticalBand, ...] = (*S2_BANDS[:10], S2_B10, *S2_BANDS[10:])

#: The 2 Sentinel-1 channels of the kit, in order.
S1_BANDS: tuple[RadarBand, ...] = (
    RadarBand("VV", "vertical transmit, vertical receive", 5.55, 10.0),
    RadarBand("VH", "vertical transmit, horizontal receive", 5.55, 10.0),
)

S2_BAND_NAMES: tuple[str, ...] = tuple(b.name for b in S2_BANDS)
S1_BAND_NAMES: tuple[str, ...] = tuple(b.name for b in S1_BANDS)
S2_WAVELENGTHS_NM: tuple[float, ...] = tuple(b.wavelength_nm for b in S2_BANDS)
S2_NATIVE_GSD: tuple[float, ...] = tuple(b.gsd for b in S2_BANDS)

#: Indices into the 12-band stack for common composites and indices.
RGB = (3, 2, 1)  # B4, B3, B2
RED, GREEN, BLUE, NIR, SWIR1, SWIR2 = 3, 2, 1, 7, 10, 11
VV, VH = 0, 1

#: The digital numbers of Sentinel-2 L2A products are reflectance x 10000.
S2_SCALE = 10000.0


def s2_index(name: str) -> int:
    """Position of a Sentinel-2 band in the kit's 12-band order.

    Args:
        name: band name, ``"B8A"`` or ``"B08"``/``"b8"`` style.

    Returns:
        Index in ``S2_BAND_NAMES``.

    Raises:
        KeyError: for B10 (dropped) or an unknown name.
    """
    key = name.strip().upper()
    if key.startswith("B0"):
        key = "B" + key[2:]
    if key == "B10":
        raise KeyError("B10 (cirrus) is not part of the kit's 12 Sentinel-2 bands; it is dropped on loading")
    if key not in S2_BAND_NAMES:
        raise KeyError(f"unknown Sentinel-2 band {name!r}; expected one of {', '.join(S2_BAND_NAMES)}")
    return S2_BAND_NAMES.index(key)


def ndvi(s2, eps: float = 1e-6):
    """Normalised difference vegetation index from a 12-band stack (works on NumPy arrays and tensors).

    Args:
        s2: reflectance ``[..., 12, H, W]``.
        eps: keeps the ratio finite on black pixels.

    Returns:
        ``(B8 - B4) / (B8 + B4)`` ``[..., H, W]``.
    """
    nir, red = s2[..., NIR, :, :], s2[..., RED, :, :]
    return (nir - red) / (nir + red + eps)
