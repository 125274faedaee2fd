"""Input validation at the model boundary: one helper that every model calls on what a user hands it.

:func:`model_input` turns an image into what the network expects or says clearly why it cannot: the rank
(``[B, C, H, W]``, or ``[B, T, C, H, W]`` for time series), the channel count, a height and width that the
patch size divides, finite values, and a floating dtype. numpy's float64 (and float16 / bfloat16) inputs
are cast to float32 instead of failing deep inside with a torch dtype error. :func:`batch_item` fetches a
key from the pair batch with a message that names what is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.units import check_s1, check_s2


def check_image(x: Tensor, channels: int, patch_size: int, name: str = "image") -> None:
    """Raise a clear error unless ``x`` is a finite ``[B, channels, H, W]`` tensor with H, W multiples of p.

    Args:
        x: the input ``[B, C, H, W]``.
        channels: expected number of channels.
        patch_size: H and W must be multiples of it.
        name: how to call the input in the message (``"s1"``, ``"s2"``).

    Raises:
        ValueError: on a wrong rank, channel count, size or non-finite values.
    """
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a [B, C, H, W] tensor, got shape {tuple(x.shape)}")
    _, c, h, w = x.shape
    if c != channels:
        raise ValueError(f"{name}: expected {channels} channels, got {c} (shape {tuple(x.shape)})")
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"{name}: height and width must be multiples of the patch size {patch_size}, got {h}x{w}"
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or infinite values; fill or mask them before the model")


_CHECKED_ON_DEVICE: set[str] = set()  # inputs already unit-checked on an accelerator (a check syncs the host)


def _check_units(x: Tensor, name: str) -> None:
    """Warn when ``x`` looks like the wrong units (DN, linear power, dB x 100).

    On the CPU every call is checked; on an accelerator only the first call per input name, so training steps
    stay free of host syncs.
    """
    if name not in ("s1", "s2"):
        return
    if x.device.type != "cpu":
        if name in _CHECKED_ON_DEVICE:
            return
        _CHECKED_ON_DEVICE.add(name)
    (check_s1 if name == "s1" else check_s2)(x.detach(), where=name)


def model_input(
    x: Any,
    channels: int,
    multiple: int,
    name: str,
    time_series: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Validate an image at a model's boundary and return it as a float tensor the network can take.

    Args:
        x: ``[B, C, H, W]`` (or ``[B, T, C, H, W]`` when ``time_series``): a tensor or a numpy array.
        channels: expected channel count ``C``.
        multiple: H and W must be multiples of it (the patch size; 1 for a CNN).
        name: the input's name in messages and the modality it holds (``"s1"``: dB, ``"s2"``: reflectance).
        time_series: also accept a time axis ``[B, T, C, H, W]``.
        dtype: the floating dtype the model computes in; other floating dtypes (numpy's float64) are cast.

    Returns:
        ``x`` as a ``dtype`` tensor of the same shape (the same object when nothing needed changing).

    Raises:
        TypeError: when ``x`` is not an array, or holds integers or booleans (a model needs physical
            units: dB for Sentinel-1, reflectance = DN / 10000 for Sentinel-2).
        ValueError: on a wrong rank, channel count, size or NaN / infinite values.
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
    ranks = (4, 5) if time_series else (4,)
    if x.ndim not in ranks:
        want = "[B, C, H, W] or a time series [B, T, C, H, W]" if time_series else "[B, C, H, W]"
        raise ValueError(f"{name}: expected {want}, got shape {tuple(x.shape)}")
    check_image(x.flatten(0, 1) if x.ndim == 5 else x, channels, multiple, name)
    _check_units(x, name)
    return x if x.dtype == dtype else x.to(dtype)


def batch_item(batch: dict, key: str, owner: str) -> Tensor:
    """Fetch a tensor from a batch dict with an error that names the missing key.

    Args:
        batch: the pair batch (``s1``, ``s2``, ``gsd``, ...).
        key: the key the model needs.
        owner: the model's name, for the message.

    Returns:
        ``batch[key]``.

    Raises:
        KeyError: when the key is absent or None.
    """
    if not isinstance(batch, dict):
        raise TypeError(
            f"{owner}.forward expects the batch dict of the data layer, got {type(batch).__name__}"
        )
    value = batch.get(key)
    if value is None:
        raise KeyError(f"{owner}.forward needs batch['{key}'] (keys present: {sorted(batch)})")
    return value


def same_tiles(s1: Tensor | None, s2: Tensor | None) -> None:
    """Raise unless radar and optical inputs hold the same number of co-registered tiles of one size.

    Args:
        s1: ``[B, 2, H, W]`` (or ``[B, T, 2, H, W]``) or None.
        s2: ``[B, 12, H, W]`` (or ``[B, T, 12, H, W]``) or None.

    Raises:
        ValueError: when both are given and their batch sizes or spatial sizes differ.
    """
    if s1 is None or s2 is None:
        return
    if s1.shape[-2:] != s2.shape[-2:]:
        raise ValueError(
            f"s1 and s2 must be co-registered tiles of one size, got {tuple(s1.shape)}, {tuple(s2.shape)}"
        )
    if s1.shape[0] != s2.shape[0]:
        raise ValueError(f"s1 and s2 must hold the same number of tiles, got {s1.shape[0]} and {s2.shape[0]}")


__all__ = ["batch_item", "check_image", "model_input", "same_tiles"]
