"""Losses shared by the models: CLIP's InfoNCE with a learnable temperature, and MAE's masked reconstruction.

Shapes: embeddings ``[B, D]``, per-patch targets ``[B, N, P]`` (``P = p * p * C`` pixels of a patch), masks
``[B, N]`` with 1 = hidden.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: CLIP caps the learnable logit scale (inverse temperature) at 100, i.e. a temperature of 0.01.
MAX_LOGIT_SCALE = 100.0


class LogitScale(nn.Module):
    """CLIP's learnable inverse temperature: stored as a log, initialised at ``1 / 0.07``, capped at 100.

    The cap is applied to the value used (``exp(log_scale).clamp(max=100)``), so the stored parameter
    never has to be edited in place and the scale cannot grow without bound.

    Args:
        init_temperature: starting temperature ``tau`` (CLIP and CROMA: 0.07).
        max_scale: upper bound of ``1 / tau``.
    """

    def __init__(self, init_temperature: float = 0.07, max_scale: float = MAX_LOGIT_SCALE) -> None:
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f"init_temperature must be positive, got {init_temperature}")
        self.max_scale = max_scale
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def forward(self) -> Tensor:
        """Return the scalar logit scale ``min(exp(log_scale), max_scale)``."""
        return self.log_scale.exp().clamp(max=self.max_scale)


def info_nce(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> tuple[Tensor, Tensor]:
    """Symmetric InfoNCE (CLIP loss) with in-batch negatives: pair ``i`` of ``a`` matches pair ``i`` of ``b``.

    Args:
        a: L2-normalised embeddings ``[B, D]`` (for example radar), ``B >= 2``.
        b: L2-normalised embeddings ``[B, D]`` (for example optical).
        logit_scale: inverse temperature (scalar).

    Returns:
        ``loss`` (scalar, the mean of the a->b and b->a cross-entropies) and ``logits [B, B]``
        (``logits[i, j] = scale * <a_i, b_j>``).

    Raises:
        ValueError: on shapes that differ, and on a single pair: with no negative to tell it from, the
            loss is exactly 0 and nothing would be learned.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"info_nce needs two [B, D] tensors of equal shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    if a.shape[0] < 2:
        raise ValueError(
            f"info_nce needs at least 2 pairs per batch (in-batch negatives), got {a.shape[0]}: with one pair "
            "the loss is exactly 0; use a batch size of 2 or more"
        )
    logits = logit_scale * a @ b.t()  # [B, B]
    target = torch.arange(a.shape[0], device=a.device)
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    return loss, logits


def norm_pix_target(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """MAE's ``norm_pix_loss`` target: each patch standardised by its own mean and variance.

    Args:
        patches: ``[B, N, P]`` (see :func:`~xmodal_lab.models.masking.patchify`).
        eps: added to the variance.

    Returns:
        ``[B, N, P]``, ``(x - mean) / sqrt(var + eps)`` over the last axis (unbiased variance, as in MAE).
    """
    mean, var = patches.mean(dim=-1, keepdim=True), patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps) ** 0.5


def masked_mean(per_patch: Tensor, mask: Tensor) -> Tensor:
    """Mean of a per-patch loss over the hidden patches only.

    Args:
        per_patch: ``[B, N]``.
        mask: ``[B, N]``, 1 = hidden (counted), 0 = seen.

    Returns:
        Scalar ``sum(loss * mask) / max(sum(mask), 1)``.
    """
    return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)


__all__ = ["MAX_LOGIT_SCALE", "LogitScale", "info_nce", "masked_mean", "norm_pix_target"]
