"""Saving and loading models as ``{"name", "config", "state_dict"}`` files.

The file records the registry name and the full config, so :func:`load_model` rebuilds the right
architecture before loading the weights; input-normalisation statistics are buffers of the state dict and
travel with it. Existing files are never overwritten unless asked.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from .registry import MODELS, config_from_dict


def save_model(model: nn.Module, path: str | Path, overwrite: bool = False) -> Path:
    """Write a model's name, config and weights to ``path``.

    Args:
        model: a model built by :func:`~xmodal_lab.models.build` (it has ``name`` and ``config``).
        path: destination file (parent folders are created).
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        TypeError: the model is not one of the registered models.
    """
    path = Path(path)
    name = getattr(model, "name", None)
    if name not in MODELS or not dataclasses.is_dataclass(getattr(model, "config", None)):
        raise TypeError(
            f"save_model needs a model of the registry ({sorted(MODELS)}), got {type(model).__name__}"
        )
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"name": name, "config": dataclasses.asdict(model.config), "state_dict": state}, path)
    return path


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model`.

    Args:
        path: the file.
        map_location: where to put the weights.

    Returns:
        The model in evaluation mode.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a model file of this kit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or not {"name", "config", "state_dict"} <= set(ckpt):
        raise ValueError(f"{path} is not a model file of xmodal_lab (expected keys name, config, state_dict)")
    if ckpt["name"] not in MODELS:
        raise ValueError(f"{path} holds an unknown model {ckpt['name']!r}; known: {sorted(MODELS)}")
    model = MODELS[ckpt["name"]].model_cls(config_from_dict(ckpt["name"], ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(map_location).eval()


__all__ = ["load_model", "save_model"]
