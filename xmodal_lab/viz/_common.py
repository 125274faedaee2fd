"""Small conversions shared by the figures and the maps: tensors to arrays, pair collections to lists.

Nothing here draws; it only turns whatever a notebook holds (a list of pair dicts, a collated batch, a
dataset) into plain NumPy arrays and Python lists the plotting code can rely on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """Turn a tensor, array or nested list into a NumPy array (detached, on the CPU).

    Args:
        x: a ``torch.Tensor``, ``np.ndarray`` or anything ``np.asarray`` accepts.

    Returns:
        The values as an ``np.ndarray`` (bfloat16 and float16 tensors come back as float32).
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor; torch itself is not imported here
        x = x.detach().cpu()
        if x.dtype.is_floating_point and x.dtype.itemsize < 4:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _is_batch(pairs: Mapping) -> bool:
    s1 = pairs.get("s1")
    return s1 is not None and np.ndim(to_numpy(s1)) == 4


def _split_batch(batch: Mapping, limit: int | None) -> list[dict]:
    n = len(to_numpy(batch["s1"]))
    n = n if limit is None else min(n, limit)
    items: list[dict] = [{} for _ in range(n)]
    for key, value in batch.items():
        if isinstance(value, str | bytes) or value is None:
            for item in items:
                item[key] = value
            continue
        try:
            length = len(value)
        except TypeError:  # a scalar shared by the whole batch
            for item in items:
                item[key] = value
            continue
        if length < n:
            raise ValueError(f"batch key {key!r} has {length} entries but the batch has {n} pairs")
        for i, item in enumerate(items):
            item[key] = value[i]
    return items


def pair_list(pairs: Any, max_pairs: int | None = None, name: str = "pairs") -> list[dict]:
    """Normalise a pair collection to a list of pair dicts.

    Args:
        pairs: one pair dict, a list of pair dicts, a collated batch (``s1`` of shape ``[B, 2, H, W]``)
            or any indexable dataset of pair dicts.
        max_pairs: keep at most this many (the first ones).
        name: how to call the argument in error messages.

    Returns:
        A list of pair dicts (views of the inputs; nothing is copied).

    Raises:
        TypeError: when ``pairs`` holds something other than pair dicts.
    """
    if isinstance(pairs, Mapping):
        items = _split_batch(pairs, max_pairs) if _is_batch(pairs) else [dict(pairs)]
    elif isinstance(pairs, Sequence) or hasattr(pairs, "__getitem__"):
        n = len(pairs)
        n = n if max_pairs is None else min(n, max_pairs)
        items = [pairs[i] for i in range(n)]
    else:
        raise TypeError(
            f"{name}: expected pair dicts, a collated batch or a dataset, got {type(pairs).__name__}"
        )
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(f"{name}[{i}]: expected a pair dict, got {type(item).__name__}")
    return items[:max_pairs] if max_pairs is not None else items


def first_image(x: Any, channels: int | None = None, name: str = "image") -> np.ndarray:
    """Take one ``[C, H, W]`` image out of a ``[C, H, W]`` or ``[B, C, H, W]`` input (the first of a batch).

    Args:
        x: tensor or array.
        channels: expected ``C`` (checked when given).
        name: how to call the input in error messages.

    Returns:
        ``[C, H, W]`` float array.
    """
    a = to_numpy(x).astype(np.float32, copy=False)
    if a.ndim == 4:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"{name}: expected [C, H, W] or [B, C, H, W], got shape {a.shape}")
    if channels is not None and a.shape[0] != channels:
        raise ValueError(f"{name}: expected {channels} channels, got shape {a.shape}")
    return a


def image_size(pair: Mapping) -> tuple[int, int]:
    """Height and width in pixels of a pair (from its images or its ``height``/``width``/``size`` keys).

    Args:
        pair: a pair dict or a metadata dict.

    Returns:
        ``(H, W)``.

    Raises:
        KeyError: when neither images nor a size are present.
    """
    for key in ("s2", "s1", "landcover"):
        if key in pair and pair[key] is not None:
            shape = np.shape(to_numpy(pair[key]))
            return int(shape[-2]), int(shape[-1])
    if "height" in pair and "width" in pair:
        return int(pair["height"]), int(pair["width"])
    if "size" in pair:
        size = pair["size"]
        return (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))
    raise KeyError("a pair needs 's1'/'s2' images or 'height' and 'width' (or 'size') to know its extent")


def scalar(x: Any) -> Any:
    """A Python number from a 0-d tensor/array, anything else unchanged."""
    if hasattr(x, "item") and np.ndim(to_numpy(x)) == 0:
        return x.item()
    return x


def upsample_nearest(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour upsampling of ``[..., h, w]`` to ``[..., H, W]`` by integer factors.

    Raises:
        ValueError: when ``H / h`` or ``W / w`` is not an integer.
    """
    fy, fx = height // img.shape[-2], width // img.shape[-1]
    if fy * img.shape[-2] != height or fx * img.shape[-1] != width:
        raise ValueError(f"cannot upsample {img.shape[-2:]} to {(height, width)} by an integer factor")
    return np.repeat(np.repeat(img, fy, axis=-2), fx, axis=-1)
