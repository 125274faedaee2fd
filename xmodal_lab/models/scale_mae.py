"""Scale-MAE (Reed et al., ICCV 2023): a GSD-aware masked autoencoder with a Laplacian-pyramid decoder."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import MAEDecoder, ViTEncoder, init_weights
from .masking import random_masking, tokens_to_map
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .positions import gsd_sincos_pos_embed, sincos_table
from .pyramid import FCNHead, FPNHead, combine_bands, laplacian_bands
from .validation import batch_item, model_input, same_tiles


@dataclass
class ScaleMAEConfig:
    """Configuration of :class:`ScaleMAE`."""

    modality: str = "s2"  # "s2", "s1" or "s1s2" (stacked, optical first; embeddings named "joint")
    s2_bands: tuple[int, ...] | None = None  # Sentinel-2 band indices read (None: all 12)
    img_size: int = 32
    patch_size: int = 8
    embed_dim: int = 64
    depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    decoder_dim: int = 64
    decoder_depth: int = 1
    decoder_heads: int = 4
    head_dim: int = 32  # hidden channels of the two FCN heads (a multiple of 4)
    head_blocks: int = 1
    mask_ratio: float = 0.75
    reference_gsd: float = 10.0  # the GSD (metres) encoded as res = 1
    gsd_encoding: bool = True  # False encodes every image at res = 1 (the plain-MAE baseline)
    target_scale: int = 1  # 2 encodes the tile downsampled by 2 and reconstructs it at full size
    use_l1_loss: bool = False  # score the high band with L1 (times l1_weight) instead of the squared error
    l1_weight: float = 1.0
    loss_masking: bool = True  # count hidden patches only (paper); False also trains what super_resolve reads
    band_config: tuple[int, int] | None = (7, 56)  # high band I - bilinear(area(I -> dim1^2)); None: octave
    pool: str = "mean"  # image embedding: the mean patch token, or "cls"
    norm_eps: float = 1e-6


# the paper's pretraining: 224 px input, 448 px target
_PAPER = dict(img_size=224, patch_size=16, decoder_dim=512, decoder_depth=3, decoder_heads=16, head_dim=512,
              head_blocks=2, target_scale=2)  # fmt: skip
_SMALL_DECODER = dict(decoder_dim=128, decoder_depth=2, decoder_heads=8, head_dim=64, head_blocks=2)
PRESETS: dict[str, ScaleMAEConfig] = {
    "tiny": ScaleMAEConfig(),
    "small": ScaleMAEConfig(img_size=64, embed_dim=256, depth=6, num_heads=8, **_SMALL_DECODER),
    "base": ScaleMAEConfig(embed_dim=768, depth=12, num_heads=12, **_PAPER),
    "large": ScaleMAEConfig(embed_dim=1024, depth=24, num_heads=16, **_PAPER),
}


class ScaleMAE(nn.Module):
    """Scale-aware masked autoencoder with a Laplacian-pyramid decoder."""

    name = "scale_mae"

    def __init__(self, config: ScaleMAEConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else ScaleMAEConfig()
        _check(c)
        n_s2 = S2_CHANNELS if c.s2_bands is None else len(c.s2_bands)
        self.in_chans = {"s2": n_s2, "s1": S1_CHANNELS, "s1s2": n_s2 + S1_CHANNELS}[c.modality]
        self.key = {"s2": "s2", "s1": "s1", "s1s2": "joint"}[c.modality]
        if "s1" in c.modality:
            self.norm_s1 = s1_norm()
        if "s2" in c.modality:
            self.norm_s2 = s2_norm(c.s2_bands)
        self.encoder = ViTEncoder(self.in_chans, c.patch_size, c.embed_dim, c.depth, c.num_heads, c.mlp_ratio,
                                  norm_eps=c.norm_eps, cls_token=True)  # fmt: skip
        self.decoder = MAEDecoder(c.embed_dim, c.decoder_dim, c.decoder_depth, c.decoder_heads, c.mlp_ratio,
                                  norm_eps=c.norm_eps)  # fmt: skip
        # the FPN upsamples by 4 (high) and 2 (low); a token covers patch_size * target_scale target pixels
        self.fpn = FPNHead(c.decoder_dim)
        up = c.patch_size * c.target_scale // 4
        self.fcn_high = FCNHead(c.decoder_dim, c.head_dim, c.head_blocks, self.in_chans, up)
        self.fcn_low = FCNHead(c.decoder_dim, c.head_dim, c.head_blocks, self.in_chans, up)
        self.apply(init_weights)
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.decoder.mask_token, std=0.02)

    def _image(self, s1: Tensor | None, s2: Tensor | None, multiple: int) -> Tensor:
        c, parts = self.config, []
        if "s2" in c.modality:
            if s2 is None:
                raise ValueError(f"this Scale-MAE (modality={c.modality!r}) needs s2=[B, 12, H, W] "
                                 "reflectance")  # fmt: skip
            s2 = model_input(s2, S2_CHANNELS, multiple, "s2", config=c)
            parts.append(self.norm_s2(s2 if c.s2_bands is None else s2[:, list(c.s2_bands)]))
        if "s1" in c.modality:
            if s1 is None:
                raise ValueError(f"this Scale-MAE (modality={c.modality!r}) needs s1=[B, 2, H, W] dB")
            parts.append(self.norm_s1(model_input(s1, S1_CHANNELS, multiple, "s1", config=c)))
        if len(parts) == 2:
            same_tiles(s1, s2)
        return torch.cat(parts, dim=1)

    def gsd_ratio(self, gsd: Tensor | float | None, n_images: int) -> Tensor:
        """``res = GSD / reference_gsd`` per image ``[B]``, from metres (a number, ``[B]`` or None)."""
        if gsd is None or not self.config.gsd_encoding:
            return torch.ones(n_images, dtype=torch.float64)
        device = gsd.device if isinstance(gsd, Tensor) else torch.device("cpu")
        dtype = torch.float32 if device.type == "mps" else torch.float64
        g = torch.as_tensor(gsd.detach() if isinstance(gsd, Tensor) else gsd, dtype=dtype, device=device)
        g = g.reshape(-1).expand(n_images) if g.numel() == 1 else g.reshape(-1)
        if g.numel() != n_images or (device.type == "cpu" and not torch.all(g > 0)):
            raise ValueError(f"gsd must be a positive number or one per image ([{n_images}]), got {gsd}")
        if device.type != "cpu":  # checked on the device, without waiting for it
            torch._assert_async(torch.all(g > 0), "gsd must be positive")
        return g / self.config.reference_gsd

    def _pos_embed(self, dim: int, grid: tuple[int, int], res: Tensor, like: Tensor) -> Tensor:
        if res.device.type == "cpu" and torch.all(res == res[0]):  # one cached encoding for the batch
            return sincos_table(dim, grid, like.device, like.dtype, float(res[0])).unsqueeze(0)  # [1, N, D]
        return gsd_sincos_pos_embed(dim, grid, res.to(like.device), like.device, like.dtype)  # [B, N, D]

    def forward_encoder(self, x: Tensor, res: Tensor, mask_ratio: float = 0.0):
        """Encode ``x`` hiding ``mask_ratio``: ``latent [B, 1 + K, D]``, ``mask``, ``ids_restore``, grid."""
        grid = self.encoder.grid(x)
        n = grid[0] * grid[1]
        ids_keep, mask = None, None
        ids_restore = torch.arange(n, device=x.device).expand(x.shape[0], n)
        if mask_ratio > 0:
            ids_keep, mask, ids_restore = random_masking(x.shape[0], n, mask_ratio, x.device)
        pos = self._pos_embed(self.config.embed_dim, grid, res, x)  # the class token's position is zero
        return self.encoder(x, ids_keep=ids_keep, pos=pos), mask, ids_restore, grid

    def forward_decoder(self, latent: Tensor, ids_restore: Tensor, res: Tensor, grid: tuple[int, int]):
        """Reconstruct ``pred_low [B, C, Ht/2, Wt/2]`` and ``pred_high [B, C, Ht, Wt]`` from the tokens."""
        pos = self._pos_embed(self.config.decoder_dim, grid, res, latent)
        x = self.decoder(latent[:, 1:], ids_restore, grid, pos)  # [B, N, Dd]; the class token is not decoded
        high, low = self.fpn(tokens_to_map(x, grid))  # [B, Dd, 4h, 4w], [B, Dd, 2h, 2w]
        return self.fcn_low(low), self.fcn_high(high)

    def forward_loss(self, target: Tensor, pred_low: Tensor, pred_high: Tensor, mask: Tensor):
        """Low- and high-band squared error (or L1), means over the hidden pixels (``mask [B, 1, h, w]``)."""
        c = self.config
        low, high = laplacian_bands(target, c.band_config)
        counted = mask if c.loss_masking else torch.ones_like(mask)
        m_low = F.interpolate(counted, size=low.shape[-2:])  # [B, 1, H/2, W/2], nearest
        m_high = F.interpolate(counted, size=high.shape[-2:])  # [B, 1, H, W]
        err_high = (pred_high - high).abs() if c.use_l1_loss else (pred_high - high) ** 2
        loss_low = (m_low * (pred_low - low) ** 2).sum() / (m_low.sum() * self.in_chans)
        loss_high = (m_high * err_high).sum() / (m_high.sum() * self.in_chans)
        return loss_low, loss_high

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Masked-reconstruction losses, predictions, ``target`` (standardised) and ``mask [B, h, w]``."""
        c = self.config
        s1 = batch_item(batch, "s1", self.name) if "s1" in c.modality else None
        s2 = batch_item(batch, "s2", self.name) if "s2" in c.modality else None
        target = self._image(s1, s2, c.patch_size * c.target_scale)  # [B, C, H, W]
        res = self.gsd_ratio(batch.get("gsd"), target.shape[0]) * c.target_scale
        x = F.avg_pool2d(target, c.target_scale) if c.target_scale > 1 else target
        latent, mask, ids_restore, grid = self.forward_encoder(x, res, c.mask_ratio)
        pred_low, pred_high = self.forward_decoder(latent, ids_restore, res, grid)
        mask = mask.reshape(-1, 1, *grid)  # [B, 1, h, w]
        loss_low, loss_high = self.forward_loss(target, pred_low, pred_high, mask)
        weight = c.l1_weight if c.use_l1_loss else 1.0
        return {"loss": loss_low + weight * loss_high, "loss_low": loss_low.detach(),
                "loss_high": loss_high.detach(), "pred_low": pred_low, "pred_high": pred_high,
                "reconstruction": combine_bands(pred_low, pred_high, c.band_config), "target": target,
                "mask": mask[:, 0]}  # fmt: skip

    def super_resolve(self, s1=None, s2=None, gsd: Tensor | float | None = None) -> dict[str, Tensor]:
        """Encode a whole image and reconstruct it at ``target_scale`` times its resolution (standardised)."""
        if self.config.loss_masking:
            warnings.warn(
                "super_resolve reads the decoder at visible positions, which a Scale-MAE trained with "
                "loss_masking=True never trained; pretrain with loss_masking=False for a trained pathway",
                stacklevel=2)  # fmt: skip
        x = self._image(s1, s2, self.config.patch_size)
        res = self.gsd_ratio(gsd, x.shape[0])
        latent, _, ids_restore, grid = self.forward_encoder(x, res)
        pred_low, pred_high = self.forward_decoder(latent, ids_restore, res, grid)
        reconstruction = combine_bands(pred_low, pred_high, self.config.band_config)
        return {"reconstruction": reconstruction, "pred_low": pred_low, "pred_high": pred_high}

    def features(self, s1=None, s2=None, gsd: Tensor | float | None = None) -> dict[str, Tensor]:
        """Patch features of the whole image, ``{key: [B, D, H/p, W/p]}`` (key ``"s2"``, ``"s1"``, ``"joint"``)."""
        tokens, grid = self._encode_full(s1, s2, gsd)
        return {self.key: tokens_to_map(tokens[:, 1:], grid)}

    def embed(self, s1=None, s2=None, gsd: Tensor | float | None = None) -> dict[str, Tensor]:
        """One vector per image, ``{key: [B, D]}``: the mean patch token (the class token if ``pool="cls"``)."""
        tokens, _ = self._encode_full(s1, s2, gsd)
        return {self.key: tokens[:, 0] if self.config.pool == "cls" else tokens[:, 1:].mean(dim=1)}

    def _encode_full(self, s1, s2, gsd) -> tuple[Tensor, tuple[int, int]]:
        x = self._image(s1, s2, self.config.patch_size)
        tokens, _, _, grid = self.forward_encoder(x, self.gsd_ratio(gsd, x.shape[0]))
        return tokens, grid


def _check(c: ScaleMAEConfig) -> None:
    if c.modality not in ("s2", "s1", "s1s2"):
        raise ValueError(f"modality must be 's2', 's1' or 's1s2', got {c.modality!r}")
    if c.target_scale not in (1, 2) or (c.patch_size * c.target_scale) % 4:
        raise ValueError(f"target_scale must be 1 or 2 and patch_size * target_scale a multiple of 4, got "
                         f"patch_size={c.patch_size}, target_scale={c.target_scale}")  # fmt: skip
    if not 0.0 < c.mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1) for masked reconstruction, got {c.mask_ratio}")
    bands = c.band_config
    if bands is not None and (len(bands) != 2 or not all(isinstance(d, int) and d >= 1 for d in bands)):
        raise ValueError(f"band_config must be None or two positive pixel sizes (dim1, dim2), got {bands}")
    if c.head_dim % 4:
        raise ValueError(f"head_dim must be a multiple of 4, got {c.head_dim}")
    if c.pool not in ("mean", "cls"):
        raise ValueError(f"pool must be 'mean' or 'cls', got {c.pool!r}")
    if c.s2_bands is not None and not all(0 <= i < S2_CHANNELS for i in c.s2_bands):
        raise ValueError(f"s2_bands must index the 12 Sentinel-2 bands (0..11), got {c.s2_bands}")


__all__ = ["PRESETS", "ScaleMAE", "ScaleMAEConfig", "combine_bands", "laplacian_bands"]
