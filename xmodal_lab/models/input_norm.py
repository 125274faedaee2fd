"""Per-band standardisation stored in a model, so that checkpoints carry their normalisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class InputNorm(nn.Module):
    """Per-band standardisation stored in the model, so checkpoints carry their normalisation.

    Models take physical units (Sentinel-1 dB, Sentinel-2 reflectance) and standardise them here.

    Args:
        mean: per-band means ``[C]``.
        std: per-band standard deviations ``[C]``.
    """

    def __init__(self, mean: list[float] | Tensor, std: list[float] | Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def set_stats(self, mean: list[float] | Tensor, std: list[float] | Tensor) -> None:
        """Replace the statistics (for example with ones computed on the training set)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1).clamp_min(1e-6))

    def forward(self, x: Tensor) -> Tensor:
        """Standardise ``[B, C, H, W]``; returns the same shape."""
        return (x - self.mean) / self.std


__all__ = ["InputNorm"]
