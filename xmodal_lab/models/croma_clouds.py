"""Cloud-token dropping for CROMA (a kit variant): cloudy optical patches get ``-inf`` ALiBi key columns."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .croma import CROMA


def cloud_tokens(cloud_mask: Tensor, patch_size: int, threshold: float = 0.5) -> Tensor:
    """Which patches ``[B, N]`` of a ``cloud_mask [B, H, W]`` (1 = cloud) are cloudier than ``threshold``."""
    if cloud_mask.ndim != 3 or cloud_mask.shape[-1] % patch_size or cloud_mask.shape[-2] % patch_size:
        raise ValueError(f"cloud_mask must be [B, H, W] with H and W multiples of {patch_size}, got "
                         f"{tuple(cloud_mask.shape)}")  # fmt: skip
    return F.avg_pool2d(cloud_mask.float()[:, None], patch_size).flatten(1) > threshold  # [B, N]


class CloudMaskedCROMA(nn.Module):
    """A CROMA (weights shared) dropping optical tokens under ``cloud_mask [B, H, W]`` or ``optical_mask``."""

    def __init__(self, model: CROMA, threshold: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        self.croma, self.threshold = model, threshold

    def _dropped(self, optical_mask, cloud_mask, b: int, grid: tuple[int, int], device) -> Tensor:
        if optical_mask is not None and cloud_mask is not None:
            raise ValueError("pass optical_mask=[B, N] or cloud_mask=[B, H, W], not both")
        p = self.croma.config.patch_size
        if cloud_mask is not None:
            cloud_mask = torch.as_tensor(cloud_mask, device=device)
            if tuple(cloud_mask.shape) != (b, grid[0] * p, grid[1] * p):
                raise ValueError(f"cloud_mask must be [B, H, W] = {(b, grid[0] * p, grid[1] * p)} like s2, "
                                 f"got {tuple(cloud_mask.shape)}")  # fmt: skip
            return cloud_tokens(cloud_mask, p, self.threshold)
        optical_mask = torch.as_tensor(optical_mask, device=device)
        if optical_mask.dtype != torch.bool or tuple(optical_mask.shape) != (b, grid[0] * grid[1]):
            raise ValueError(f"optical_mask must be bool [B, N] = {(b, grid[0] * grid[1])} (True = drop the "
                             f"patch), got {optical_mask.dtype} {tuple(optical_mask.shape)}")  # fmt: skip
        return optical_mask

    def encode(self, s1=None, s2=None, *, optical_mask=None, cloud_mask=None):
        """:meth:`CROMA.encode` with the masked optical tokens dropped; adds ``optical_dropped [B, N]``."""
        m = self.croma
        if optical_mask is None and cloud_mask is None:
            return m.encode(s1, s2)
        if s2 is None:
            raise ValueError("optical_mask / cloud_mask drop optical patches: pass s2 too")
        x1, x2, grid = m._inputs(s1, s2)
        bias = m.alibi(grid, x2.device)  # [1, heads, N, N]
        dropped = self._dropped(optical_mask, cloud_mask, x2.shape[0], grid, x2.device)  # [B, N]
        none_kept = dropped.all(dim=1)  # [B]: such tiles skip the cross-attention below
        drop = dropped & ~none_kept[:, None]
        key_bias = torch.zeros_like(drop, dtype=bias.dtype).masked_fill(drop, float("-inf"))[:, None, None, :]
        masked_bias = bias + key_bias  # [B, heads, N, N]: the dropped keys' columns at -inf

        optical = m.optical_encoder(x2, masked_bias)  # [B, N, D]
        kept = (~drop).to(optical.dtype)[..., None]  # [B, N, 1]
        gap = m.gap_ffn_optical((optical * kept).sum(dim=1) / kept.sum(dim=1))
        out = {"optical_encodings": optical, "optical_GAP": gap, "optical_dropped": dropped}
        if x1 is None:
            return out
        sar = m.radar_encoder(x1, bias)
        out["sar_encodings"], out["sar_GAP"] = sar, m.gap_ffn_radar(sar.mean(dim=1))
        gate = (~none_kept).to(sar.dtype)[:, None, None]  # [B, 1, 1]
        x = sar
        for blk in m.cross_encoder.blocks:  # the block's steps, with the cross-attention gated per tile
            x = x + blk.attn(blk.norm1(x), bias=bias)
            context = blk.norm_cross(optical)
            x = x + gate * blk.cross_attn(blk.norm_cross(x), context=context, bias=masked_bias)
            x = x + blk.mlp(blk.norm2(x))
        out["joint_encodings"] = m.cross_encoder.norm(x)
        out["joint_GAP"] = out["joint_encodings"].mean(dim=1)
        return out

    def embed(self, s1=None, s2=None, gsd=None, *, optical_mask=None, cloud_mask=None) -> dict[str, Tensor]:
        """:meth:`CROMA.embed` with the masked optical tokens dropped."""
        return self.croma.vectors(self.encode(s1, s2, optical_mask=optical_mask, cloud_mask=cloud_mask))

    def features(self, s1=None, s2=None, gsd=None, *, optical_mask=None, cloud_mask=None) -> dict:
        """:meth:`CROMA.features` with the masked optical tokens dropped."""
        enc = self.encode(s1, s2, optical_mask=optical_mask, cloud_mask=cloud_mask)
        return self.croma.feature_maps(enc, s1 if s1 is not None else s2)


__all__ = ["CloudMaskedCROMA", "cloud_tokens"]
