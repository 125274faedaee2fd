"""Simple per-tile measurements of the first lessons: decibels, speckle, water index, land-cover fractions.

Radar backscatter ``sigma0`` is a power ratio that spans orders of magnitude, so the kit stores it in decibels,
``sigma0_dB = 10 log10(sigma0)``; :func:`db_to_linear` and :func:`linear_to_db` convert between the two.
Speckle is multiplicative: the measured intensity is ``sigma0 * n`` with ``n ~ Gamma(L, 1/L)`` (mean 1,
variance ``1 / L`` for ``L`` looks), so on a uniform surface the coefficient of variation of linear intensity
(:func:`speckle_cv`) is ``1 / sqrt(L)`` and the equivalent number of looks ``ENL = mean^2 / var`` is ``L``.
:func:`ndwi` is McFeeters' normalised difference water index ``(B3 - B8) / (B3 + B8)``, the water
counterpart of :func:`~xmodal_lab.data.bands.ndvi`. :func:`class_fraction` is the share of a tile covered by
one land-cover class. All functions take NumPy arrays or tensors and return the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xmodal_lab.data.bands import GREEN, NIR
from xmodal_lab.data.landcover import LANDCOVER_CLASSES
from xmodal_lab.errors import InputValueError


def db_to_linear(db: Any) -> Any:
    """Convert backscatter from decibels to linear power: ``sigma0 = 10 ** (dB / 10)``.

    Args:
        db: sigma0 in dB, any shape (array or tensor).

    Returns:
        sigma0 in linear power, same shape and kind (``-10 dB -> 0.1``, ``0 dB -> 1``).
    """
    return 10.0 ** (db / 10.0)


def linear_to_db(linear: Any, floor: float = 1e-10) -> Any:
    """Convert backscatter from linear power to decibels: ``dB = 10 log10(sigma0)``.

    Args:
        linear: sigma0 in linear power, any shape; values below ``floor`` (zeros, from masked pixels) are
            raised to ``floor`` so that the result stays finite.
        floor: smallest power converted (``1e-10`` is -100 dB).

    Returns:
        sigma0 in dB, same shape and kind.

    Raises:
        InputValueError: negative powers (a power cannot be negative; the input is probably already in dB).
    """
    if isinstance(linear, torch.Tensor):
        if bool((linear < 0).any()):
            raise InputValueError("linear_to_db: negative power values; is the input already in dB?")
        return 10.0 * torch.log10(linear.clamp(min=floor))
    a = np.asarray(linear, dtype=float)
    if (a < 0).any():
        raise InputValueError("linear_to_db: negative power values; is the input already in dB?")
    return 10.0 * np.log10(np.maximum(a, floor))


def speckle_cv(pair: dict, band: int = 0) -> float:
    """Coefficient of variation (std / mean) of linear radar power over the tile's most common class.

    On a uniform surface with Gamma speckle of ``L`` looks this is ``1 / sqrt(L)``; texture inside the class
    raises it. ``1 / speckle_cv(pair) ** 2`` is the equivalent number of looks of the tile.

    Args:
        pair: a pair dict with ``s1`` ``[2, H, W]`` in dB and ``landcover`` ``[H, W]``.
        band: radar band (0: VV, 1: VH).

    Returns:
        The coefficient of variation (sample std with ``N - 1``, as ``torch.std``).

    Raises:
        InputValueError: the pair has no ``landcover`` (real tiles carry labels, not per-pixel classes).
    """
    if "landcover" not in pair:
        raise InputValueError("speckle_cv: the pair has no 'landcover' map (simulated tiles carry one)")
    lc = torch.as_tensor(pair["landcover"])
    major = torch.bincount(lc.flatten()).argmax()
    power = db_to_linear(torch.as_tensor(pair["s1"], dtype=torch.float64)[band][lc == major])
    return float(power.std() / power.mean())


def ndwi(s2: Any, eps: float = 1e-6) -> Any:
    """McFeeters' normalised difference water index from a 12-band stack: ``(B3 - B8) / (B3 + B8)``.

    Water reflects green light and absorbs the near infrared (positive NDWI); vegetation does the opposite
    (negative NDWI).

    Args:
        s2: reflectance ``[..., 12, H, W]`` (array or tensor).
        eps: keeps the ratio finite on black pixels.

    Returns:
        NDWI ``[..., H, W]``.
    """
    green, nir = s2[..., GREEN, :, :], s2[..., NIR, :, :]
    return (green - nir) / (green + nir + eps)


def class_fraction(pair: dict, name: str) -> float:
    """Fraction of a tile's pixels whose land-cover class is ``name``.

    Args:
        pair: a pair dict with ``landcover`` ``[H, W]`` (class ids of ``LANDCOVER_CLASSES``).
        name: a class of ``LANDCOVER_CLASSES`` (for example ``"water"``).

    Returns:
        A number in ``[0, 1]``.

    Raises:
        InputValueError: unknown class name, or a pair without ``landcover``.
    """
    if name not in LANDCOVER_CLASSES:
        raise InputValueError(f"class_fraction: unknown class {name!r}; expected one of {LANDCOVER_CLASSES}")
    if "landcover" not in pair:
        raise InputValueError("class_fraction: the pair has no 'landcover' map (simulated tiles carry one)")
    lc = torch.as_tensor(pair["landcover"])
    return float((lc == LANDCOVER_CLASSES.index(name)).float().mean())


__all__ = ["class_fraction", "db_to_linear", "linear_to_db", "ndwi", "speckle_cv"]
