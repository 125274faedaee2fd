"""Frozen embeddings of a whole dataset, with the labels and places needed by probes and maps."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from xmodal_lab.data import collate_pairs
from xmodal_lab.errors import InputValueError
from xmodal_lab.units import check_pair, first_item

#: Context a model's ``embed`` may take besides the images (SkySense: date encoding and geo-context region).
CONTEXT = ("date", "lat", "lon")

#: Per-item descriptions kept next to the embeddings when the dataset gives them (for maps and tables).
METADATA = ("index", "date", "biome", "place", "crs")


def _dominant_class(landcover: torch.Tensor) -> np.ndarray:
    """Most frequent land-cover id per tile: ``[B, H, W]`` -> ``[B]``."""
    flat = landcover.reshape(landcover.shape[0], -1).long()
    n = int(flat.max()) + 1
    counts = torch.zeros(flat.shape[0], n, dtype=torch.long).scatter_add_(1, flat, torch.ones_like(flat))
    return counts.argmax(dim=1).numpy()


@torch.no_grad()
def embed_dataset(
    model: torch.nn.Module,
    data: Dataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    modalities: tuple[str, ...] = ("s1", "s2"),
    pass_keys: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Embed every item of a pair dataset with ``model.embed``, for any model of the kit.

    Args:
        model: a model with ``embed(s1=None, s2=None, gsd=None) -> {key: [B, D]}``.
        data: a dataset of pair dicts (``SimulatedWorld``, ``BigEarthNetMM``, a ``Subset``...).
        batch_size: items per forward pass.
        device: where to run (default: the model's device).
        modalities: inputs to pass to the model when the dataset has them.
        pass_keys: more batch entries passed to ``model.embed`` by name, e.g. ``("cloud_mask",)`` for
            CROMA's cloud masking (``CROMA.embed(cloud_mask=...)``).

    The :data:`CONTEXT` entries (``date``, ``lat``, ``lon``) are passed too when the model's ``embed``
    accepts them.

    Returns:
        ``{"s1": [N, D], "s2": [N, D], "joint": [N, D]}`` (whichever the model gives) as float32 arrays, plus
        ``labels [N, K]``, ``dominant_class [N]`` (from ``landcover``), ``lat [N]``, ``lon [N]``, ``gsd [N]``
        and the :data:`METADATA` entries (``index``, ``date``, ``biome``...) when the dataset gives them.

    The first item's units are checked (:mod:`xmodal_lab.units`): a
    :class:`~xmodal_lab.errors.UnitsWarning` names digital numbers, linear power and the like.

    Raises:
        ValueError: an empty dataset, a bad ``batch_size``, or a model whose ``embed`` returned no ``[B, D]`` tensor.
    """
    if len(data) == 0:
        raise ValueError("embed_dataset: the dataset is empty")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputValueError(
            f"embed_dataset: batch_size must be a positive whole number, got {batch_size!r}"
        )
    first = first_item(data)
    if isinstance(first, dict):
        check_pair(first, where="embed_dataset(data[0])")  # warns on digital numbers, linear power...
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: dict[str, list[Any]] = {}
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_pairs)
    accepted = inspect.signature(model.embed).parameters
    context = [key for key in CONTEXT if key in accepted]
    try:
        for batch in loader:
            inputs = {m: batch[m].to(device) for m in modalities if m in batch}
            gsd = batch.get("gsd")
            extra = {key: batch[key] for key in context if key in batch}
            for key in pass_keys:
                if key not in batch:
                    raise KeyError(
                        f"embed_dataset: pass_keys asks for {key!r}, which the dataset's items lack"
                    )
                value = batch[key]
                extra[key] = value.to(device) if isinstance(value, torch.Tensor) else value
            emb = model.embed(**inputs, **extra, gsd=gsd.to(device) if isinstance(gsd, torch.Tensor) else gsd)
            if not emb or not all(isinstance(v, torch.Tensor) and v.ndim == 2 for v in emb.values()):
                raise ValueError(
                    f"{type(model).__name__}.embed must return a dict of [B, D] tensors, got {emb!r:.200}"
                )
            for key, value in emb.items():
                out.setdefault(key, []).append(value.float().cpu().numpy())
            if "labels" in batch:
                out.setdefault("labels", []).append(torch.as_tensor(batch["labels"]).numpy())
            if "landcover" in batch:
                out.setdefault("dominant_class", []).append(_dominant_class(batch["landcover"]))
            for key in ("lat", "lon", "gsd"):
                if key in batch:
                    out.setdefault(key, []).append(np.asarray(torch.as_tensor(batch[key]), dtype=np.float64))
            for key in METADATA:
                if isinstance(batch.get(key), list):
                    out.setdefault(key, []).append(np.asarray(batch[key], dtype=object))
                elif isinstance(batch.get(key), torch.Tensor):
                    out.setdefault(key, []).append(batch[key].numpy())
    finally:
        model.train(was_training)
    return {key: np.concatenate(parts) for key, parts in out.items()}
