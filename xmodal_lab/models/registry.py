"""Registry of the kit's models: ``build("croma", preset="tiny", embed_dim=128)``.

Each entry pairs a model class with its config dataclass and presets (``tiny`` for tests and fast mode,
``small``, ``base`` as in the papers). Overrides replace single config fields, so a student changes one
thing at a time.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from torch import nn

from . import contrastive, croma, mmearth, scale_mae, skysense


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    Attributes:
        model_cls: the ``nn.Module`` class, built as ``model_cls(config)``.
        config_cls: its config dataclass.
        presets: named configs.
    """

    model_cls: type[nn.Module]
    config_cls: type
    presets: dict


MODELS: dict[str, ModelSpec] = {
    "contrastive": ModelSpec(
        contrastive.ContrastiveDualEncoder, contrastive.ContrastiveConfig, contrastive.PRESETS
    ),
    "scale_mae": ModelSpec(scale_mae.ScaleMAE, scale_mae.ScaleMAEConfig, scale_mae.PRESETS),
    "croma": ModelSpec(croma.CROMA, croma.CROMAConfig, croma.PRESETS),
    "skysense": ModelSpec(skysense.SkySense, skysense.SkySenseConfig, skysense.PRESETS),
    "mmearth": ModelSpec(mmearth.MMEarth, mmearth.MMEarthConfig, mmearth.PRESETS),
}


def list_models() -> dict[str, list[str]]:
    """Names of the registered models and their presets.

    Returns:
        ``{model name: [preset names]}``.
    """
    return {name: list(spec.presets) for name, spec in MODELS.items()}


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def get_config(name: str, preset: str = "tiny", **overrides: typing.Any):
    """The config of a preset with some fields replaced.

    Args:
        name: ``"contrastive"``, ``"scale_mae"``, ``"croma"``, ``"skysense"`` or ``"mmearth"``.
        preset: ``"tiny"``, ``"small"``, ``"base"`` (and any extra preset of the model).
        **overrides: config fields to change.

    Returns:
        A new config dataclass instance.

    Raises:
        KeyError: unknown model or preset.
        TypeError: an override that is not a field of the config.
    """
    spec = _spec(name)
    if preset not in spec.presets:
        raise KeyError(f"model {name!r} has no preset {preset!r}; choose one of {list(spec.presets)}")
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"{spec.config_cls.__name__} has no field(s) {unknown}; fields are {sorted(fields)}")
    return dataclasses.replace(spec.presets[preset], **overrides)


def config_from_dict(name: str, values: dict):
    """Rebuild a config from ``dataclasses.asdict`` output (lists turn back into tuples).

    Args:
        name: registered model name.
        values: field values.

    Returns:
        The config dataclass instance.
    """
    spec = _spec(name)
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"saved config of {name!r} has fields this version does not know: {unknown}")
    return spec.config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build(name: str, preset: str = "tiny", **overrides: typing.Any) -> nn.Module:
    """Build a model from a preset.

    Args:
        name: ``"contrastive"``, ``"scale_mae"``, ``"croma"``, ``"skysense"`` or ``"mmearth"``.
        preset: ``"tiny"`` (tests, fast mode), ``"small"``, ``"base"`` (the paper's size).
        **overrides: config fields to change, e.g. ``embed_dim=128``.

    Returns:
        The model, freshly initialised, in training mode.

    Example:
        >>> model = build("croma", preset="tiny", mask_ratio=0.5)
    """
    return _spec(name).model_cls(get_config(name, preset, **overrides))


__all__ = ["MODELS", "ModelSpec", "build", "config_from_dict", "get_config", "list_models"]
