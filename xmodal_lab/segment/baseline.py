"""A one-shot baseline with no model at all: one band (or index) and the threshold that fits the reference tile.

Any one-shot segmenter should beat this to earn its keep. Water is dark in radar VV (specular reflection)
and bright in the optical water index NDWI; forest is bright in radar VH (volume scattering in the canopy)
and in NDVI (its red edge). The threshold is the one that best reproduces the reference mask on the
reference tile itself (found exactly, as in :func:`~xmodal_lab.segment.confidence.best_threshold`), then
applied unchanged to the target tiles: one labelled tile, like the one-shot segmenters.

Shapes: tiles ``[C, H, W]`` or ``[B, C, H, W]`` (Sentinel-1 ``C = 2`` in dB, Sentinel-2 ``C = 12``
reflectance), masks ``[H, W]`` / ``[B, H, W]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.errors import InputValueError
from xmodal_lab.segment.confidence import best_threshold

#: Bands and indices the baseline can threshold, with the modality they are read from.
BASELINE_BANDS: dict[str, str] = {"vv": "s1", "vh": "s1", "ndvi": "s2", "ndwi": "s2"}

#: The band and direction (``below=True``: the class is below the threshold) per class and modality.
DEFAULT_BASELINES: dict[str, dict[str, tuple[str, bool]]] = {
    "water": {"s1": ("vv", True), "s2": ("ndwi", False)},
    "forest": {"s1": ("vh", False), "s2": ("ndvi", False)},
}

_GREEN, _RED, _NIR = 2, 3, 7  # Sentinel-2 B3, B4, B8 in the kit's 12-band order


def band_image(tiles: Any, band: str) -> Tensor:
    """One band or index of Sentinel tiles.

    Args:
        tiles: ``[C, H, W]`` or ``[B, C, H, W]``: radar ``C = 2`` (VV, VH in dB) or optical ``C = 12``.
        band: ``"vv"``, ``"vh"`` (dB), ``"ndvi"`` ``(B8 - B4) / (B8 + B4)`` or ``"ndwi"``
            ``(B3 - B8) / (B3 + B8)`` (McFeeters, 1996).

    Returns:
        ``[H, W]`` or ``[B, H, W]`` float.

    Raises:
        InputValueError: unknown band, or tiles with the wrong number of channels for it.
    """
    if band not in BASELINE_BANDS:
        raise InputValueError(f"band must be one of {sorted(BASELINE_BANDS)}, got {band!r}")
    x = torch.as_tensor(np.asarray(tiles) if not isinstance(tiles, Tensor) else tiles).float()
    want = 2 if BASELINE_BANDS[band] == "s1" else 12
    if x.ndim not in (3, 4) or x.shape[-3] != want:
        raise InputValueError(
            f"band {band!r} is read from {BASELINE_BANDS[band]} tiles [{want}, H, W] or [B, {want}, H, W], "
            f"got shape {tuple(x.shape)}"
        )
    if band == "vv":
        return x[..., 0, :, :]
    if band == "vh":
        return x[..., 1, :, :]
    a, b = (
        (x[..., _NIR, :, :], x[..., _RED, :, :])
        if band == "ndvi"
        else (x[..., _GREEN, :, :], x[..., _NIR, :, :])
    )
    return (a - b) / (a + b + 1e-6)


@dataclass
class BaselineResult:
    """What :func:`band_threshold_segment` returns.

    Attributes:
        masks: ``[B, H, W]`` bool on the targets.
        band: the band or index thresholded.
        below: True when the class is below the threshold.
        threshold: the fitted threshold (dB for radar bands, unitless for indices).
        reference_iou: IoU on the reference tile itself (the best any threshold on this band can do there).
    """

    masks: np.ndarray
    band: str
    below: bool
    threshold: float
    reference_iou: float

    def __str__(self) -> str:
        return f"{self.band} {'<=' if self.below else '>='} {self.threshold:.3g}"


def fit_band_threshold(values: Any, mask: Any, below: bool) -> tuple[float, float]:
    """The threshold on one band that best reproduces a mask (highest IoU), found exactly.

    Args:
        values: ``[H, W]`` band values.
        mask: ``[H, W]`` bool, the class.
        below: the class is ``values <= t`` (else ``values >= t``).

    Returns:
        ``(threshold, iou)``.
    """
    v = torch.as_tensor(values).float()
    t, score = best_threshold(-v if below else v, torch.as_tensor(np.asarray(mask, dtype=bool)))
    return (-t if below else t), score


def band_threshold_segment(
    reference: Any, reference_mask: Any, targets: Any, band: str, below: bool
) -> BaselineResult:
    """Fit a threshold on the reference tile's band, apply it to the targets.

    Args:
        reference: the reference tile ``[C, H, W]``.
        reference_mask: ``[H, W]`` bool.
        targets: ``[B, C, H, W]`` tiles of the same modality.
        band: see :func:`band_image`.
        below: the class is below the threshold (water in VV) or above it (forest in VH, NDVI).

    Returns:
        A :class:`BaselineResult`.
    """
    t, ref_iou = fit_band_threshold(band_image(reference, band), reference_mask, below)
    values = band_image(targets, band)
    masks = (values <= t) if below else (values >= t)
    return BaselineResult(masks.numpy(), band, bool(below), float(t), float(ref_iou))


__all__ = [
    "BASELINE_BANDS",
    "DEFAULT_BASELINES",
    "BaselineResult",
    "band_image",
    "band_threshold_segment",
    "fit_band_threshold",
]
