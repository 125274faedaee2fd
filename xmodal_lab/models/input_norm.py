"""Per-band standardisation stored in a model, so that checkpoints carry their normalisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _column(values: list[float] | Tensor) -> Tensor:
    return torch.as_tensor(values, dtype=torch.float32).reshape(1, -1, 1, 1)  # [1, C, 1, 1]


class InputNorm(nn.Module):
    """Standardise physical units (Sentinel-1 dB, Sentinel-2 reflectance) band by band: ``(x - mean) / std``."""

    def __init__(self, mean: list[float] | Tensor, std: list[float] | Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", _column(mean))
        self.register_buffer("std", _column(std))

    def set_stats(self, mean: list[float] | Tensor, std: list[float] | Tensor) -> None:
        """Replace the statistics ``[C]`` (for example with ones computed on the training set)."""
        self.mean.copy_(_column(mean))
        self.std.copy_(_column(std).clamp_min(1e-6))

    def forward(self, x: Tensor) -> Tensor:
        """Standardise ``[B, C, H, W]``."""
        return (x - self.mean) / self.std


__all__ = ["InputNorm"]
