"""Reading training checkpoints written by :func:`xmodal_lab.train.fit`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from xmodal_lab.models.registry import MODELS, config_from_dict


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the trained model from a ``fit`` checkpoint.

    Args:
        path: the checkpoint file.
        map_location: where to put the weights.

    Returns:
        ``(model, info)`` with the model in eval mode and ``info`` holding ``name``, ``config``,
        ``normalization``, ``data`` and ``step``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a checkpoint of this kit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    info = ckpt.get("xmodal_lab") if isinstance(ckpt, dict) else None
    if not info or info.get("name") not in MODELS:
        raise ValueError(f"{path} is not a training checkpoint of xmodal_lab")
    model = MODELS[info["name"]].model_cls(config_from_dict(info["name"], info["config"]))
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    return model.to(map_location).eval(), {**info, "step": ckpt.get("global_step")}
