"""Models of the kit: five registered models with presets; Segment Anything and one-shot names re-exported.

Registered: the contrastive dual encoder, Scale-MAE, CROMA, SkySense and MMEarth. ``pretrained(name)`` builds
them with published weights and their input recipe (``list_pretrained()``).

Every registered model takes physical units (Sentinel-1 dB ``[B, 2, H, W]``, Sentinel-2 reflectance
``[B, 12, H, W]``), returns a dict with a scalar ``loss`` from ``forward(batch)``, and offers
``embed(s1=, s2=, gsd=)`` (``[B, D]`` per modality) and ``features(...)`` (``[B, D, h, w]`` per modality).
Segment Anything, PerSAM and one-shot segmentation live in :mod:`xmodal_lab.segment`; their main names are
re-exported here.
"""

from xmodal_lab.data import composites as sam_images  # display renderings, kept under their old name
from xmodal_lab.segment import (
    OneShotResult,
    PerSAM,
    PerSamResult,
    SamMasks,
    SamSegmenter,
    UntrainedSAMWarning,
    build_sam,
    download_sam_checkpoint,
    one_shot_segment,
    persam,
    refine_with_confidence,
)

from .contrastive import ContrastiveConfig, ContrastiveDualEncoder
from .croma import CROMA, CROMAConfig
from .io import load_model, save_model
from .mmearth import MMEarth, MMEarthConfig
from .registry import MODELS, build, get_config, list_models
from .scale_mae import ScaleMAE, ScaleMAEConfig
from .seg_head import LinearHead, SegmentationConfig, SegmentationModel, UPerNetHead
from .skysense import SkySense, SkySenseConfig

__all__ = [
    "SegmentationConfig",
    "SegmentationModel",
    "UPerNetHead",
    "LinearHead",
    "CROMA",
    "MODELS",
    "CROMAConfig",
    "ContrastiveConfig",
    "ContrastiveDualEncoder",
    "MMEarth",
    "MMEarthConfig",
    "OneShotResult",
    "PerSAM",
    "PerSamResult",
    "SamMasks",
    "SamSegmenter",
    "ScaleMAE",
    "ScaleMAEConfig",
    "SkySense",
    "SkySenseConfig",
    "UntrainedSAMWarning",
    "build",
    "build_sam",
    "download_sam_checkpoint",
    "get_config",
    "list_models",
    "list_pretrained",
    "load_model",
    "one_shot_segment",
    "persam",
    "pretrained",
    "refine_with_confidence",
    "sam_images",
    "save_model",
]
