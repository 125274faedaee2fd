"""Input checks at the model boundary: every model passes what a user hands it through :func:`model_input`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.units import check_s1, check_s2

_UNITS_CHECKED_ON_DEVICE: set[str] = set()  # on an accelerator a check syncs the host: once per input name


def model_input(x: Any, channels: int, multiple: int, name: str, time_series: bool = False) -> Tensor:
    """Validate an image ``[B, C, H, W]`` (or ``[B, T, C, H, W]``) and return it as a float32 tensor.

    Checks the rank, the ``channels``, a height and width that ``multiple`` divides (the patch size) and finite
    values, and warns on units that look wrong for ``name`` (``"s1"``: dB, ``"s2"``: reflectance).
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name}: expected a tensor or numpy array [B, {channels}, H, W], got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name}: expected floating-point physical units (s1: dB, s2: reflectance = DN / 10000), "
            f"got dtype {x.dtype}"
        )
    if x.ndim not in ((4, 5) if time_series else (4,)):
        want = "[B, C, H, W] or a time series [B, T, C, H, W]" if time_series else "[B, C, H, W]"
        raise ValueError(f"{name}: expected {want}, got shape {tuple(x.shape)}")
    c, h, w = x.shape[-3:]
    if c != channels:
        raise ValueError(f"{name}: expected {channels} channels, got {c} (shape {tuple(x.shape)})")
    if h % multiple or w % multiple:
        raise ValueError(
            f"{name}: height and width must be multiples of the patch size {multiple}, got {h}x{w}"
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or infinite values; fill or mask them before the model")
    if name in ("s1", "s2") and (x.device.type == "cpu" or name not in _UNITS_CHECKED_ON_DEVICE):
        if x.device.type != "cpu":
            _UNITS_CHECKED_ON_DEVICE.add(name)
        (check_s1 if name == "s1" else check_s2)(x.detach(), where=name)
    return x.float()


def batch_item(batch: dict, key: str, owner: str) -> Tensor:
    """``batch[key]``, or an error naming the missing key and the model (``owner``) that needs it."""
    if not isinstance(batch, dict):
        raise TypeError(
            f"{owner}.forward expects the batch dict of the data layer, got {type(batch).__name__}"
        )
    value = batch.get(key)
    if value is None:
        raise KeyError(f"{owner}.forward needs batch['{key}'] (keys present: {sorted(batch)})")
    return value


def same_tiles(s1: Tensor | None, s2: Tensor | None) -> None:
    """Raise a ValueError unless radar and optical inputs (when both given) hold as many tiles of one size."""
    if s1 is None or s2 is None:
        return
    if s1.shape[-2:] != s2.shape[-2:]:
        raise ValueError(
            f"s1 and s2 must be co-registered tiles of one size, got {tuple(s1.shape)}, {tuple(s2.shape)}"
        )
    if s1.shape[0] != s2.shape[0]:
        raise ValueError(f"s1 and s2 must hold the same number of pairs, got {s1.shape[0]} and {s2.shape[0]}")


__all__ = ["batch_item", "model_input", "same_tiles"]
