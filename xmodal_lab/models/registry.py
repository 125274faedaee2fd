"""Registry of the kit's models and presets (``tiny``, ``small``, ``base``): ``build("croma", "tiny")``."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from torch import nn

from xmodal_lab.errors import InputTypeError, InputValueError

from . import contrastive, croma, mmearth, scale_mae, skysense


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: its class (built as ``model_cls(config)``), config dataclass and named configs."""

    model_cls: type[nn.Module]
    config_cls: type
    presets: dict


MODELS: dict[str, ModelSpec] = {
    "contrastive": ModelSpec(contrastive.ContrastiveDualEncoder, contrastive.ContrastiveConfig,
                             contrastive.PRESETS),
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


#: Sizes a transformer needs at least one of (a depth of 0 would train a model without blocks).
_POSITIVE = ("img_size", "patch_size", "embed_dim", "decoder_dim", "num_heads", "decoder_heads")
#: ``(width, heads)``: attention splits the width into equal heads.
_SPLITS = (("embed_dim", "num_heads"), ("decoder_dim", "decoder_heads"))


def _tiny(config_cls: type) -> typing.Any:
    return next((s.presets["tiny"] for s in MODELS.values() if s.config_cls is config_cls), None)


def check_config(config: typing.Any) -> typing.Any:
    """Refuse a config whose sizes, depths or heads would build an empty or broken transformer; returns it."""
    kind, values = type(config).__name__, dataclasses.asdict(config)
    for field, value in values.items():
        if field not in _POSITIVE and not field.endswith("depth"):
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputTypeError(f"{kind} {field}: expected a whole number, got {value!r}; e.g. {field}=4")
        if value < 1:
            raise InputValueError(f"{kind} {field}: expected a positive whole number, got {value}; a "
                                  "transformer needs at least one (the tiny preset has "
                                  f"{field}={getattr(_tiny(type(config)), field, 1)})")  # fmt: skip
    for width, heads in _SPLITS:
        if width in values and heads in values and values[width] % values[heads]:
            raise InputValueError(f"{kind} {heads}: {values[width]} ({width}) is not divisible by "
                                  f"{values[heads]} heads; choose {heads} among the divisors of {width}, or "
                                  f"a {width} that {values[heads]} divides")  # fmt: skip
    return config


def get_config(name: str, preset: str = "tiny", **overrides: typing.Any):
    """A new config of model ``name``: the preset with the ``overrides`` fields replaced (checked)."""
    spec = _spec(name)
    if preset not in spec.presets:
        raise KeyError(f"model {name!r} has no preset {preset!r}; choose one of {list(spec.presets)}")
    _check_fields(spec, overrides, TypeError, "has no field(s)")
    return check_config(dataclasses.replace(spec.presets[preset], **overrides))


def config_from_dict(name: str, values: dict):
    """Rebuild a config from ``dataclasses.asdict`` output (lists turn back into tuples)."""
    spec = _spec(name)
    _check_fields(spec, values, ValueError, "(saved) has fields this version does not know:")
    return spec.config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build(name: str, preset: str = "tiny", **overrides: typing.Any) -> nn.Module:
    """Build a freshly initialised model from a preset, e.g. ``build("croma", "tiny", mask_ratio=0.5)``."""
    return _spec(name).model_cls(get_config(name, preset, **overrides))


__all__ = ["MODELS", "ModelSpec", "build", "check_config", "config_from_dict", "get_config", "list_models"]
