"""Building blocks shared by every model of the kit.

Patch embedding, sin-cos positional encodings (plain and GSD-scaled as in Scale-MAE), attention with an
additive bias (for ALiBi), a pre-norm transformer block, masking and patch (un)folding.

Shapes: images ``[B, C, H, W]``, tokens ``[B, L, D]`` with ``L = (H / p) * (W / p)`` for patch size ``p``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def check_image(x: Tensor, channels: int, patch_size: int, name: str = "image") -> None:
    """Raise a clear error unless ``x`` is a finite ``[B, channels, H, W]`` tensor with H, W multiples of p.

    Args:
        x: the input ``[B, C, H, W]``.
        channels: expected number of channels.
        patch_size: H and W must be multiples of it.
        name: how to call the input in the message (``"s1"``, ``"s2"``).

    Raises:
        ValueError: on a wrong rank, channel count, size or non-finite values.
    """
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a [B, C, H, W] tensor, got shape {tuple(x.shape)}")
    _, c, h, w = x.shape
    if c != channels:
        raise ValueError(f"{name}: expected {channels} channels, got {c} (shape {tuple(x.shape)})")
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"{name}: height and width must be multiples of the patch size {patch_size}, got {h}x{w}"
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or infinite values; fill or mask them before the model")


class PatchEmbed(nn.Module):
    """Cut an image into non-overlapping patches and project each to ``embed_dim``.

    Args:
        in_chans: input channels.
        patch_size: side of a square patch in pixels.
        embed_dim: token width.
    """

    def __init__(self, in_chans: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        """Embed patches.

        Args:
            x: image ``[B, C, H, W]``.

        Returns:
            Tokens ``[B, (H/p)*(W/p), D]`` in row-major patch order.
        """
        return self.proj(x).flatten(2).transpose(1, 2)


def sincos_1d(embed_dim: int, pos: Tensor) -> Tensor:
    """1-D sin-cos encoding of positions (Transformer / MAE convention: sines first, then cosines).

    Args:
        embed_dim: output width, even.
        pos: positions ``[N]`` (any real values).

    Returns:
        Encoding ``[N, embed_dim]``.
    """
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got {embed_dim}")
    omega = torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega  # [D/2]
    out = pos.reshape(-1).to(torch.float64)[:, None] * omega[None, :]  # [N, D/2]
    return torch.cat([out.sin(), out.cos()], dim=1).float()


def sincos_2d_from_grid(embed_dim: int, grid_h: Tensor, grid_w: Tensor) -> Tensor:
    """2-D sin-cos encoding: half the channels encode the row coordinate, half the column.

    Follows the MAE reference code, in which the first half encodes the *column* coordinate (``w``)
    and the second half the row coordinate (``h``).

    Args:
        embed_dim: output width, a multiple of 4.
        grid_h: row coordinate of each patch ``[N]``.
        grid_w: column coordinate of each patch ``[N]``.

    Returns:
        Encoding ``[N, embed_dim]``.
    """
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be a multiple of 4 for a 2-D sin-cos encoding, got {embed_dim}")
    return torch.cat([sincos_1d(embed_dim // 2, grid_w), sincos_1d(embed_dim // 2, grid_h)], dim=1)


def sincos_2d_pos_embed(embed_dim: int, grid_size: int | tuple[int, int]) -> Tensor:
    """Fixed 2-D sin-cos positional encoding of a patch grid (MAE).

    Args:
        embed_dim: token width, a multiple of 4.
        grid_size: patches per side, or ``(rows, cols)``.

    Returns:
        Encoding ``[rows * cols, embed_dim]`` in row-major patch order.
    """
    return gsd_sincos_pos_embed(embed_dim, grid_size, 1.0)


def gsd_sincos_pos_embed(embed_dim: int, grid_size: int | tuple[int, int], res: float | Tensor) -> Tensor:
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

    Returns:
        ``[rows * cols, embed_dim]`` for a number, ``[B, rows * cols, embed_dim]`` for a ``[B]`` tensor.
    """
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    gh, gw = torch.meshgrid(
        torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64), indexing="ij"
    )
    gh, gw = gh.reshape(-1), gw.reshape(-1)  # [N]
    if isinstance(res, Tensor) and res.ndim > 0:
        r = res.detach().reshape(-1, 1).to("cpu", torch.float64)  # [B, 1]
        n_img, n_tok = r.shape[0], gh.shape[0]
        emb = sincos_2d_from_grid(embed_dim, (r * gh).reshape(-1), (r * gw).reshape(-1))
        return emb.reshape(n_img, n_tok, embed_dim)
    r = float(res)
    return sincos_2d_from_grid(embed_dim, gh * r, gw * r)


class Attention(nn.Module):
    """Multi-head attention with an optional additive bias, through ``F.scaled_dot_product_attention``.

    Self-attention when ``context`` is None, cross-attention (queries from ``x``, keys and values from
    ``context``) otherwise. The bias is added to the attention logits, which is how ALiBi is applied; on a
    GPU the fused kernels are used.

    Args:
        dim: token width.
        num_heads: heads; ``dim`` must be divisible by it.
        qkv_bias: learn a bias in the query/key/value projections.
        cross: separate query and key/value projections (cross-attention).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, cross: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.cross = cross
        if cross:
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        else:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # [B, h, N, hd]

    def forward(self, x: Tensor, context: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        """Attend.

        Args:
            x: queries ``[B, N, D]``.
            context: keys and values ``[B, M, D]`` (cross-attention only).
            bias: additive logit bias broadcastable to ``[B, heads, N, M]``.

        Returns:
            ``[B, N, D]``.
        """
        b, n, d = x.shape
        if self.cross:
            if context is None:
                raise ValueError("cross-attention needs a context")
            q = self._heads(self.q(x))
            k, v = (self._heads(t) for t in self.kv(context).chunk(2, dim=-1))
        else:
            q, k, v = (self._heads(t) for t in self.qkv(x).chunk(3, dim=-1))
        if bias is not None:
            bias = bias.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # [B, h, N, hd]
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Two-layer feed-forward network with GELU.

    Args:
        dim: token width.
        hidden: hidden width.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP to tokens ``[B, N, D]``; returns ``[B, N, D]``."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, optional cross-attention, MLP; each with a residual.

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        qkv_bias: learn biases in the attention projections.
        cross: add a cross-attention sub-layer (queries from ``x``, keys/values from a context).
        norm_eps: LayerNorm epsilon (timm ViTs, hence Scale-MAE, use 1e-6).
        norm_context: also pass the context through ``norm_cross`` before cross-attention, as CROMA
            does (one LayerNorm shared by queries and context).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        cross: bool = False,
        norm_eps: float = 1e-5,
        norm_context: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.cross = cross
        self.norm_context = norm_context
        if cross:
            self.norm_cross = nn.LayerNorm(dim, eps=norm_eps)
            self.cross_attn = Attention(dim, num_heads, qkv_bias=qkv_bias, cross=True)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(
        self,
        x: Tensor,
        bias: Tensor | None = None,
        context: Tensor | None = None,
        cross_bias: Tensor | None = None,
    ) -> Tensor:
        """Run the block.

        Args:
            x: tokens ``[B, N, D]``.
            bias: self-attention logit bias, broadcastable to ``[B, heads, N, N]``.
            context: tokens ``[B, M, D]`` to cross-attend (only for ``cross=True``).
            cross_bias: cross-attention logit bias, broadcastable to ``[B, heads, N, M]``.

        Returns:
            ``[B, N, D]``.
        """
        x = x + self.attn(self.norm1(x), bias=bias)
        if self.cross:
            if context is None:
                raise ValueError("this block has cross-attention: pass context=[B, M, D]")
            if self.norm_context:
                context = self.norm_cross(context)
            x = x + self.cross_attn(self.norm_cross(x), context=context, bias=cross_bias)
        return x + self.mlp(self.norm2(x))


def patchify(x: Tensor, patch_size: int) -> Tensor:
    """Fold an image into flattened patches.

    Args:
        x: image ``[B, C, H, W]``.
        patch_size: patch side ``p``.

    Returns:
        ``[B, L, p * p * C]`` with ``L = (H/p) * (W/p)``, pixel order ``(p, p, C)`` as in MAE.
    """
    b, c, h, w = x.shape
    p = patch_size
    x = x.reshape(b, c, h // p, p, w // p, p)
    x = torch.einsum("bchpwq->bhwpqc", x)  # [B, H/p, W/p, p, p, C]
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(x: Tensor, patch_size: int, channels: int, grid: tuple[int, int]) -> Tensor:
    """Inverse of :func:`patchify`.

    Args:
        x: patches ``[B, L, p * p * C]``.
        patch_size: patch side ``p``.
        channels: ``C``.
        grid: ``(H/p, W/p)``.

    Returns:
        Image ``[B, C, H, W]``.
    """
    b = x.shape[0]
    gh, gw = grid
    p = patch_size
    x = x.reshape(b, gh, gw, p, p, channels)
    x = torch.einsum("bhwpqc->bchpwq", x)  # [B, C, H/p, p, W/p, p]
    return x.reshape(b, channels, gh * p, gw * p)


def random_masking(
    n_batch: int,
    n_tokens: int,
    mask_ratio: float,
    device: torch.device | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Draw an MAE random mask: the same number of kept tokens in every image.

    Args:
        n_batch: ``B``.
        n_tokens: ``L``.
        mask_ratio: fraction of tokens to hide, in ``[0, 1)``.
        device: where to draw.
        generator: optional random generator for repeatable masks.

    Returns:
        ``ids_keep [B, K]`` (sorted kept indices), ``mask [B, L]`` (1 = hidden, 0 = kept) and
        ``ids_restore [B, L]`` (undo the keep-first shuffle), with ``K = round(L * (1 - mask_ratio))``.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    n_keep = max(1, int(round(n_tokens * (1.0 - mask_ratio))))
    noise = torch.rand(n_batch, n_tokens, device=device, generator=generator)
    ids_shuffle = noise.argsort(dim=1)
    ids_keep = ids_shuffle[:, :n_keep].sort(dim=1).values  # [B, K]
    mask = torch.ones(n_batch, n_tokens, device=device)
    mask.scatter_(1, ids_keep, 0.0)
    ids_restore = torch.cat([ids_keep, mask.argsort(dim=1, stable=True)[:, n_keep:]], dim=1).argsort(dim=1)
    return ids_keep, mask, ids_restore


def gather_tokens(x: Tensor, ids: Tensor) -> Tensor:
    """Select tokens by index per image.

    Args:
        x: tokens ``[B, L, D]``.
        ids: indices ``[B, K]``.

    Returns:
        ``[B, K, D]``.
    """
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class InputNorm(nn.Module):
    """Per-band standardisation stored in the model, so checkpoints carry their normalisation.

    Models take physical units (Sentinel-1 dB, Sentinel-2 reflectance) and standardise them here.

    Args:
        mean: per-band means ``[C]``.
        std: per-band standard deviations ``[C]``.
    """

    def __init__(self, mean: list[float] | Tensor, std: list[float] | Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def set_stats(self, mean: list[float] | Tensor, std: list[float] | Tensor) -> None:
        """Replace the statistics (for example with ones computed on the training set)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1).clamp_min(1e-6))

    def forward(self, x: Tensor) -> Tensor:
        """Standardise ``[B, C, H, W]``; returns the same shape."""
        return (x - self.mean) / self.std


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


def tokens_to_map(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """Lay row-major patch tokens back on their grid, as a feature map.

    Args:
        x: tokens ``[B, rows * cols, D]``.
        grid: ``(rows, cols)``.

    Returns:
        ``[B, D, rows, cols]``.
    """
    b, n, d = x.shape
    if n != grid[0] * grid[1]:
        raise ValueError(f"{n} tokens do not fill a {grid[0]}x{grid[1]} grid")
    return x.transpose(1, 2).reshape(b, d, grid[0], grid[1])


def batch_item(batch: dict, key: str, owner: str) -> Tensor:
    """Fetch a tensor from a batch dict with an error that names the missing key.

    Args:
        batch: the pair batch (``s1``, ``s2``, ``gsd``, ...).
        key: the key the model needs.
        owner: the model's name, for the message.

    Returns:
        ``batch[key]``.

    Raises:
        KeyError: when the key is absent or None.
    """
    if not isinstance(batch, dict):
        raise TypeError(
            f"{owner}.forward expects the batch dict of the data layer, got {type(batch).__name__}"
        )
    value = batch.get(key)
    if value is None:
        raise KeyError(f"{owner}.forward needs batch['{key}'] (keys present: {sorted(batch)})")
    return value


#: CLIP caps the learnable logit scale (inverse temperature) at 100, i.e. a temperature of 0.01.
MAX_LOGIT_SCALE = 100.0


class LogitScale(nn.Module):
    """CLIP's learnable inverse temperature: stored as a log, initialised at ``1 / 0.07``, capped at 100.

    The cap is applied to the value used (``exp(log_scale).clamp(max=100)``), so the stored parameter
    never has to be edited in place and the scale cannot grow without bound.

    Args:
        init_temperature: starting temperature ``tau`` (CLIP and CROMA: 0.07).
        max_scale: upper bound of ``1 / tau``.
    """

    def __init__(self, init_temperature: float = 0.07, max_scale: float = MAX_LOGIT_SCALE) -> None:
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f"init_temperature must be positive, got {init_temperature}")
        self.max_scale = max_scale
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def forward(self) -> Tensor:
        """Return the scalar logit scale ``min(exp(log_scale), max_scale)``."""
        return self.log_scale.exp().clamp(max=self.max_scale)


def info_nce(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> tuple[Tensor, Tensor]:
    """Symmetric InfoNCE (CLIP loss) with in-batch negatives: pair ``i`` of ``a`` matches pair ``i`` of ``b``.

    Args:
        a: L2-normalised embeddings ``[B, D]`` (for example radar).
        b: L2-normalised embeddings ``[B, D]`` (for example optical).
        logit_scale: inverse temperature (scalar).

    Returns:
        ``loss`` (scalar, the mean of the a->b and b->a cross-entropies) and ``logits [B, B]``
        (``logits[i, j] = scale * <a_i, b_j>``).
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"info_nce needs two [B, D] tensors of equal shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    logits = logit_scale * a @ b.t()  # [B, B]
    target = torch.arange(a.shape[0], device=a.device)
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    return loss, logits


def init_weights(module: nn.Module) -> None:
    """Xavier-uniform linear layers, zero biases, unit LayerNorm (MAE's initialisation)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        w = module.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


__all__ = [
    "Attention",
    "Block",
    "batch_item",
    "InputNorm",
    "LogitScale",
    "MAX_LOGIT_SCALE",
    "Mlp",
    "PatchEmbed",
    "alibi_2d_bias",
    "alibi_slopes",
    "check_image",
    "gather_tokens",
    "gsd_sincos_pos_embed",
    "info_nce",
    "init_weights",
    "patch_distances",
    "patchify",
    "random_masking",
    "sincos_1d",
    "sincos_2d_from_grid",
    "sincos_2d_pos_embed",
    "tokens_to_map",
    "unpatchify",
]
