"""The one-shot baseline to beat: one band thresholded where it best fits the reference mask."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.errors import InputValueError
from xmodal_lab.segment.confidence import as_float_tensor, best_threshold, mask_iou
from xmodal_lab.segment.oneshot import OneShotResult, one_shot_segment

BASELINE_BANDS = {"vv": "s1", "vh": "s1", "ndvi": "s2", "ndwi": "s2"}  # band or index: its modality
#: ``(band, below)`` per class and modality: water is dark in VV, bright in NDWI; forest bright in VH, NDVI.
DEFAULT_BASELINES: dict[str, dict[str, tuple[str, bool]]] = {
    "water": {"s1": ("vv", True), "s2": ("ndwi", False)},
    "forest": {"s1": ("vh", False), "s2": ("ndvi", False)},
}
_GREEN, _RED, _NIR = 2, 3, 7  # Sentinel-2 B3, B4, B8 in the kit's 12-band order


def band_image(tiles: Any, band: str) -> Tensor:
    """One band or index of tiles ``[(B,) C, H, W]``: ``"vv"``, ``"vh"`` (dB), ``"ndvi"`` or ``"ndwi"`` (McFeeters)."""
    if band not in BASELINE_BANDS:
        raise InputValueError(f"band must be one of {sorted(BASELINE_BANDS)}, got {band!r}")
    x, want = as_float_tensor(tiles), 2 if BASELINE_BANDS[band] == "s1" else 12
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
    """Masks ``[B, H, W]`` of a band threshold (``below``: class below it) and its IoU on the reference."""

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
    """The band cut that best fits the reference mask (``below``: class ``<= t``), applied to ``targets``."""
    values = band_image(reference, band)
    t, ref_iou = best_threshold(-values if below else values, np.asarray(reference_mask, dtype=bool))
    t, values = -t if below else t, band_image(targets, band)
    masks = (values <= t) if below else (values >= t)
    return BaselineResult(masks.numpy(), band, bool(below), float(t), float(ref_iou))


def pick_one_shot_tiles(tiles: Sequence[dict], class_index: int, n_targets: int) -> tuple[dict, list[dict]]:
    """``(reference, targets)``: the samples a class covers most, on 20 % to 80 % of the tile."""
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
    encoder: Any, reference: dict, targets: Sequence[dict], class_name: str, class_index: int, modality: str,
    band: tuple[str, bool] | None = None,
) -> OneShotComparison:
    """One ``landcover`` class segmented with the encoder and with ``band`` (default: DEFAULT_BASELINES)."""
    if band is None:
        if class_name not in DEFAULT_BASELINES:
            raise InputValueError(f"no default baseline band for {class_name!r}: pass band=(name, below)")
        band = DEFAULT_BASELINES[class_name][modality]
    truth = torch.stack([t["landcover"] == class_index for t in targets]).numpy()
    ref_mask, images = reference["landcover"] == class_index, torch.stack([t[modality] for t in targets])
    out = one_shot_segment(encoder, reference[modality], ref_mask, images, modality=modality)
    base = band_threshold_segment(reference[modality], ref_mask, images, band[0], band[1])
    area = max(int(truth.sum()), 1)
    ious = mask_iou(out.masks, truth), mask_iou(base.masks, truth)
    ratios = float(out.masks.sum() / area), float(base.masks.sum() / area)
    return OneShotComparison(*ious, *ratios, str(base), out, base.masks, truth)
