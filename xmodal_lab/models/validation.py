"""Input checks at the model boundary: every model passes what a user hands it through :func:`model_input`."""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmodal_lab.errors import InputTooLargeError, SlowInputWarning
from xmodal_lab.units import check_s1, check_s2

SLOW_CPU_TOKENS = 4096  # tokens per tile above which a CPU forward pass takes long enough to say so
_UNITS_CHECKED_ON_DEVICE: set[str] = set()  # on an accelerator a check syncs the host: once per input name
_CHECKED_UPSTREAM = contextvars.ContextVar("checked_upstream", default=False)


@contextlib.contextmanager
def checked_upstream() -> Iterator[None]:
    """Inside, :func:`model_input` skips the value checks (finite, units) a reader already ran on every pixel."""
    token = _CHECKED_UPSTREAM.set(True)
    try:
        yield
    finally:
        _CHECKED_UPSTREAM.reset(token)


def model_input(x: Any, channels: int, multiple: int, name: str, time_series: bool = False,
                config: Any = None, biased: bool = False) -> Tensor:  # fmt: skip
    """Validate an image ``[B, (T,) C, H, W]`` (rank, channels, size, values, units, memory); float32."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a tensor or numpy array [B, {channels}, H, W], got "
                        f"{type(x).__name__}")  # fmt: skip
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected floating-point physical units (s1: dB, s2: reflectance = "
                        f"DN / 10000), got dtype {x.dtype}")  # fmt: skip
    if x.ndim not in ((4, 5) if time_series else (4,)):
        want = "[B, C, H, W] or a time series [B, T, C, H, W]" if time_series else "[B, C, H, W]"
        raise ValueError(f"{name}: expected {want}, got shape {tuple(x.shape)}")
    c, h, w = x.shape[-3:]
    if c != channels:
        raise ValueError(f"{name}: expected {channels} channels, got {c} (shape {tuple(x.shape)})")
    if h % multiple or w % multiple:
        raise ValueError(f"{name}: height and width must be multiples of the patch size {multiple}, got "
                         f"{h}x{w}")  # fmt: skip
    if config is not None:
        check_memory(tuple(x.shape), multiple, config, name, x.device, biased)
    if _CHECKED_UPSTREAM.get():
        return x.float()
    # one sum is finite when every value is (a sum that overflows is then checked value by value)
    if not torch.isfinite(x.sum(dtype=torch.float32)) and not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or infinite values; fill or mask them before the model")
    if name in ("s1", "s2") and (x.device.type == "cpu" or name not in _UNITS_CHECKED_ON_DEVICE):
        if x.device.type != "cpu":
            _UNITS_CHECKED_ON_DEVICE.add(name)
        (check_s1 if name == "s1" else check_s2)(x.detach(), where=name)
    return x.float()


def memory_needed(shape: tuple[int, ...], patch: int, config: Any, biased: bool, grad: bool) -> dict[str, float]:
    """Bytes a ViT ``config`` needs at least for ``shape [..., C, H, W]``: activations, attention logits."""
    tiles = int(np.prod(shape[:-3]))
    tokens = (shape[-2] // patch) * (shape[-1] // patch)
    depth = sum(v for k, v in vars(config).items() if k.endswith("depth") and not k.startswith("decoder"))
    per_block = (6 + 2 * getattr(config, "mlp_ratio", 4.0)) * tiles * tokens * config.embed_dim * 4
    attention = 3 * tiles * config.num_heads * tokens**2 * 4 if biased else 0
    return {"tokens": tokens, "activations": per_block * (max(depth, 1) if grad else 2), "attention": attention}


def available_memory(device: torch.device) -> float:
    """Bytes free on ``device``: the GPU's free memory, else the machine's available memory (psutil)."""
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    import psutil

    return float(psutil.virtual_memory().available)


def check_memory(shape: tuple[int, ...], patch: int, config: Any, name: str, device: torch.device,
                 biased: bool = False) -> None:  # fmt: skip
    """Raise :class:`~xmodal_lab.errors.InputTooLargeError` before allocating when ``shape`` cannot fit."""
    if not all(hasattr(config, k) for k in ("patch_size", "embed_dim", "num_heads")) or patch != config.patch_size:
        return  # not a ViT (a ResNet backbone): no token count to estimate
    need = memory_needed(shape, patch, config, biased, torch.is_grad_enabled())
    total, free = need["activations"] + need["attention"], available_memory(device)
    if total > free:
        side = int(shape[-1] * (free / total) ** 0.5) // patch * patch
        raise InputTooLargeError(
            f"{name}: a {shape[-2]} x {shape[-1]} px input of {int(np.prod(shape[:-3]))} tile(s) is "
            f"{need['tokens']} tokens for {type(config).__name__.removesuffix('Config')}, which needs about "
            f"{total / 1e9:.1f} GB (attention {need['attention'] / 1e9:.1f} GB, activations "
            f"{need['activations'] / 1e9:.1f} GB) but {free / 1e9:.1f} GB are available on {device.type}; cut "
            f"it into tiles of at most {max(side, patch)} px (PairedRasterDataset(size=...)) or pass fewer at once"
        )
    if device.type == "cpu" and need["tokens"] > SLOW_CPU_TOKENS:
        msg = f"{name}: {need['tokens']} tokens per tile; attention grows with their square, so on a CPU this"
        msg += " forward pass can take minutes: cut the scene into tiles (eval.embed_raster, PairedRasterDataset)"
        warnings.warn(msg, SlowInputWarning, stacklevel=4)


def batch_item(batch: dict, key: str, owner: str) -> Tensor:
    """``batch[key]``, or an error naming the missing key and the model (``owner``) that needs it."""
    if not isinstance(batch, dict):
        raise TypeError(f"{owner}.forward expects the batch dict of the data layer, got "
                        f"{type(batch).__name__}")  # fmt: skip
    value = batch.get(key)
    if value is None:
        raise KeyError(f"{owner}.forward needs batch['{key}'] (keys present: {sorted(batch)})")
    return value


def same_tiles(s1: Tensor | None, s2: Tensor | None) -> None:
    """Raise a ValueError unless radar and optical inputs (when both given) hold as many tiles of one size."""
    if s1 is None or s2 is None:
        return
    if s1.shape[-2:] != s2.shape[-2:]:
        raise ValueError(f"s1 and s2 must be co-registered tiles of one size, got {tuple(s1.shape)}, "
                         f"{tuple(s2.shape)}")  # fmt: skip
    if s1.shape[0] != s2.shape[0]:
        raise ValueError(f"s1 and s2 must hold the same number of pairs, got {s1.shape[0]} and {s2.shape[0]}")


__all__ = ["available_memory", "batch_item", "check_memory", "memory_needed", "model_input", "same_tiles"]
