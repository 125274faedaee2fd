"""Where a patch is: sin-cos encodings (plain and GSD-scaled, in float64) and CROMA's 2D-ALiBi biases."""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor


def _sincos_1d(embed_dim: int, pos: Tensor, dtype: torch.dtype) -> Tensor:
    steps = torch.arange(embed_dim // 2, dtype=pos.dtype, device=pos.device)
    omega = 1.0 / 10000 ** (steps / (embed_dim / 2.0))
    out = pos[:, None] * omega[None, :]  # [N, D/2]
    return torch.cat([out.sin(), out.cos()], dim=1).to(dtype)


def gsd_sincos_pos_embed(embed_dim: int, grid_size: int | tuple[int, int], res: float | Tensor,
                         device: torch.device | str | None = None,
                         dtype: torch.dtype = torch.float32) -> Tensor:  # fmt: skip
    """2-D sin-cos encoding ``[N, D]`` (``[B, N, D]`` for ``res [B]``) of coordinates scaled by ``res``."""
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be a multiple of 4 for a 2-D sin-cos encoding, got {embed_dim}")
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    if device is None:
        device = res.device if isinstance(res, Tensor) else "cpu"
    device = torch.device(device)
    cd = torch.float32 if device.type == "mps" else torch.float64
    kw = {"dtype": cd, "device": device}
    gh, gw = torch.meshgrid(torch.arange(rows, **kw), torch.arange(cols, **kw), indexing="ij")
    batched = isinstance(res, Tensor) and res.ndim > 0
    r = res.detach().reshape(-1, 1).to(device, cd) if batched else float(res)  # [B, 1] or a number
    gh, gw = (r * gh.reshape(-1)).reshape(-1), (r * gw.reshape(-1)).reshape(-1)  # [B * N] or [N]
    half = embed_dim // 2
    emb = torch.cat([_sincos_1d(half, gw, dtype), _sincos_1d(half, gh, dtype)], dim=1)
    return emb.reshape(-1, rows * cols, embed_dim) if batched else emb


@functools.lru_cache(maxsize=128)
def _table(embed_dim: int, grid: tuple[int, int], res: float, device: torch.device, dtype: torch.dtype):
    # a plain tensor even when first asked for under torch.inference_mode, so training can reuse it
    with torch.inference_mode(False), torch.no_grad():
        return gsd_sincos_pos_embed(embed_dim, grid, res, device, dtype)


def sincos_table(embed_dim: int, grid: tuple[int, int], device: torch.device | str, dtype: torch.dtype,
                 res: float = 1.0) -> Tensor:  # fmt: skip
    """The cached encoding ``[rows * cols, embed_dim]`` of a grid at GSD ratio ``res``; never modify it in place."""
    return _table(int(embed_dim), (int(grid[0]), int(grid[1])), float(res), torch.device(device), dtype)


def alibi_slopes(num_heads: int) -> Tensor:
    """ALiBi's per-head slopes ``[num_heads]``: ``2^(-8k/n)``, interleaved when ``n`` is not a power of two."""
    if num_heads < 1:
        raise ValueError(f"num_heads must be a positive integer, got {num_heads}")

    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * k / n) for k in range(1, n + 1)]

    m = 2 ** math.floor(math.log2(num_heads))
    return torch.tensor(geometric(m) + geometric(2 * m)[0::2][: num_heads - m])


def patch_distances(grid: tuple[int, int]) -> Tensor:
    """Euclidean distance between every pair of patch positions of a ``(rows, cols)`` grid: ``[N, N]``."""
    ys, xs = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    pos = torch.stack([ys.reshape(-1), xs.reshape(-1)], dim=1).float()  # [N, 2] row-major
    return torch.cdist(pos, pos)


def alibi_2d_bias(num_heads: int, grid: tuple[int, int]) -> Tensor:
    """CROMA's 2D-ALiBi: ``-slope_h * distance(i, j)`` for every head and patch pair, ``[1, heads, N, N]``."""
    return -(alibi_slopes(num_heads)[:, None, None] * patch_distances(grid)[None]).unsqueeze(0)


def masked_alibi(bias: Tensor, ids_query: Tensor, ids_key: Tensor) -> Tensor:
    """The bias ``[B, heads, Kq, Kk]`` of kept queries and keys (X-ALiBi when they differ)."""
    return bias[0][:, ids_query[:, :, None], ids_key[:, None, :]].transpose(0, 1)  # [B, heads, Kq, Kk]


__all__ = ["alibi_2d_bias", "alibi_slopes", "gsd_sincos_pos_embed", "masked_alibi", "patch_distances",
           "sincos_table"]  # fmt: skip
