"""MAE token bookkeeping on tokens ``[B, L, D]`` in row-major patch order: masking, gathering, folding."""

from __future__ import annotations

import torch
from torch import Tensor


def patchify(x: Tensor, patch_size: int) -> Tensor:
    """Fold an image ``[B, C, H, W]`` into patches ``[B, L, p * p * C]``, pixel order ``(p, p, C)`` as in MAE."""
    b, c, h, w = x.shape
    p = patch_size
    x = x.reshape(b, c, h // p, p, w // p, p)
    x = torch.einsum("bchpwq->bhwpqc", x)  # [B, H/p, W/p, p, p, C]
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def random_masking(n_batch: int, n_tokens: int, mask_ratio: float, device: torch.device | None = None,
                   generator=None) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """MAE random mask of ``L`` tokens: ``ids_keep [B, K]`` (sorted), ``mask [B, L]``, ``ids_restore``."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    n_keep = max(1, int(round(n_tokens * (1.0 - mask_ratio))))
    noise = torch.rand(n_batch, n_tokens, device=device, generator=generator)
    ids_keep = noise.argsort(dim=1)[:, :n_keep].sort(dim=1).values  # [B, K]
    mask = torch.ones(n_batch, n_tokens, device=device)
    mask.scatter_(1, ids_keep, 0.0)
    ids_restore = torch.cat([ids_keep, mask.argsort(dim=1, stable=True)[:, n_keep:]], dim=1).argsort(dim=1)
    return ids_keep, mask, ids_restore


def gather_tokens(x: Tensor, ids: Tensor) -> Tensor:
    """Select tokens ``[B, L, D]`` by index ``[B, K]`` per image: ``[B, K, D]``."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def tokens_to_map(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """Lay row-major tokens ``[B, rows * cols, D]`` back on their grid: ``[B, D, rows, cols]``."""
    b, n, d = x.shape
    if n != grid[0] * grid[1]:
        raise ValueError(f"{n} tokens do not fill a {grid[0]}x{grid[1]} grid")
    return x.transpose(1, 2).reshape(b, d, grid[0], grid[1])


__all__ = ["gather_tokens", "patchify", "random_masking", "tokens_to_map"]
