"""Sinkhorn-Knopp balanced assignment (Cuturi, 2013; SwAV) and balanced spherical k-means on it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def sinkhorn(scores: Tensor, eps: float = 0.05, n_iters: int = 3) -> Tensor:
    """Balanced plan ``Q [..., N, K]`` of scores: rows sum to ``1 / N``, columns about ``1 / K``."""
    if scores.ndim < 2:
        raise ValueError(f"sinkhorn needs scores [..., N, K], got shape {tuple(scores.shape)}")
    if eps <= 0 or n_iters < 1:
        raise ValueError(f"sinkhorn needs eps > 0 and n_iters >= 1, got eps={eps}, n_iters={n_iters}")
    n, k = scores.shape[-2:]
    logits = scores.detach().to(torch.float64) / eps
    q = torch.exp(logits - logits.amax(dim=(-2, -1), keepdim=True))
    q = q / q.sum(dim=(-2, -1), keepdim=True)
    for _ in range(n_iters):
        q = q / (q.sum(dim=-2, keepdim=True) * k)  # columns -> 1/K
        q = q / (q.sum(dim=-1, keepdim=True) * n)  # rows -> 1/N
    return q.to(scores.dtype)


@torch.no_grad()
def sinkhorn_kmeans(x: Tensor, k: int, n_steps: int = 3, eps: float = 0.05, n_iters: int = 3):
    """Balanced spherical k-means of ``x [B, N, D]``: ``assign [B, N, k]`` and unit ``centres [B, k, D]``."""
    if x.ndim != 3 or not 1 <= k <= x.shape[1]:
        raise ValueError(f"sinkhorn_kmeans needs [B, N, D] and 1 <= k <= N, got {tuple(x.shape)}, k={k}")
    xn = F.normalize(x.detach().float(), dim=-1)
    centres = xn[:, torch.linspace(0, x.shape[1] - 1, k).round().long()]  # [B, k, D], spread over the grid
    for _ in range(max(1, n_steps)):
        plan = sinkhorn(xn @ centres.transpose(1, 2), eps, n_iters)  # [B, N, k]
        centres = F.normalize((plan * k).transpose(1, 2) @ xn, dim=-1)  # [B, k, D]
    return plan * x.shape[1], centres


__all__ = ["sinkhorn", "sinkhorn_kmeans"]
