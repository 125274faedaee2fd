"""Transformer blocks, and the ViT encoder and MAE decoder every model composes (timm's parameter names)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .masking import gather_tokens, tokens_to_map
from .positions import sincos_table


class PatchEmbed(nn.Module):
    """Cut an image ``[B, C, H, W]`` into ``p x p`` patches and project each: ``[B, L, D]``."""

    def __init__(self, in_chans: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        """Tokens ``[B, L, D]`` of an image ``[B, C, H, W]``."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head attention with an additive logit bias (how ALiBi enters); ``cross`` attends to a ``context``."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, cross: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads, self.cross = num_heads, cross
        if cross:
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        else:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, d = t.shape
        return t.view(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)  # [B, h, N, hd]

    def forward(self, x: Tensor, context: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        """Attend from ``x [B, N, D]`` to itself or to ``context [B, M, D]``, ``bias`` broadcast to the logits."""
        b, n, d = x.shape
        if self.cross:
            q = self._heads(self.q(x))
            k, v = (self._heads(t) for t in self.kv(context).chunk(2, dim=-1))
        else:
            q, k, v = (self._heads(t) for t in self.qkv(x).chunk(3, dim=-1))
        mask = None if bias is None else bias.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B, h, N, hd]
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Two-layer feed-forward network with GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N, D]`` -> ``[B, N, D]``."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm block: self-attention, optional cross-attention (one ``norm_cross`` for both sides), MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 cross: bool = False, norm_eps: float = 1e-5) -> None:  # fmt: skip
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.cross = cross
        if cross:
            self.norm_cross = nn.LayerNorm(dim, eps=norm_eps)
            self.cross_attn = Attention(dim, num_heads, qkv_bias=qkv_bias, cross=True)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, bias: Tensor | None = None, context: Tensor | None = None,
                cross_bias: Tensor | None = None) -> Tensor:  # fmt: skip
        """Run on ``x [B, N, D]`` (and ``context [B, M, D]``); the biases broadcast to the attention logits."""
        x = x + self.attn(self.norm1(x), bias=bias)
        if self.cross:
            if context is None:
                raise ValueError("this block has cross-attention: pass context=[B, M, D]")
            x = x + self.cross_attn(self.norm_cross(x), context=self.norm_cross(context), bias=cross_bias)
        return x + self.mlp(self.norm2(x))


class ViTEncoder(nn.Module):
    """ViT encoder: patch embedding, positions (sin-cos, ``pos=`` or none), class token, blocks, LayerNorm."""

    def __init__(self, in_chans: int, patch_size: int, embed_dim: int, depth: int, num_heads: int,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, norm_eps: float = 1e-5, sincos: bool = True,
                 cls_token: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.patch_size, self.out_dim, self.sincos = patch_size, embed_dim, sincos
        self.patch_embed = PatchEmbed(in_chans, patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias,
                                          norm_eps=norm_eps) for _ in range(depth))  # fmt: skip
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)

    def grid(self, x: Tensor) -> tuple[int, int]:
        """Patch grid ``(H/p, W/p)`` of an image ``[B, C, H, W]``."""
        return x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size

    def forward(self, x: Tensor, bias: Tensor | None = None, ids_keep: Tensor | None = None,
                pos: Tensor | None = None) -> Tensor:  # fmt: skip
        """Encode ``x [B, C, H, W]``, or only its patches ``ids_keep [B, K]``: ``[B, (1 +) K, D]``."""
        tokens = self.patch_embed(x)  # [B, N, D]
        if pos is None and self.sincos:
            pos = sincos_table(self.out_dim, self.grid(x), tokens.device, tokens.dtype)
        if pos is not None:
            tokens = tokens + pos.to(tokens.dtype)
        if ids_keep is not None:
            tokens = gather_tokens(tokens, ids_keep)  # [B, K, D]
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for blk in self.blocks:
            tokens = blk(tokens, bias=bias)
        return self.norm(tokens)

    def feature_map(self, x: Tensor) -> Tensor:
        """Encode every patch and lay the tokens on the grid: ``[B, D, H/p, W/p]``."""
        tokens = self(x)
        if self.cls_token is not None:
            tokens = tokens[:, 1:]
        return tokens_to_map(tokens, self.grid(x))


class MAEDecoder(nn.Module):
    """MAE decoder body from width ``in_dim`` to ``dim``; the prediction heads are each paper's own."""

    def __init__(self, in_dim: int, dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, norm_eps: float = 1e-5) -> None:  # fmt: skip
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(Block(dim, num_heads, mlp_ratio, qkv_bias=qkv_bias, norm_eps=norm_eps)
                                    for _ in range(depth))  # fmt: skip
        self.norm = nn.LayerNorm(dim, eps=norm_eps)

    def forward(self, latent: Tensor, ids_restore: Tensor, grid: tuple[int, int], pos: Tensor | None = None):
        """Decode kept tokens ``[B, K, D_enc]``, put back in order by ``ids_restore``: ``[B, N, dim]``."""
        x = self.embed(latent)  # [B, K, Dd]
        b, n = ids_restore.shape
        x = torch.cat([x, self.mask_token.expand(b, n - x.shape[1], -1)], dim=1)
        x = gather_tokens(x, ids_restore)  # [B, N, Dd] back in grid order
        if pos is None:
            pos = sincos_table(self.dim, grid, x.device, x.dtype)
        x = x + pos.to(x.dtype)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


def init_weights(module: nn.Module) -> None:
    """MAE's initialisation: Xavier-uniform linear and patch-embedding weights, zero biases, unit LayerNorm."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight.data.view(module.weight.shape[0], -1))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


__all__ = ["Attention", "Block", "MAEDecoder", "Mlp", "PatchEmbed", "ViTEncoder", "init_weights"]
