"""Per-band normalisation statistics computed from training data and written into a model's InputNorm."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from xmodal_lab.data import collate_pairs
from xmodal_lab.models.layers import InputNorm


@torch.no_grad()
def band_statistics(data: Dataset, n_batches: int = 4, batch_size: int = 64, seed: int = 0) -> dict[str, list]:
    """Mean and standard deviation of every band over a few random batches.

    Args:
        data: a dataset of pair dicts.
        n_batches: batches to average over.
        batch_size: items per batch.
        seed: which items.

    Returns:
        ``{"s1_mean", "s1_std", "s2_mean", "s2_std"}`` (lists of 2 and 12 floats) for the modalities present.
    """
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate_pairs,
                        generator=torch.Generator().manual_seed(seed))
    sums: dict[str, list[torch.Tensor]] = {}
    for i, batch in enumerate(loader):
        if i >= n_batches:
            break
        for key in ("s1", "s2"):
            if key in batch:
                x = batch[key].double().transpose(0, 1).reshape(batch[key].shape[1], -1)  # [C, B*H*W]
                sums.setdefault(key, []).append(x)
    stats = {}
    for key, parts in sums.items():
        x = torch.cat(parts, dim=1)
        stats[f"{key}_mean"] = x.mean(dim=1).float().tolist()
        stats[f"{key}_std"] = x.std(dim=1).clamp_min(1e-6).float().tolist()
    return stats


def set_normalization(model: nn.Module, stats: dict[str, list]) -> int:
    """Write statistics into every :class:`InputNorm` of a model, matched by channel count.

    A 2-channel norm gets the radar statistics, a 12-channel one the optical statistics, a 14-channel one
    (optical and radar stacked, optical first) both.

    Args:
        model: any model of the kit.
        stats: from :func:`band_statistics`.

    Returns:
        The number of InputNorm modules updated.
    """
    by_channels = {}
    if "s1_mean" in stats:
        by_channels[2] = (stats["s1_mean"], stats["s1_std"])
    if "s2_mean" in stats:
        by_channels[12] = (stats["s2_mean"], stats["s2_std"])
    if 2 in by_channels and 12 in by_channels:
        by_channels[14] = (by_channels[12][0] + by_channels[2][0], by_channels[12][1] + by_channels[2][1])
    updated = 0
    for module in model.modules():
        if isinstance(module, InputNorm) and module.mean.numel() in by_channels:
            module.set_stats(*by_channels[module.mean.numel()])
            updated += 1
    return updated
