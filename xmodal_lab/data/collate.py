"""Batching pair dicts: ``collate_pairs`` for ``DataLoader(collate_fn=collate_pairs)``."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


def collate_pairs(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch pair dicts: tensors stacked (``s1`` ``[B, 2, H, W]``), numbers to tensors, the rest to lists.

    ``lat``/``lon`` stay float64; a key that only some items carry is left out of the batch.
    """
    if len(items) == 0:
        raise ValueError("collate_pairs: got an empty list of pairs")
    return {key: _collate_key(key, [item[key] for item in items]) for key in items[0]
            if all(key in item for item in items)}  # fmt: skip


def _collate_key(key: str, values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, (torch.Tensor, np.ndarray)):
        tensors = [torch.as_tensor(v) for v in values]
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) > 1:
            raise ValueError(f"collate_pairs: '{key}' has different shapes: {sorted(shapes)}; crop or resize the tiles")
        return torch.stack(tensors)
    if isinstance(first, bool) or not all(isinstance(v, numbers.Number) for v in values):
        return list(values)
    if all(isinstance(v, numbers.Integral) for v in values):
        return torch.tensor(values, dtype=torch.int64)
    dtype = torch.float64 if key in ("lat", "lon") else torch.float32  # float32 rounds a longitude to ~1 m
    return torch.tensor([float(v) for v in values], dtype=dtype)
