"""Helpers of the training tests (a plain module, not a conftest, so its name cannot clash)."""

from __future__ import annotations

import torch

from xmodal_lab.config import seed_everything
from xmodal_lab.models import build

SIZE = 16


def tiny(name: str = "contrastive", seed: int = 0, **overrides) -> torch.nn.Module:
    """A tiny model for 16 px tiles, initialised from ``seed``."""
    seed_everything(seed)
    return build(name, "tiny", img_size=SIZE, **overrides)
