"""Refinement: SAM's mask for the region a confidence map points at (PerSAM's cascade of prompts).

Used by encoder-based one-shot segmentation (:mod:`xmodal_lab.segment.oneshot`) and by PerSAM.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xmodal_lab.segment.confidence import extreme_points
from xmodal_lab.segment.segmenter import SamMasks, SamSegmenter, _sam_masks


def _mask_box(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)


def _best(out: SamMasks) -> int:
    return int(np.argmax(out.scores))


def refine_with_confidence(
    segmenter: SamSegmenter, confidence: Any, threshold: float = 0.0, logit_scale: float | None = None
) -> SamMasks:
    """SAM's mask for the region a confidence map points at (the image must be set).

    Prompts: a positive point at the confidence maximum and a negative one at the minimum, the confidence
    (centred on ``threshold``) as a mask prompt; then PerSAM's second cascade step, a box around that mask.

    Args:
        segmenter: a :class:`SamSegmenter` holding the tile.
        confidence: ``[H, W]`` on the tile's pixels (for instance from one-shot segmentation).
        threshold: the confidence value at the edge of the region.
        logit_scale: multiplies ``confidence - threshold`` to make SAM logits (default: 8 / spread).

    Returns:
        :class:`SamMasks` with one mask, the best of the last step.
    """
    conf = torch.as_tensor(np.asarray(confidence, dtype=np.float32))
    pos, neg = extreme_points(conf[None])
    pts = np.stack([pos[0].numpy(), neg[0].numpy()]).astype(np.float32)
    labels = np.array([1, 0])
    spread = float(conf.max() - conf.min()) or 1.0
    scale = logit_scale if logit_scale is not None else 8.0 / spread
    logits = segmenter.to_low_res_logits((conf - threshold).numpy() * scale)
    first = segmenter.predict(pts, labels, mask_input=logits, multimask=True)
    k = _best(first)
    box = _mask_box(first.masks[k])
    if box is None:
        return _sam_masks(segmenter.sam, first.masks[k : k + 1], first.scores[k : k + 1])
    second = segmenter.predict(
        pts, labels, box=box, mask_input=first.low_res_logits[k : k + 1], multimask=True
    )
    k = _best(second)
    return _sam_masks(segmenter.sam, second.masks[k : k + 1], second.scores[k : k + 1])


__all__ = [
    "refine_with_confidence",
]
