"""The one-shot protocol of lesson 06 and its benchmark: a reference tile, target tiles, ours vs. a band threshold.

:func:`pick_one_shot_tiles` chooses, for one land-cover class, the reference tile and the targets (the
tiles the class covers most, within a share range so both class and background are present);
:func:`compare_one_shot` segments the targets with :func:`~xmodal_lab.segment.oneshot.one_shot_segment`
on an encoder's features and with :func:`~xmodal_lab.segment.baseline.band_threshold_segment`, and scores
both with the pooled IoU and the predicted/true area ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xmodal_lab.errors import InputValueError
from xmodal_lab.segment.baseline import DEFAULT_BASELINES, band_threshold_segment
from xmodal_lab.segment.oneshot import OneShotResult, one_shot_segment


def _iou(pred: np.ndarray, true: np.ndarray) -> float:
    """Pooled IoU, 1.0 when both masks are empty (as ``xmodal_lab.eval.iou``, which ``segment`` may not import)."""
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

    Returns:
        A :class:`OneShotComparison`.
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


__all__ = ["OneShotComparison", "compare_one_shot", "pick_one_shot_tiles"]
