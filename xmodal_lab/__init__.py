"""xmodal_lab: a Jupyter-first teaching kit for cross-modal Earth-observation models (subpackages load on use)."""

from __future__ import annotations

import importlib
from typing import Any

from xmodal_lab.config import cache_dir, data_dir, fast_mode, get_device, pick, seed_everything

__version__ = "0.1.0"

_SUBPACKAGES = ("data", "models", "weights", "segment", "train", "eval", "viz", "lesson")

__all__ = ["__version__", "cache_dir", "data_dir", "fast_mode", "get_device", "pick", "seed_everything",
           *_SUBPACKAGES]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"xmodal_lab.{name}")
    raise AttributeError(f"module 'xmodal_lab' has no attribute {name!r}")
