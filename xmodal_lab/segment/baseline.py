"""The one-shot baseline with no model, and lesson 06's protocol that compares the encoder one-shot with it.

One band (or index) thresholded where it best reproduces the reference mask on the reference tile, then
applied unchanged to the targets: one labelled tile, like the one-shot segmenters, which should beat it to
earn their keep. Water is dark in radar VV (specular reflection) and bright in NDWI; forest is bright in radar
VH (volume scattering in the canopy) and in NDVI (its red edge). Shapes: tiles ``[C, H, W]`` or
``[B, C, H, W]`` (Sentinel-1 ``C = 2`` in dB, Sentinel-2 ``C = 12`` reflectance), masks ``[B, H, W]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.errors import InputValueError
from xmodal_lab.segment.confidence import as_float_tensor, best_threshold
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
    """One band or index of Sentinel tiles: ``[H, W]`` or ``[B, H, W]``.

    Args:
        tiles: ``[C, H, W]`` or ``[B, C, H, W]``: radar ``C = 2`` (VV, VH in dB) or optical ``C = 12``.
        band: ``"vv"``, ``"vh"`` (dB), ``"ndvi"`` ``(B8 - B4) / (B8 + B4)`` or ``"ndwi"``
            ``(B3 - B8) / (B3 + B8)`` (McFeeters, 1996).

    Raises:
        InputValueError: unknown band, or tiles with the wrong number of channels for it.
    """
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
    a, b = (_NIR, _RED) if band == "ndvi" else (_GREEN, _NIR)
    a, b = x[..., a, :, :], x[..., b, :, :]
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
    """The threshold on one band ``[H, W]`` that best reproduces a mask (highest IoU): ``(threshold, iou)``.

    Args:
        values: ``[H, W]`` band values.
        mask: ``[H, W]`` bool, the class.
        below: the class is ``values <= t`` (else ``values >= t``).
    """
    v = as_float_tensor(values)
    t, score = best_threshold(-v if below else v, np.asarray(mask, dtype=bool))
    return (-t if below else t), score


def band_threshold_segment(
    reference: Any, reference_mask: Any, targets: Any, band: str, below: bool
) -> BaselineResult:
    """Fit a threshold on the reference tile's band, apply it to the targets ``[B, C, H, W]``.

    Args:
        reference: the reference tile ``[C, H, W]``.
        reference_mask: ``[H, W]`` bool.
        targets: ``[B, C, H, W]`` tiles of the same modality.
        band: see :func:`band_image`.
        below: the class is below the threshold (water in VV) or above it (forest in VH, NDVI).
    """
    t, ref_iou = fit_band_threshold(band_image(reference, band), reference_mask, below)
    values = band_image(targets, band)
    masks = (values <= t) if below else (values >= t)
    return BaselineResult(masks.numpy(), band, bool(below), float(t), float(ref_iou))


def _iou(pred: np.ndarray, true: np.ndarray) -> float:
    """Pooled IoU, 1.0 when both masks are empty (as ``xmodal_lab.eval.iou``, a higher layer)."""
    union = (pred | true).sum()
    return 1.0 if union == 0 else float((pred & true).sum() / union)


def pick_one_shot_tiles(
    tiles: Sequence[dict], class_index: int, n_targets: int, share: tuple[float, float] = (0.2, 0.8)
) -> tuple[dict, list[dict]]:
    """The reference and target tiles for one class: those it covers most, within ``share``.

    Args:
        tiles: samples with ``"landcover"`` ``[H, W]`` (and ``"s1"``, ``"s2"``).
        class_index: the class.
        n_targets: how many targets after the reference.
        share: the class must cover more than ``share[0]`` and less than ``share[1]`` of a tile.

    Returns:
        ``(reference, targets)``.

    Raises:
        InputValueError: fewer than ``n_targets + 1`` tiles qualify.
    """
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
    """Encoder one-shot vs. the band-threshold baseline on the same targets of one class and modality.

    Attributes:
        iou: pooled IoU of the encoder's one-shot masks.
        baseline_iou: pooled IoU of the band threshold.
        area_ratio: predicted / true area of the one-shot masks (``> 1``: too large).
        baseline_area_ratio: the same for the threshold.
        baseline: the baseline's band, direction and threshold (e.g. ``"vv <= -17.2"``).
        result: the full :class:`OneShotResult` (its ``masks`` ``[B, H, W]``).
        baseline_masks: ``[B, H, W]`` bool, the threshold's masks.
        truth: ``[B, H, W]`` bool, the class on the targets.
    """

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
    """Segment one class on the targets with the encoder's features and with a band threshold.

    Args:
        encoder: a kit encoder (see :func:`~xmodal_lab.segment.oneshot.feature_fn`).
        reference: the reference sample (``"s1"``, ``"s2"``, ``"landcover"``).
        targets: target samples.
        class_name: ``"water"`` or ``"forest"`` (picks the default baseline band), or any name with ``band``.
        class_index: the class's land-cover index.
        modality: ``"s1"`` or ``"s2"``: both methods read this modality only.
        band: ``(band, below)`` for the baseline (default :data:`DEFAULT_BASELINES`).
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
    true_area = max(int(truth.sum()), 1)
    return OneShotComparison(
        iou=_iou(out.masks, truth),
        baseline_iou=_iou(base.masks, truth),
        area_ratio=float(out.masks.sum() / true_area),
        baseline_area_ratio=float(base.masks.sum() / true_area),
        baseline=str(base),
        result=out,
        baseline_masks=base.masks,
        truth=truth,
    )
