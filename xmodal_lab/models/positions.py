"""Positional information: sin-cos encodings (plain, and GSD-scaled as in Scale-MAE) and CROMA's ALiBi biases.

Encodings are computed where the model runs (``device``) and returned in its ``dtype``; the arithmetic is
float64 wherever the device has it (CPU, CUDA), so a GPU gives the CPU's numbers without a host round trip.
:func:`sincos_table` caches the encoding of a ``(width, grid, GSD ratio, device, dtype)``: a model that sees
the same tile size and GSD step after step computes it once.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor


def _compute_dtype(device: torch.device) -> torch.dtype:
    # Apple's MPS has no float64; everywhere else the encoding is computed in double precision
    return torch.float32 if device.type == "mps" else torch.float64


def sincos_1d(embed_dim: int, pos: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """1-D sin-cos encoding of positions (Transformer / MAE convention: sines first, then cosines).

    Args:
        embed_dim: output width, even.
        pos: positions ``[N]`` (any real values), on the device where the encoding is wanted.
        dtype: dtype of the result.

    Returns:
        Encoding ``[N, embed_dim]`` on ``pos.device``.
    """
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got {embed_dim}")
    cd = _compute_dtype(pos.device)
    omega = torch.arange(embed_dim // 2, dtype=cd, device=pos.device) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega  # [D/2]
    out = pos.reshape(-1).to(cd)[:, None] * omega[None, :]  # [N, D/2]
    return torch.cat([out.sin(), out.cos()], dim=1).to(dtype)


def sincos_2d_from_grid(
    embed_dim: int, grid_h: Tensor, grid_w: Tensor, dtype: torch.dtype = torch.float32
) -> Tensor:
    """2-D sin-cos encoding: half the channels encode the row coordinate, half the column.

    Follows the MAE reference code, in which the first half encodes the *column* coordinate (``w``)
    and the second half the row coordinate (``h``).

    Args:
        embed_dim: output width, a multiple of 4.
        grid_h: row coordinate of each patch ``[N]``.
        grid_w: column coordinate of each patch ``[N]``.
        dtype: dtype of the result.

    Returns:
        Encoding ``[N, embed_dim]``.
    """
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be a multiple of 4 for a 2-D sin-cos encoding, got {embed_dim}")
    half = embed_dim // 2
    return torch.cat([sincos_1d(half, grid_w, dtype), sincos_1d(half, grid_h, dtype)], dim=1)


def sincos_2d_pos_embed(
    embed_dim: int,
    grid_size: int | tuple[int, int],
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Fixed 2-D sin-cos positional encoding of a patch grid (MAE).

    Args:
        embed_dim: token width, a multiple of 4.
        grid_size: patches per side, or ``(rows, cols)``.
        device: where to build it (default: CPU).
        dtype: dtype of the result.

    Returns:
        Encoding ``[rows * cols, embed_dim]`` in row-major patch order.
    """
    return gsd_sincos_pos_embed(embed_dim, grid_size, 1.0, device, dtype)


def gsd_sincos_pos_embed(
    embed_dim: int,
    grid_size: int | tuple[int, int],
    res: float | Tensor,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Scale-MAE's GSD positional encoding: patch coordinates times ``res`` before the sin-cos.

    Scale-MAE writes ``v(pos) = sin((g / G) * pos / 10000^(2i/D))``: ``g`` is the image's ground sample
    distance and ``G`` a reference GSD. We pass their ratio ``res = g / G``. Convention of this kit: the
    reference GSD is the native GSD the model was pretrained at (10 m for Sentinel-2 by default, see
    ``ScaleMAEConfig.reference_gsd``), so an image at its native resolution (``res = 1``) gets exactly the
    plain MAE encoding, and a 40 m image gets coordinates 4x further apart: a patch covering more ground
    is encoded as being further away.

    Args:
        embed_dim: token width, a multiple of 4.
        grid_size: patches per side, or ``(rows, cols)``.
        res: ratio image GSD / reference GSD: a number, or a tensor ``[B]`` for one ratio per image.
        device: where to build it (default: the device of a ``res`` tensor, else CPU).
        dtype: dtype of the result.

    Returns:
        ``[rows * cols, embed_dim]`` for a number, ``[B, rows * cols, embed_dim]`` for a ``[B]`` tensor.
    """
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    if device is None:
        device = res.device if isinstance(res, Tensor) else torch.device("cpu")
    device = torch.device(device)
    cd = _compute_dtype(device)
    gh, gw = torch.meshgrid(
        torch.arange(rows, dtype=cd, device=device),
        torch.arange(cols, dtype=cd, device=device),
        indexing="ij",
    )
    gh, gw = gh.reshape(-1), gw.reshape(-1)  # [N]
    if isinstance(res, Tensor) and res.ndim > 0:
        r = res.detach().reshape(-1, 1).to(device, cd)  # [B, 1]
        n_img, n_tok = r.shape[0], gh.shape[0]
        emb = sincos_2d_from_grid(embed_dim, (r * gh).reshape(-1), (r * gw).reshape(-1), dtype)
        return emb.reshape(n_img, n_tok, embed_dim)
    r = float(res)
    return sincos_2d_from_grid(embed_dim, gh * r, gw * r, dtype)


@functools.lru_cache(maxsize=128)
def _table(
    embed_dim: int, grid: tuple[int, int], res: float, device: torch.device, dtype: torch.dtype
) -> Tensor:
    # a plain tensor even when first asked for under torch.inference_mode, so training can reuse it
    with torch.inference_mode(False), torch.no_grad():
        return gsd_sincos_pos_embed(embed_dim, grid, res, device, dtype)


def sincos_table(
    embed_dim: int,
    grid: tuple[int, int],
    device: torch.device | str,
    dtype: torch.dtype,
    res: float = 1.0,
) -> Tensor:
    """The cached (GSD-scaled) sin-cos encoding of a patch grid, built once per device and dtype.

    Args:
        embed_dim: token width, a multiple of 4.
        grid: ``(rows, cols)``.
        device: where the model runs.
        dtype: the model's activation dtype.
        res: GSD ratio (1 = the plain MAE encoding).

    Returns:
        ``[rows * cols, embed_dim]``; shared between calls, never modify it in place.
    """
    return _table(int(embed_dim), (int(grid[0]), int(grid[1])), float(res), torch.device(device), dtype)


def alibi_slopes(num_heads: int) -> Tensor:
    """ALiBi's per-head slopes, as in the ALiBi paper's official code (Press et al., 2022) and CROMA's.

    For ``n`` a power of two, the geometric sequence ``2^(-8 k / n)``, ``k = 1..n`` (16 heads: 2^-0.5 ... 2^-8).
    Otherwise the slopes of the closest smaller power of two ``m`` come first, followed by every other slope
    of ``2m`` heads (its 1st, 3rd, ...) until ``n`` are taken: 6 heads give ``2^-2, 2^-4, 2^-6, 2^-8, 2^-1,
    2^-3``. (torchgeo's ``get_2dalibi`` uses the geometric formula for every ``n``; the two agree on powers of
    two, which all the published CROMA models use.)

    Args:
        num_heads: number of heads ``n``.

    Returns:
        ``[num_heads]``.
    """
    if num_heads < 1:
        raise ValueError(f"num_heads must be a positive integer, got {num_heads}")

    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * k / n) for k in range(1, n + 1)]

    m = 2 ** math.floor(math.log2(num_heads))
    slopes = geometric(m) + geometric(2 * m)[0::2][: num_heads - m]
    return torch.tensor(slopes)


def patch_distances(grid: tuple[int, int]) -> Tensor:
    """Euclidean distance between every pair of patch positions on a grid, in patch units.

    Args:
        grid: ``(rows, cols)``.

    Returns:
        ``[rows * cols, rows * cols]`` in row-major patch order.
    """
    rows, cols = grid
    ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    pos = torch.stack([ys.reshape(-1), xs.reshape(-1)], dim=1).float()  # [N, 2]
    return torch.cdist(pos, pos)


def alibi_2d_bias(num_heads: int, grid: tuple[int, int]) -> Tensor:
    """CROMA's 2D-ALiBi bias: ``-slope_h * distance(i, j)`` for every head and patch pair.

    Args:
        num_heads: attention heads.
        grid: ``(rows, cols)`` of the patch grid.

    Returns:
        ``[1, heads, N, N]`` with ``N = rows * cols``.
    """
    return -(alibi_slopes(num_heads)[:, None, None] * patch_distances(grid)[None]).unsqueeze(0)


def masked_alibi(bias: Tensor, ids_query: Tensor, ids_key: Tensor) -> Tensor:
    """Gather a full ALiBi matrix for the kept patches of a query and a key sequence (X-ALiBi when they differ).

    Args:
        bias: full bias ``[1, heads, N, N]``.
        ids_query: kept query patch indices ``[B, Kq]``.
        ids_key: kept key patch indices ``[B, Kk]``.

    Returns:
        ``[B, heads, Kq, Kk]`` with entry ``[b, h, i, j] = bias[0, h, ids_query[b, i], ids_key[b, j]]``.
    """
    picked = bias[0][:, ids_query[:, :, None], ids_key[:, None, :]]  # [heads, B, Kq, Kk]
    return picked.transpose(0, 1)


__all__ = [
    "alibi_2d_bias",
    "alibi_slopes",
    "gsd_sincos_pos_embed",
    "masked_alibi",
    "patch_distances",
    "sincos_1d",
    "sincos_2d_from_grid",
    "sincos_2d_pos_embed",
    "sincos_table",
]
