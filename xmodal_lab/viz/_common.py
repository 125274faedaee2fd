"""Turn what a notebook holds (tensors, pair dicts, datasets) into arrays and lists of dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array from a tensor (detached, on the CPU; half floats as float32), array or list."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor; torch itself is not imported here
        x = x.detach().cpu()
        if x.dtype.is_floating_point and x.dtype.itemsize < 4:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def pair_list(pairs: Any, max_pairs: int | None = None, name: str = "pairs") -> list[dict]:
    """A list of pair dicts from one pair, a list of them or a dataset."""
    if isinstance(pairs, Mapping):
        items = [dict(pairs)]
    elif isinstance(pairs, Sequence) or hasattr(pairs, "__getitem__"):
        items = [pairs[i] for i in range(len(pairs) if max_pairs is None else min(len(pairs), max_pairs))]
    else:
        raise TypeError(f"{name}: expected pair dicts or a dataset, got {type(pairs).__name__}")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(f"{name}[{i}]: expected a pair dict, got {type(item).__name__}")
    return items[:max_pairs]


def first_image(x: Any, channels: int | None = None, name: str = "image") -> np.ndarray:
    """One float ``[C, H, W]`` image from ``[C, H, W]`` or ``[B, C, H, W]`` (the first)."""
    a = to_numpy(x).astype(np.float32, copy=False)
    if a.ndim == 4:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"{name}: expected [C, H, W] or [B, C, H, W], got shape {a.shape}")
    if channels is not None and a.shape[0] != channels:
        raise ValueError(f"{name}: expected {channels} channels, got shape {a.shape}")
    return a


def image_size(pair: Mapping) -> tuple[int, int]:
    """``(H, W)`` of a pair's images."""
    for key in ("s2", "s1", "landcover"):
        if pair.get(key) is not None:
            shape = np.shape(to_numpy(pair[key]))
            return int(shape[-2]), int(shape[-1])
    raise KeyError("a pair needs 's1' or 's2' images to know its extent")


def scalar(x: Any) -> Any:
    """A Python number from a 0-d tensor/array, anything else unchanged."""
    if hasattr(x, "item") and np.ndim(to_numpy(x)) == 0:
        return x.item()
    return x


def upsample_nearest(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour upsampling of ``[..., h, w]`` to ``[..., H, W]`` by integer factors."""
    fy, fx = height // img.shape[-2], width // img.shape[-1]
    if fy * img.shape[-2] != height or fx * img.shape[-1] != width:
        raise ValueError(f"cannot upsample {img.shape[-2:]} to {(height, width)} by an integer factor")
    return np.repeat(np.repeat(img, fy, axis=-2), fx, axis=-1)
