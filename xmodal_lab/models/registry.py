"""Registry of the kit's models: ``build("croma", preset="tiny", embed_dim=128)``.

Each model has presets ``tiny`` (tests and fast mode), ``small`` and ``base`` (the paper's size).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from torch import nn

from . import contrastive, croma, mmearth, scale_mae, skysense


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: its class (built as ``model_cls(config)``), config dataclass and named configs."""

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
    """``{model name: [preset names]}`` of the registered models."""
    return {name: list(spec.presets) for name, spec in MODELS.items()}


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def _check_fields(spec: ModelSpec, names: typing.Iterable[str], error: type[Exception], what: str) -> None:
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(names) - fields)
    if unknown:
        raise error(f"{spec.config_cls.__name__} {what} {unknown}; fields are {sorted(fields)}")


def get_config(name: str, preset: str = "tiny", **overrides: typing.Any):
    """A new config of model ``name``: the preset with the ``overrides`` fields replaced."""
    spec = _spec(name)
    if preset not in spec.presets:
        raise KeyError(f"model {name!r} has no preset {preset!r}; choose one of {list(spec.presets)}")
    _check_fields(spec, overrides, TypeError, "has no field(s)")
    return dataclasses.replace(spec.presets[preset], **overrides)


def config_from_dict(name: str, values: dict):
    """Rebuild a config from ``dataclasses.asdict`` output (lists turn back into tuples)."""
    spec = _spec(name)
    _check_fields(spec, values, ValueError, "(saved) has fields this version does not know:")
    return spec.config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build(name: str, preset: str = "tiny", **overrides: typing.Any) -> nn.Module:
    """Build a freshly initialised model from a preset, e.g. ``build("croma", "tiny", mask_ratio=0.5)``."""
    return _spec(name).model_cls(get_config(name, preset, **overrides))


__all__ = ["MODELS", "ModelSpec", "build", "config_from_dict", "get_config", "list_models"]
