"""Batching pair dicts: tensors stacked, numbers to tensors, strings and tuples kept as lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch


def collate_pairs(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch a list of pair dicts (the ``collate_fn`` of every DataLoader in the kit).

    Args:
        items: pair dicts with the same keys (``s1 [2, H, W]``, ``s2 [12, H, W]``, ...).

    Returns:
        ``s1 [B, 2, H, W]``, ``s2 [B, 12, H, W]`` and every other tensor stacked; numbers (``gsd``, ``lat``,
        ``lon``) as ``[B]`` tensors; strings, tuples (``transform``) and other values as lists.

    Raises:
        ValueError: on an empty list, different keys, or tensors of different shapes (naming the key).
    """
    if not items:
        raise ValueError("collate_pairs: no items to batch")
    keys = list(items[0])
    out: dict[str, Any] = {}
    for key in keys:
        values = [item[key] for item in items if key in item]
        if len(values) != len(items):
            continue  # a key not every item has (for example a change mask) is left out of the batch
        first = values[0]
        if isinstance(first, torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(f"collate_pairs: '{key}' has different shapes in one batch: {sorted(shapes)}")
            out[key] = torch.stack(values)
        elif isinstance(first, bool) or not isinstance(first, (int, float)):
            out[key] = list(values)
        else:
            out[key] = torch.tensor(values, dtype=torch.float32 if isinstance(first, float) else torch.int64)
    return out
