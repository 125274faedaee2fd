"""Saving and loading models as ``{"name", "config", "state_dict"}`` files.

The registry name and the config let :func:`load_model` rebuild the architecture before loading the weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from xmodal_lab.errors import CheckpointError, OutputExistsError
from xmodal_lab.files import publishing
from xmodal_lab.serialization import safe_load

from .registry import MODELS, config_from_dict
from .seg_head import SegmentationModel


def save_model(model: nn.Module, path: str | Path, overwrite: bool = False) -> Path:
    """Write a registered model's (or a :class:`SegmentationModel`'s) name, config and weights to ``path``.

    The file is published whole or not at all; a file that appears while writing is never replaced.
    """
    path = Path(path)
    name = getattr(model, "name", None)
    known = name in MODELS or isinstance(model, SegmentationModel)
    if not known or not dataclasses.is_dataclass(getattr(model, "config", None)):
        raise TypeError(
            f"save_model needs a model of the registry ({sorted(MODELS)}), got {type(model).__name__}"
        )
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True to replace it")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with publishing(path, "model file", replace=overwrite, parents=True) as tmp, open(tmp, "wb") as f:
        torch.save({"name": name, "config": dataclasses.asdict(model.config), "state_dict": state}, f)
    return path


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model`, in evaluation mode; a CheckpointError says what else it is."""
    path = Path(path)
    ckpt = safe_load(path, what="model file", map_location=map_location)
    if isinstance(ckpt, dict) and "xmodal_lab" in ckpt and "state_dict" in ckpt:
        raise CheckpointError(
            f"{path}: a training checkpoint (written by fit or the CLI), not a model file; load it with "
            "xmodal_lab.train.load_checkpoint, or convert it with xmodal_lab.train.export_checkpoint"
        )
    if not isinstance(ckpt, dict) or not {"name", "config", "state_dict"} <= set(ckpt):
        raise CheckpointError(
            f"{path} is not a model file of xmodal_lab (expected keys name, config, state_dict)"
        )
    if ckpt["name"] == SegmentationModel.name:
        model = SegmentationModel.from_config(ckpt["config"])
    elif ckpt["name"] in MODELS:
        model = MODELS[ckpt["name"]].model_cls(config_from_dict(ckpt["name"], ckpt["config"]))
    else:
        raise CheckpointError(f"{path} holds an unknown model {ckpt['name']!r}; known: {sorted(MODELS)}")
    _check_finite(path, ckpt["state_dict"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(map_location).eval()


def _check_finite(path: Path, state: dict) -> None:
    """Refuse weights holding NaN or infinity (a diverged or corrupted run), naming the first such tensor."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"{path}: weight {key!r} holds {bad} NaN or infinite value(s) (the run diverged or the file is "
                "corrupt); load an earlier checkpoint, or retrain with a lower learning rate or gradient clipping"
            )


__all__ = ["load_model", "save_model"]
