"""Sinkhorn-Knopp balanced assignment, and balanced clustering built on it.

The Sinkhorn-Knopp algorithm (Cuturi, 2013; used for self-labelling in SwAV, Caron et al., 2020) turns a score
matrix ``M [N, K]`` (N items, K centres) into a *transport plan* ``Q = diag(u) exp(M / eps) diag(v)`` whose rows
sum to ``1 / N`` and whose columns sum to ``1 / K``: every item is fully assigned, and every centre receives the
same share of the items. The balance constraint is what keeps prototypes or clusters from collapsing onto one
centre, which a plain argmax or softmax would allow. SkySense uses it to assign fused features to a region's
geo-context prototypes; here it also drives the balanced k-means that finds "objects" in a feature map.

Shapes: scores ``[..., N, K]``; a leading batch of independent problems is allowed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def sinkhorn(scores: Tensor, eps: float = 0.05, n_iters: int = 3) -> Tensor:
    """Balanced transport plan between N items and K centres (Sinkhorn-Knopp).

    Alternately rescales the columns to ``1 / K`` and the rows to ``1 / N``; the last step fixes the rows, so
    row sums are exact and column sums converge to ``1 / K`` as ``n_iters`` grows (three iterations, as in
    SwAV, are close enough for training). Computed in float64 from ``exp((M - max M) / eps)`` for stability.

    Args:
        scores: similarities ``[..., N, K]`` (for example cosine similarities, in ``[-1, 1]``).
        eps: entropic regularisation; smaller is closer to a hard assignment.
        n_iters: number of (column, row) normalisation rounds, at least 1.

    Returns:
        Plan ``Q [..., N, K]``, non-negative, rows summing to ``1 / N``, columns to about ``1 / K``.
        ``Q * N`` is a soft assignment of each item (rows sum to 1); ``Q * K`` weights each centre's items
        (columns sum to 1), so ``(Q * K)^T X`` are the centres' weighted means.
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
    """``k`` evenly spaced indices in ``range(n_items)`` (k-means seeds spread over a row-major grid).

    Args:
        n_items: number of items ``N``.
        k: number of indices, at most ``N``.

    Returns:
        ``[k]`` int64.
    """
    if not 1 <= k <= n_items:
        raise ValueError(f"cannot pick {k} seeds among {n_items} items")
    return torch.linspace(0, n_items - 1, k).round().long()


@torch.no_grad()
def sinkhorn_kmeans(
    x: Tensor, k: int, n_steps: int = 3, eps: float = 0.05, n_iters: int = 3
) -> tuple[Tensor, Tensor]:
    """Balanced spherical k-means of each set of vectors: Sinkhorn assignments, weighted-mean centres.

    Seeds are ``k`` evenly spaced items (on a row-major feature map: spread over the image); each step assigns
    the items to the centres by Sinkhorn on cosine similarity and moves each centre to its items' weighted mean.
    Used without gradients, on the teacher's features: it only decides *which* pixels form an object.

    Args:
        x: ``[B, N, D]``, B independent sets of N vectors.
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
    assign = None
    for _ in range(max(1, n_steps)):
        plan = sinkhorn(xn @ centres.transpose(1, 2), eps, n_iters)  # [B, N, k]
        centres = F.normalize((plan * k).transpose(1, 2) @ xn, dim=-1)  # [B, k, D]
        assign = plan * x.shape[1]
    return assign, centres


__all__ = ["sinkhorn", "sinkhorn_kmeans", "spread_indices"]
