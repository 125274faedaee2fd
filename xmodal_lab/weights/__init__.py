"""Published weights: ``pretrained(name)`` through torchgeo's weight enums, input recipes, converters."""

from .convert import (
    RENAMES,
    ResNet50Encoder,
    croma_from_torchgeo,
    load_published,
    resnet50_from_torchgeo,
    scale_mae_from_torchgeo,
)
from .pretrained import (
    PRETRAINED,
    PretrainedSpec,
    list_pretrained,
    pretrained,
    pretrained_table,
    weights_files,
)
from .recipes import InputRecipe, rgb8_imagenet_recipe, ssl4eo_s1_recipe, ssl4eo_s2_recipe

__all__ = [
    "PRETRAINED", "RENAMES", "InputRecipe", "PretrainedSpec", "ResNet50Encoder", "croma_from_torchgeo",
    "list_pretrained", "load_published", "pretrained", "pretrained_table", "resnet50_from_torchgeo",
    "rgb8_imagenet_recipe", "scale_mae_from_torchgeo", "ssl4eo_s1_recipe", "ssl4eo_s2_recipe", "weights_files",
]  # fmt: skip
