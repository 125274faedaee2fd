"""Losses shared by the models: CLIP's InfoNCE with a learnable temperature, and MAE's masked reconstruction."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: CLIP caps its learnable logit scale (inverse temperature) at 100, a temperature of 0.01.
MAX_LOGIT_SCALE = 100.0


class LogitScale(nn.Module):
    """Learnable inverse temperature, stored as a log, from ``1 / init_temperature``, capped at ``max_scale``."""

    def __init__(self, init_temperature: float = 0.07, max_scale: float | None = None) -> None:
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f"init_temperature must be positive, got {init_temperature}")
        self.max_scale = max_scale
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def forward(self) -> Tensor:
        """The scalar logit scale."""
        scale = self.log_scale.exp()
        return scale if self.max_scale is None else scale.clamp(max=self.max_scale)


def info_nce(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> tuple[Tensor, Tensor]:
    """Symmetric InfoNCE (CLIP's loss) of unit embeddings ``[B, D]`` whose rows match, and its ``logits [B, B]``."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"info_nce needs two [B, D] tensors of equal shape, got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}")  # fmt: skip
    if a.shape[0] < 2:
        raise ValueError(f"info_nce needs at least 2 pairs per batch (in-batch negatives), got {a.shape[0]}: "
                         "with one pair the loss is exactly 0; use a batch size of 2 or more")  # fmt: skip
    logits = logit_scale * a @ b.t()  # [B, B]
    target = torch.arange(a.shape[0], device=a.device)
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    return loss, logits


def norm_pix_target(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """MAE's ``norm_pix_loss`` target: each patch ``[B, N, P]`` standardised by its own mean and variance."""
    mean, var = patches.mean(dim=-1, keepdim=True), patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps) ** 0.5


def masked_mean(per_patch: Tensor, mask: Tensor) -> Tensor:
    """Mean of a per-patch loss ``[B, N]`` over the hidden patches (``mask`` 1) only."""
    return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)


__all__ = ["MAX_LOGIT_SCALE", "LogitScale", "info_nce", "masked_mean", "norm_pix_target"]
