"""Models of the kit, built by name: contrastive dual encoder, Scale-MAE, CROMA, SkySense and MMEarth.

Each takes physical units (s1 dB ``[B, 2, H, W]``, s2 reflectance ``[B, 12, H, W]``); ``forward(batch)``
returns a dict with a scalar ``loss``; ``embed(s1=, s2=, gsd=)`` gives ``[B, D]``, ``features`` a map.
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
