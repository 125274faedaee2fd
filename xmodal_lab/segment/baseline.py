"""The one-shot baseline with no model: one band thresholded where it best fits the reference mask.

It sees one labelled tile, like the one-shot segmenters, which must beat it to earn their keep. Water is
dark in radar VV and bright in NDWI; forest is bright in radar VH and in NDVI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.errors import InputValueError
from xmodal_lab.segment.confidence import as_float_tensor, best_threshold, mask_iou
from xmodal_lab.segment.oneshot import OneShotResult, one_shot_segment

#: Bands and indices the baseline can threshold, with the modality they are read from.
BASELINE_BANDS: dict[str, str] = {"vv": "s1", "vh": "s1", "ndvi": "s2", "ndwi": "s2"}

#: The band and direction (``below=True``: the class is below the threshold) per class and modality.
DEFAULT_BASELINES: dict[str, dict[str, tuple[str, bool]]] = {
    "water": {"s1": ("vv", True), "s2": ("ndwi", False)},
    "forest": {"s1": ("vh", False), "s2": ("ndvi", False)},
}

_GREEN, _RED, _NIR = 2, 3, 7  # Sentinel-2 B3, B4, B8 in the kit's 12-band order


def band_image(tiles: Any, band: str) -> Tensor:
    """One band or index of tiles ``[(B,) C, H, W]``: ``"vv"``, ``"vh"`` (dB), ``"ndvi"`` or ``"ndwi"`` (McFeeters)."""
    if band not in BASELINE_BANDS:
        raise InputValueError(f"band must be one of {sorted(BASELINE_BANDS)}, got {band!r}")
    x = as_float_tensor(tiles)
    want = 2 if BASELINE_BANDS[band] == "s1" else 12
    if x.ndim not in (3, 4) or x.shape[-3] != want:
        raise InputValueError(
            f"band {band!r} is read from {BASELINE_BANDS[band]} tiles [{want}, H, W] or [B, {want}, H, W], "
            f"got shape {tuple(x.shape)}"
        )
    if band in ("vv", "vh"):
        return x[..., 0 if band == "vv" else 1, :, :]
    a, b = x[..., [_NIR, _RED] if band == "ndvi" else [_GREEN, _NIR], :, :].unbind(-3)
    return (a - b) / (a + b + 1e-6)


@dataclass
class BaselineResult:
    """Masks ``[B, H, W]`` of a band threshold (``below``: the class is below it) and its IoU on the reference."""

    masks: np.ndarray
    band: str
    below: bool
    threshold: float
    reference_iou: float

    def __str__(self) -> str:
        return f"{self.band} {'<=' if self.below else '>='} {self.threshold:.3g}"


def band_threshold_segment(
    reference: Any, reference_mask: Any, targets: Any, band: str, below: bool
) -> BaselineResult:
    """Fit a threshold on the reference tile's band (:func:`band_image`), apply it to targets ``[B, C, H, W]``.

    The threshold is the cut that best reproduces the reference mask (``below``: the class is ``<= t``).
    """
    values = band_image(reference, band)
    t, ref_iou = best_threshold(-values if below else values, np.asarray(reference_mask, dtype=bool))
    t = -t if below else t
    values = band_image(targets, band)
    masks = (values <= t) if below else (values >= t)
    return BaselineResult(masks.numpy(), band, bool(below), float(t), float(ref_iou))


def pick_one_shot_tiles(tiles: Sequence[dict], class_index: int, n_targets: int) -> tuple[dict, list[dict]]:
    """``(reference, targets)``: the samples a class covers most, on 20 % to 80 % of the tile (never all of it)."""
    share = (0.2, 0.8)
    frac = np.array([float((t["landcover"] == class_index).float().mean()) for t in tiles])
    order = [int(i) for i in np.argsort(-frac, kind="stable") if share[0] < frac[i] < share[1]]
    if len(order) < n_targets + 1:
        raise InputValueError(
            f"only {len(order)} tiles have class {class_index} on {share[0]:.0%}-{share[1]:.0%} of their "
            f"pixels; need {n_targets + 1} (a larger world or fewer targets)"
        )
    return tiles[order[0]], [tiles[i] for i in order[1 : 1 + n_targets]]


@dataclass
class OneShotComparison:
    """Encoder one-shot vs. the band threshold on the same targets: pooled IoU and predicted/true area."""

    iou: float
    baseline_iou: float
    area_ratio: float
    baseline_area_ratio: float
    baseline: str
    result: OneShotResult
    baseline_masks: np.ndarray
    truth: np.ndarray


def compare_one_shot(
    encoder: Any,
    reference: dict,
    targets: Sequence[dict],
    class_name: str,
    class_index: int,
    modality: str,
    band: tuple[str, bool] | None = None,
) -> OneShotComparison:
    """Segment one class of the samples' ``landcover`` with the encoder's features and with a band threshold.

    ``band`` is ``(band, below)`` (default: :data:`DEFAULT_BASELINES` of ``class_name`` and ``modality``).
    """
    if band is None:
        if class_name not in DEFAULT_BASELINES:
            raise InputValueError(f"no default baseline band for {class_name!r}: pass band=(name, below)")
        band = DEFAULT_BASELINES[class_name][modality]
    truth = torch.stack([t["landcover"] == class_index for t in targets]).numpy()
    ref_mask = reference["landcover"] == class_index
    images = torch.stack([t[modality] for t in targets])
    out = one_shot_segment(encoder, reference[modality], ref_mask, images, modality=modality)
    base = band_threshold_segment(reference[modality], ref_mask, images, band[0], band[1])
    area = max(int(truth.sum()), 1)
    ious = mask_iou(out.masks, truth), mask_iou(base.masks, truth)
    ratios = float(out.masks.sum() / area), float(base.masks.sum() / area)
    return OneShotComparison(*ious, *ratios, str(base), out, base.masks, truth)
