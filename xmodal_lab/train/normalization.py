"""Per-band normalisation statistics computed from training data and written into a model's InputNorm.

Models name their input standardisation ``norm_s1`` (Sentinel-1, 2 channels) and ``norm_s2`` (Sentinel-2,
12 bands or a subset); both are :class:`~xmodal_lab.models.input_norm.InputNorm` buffers saved with the weights.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from xmodal_lab.data import collate_pairs
from xmodal_lab.models.input_norm import InputNorm

MODALITIES = ("s1", "s2")


@torch.no_grad()
def band_statistics(
    data: Dataset, n_batches: int = 4, batch_size: int = 64, seed: int = 0
) -> dict[str, list]:
    """Mean and standard deviation of every band over a few random batches.

    Args:
        data: a dataset of pair dicts.
        n_batches: batches to average over.
        batch_size: items per batch.
        seed: which items.

    Returns:
        ``{"s1_mean", "s1_std", "s2_mean", "s2_std"}`` (lists of 2 and 12 floats) for the modalities present.

    Raises:
        ValueError: the data hold neither ``s1`` nor ``s2``, or a band is not finite.
    """
    loader = DataLoader(
        data, batch_size=batch_size, shuffle=True, collate_fn=collate_pairs,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    parts: dict[str, list[torch.Tensor]] = {}
    for i, batch in enumerate(loader):
        if i >= n_batches:
            break
        for key in MODALITIES:
            if isinstance(batch.get(key), torch.Tensor):
                x = batch[key].double()
                parts.setdefault(key, []).append(x.transpose(0, 1).reshape(x.shape[1], -1))  # [C, B*H*W]
    if not parts:
        raise ValueError("band_statistics: the data items hold neither 's1' nor 's2' tensors")
    stats: dict[str, list] = {}
    for key, chunks in parts.items():
        x = torch.cat(chunks, dim=1)
        mean, std = x.mean(dim=1), x.std(dim=1)
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise ValueError(f"band_statistics: '{key}' holds NaN or infinite values; clean the data first")
        stats[f"{key}_mean"] = mean.float().tolist()
        stats[f"{key}_std"] = std.clamp_min(1e-6).float().tolist()
    return stats


def input_norms(model: nn.Module) -> dict[str, InputNorm]:
    """The model's input standardisations, by module name (``{"norm_s1": ..., "norm_s2": ...}``)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, InputNorm)}


def _modality(name: str) -> str | None:
    leaf = name.rsplit(".", 1)[-1]
    return next((m for m in MODALITIES if leaf.endswith(m)), None)


def set_normalization(model: nn.Module, stats: dict[str, list] | Any) -> list[str]:
    """Write statistics into the model's ``norm_s1`` / ``norm_s2`` InputNorm modules.

    A Sentinel-2 norm over a subset of bands takes those bands' statistics when the model's config names
    them in ``s2_bands``; a norm whose size still does not match is left unchanged, with a warning.

    Args:
        model: any model of the kit.
        stats: from :func:`band_statistics` (or a :class:`xmodal_lab.data.BandStats`).

    Returns:
        Names of the InputNorm modules updated.
    """
    if hasattr(stats, "to_dict"):
        stats = stats.to_dict()
    bands = getattr(getattr(model, "config", None), "s2_bands", None)
    updated = []
    for name, norm in input_norms(model).items():
        modality = _modality(name)
        if modality is None or f"{modality}_mean" not in stats:
            continue
        mean, std = stats[f"{modality}_mean"], stats[f"{modality}_std"]
        if modality == "s2" and bands is not None and norm.mean.numel() == len(bands) != len(mean):
            mean, std = [mean[i] for i in bands], [std[i] for i in bands]
        if norm.mean.numel() != len(mean):
            warnings.warn(
                f"set_normalization: {name} standardises {norm.mean.numel()} channels but the data give "
                f"{len(mean)} for {modality}; kept its statistics", stacklevel=2,
            )  # fmt: skip
            continue
        norm.set_stats(mean, std)
        updated.append(name)
    return updated


def normalization_state(model: nn.Module) -> dict[str, Any]:
    """The statistics a model standardises its inputs with, for checkpoints and reports.

    Returns:
        ``{module name: {"mean": [C], "std": [C]}}``.
    """
    return {
        name: {"mean": m.mean.flatten().tolist(), "std": m.std.flatten().tolist()}
        for name, m in input_norms(model).items()
    }
