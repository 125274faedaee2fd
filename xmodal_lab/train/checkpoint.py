"""Reading training checkpoints written by :func:`xmodal_lab.train.fit` and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from xmodal_lab.errors import CheckpointError
from xmodal_lab.models.io import save_model
from xmodal_lab.models.registry import MODELS, config_from_dict
from xmodal_lab.models.seg_head import SegmentationModel
from xmodal_lab.serialization import safe_load


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The whole training checkpoint, loaded safely (no code from the file runs).

    Args:
        path: a checkpoint written by ``fit`` or the command line.

    Returns:
        Lightning's checkpoint dict; its ``"xmodal_lab"`` entry holds the run's record.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: not a training checkpoint of this kit (a model file, another program's file, a
            corrupt or unsafe file), with the reason.
    """
    ckpt = safe_load(path, what="training checkpoint")
    if isinstance(ckpt, dict) and {"name", "config", "state_dict"} <= set(ckpt) and "xmodal_lab" not in ckpt:
        raise CheckpointError(
            f"{path}: a model file (written by save_model or --export), not a training checkpoint; load it with "
            "xmodal_lab.models.load_model (it holds no optimiser state to resume from)"
        )
    info = ckpt.get("xmodal_lab") if isinstance(ckpt, dict) else None
    if not isinstance(info, dict) or not info or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(
            f"{path} is not a training checkpoint of xmodal_lab (written by fit or the CLI)"
        )
    return ckpt


def checkpoint_info(path: str | Path) -> dict[str, Any]:
    """What a training checkpoint says about itself, without building the model.

    Args:
        path: a checkpoint file.

    Returns:
        ``{"name", "config", "normalization", "data", "data_statistics", "lr", "warmup_steps",
        "total_steps", "step"}`` (the keys the run recorded).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: (a ``ValueError``) not a training checkpoint of this kit, or unsafe to load.
    """
    ckpt = read_checkpoint(path)
    return {**ckpt["xmodal_lab"], "step": ckpt.get("global_step")}


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the trained model from a ``fit`` checkpoint.

    Args:
        path: the checkpoint file.
        map_location: where to put the weights.

    Returns:
        ``(model, info)``: the model in eval mode (its input norms hold the training statistics) and
        :func:`checkpoint_info`'s dict. A :class:`~xmodal_lab.models.SegmentationModel` comes back whole
        (encoder and head).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: (a ``ValueError``) not a checkpoint of this kit, unsafe, or of a model the registry
            does not know.
    """
    ckpt = read_checkpoint(path)
    info = {**ckpt["xmodal_lab"], "step": ckpt.get("global_step")}
    name = info.get("name")
    if name == SegmentationModel.name and "config" in info:  # an encoder + head: rebuilt from both configs
        model = SegmentationModel.from_config(info["config"])
        model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
        return model.to(map_location).eval(), info
    if name not in MODELS or "config" not in info:
        raise CheckpointError(
            f"{path}: the checkpoint holds a model {name!r} that the registry cannot rebuild "
            f"(known: {sorted(MODELS)}); load its state_dict into your own model instead"
        )
    model = MODELS[name].model_cls(config_from_dict(name, info["config"]))
    state = ckpt["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    return model.to(map_location).eval(), info


def export_checkpoint(path: str | Path, out: str | Path) -> Path:
    """Write the weights of a training checkpoint as a small model file for :func:`xmodal_lab.models.load_model`.

    Args:
        path: the training checkpoint (with optimiser state).
        out: the model file to write (never overwritten).

    Returns:
        The path written.
    """
    model, _ = load_checkpoint(path)
    return save_model(model, out)
