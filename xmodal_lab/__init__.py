"""xmodal_lab: a Jupyter-first teaching kit for cross-modal Earth-observation foundation models.

Subpackages (imported on first use, so ``import xmodal_lab`` stays light):
    data: simulated co-registered Sentinel-1/Sentinel-2 world, real sample pairs, loaders.
    models: contrastive dual encoder, Scale-MAE, CROMA, SkySense, MMEarth (re-exports ``segment``'s names).
    weights: published weights (``pretrained(name)``), their input recipes and checkpoint converters.
    segment: Segment Anything, PerSAM and one-shot segmentation with any encoder's features.
    train: ``fit()`` and the Lightning tasks behind it.
    eval: retrieval, linear probe, kNN, label efficiency, 2-D projections.
    viz: matplotlib figures and leafmap/ipywidgets maps.
    lesson: checked claims (`expect`) and checked exercises for the notebooks.
"""

from __future__ import annotations

import importlib
from typing import Any

from xmodal_lab.config import cache_dir, data_dir, fast_mode, get_device, pick, seed_everything

__version__ = "0.1.0"

_SUBPACKAGES = ("data", "models", "weights", "segment", "train", "eval", "viz", "lesson")

__all__ = [
    "__version__",
    "cache_dir",
    "data_dir",
    "fast_mode",
    "get_device",
    "pick",
    "seed_everything",
    *_SUBPACKAGES,
]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"xmodal_lab.{name}")
    raise AttributeError(f"module 'xmodal_lab' has no attribute {name!r}")
