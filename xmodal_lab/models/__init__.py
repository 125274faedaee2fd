"""Models of the kit: the contrastive dual encoder, Scale-MAE, CROMA, SkySense and MMEarth, built by name.

Every registered model takes physical units (Sentinel-1 dB ``[B, 2, H, W]``, Sentinel-2 reflectance
``[B, 12, H, W]``), returns a dict with a scalar ``loss`` from ``forward(batch)``, and offers
``embed(s1=, s2=, gsd=)`` (``[B, D]`` per modality) and ``features(...)`` (``[B, D, h, w]`` per modality).
Segment Anything lives in :mod:`xmodal_lab.segment`.
"""

from xmodal_lab.model_card import model_stac_item, push_to_hub

from .contrastive import ContrastiveConfig, ContrastiveDualEncoder
from .croma import CROMA, CROMAConfig
from .croma_clouds import CloudMaskedCROMA
from .io import from_pretrained, load_model, save_model, save_pretrained
from .mmearth import MMEarth, MMEarthConfig
from .registry import MODELS, build, get_config, list_models
from .scale_mae import ScaleMAE, ScaleMAEConfig
from .seg_head import LinearHead, SegmentationConfig, SegmentationModel, UPerNetHead
from .skysense import SkySense, SkySenseConfig

__all__ = [
    "CROMA", "MODELS", "CROMAConfig", "CloudMaskedCROMA", "ContrastiveConfig", "ContrastiveDualEncoder",
    "LinearHead", "MMEarth", "MMEarthConfig", "ScaleMAE", "ScaleMAEConfig", "SegmentationConfig",
    "SegmentationModel", "SkySense", "SkySenseConfig", "UPerNetHead", "build", "get_config", "list_models",
    "from_pretrained", "load_model", "model_stac_item", "push_to_hub", "save_model", "save_pretrained",
]  # fmt: skip
