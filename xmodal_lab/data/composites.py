"""Sentinel images ``[C, H, W]`` as 8-bit RGB ``[H, W, 3]`` (NaN black) with fixed or per-tile stretches."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: Indices of B4, B3, B2 (true colour) and of B8, B4, B3 (colour infrared) in the kit's 12 Sentinel-2 bands.
S2_TRUE_COLOR_BANDS: tuple[int, int, int] = (3, 2, 1)
S2_FALSE_COLOR_BANDS: tuple[int, int, int] = (7, 3, 2)
#: Reflectance shown from black to white: one range for B4, B3, B2 (faithful hues); B8, B4, B3 in false colour.
S2_TRUE_COLOR_RANGE: tuple[float, float] = (0.0, 0.3)
S2_FALSE_COLOR_RANGES: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.0, 0.3), (0.0, 0.3))
#: Display gamma of the optical composites (sRGB-like encoding of linear reflectance); 1.0 is linear.
S2_GAMMA: float = 1.0 / 2.2
STRETCHES = ("fixed", "percentile")
#: Radar display ranges in dB (clipped): VV, VH and VV - VH (low for forest, high for bare surfaces).
VV_RANGE_DB: tuple[float, float] = (-25.0, 0.0)
VH_RANGE_DB: tuple[float, float] = (-32.0, -5.0)
RATIO_RANGE_DB: tuple[float, float] = (0.0, 15.0)


def _as_array(image: Any, channels: int, name: str) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().to("cpu", torch.float32).numpy()
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or a.shape[0] != channels:
        raise ValueError(f"{name}: expected one image [{channels}, H, W] (channels first), got shape "
                         f"{tuple(a.shape)}; pass a single tile, e.g. batch['{name}'][0]")
    return a


def percentile_stretch(image: Any, low: float = 2.0, high: float = 98.0, per_band: bool = True) -> np.ndarray:
    """Linear stretch of ``[C, H, W]`` between two percentiles (per band or joint) to uint8; NaN and flat are 0."""
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"need 0 <= low < high <= 100, got low={low}, high={high}")
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 3:
        raise ValueError(f"expected [C, H, W], got shape {tuple(a.shape)}")
    finite, out = np.isfinite(a), np.zeros(a.shape, dtype=np.uint8)
    for g in [slice(i, i + 1) for i in range(a.shape[0])] if per_band else [slice(None)]:
        vals = a[g][finite[g]]
        lo, hi = np.percentile(vals, [low, high]) if vals.size else (0.0, 0.0)
        if hi <= lo:  # no finite value or no spread
            continue
        scaled = (np.nan_to_num(a[g], nan=lo) - lo) / (hi - lo)
        out[g] = np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)
        out[g][~finite[g]] = 0
    return out


def _hwc(chw: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(chw, 0, -1))


def _optical(s2: Any, bands: tuple[int, ...], ranges: Any, stretch: str, low: float | None, high: float | None,
             per_band: bool) -> np.ndarray:
    if stretch not in STRETCHES:
        raise ValueError(f"stretch: expected one of {STRETCHES}, got {stretch!r}")
    picked = _as_array(s2, 12, "s2")[list(bands)]
    if stretch == "percentile":
        return _hwc(percentile_stretch(picked, 2.0 if low is None else low, 98.0 if high is None else high, per_band))
    if low is not None or high is not None:
        raise ValueError("low and high are percentiles of stretch='percentile'; the default stretch is fixed")
    # the fixed stretch: round(255 * clip((r - lo) / (hi - lo), 0, 1) ** S2_GAMMA), NaN black
    r = np.broadcast_to(np.asarray(ranges, dtype=np.float32), (picked.shape[0], 2))
    lo, hi, finite = r[:, 0, None, None], r[:, 1, None, None], np.isfinite(picked)
    scaled = np.clip((np.where(finite, picked, lo) - lo) / (hi - lo), 0.0, 1.0) ** np.float32(S2_GAMMA)
    out = np.round(scaled * 255.0).astype(np.uint8)
    out[~finite] = 0
    return _hwc(out)


def s2_true_color(s2: Any, low: float | None = None, high: float | None = None, per_band: bool = False, *,
                  stretch: str = "fixed") -> np.ndarray:
    """True-colour picture ``[H, W, 3]`` uint8 (B4, B3, B2) of reflectance ``[12, H, W]``."""
    return _optical(s2, S2_TRUE_COLOR_BANDS, S2_TRUE_COLOR_RANGE, stretch, low, high, per_band)


def s2_false_color(s2: Any, low: float | None = None, high: float | None = None, per_band: bool = True, *,
                   stretch: str = "fixed") -> np.ndarray:
    """Colour-infrared picture ``[H, W, 3]`` uint8 (B8, B4, B3): vegetation red, water black."""
    return _optical(s2, S2_FALSE_COLOR_BANDS, S2_FALSE_COLOR_RANGES, stretch, low, high, per_band)


def db_to_uint8(db: Any, vmin: float, vmax: float) -> np.ndarray:
    """Clip decibels (any shape) to ``[vmin, vmax]`` and map linearly to 0..255 uint8 (NaN becomes 0)."""
    if vmax <= vmin:
        raise ValueError(f"need vmin < vmax, got ({vmin}, {vmax})")
    a = np.asarray(db, dtype=np.float32)
    scaled = np.clip((np.nan_to_num(a, nan=vmin) - vmin) / (vmax - vmin), 0.0, 1.0)
    return np.round(scaled * 255.0).astype(np.uint8)


def _s1_grey(s1: Any, band: int, db_range: tuple[float, float]) -> np.ndarray:
    grey = db_to_uint8(_as_array(s1, 2, "s1")[band], *db_range)
    return np.repeat(grey[..., None], 3, axis=-1)


def s1_vv(s1: Any, vv_range: tuple[float, float] = VV_RANGE_DB) -> np.ndarray:
    """Grey ``[H, W, 3]`` picture of VV from ``s1`` ``[2, H, W]`` dB (repeated in R, G, B for SAM)."""
    return _s1_grey(s1, 0, vv_range)


def s1_vh(s1: Any, vh_range: tuple[float, float] = VH_RANGE_DB) -> np.ndarray:
    """Grey ``[H, W, 3]`` picture of VH from ``s1`` ``[2, H, W]`` dB (repeated in R, G, B for SAM)."""
    return _s1_grey(s1, 1, vh_range)


def s1_composite(s1: Any, vv_range: tuple[float, float] = VV_RANGE_DB, vh_range: tuple[float, float] = VH_RANGE_DB,
                 ratio_range: tuple[float, float] = RATIO_RANGE_DB) -> np.ndarray:
    """Radar colour composite ``[H, W, 3]`` uint8 of dB ``[2, H, W]``: VV red, VH green, VV - VH blue, fixed ranges."""
    a = _as_array(s1, 2, "s1")
    rgb = np.stack([db_to_uint8(a[0], *vv_range), db_to_uint8(a[1], *vh_range), db_to_uint8(a[0] - a[1], *ratio_range)])
    return _hwc(rgb)


RENDERINGS = ("s2", "s2_false", "s1", "s1_vv", "s1_vh")  # names accepted by to_sam_image


def to_sam_image(image: Any, rendering: str = "s2", *, stretch: str = "fixed") -> np.ndarray:
    """Render one Sentinel image (or a pair dict's) for SAM by a :data:`RENDERINGS` name (SAM resizes it)."""
    renderers = {"s2": s2_true_color, "s2_false": s2_false_color, "s1": s1_composite, "s1_vv": s1_vv, "s1_vh": s1_vh}
    if rendering not in renderers:
        raise ValueError(f"rendering must be one of {RENDERINGS}, got {rendering!r}")
    if isinstance(image, dict):
        key = "s1" if rendering.startswith("s1") else "s2"
        if key not in image:
            raise KeyError(f"rendering {rendering!r} needs the pair's {key!r} entry; keys: {sorted(image)}")
        image = image[key]
    if stretch not in STRETCHES:
        raise ValueError(f"stretch: expected one of {STRETCHES}, got {stretch!r}")
    kwargs = {"stretch": stretch} if rendering.startswith("s2") else {}
    return renderers[rendering](image, **kwargs)
