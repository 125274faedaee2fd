"""Models of the kit: contrastive dual encoder, Scale-MAE and CROMA, with presets and a registry.

Every model takes physical units (Sentinel-1 dB ``[B, 2, H, W]``, Sentinel-2 reflectance ``[B, 12, H, W]``),
returns a dict with a scalar ``loss`` from ``forward(batch)``, and offers ``embed(s1=, s2=, gsd=)`` (``[B, D]``
per modality) and ``features(...)`` (``[B, D, h, w]`` per modality).
"""

from .contrastive import ContrastiveConfig, ContrastiveDualEncoder
from .croma import CROMA, CROMAConfig
from .io import load_model, save_model
from .registry import MODELS, build, get_config, list_models
from .scale_mae import ScaleMAE, ScaleMAEConfig

__all__ = [
    "CROMA",
    "MODELS",
    "CROMAConfig",
    "ContrastiveConfig",
    "ContrastiveDualEncoder",
    "ScaleMAE",
    "ScaleMAEConfig",
    "build",
    "get_config",
    "list_models",
    "load_model",
    "save_model",
]
