"""From features ``[B, D, h, w]`` and one reference mask to a confidence map, points and a threshold."""

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def as_float_tensor(x: Any) -> Tensor:
    """A tensor, array or nested list as a float32 tensor (a tensor stays on its device)."""
    return torch.as_tensor(x if isinstance(x, Tensor) else np.asarray(x)).float()


def binary_mask(mask: Any, name: str = "mask", shape: tuple[int, ...] | None = None) -> Tensor:
    """A mask ``[(B,) H, W]`` on a tile of ``shape`` as 0/1 ``[B, H, W]``; soft masks and label maps raise."""
    m = as_float_tensor(mask)
    m = m[None] if m.ndim == 2 else m
    if m.ndim != 3:
        raise ValueError(f"{name}: expected a mask [H, W] or [B, H, W], got shape {tuple(m.shape)}")
    if shape is not None and tuple(m.shape[-2:]) != tuple(shape):
        raise ValueError(f"{name} is {tuple(m.shape[-2:])} but the reference tile {tuple(shape)}")
    if (bad := (m != 0) & (m != 1)).any():
        raise ValueError(
            f"{name}: expected a binary mask (bool, or 0 and 1), found the value {float(m[bad][0]):g}; threshold "
            f"a soft mask first (mask >= 0.5) or pick one class of a label map (labels == k)"
        )
    return m


def mask_iou(pred: Any, true: Any) -> float:
    """Pooled IoU of boolean masks of one shape, 1.0 when both are empty (as ``xmodal_lab.eval.iou``)."""
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    union = (pred | true).sum()
    return 1.0 if union == 0 else float((pred & true).sum() / union)


def mask_coverage(mask: Tensor, grid: tuple[int, int]) -> Tensor:
    """Fraction of each feature cell covered by a pixel mask ``[B, H, W]``: ``[B, h, w]`` in ``[0, 1]``."""
    return F.adaptive_avg_pool2d(mask.float()[:, None], grid)[:, 0]


def target_embedding(features: Tensor, mask: Any, background: bool = False, weighting: str = "centre") -> Tensor:
    """Mean feature ``[D]`` inside a mask ``[(B,) H, W]``: PerSAM's target embedding (``background``: outside).

    ``weighting="centre"`` (PerSAM) counts the cells whose centre lies in the mask; ``"coverage"`` weighs each
    cell by the fraction the mask covers, steadier on coarse patch grids.
    """
    m = binary_mask(mask).to(features.device)
    if m.shape[0] != features.shape[0]:
        raise ValueError(f"mask holds {m.shape[0]} images but features {features.shape[0]}")
    grid = tuple(features.shape[-2:])
    if weighting == "coverage":
        w = mask_coverage(m, grid)
    elif weighting == "centre":
        w = (F.interpolate(m[:, None], size=grid, mode="bilinear", align_corners=False)[:, 0] >= 0.5).float()
    else:
        raise ValueError(f"weighting must be 'centre' or 'coverage', got {weighting!r}")
    w = 1.0 - w if background else w
    if w.sum() <= 0:
        what = "background (the mask covers every cell)" if background else "mask (no cell lies inside it)"
        raise ValueError(f"cannot build an embedding: empty {what}")
    return torch.einsum("bdhw,bhw->d", features, w) / w.sum()


def background_prototypes(features: Tensor, mask: Any, k: int = 4) -> Tensor:
    """Up to ``k`` unit prototypes ``[k', D]`` of the reference outside the mask (spherical k-means)."""
    m = binary_mask(mask).to(features.device)
    weight = (1.0 - mask_coverage(m, tuple(features.shape[-2:]))).reshape(-1)  # [N]
    x = F.normalize(features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]), dim=1)  # [N, D]
    keep = weight > 0.5  # the cells mostly outside the mask
    x, weight = x[keep], weight[keep]
    if len(x) == 0:
        return x
    centres = [int(weight.argmax())]  # a farthest-point start
    while len(centres) < min(k, len(x)):
        sim = (x @ x[centres].T).max(dim=1).values  # [N]
        sim[centres] = float("inf")
        centres.append(int(sim.argmin()))
    c = x[centres]
    for _ in range(10):
        onehot = F.one_hot((x @ c.T).argmax(dim=1), len(c)).float() * weight[:, None]  # [N, k]
        c = torch.where(onehot.sum(0)[:, None] > 0, F.normalize(onehot.T @ x, dim=1), c)
    return c


def cosine_confidence(features: Tensor, embedding: Tensor) -> Tensor:
    """Cosine similarity of every feature cell ``[B, D, h, w]`` with an embedding ``[D]``: ``[B, h, w]``."""
    return torch.einsum("bdhw,d->bhw", F.normalize(features, dim=1), F.normalize(embedding, dim=0))


def prototype_confidence(features: Tensor, embedding: Tensor, background: Tensor | None = None) -> Tensor:
    """Cosine to ``embedding [D]`` less that to the nearest ``background [K, D]`` prototype: ``[B, h, w]``."""
    conf = cosine_confidence(features, embedding)
    if background is None or len(background) == 0:
        return conf
    sims = torch.einsum("bdhw,kd->bkhw", F.normalize(features, dim=1), F.normalize(background, dim=1))
    return conf - sims.max(dim=1).values


def upsample_confidence(confidence: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear upsampling of a patch-level map ``[B, h, w]`` to pixels ``[B, H, W]``."""
    return F.interpolate(confidence[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def extreme_points(confidence: Tensor) -> tuple[Tensor, Tensor]:
    """PerSAM's location prior: the maximum and minimum of each map ``[B, H, W]`` as ``(x, y)`` ``[B, 2]``."""
    w, flat = confidence.shape[-1], confidence.flatten(1)  # [B, H*W]
    pos, neg = flat.argmax(dim=1), flat.argmin(dim=1)
    return torch.stack([pos % w, pos // w], dim=1), torch.stack([neg % w, neg // w], dim=1)


def best_threshold(confidence: Tensor, mask: Any) -> tuple[float, float]:
    """``(threshold, iou)``: the cut ``confidence >= threshold`` that best fits a mask, found in one pass."""
    conf = confidence.reshape(-1).float()
    truth = binary_mask(mask).reshape(-1).to(conf.device) > 0.5
    if truth.numel() != conf.numel():
        raise ValueError(f"mask has {truth.numel()} pixels but the confidence map {conf.numel()}")
    order = conf.argsort(descending=True)
    values, tp = conf[order], truth[order].float().cumsum(0)  # from the top; tp: true pixels in the top n
    n = torch.arange(1, len(conf) + 1, device=conf.device, dtype=torch.float32)
    ious = tp / (n + truth.sum() - tp)
    ious[:-1][values[1:] == values[:-1]] = -1.0  # cut after a value's last copy (ties go in together)
    k = int(ious.argmax())
    return float(values[k]), float(ious[k])
