"""Frozen embeddings of a whole dataset, with the labels and places needed by probes and maps."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from xmodal_lab.config import requested_device
from xmodal_lab.data import collate_pairs
from xmodal_lab.errors import InputValueError
from xmodal_lab.units import check_pair, first_item

#: Context a model's ``embed`` may take besides the images (SkySense: date encoding and geo-context region).
CONTEXT = ("date", "lat", "lon")

#: Per-item descriptions kept next to the embeddings when the dataset gives them (for maps and tables).
METADATA = ("index", "date", "biome", "place", "crs")


def _on(device: torch.device, value: Any) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def embed_batches(model: torch.nn.Module, data: Dataset, batch_size: int = 256,
                  device: str | torch.device | None = None, pass_keys: tuple[str, ...] = (),
                  progress: bool = False) -> Iterator[tuple[dict[str, np.ndarray], dict[str, Any]]]:
    """Run ``model.embed`` in eval mode (with the :data:`CONTEXT` it accepts): ``({key: [B, D]}, batch)``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_pairs)
    yield from embed_each(model, loader, device, pass_keys, progress)


@torch.no_grad()
def embed_each(model: torch.nn.Module, batches: Iterable[dict[str, Any]], device: str | torch.device | None = None,
               pass_keys: tuple[str, ...] = (), progress: bool = False,
               total: int | None = None) -> Iterator[tuple[dict[str, np.ndarray], dict[str, Any]]]:
    """:func:`embed_batches` over batches already collated (``{"s1": [B, 2, H, W], "s2": ..., "gsd": [B]}``)."""
    from tqdm.auto import tqdm
    device = requested_device(device) if device is not None else next(model.parameters()).device
    context = [key for key in CONTEXT if key in inspect.signature(model.embed).parameters]
    was_training = model.training
    model.eval()
    try:
        for batch in tqdm(batches, desc="embedding", unit="batch", total=total, disable=not progress):
            if missing := [key for key in pass_keys if key not in batch]:
                raise KeyError(f"embed_dataset: pass_keys asks for {missing}, which the dataset's items lack")
            inputs = {m: batch[m].to(device) for m in ("s1", "s2") if m in batch}
            extra = {key: batch[key] for key in context if key in batch}
            extra.update({key: _on(device, batch[key]) for key in pass_keys})
            emb = model.embed(**inputs, **extra, gsd=_on(device, batch.get("gsd")))
            if not emb or not all(isinstance(v, torch.Tensor) and v.ndim == 2 for v in emb.values()):
                raise ValueError(
                    f"{type(model).__name__}.embed must return a dict of [B, D] tensors, got {emb!r:.200}")
            yield {key: value.float().cpu().numpy() for key, value in emb.items()}, batch
    finally:
        model.train(was_training)


def concat_rows(parts: Iterable[dict[str, np.ndarray]], total: int,
                rows: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """Concatenate per-batch ``{key: array}`` dicts row-wise into one dict.

    Each key is copied into one array of ``total`` rows made up front, so the batches are freed as they come
    instead of piling up in the heap (a whole scene's tiles). ``rows`` gives each batch row's place (it may
    grow as the batches come; default: one after another); rows never filled are dropped.
    """
    out: dict[str, np.ndarray] = {}
    n = 0
    for part in parts:
        if out and part.keys() != out.keys():
            raise ValueError(f"concat_rows: a batch has keys {sorted(part)}, the first had {sorted(out)}")
        size = len(next(iter(part.values())))
        place = rows[n : n + size] if rows else slice(n, n + size)
        for key, value in part.items():
            if key not in out:
                out[key] = np.empty((total, *value.shape[1:]), dtype=value.dtype)
            out[key][place] = value
        n += size
    if n == total:
        return out
    filled = np.sort(np.asarray(rows[:n], dtype=np.int64)) if rows else slice(0, n)
    return {key: value[filled] for key, value in out.items()}


def _descriptions(batch: dict[str, Any]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if "labels" in batch:
        out["labels"] = torch.as_tensor(batch["labels"]).numpy()
    if "landcover" in batch:  # the most frequent land-cover id per tile
        flat = batch["landcover"].reshape(batch["landcover"].shape[0], -1).long()  # [B, H * W]
        counts = torch.zeros(flat.shape[0], int(flat.max()) + 1, dtype=torch.long)
        out["dominant_class"] = counts.scatter_add_(1, flat, torch.ones_like(flat)).argmax(dim=1).numpy()
    for key in ("lat", "lon", "gsd"):
        if key in batch:
            out[key] = np.asarray(torch.as_tensor(batch[key]), dtype=np.float64)
    for key in METADATA:
        if isinstance(batch.get(key), list):
            out[key] = np.asarray(batch[key], dtype=object)
        elif isinstance(batch.get(key), torch.Tensor):
            out[key] = batch[key].numpy()
    return out


def embed_dataset(model: torch.nn.Module, data: Dataset, batch_size: int = 256,
                  device: str | torch.device | None = None,
                  pass_keys: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Embed every item of a pair dataset with ``model.embed``, for any model of the kit.

    Returns the model's ``{"s1", "s2", "joint": [N, D]}`` plus the labels, places and :data:`METADATA` the
    data gives; ``pass_keys`` are more batch entries for ``embed`` (e.g. ``("cloud_mask",)`` for CROMA).
    """
    if len(data) == 0:
        raise ValueError("embed_dataset: the dataset is empty")
    if isinstance(first := first_item(data), dict):
        check_pair(first, where="embed_dataset(data[0])")
    batches = embed_batches(model, data, batch_size, device, pass_keys)
    return concat_rows(({**emb, **_descriptions(batch)} for emb, batch in batches), len(data))
