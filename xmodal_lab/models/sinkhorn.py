"""Sinkhorn-Knopp balanced assignment (Cuturi, 2013; SwAV, Caron et al., 2020) and balanced k-means on it.

Sinkhorn turns scores ``M [N, K]`` into a transport plan ``Q = diag(u) exp(M / eps) diag(v)`` whose rows sum to
``1 / N`` and columns to ``1 / K``: every item is assigned and every centre gets the same share, which keeps
prototypes and clusters from collapsing onto one centre. SkySense assigns features to its geo-context
prototypes with it, and groups a feature map into "objects" with the balanced k-means.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def sinkhorn(scores: Tensor, eps: float = 0.05, n_iters: int = 3) -> Tensor:
    """Balanced transport plan between N items and K centres.

    Alternately rescales columns to ``1 / K`` and rows to ``1 / N`` (rows last, so row sums are exact), in
    float64 from ``exp((M - max M) / eps)``.

    Args:
        scores: similarities ``[..., N, K]`` (a leading batch of independent problems is allowed).
        eps: entropic regularisation; smaller is closer to a hard assignment.
        n_iters: (column, row) normalisation rounds, at least 1.

    Returns:
        Plan ``Q [..., N, K]``: rows sum to ``1 / N``, columns to about ``1 / K``.
    """
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


def spread_indices(n_items: int, k: int) -> Tensor:
    """``k`` evenly spaced indices in ``range(n_items)``, ``[k]`` int64 (seeds spread over a row-major grid)."""
    if not 1 <= k <= n_items:
        raise ValueError(f"cannot pick {k} seeds among {n_items} items")
    return torch.linspace(0, n_items - 1, k).round().long()


@torch.no_grad()
def sinkhorn_kmeans(
    x: Tensor, k: int, n_steps: int = 3, eps: float = 0.05, n_iters: int = 3
) -> tuple[Tensor, Tensor]:
    """Balanced spherical k-means: Sinkhorn assignments on cosine similarity, weighted-mean centres.

    Args:
        x: ``[B, N, D]``, B independent sets of N vectors (seeded at k evenly spaced items).
        k: clusters per set.
        n_steps: assignment/update rounds.
        eps: Sinkhorn regularisation.
        n_iters: Sinkhorn iterations per round.

    Returns:
        ``assign [B, N, k]`` (rows sum to 1) and ``centres [B, k, D]`` (unit norm).
    """
    if x.ndim != 3:
        raise ValueError(f"sinkhorn_kmeans needs [B, N, D] vectors, got shape {tuple(x.shape)}")
    xn = F.normalize(x.detach().float(), dim=-1)
    centres = xn[:, spread_indices(x.shape[1], k)]  # [B, k, D]
    for _ in range(max(1, n_steps)):
        plan = sinkhorn(xn @ centres.transpose(1, 2), eps, n_iters)  # [B, N, k]
        centres = F.normalize((plan * k).transpose(1, 2) @ xn, dim=-1)  # [B, k, D]
    return plan * x.shape[1], centres


__all__ = ["sinkhorn", "sinkhorn_kmeans", "spread_indices"]
