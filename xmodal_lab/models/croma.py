"""CROMA (Fuller, Millard and Green, NeurIPS 2023): radar-optical MAE and contrastive model with 2D-ALiBi."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Block, MAEDecoder, ViTEncoder, init_weights
from .losses import LogitScale, info_nce, masked_mean, norm_pix_target
from .masking import patchify, random_masking, tokens_to_map
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .positions import alibi_2d_bias, masked_alibi
from .validation import batch_item, model_input, same_tiles


@dataclass
class CROMAConfig:
    """Configuration of :class:`CROMA`; the paper's radar and cross encoders are half the optical depth."""

    img_size: int = 32
    patch_size: int = 8
    embed_dim: int = 64
    optical_depth: int = 2
    radar_depth: int = 1
    cross_depth: int = 1
    num_heads: int = 4
    mlp_ratio: float = 4.0
    qkv_bias: bool = False
    decoder_dim: int = 64
    decoder_depth: int = 1
    decoder_heads: int = 4
    mask_ratio: float = 0.75
    norm_pix_loss: bool = True
    norm_pix_scope: str = "joint"  # one mean and variance per 14-channel patch (paper), or "per_modality"
    init_temperature: float = 0.07
    max_logit_scale: float | None = None  # cap of the learnable inverse temperature; None (paper): free
    embed_projected: bool = True  # embed gives projected unit-norm s1/s2; False: the GAPs (published weights)
    mae_init: bool = False  # MAE's Xavier initialisation instead of PyTorch's default (the paper's code)


PRESETS: dict[str, CROMAConfig] = {
    "tiny": CROMAConfig(),
    "small": CROMAConfig(img_size=64, embed_dim=256, optical_depth=6, radar_depth=3, cross_depth=3,
                         num_heads=8, decoder_dim=256, decoder_heads=8),
    # CROMA-B as published
    "base": CROMAConfig(img_size=120, embed_dim=768, optical_depth=12, radar_depth=6, cross_depth=6,
                        num_heads=16, decoder_dim=512, decoder_heads=8),
}  # fmt: skip


def _encoder(in_chans: int, depth: int, c: CROMAConfig) -> ViTEncoder:
    # no positional embedding: 2D-ALiBi biases the attention instead
    return ViTEncoder(in_chans, c.patch_size, c.embed_dim, depth, c.num_heads, c.mlp_ratio, c.qkv_bias,
                      sincos=False)  # fmt: skip


def _gap_ffn(dim: int) -> nn.Sequential:
    # the published GAP-FFN's layer order, hence its state-dict keys
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


class CrossEncoder(nn.Module):
    """Joint encoder: radar tokens self-attend, attend to the optical tokens, then an MLP; a final LayerNorm."""

    def __init__(self, c: CROMAConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(c.embed_dim, c.num_heads, c.mlp_ratio, qkv_bias=c.qkv_bias,
                                          cross=True) for _ in range(c.cross_depth))  # fmt: skip
        self.norm = nn.LayerNorm(c.embed_dim)

    def forward(self, radar: Tensor, optical: Tensor, bias: Tensor, cross_bias: Tensor) -> Tensor:
        """Joint encodings ``[B, Kr, D]`` of radar ``[B, Kr, D]`` given optical ``[B, Ko, D]``, with their biases."""
        x = radar
        for blk in self.blocks:
            x = blk(x, bias=bias, context=optical, cross_bias=cross_bias)
        return self.norm(x)


class CROMADecoder(MAEDecoder):
    """The shared MAE decoder (mask tokens, sin-cos positions) with one pixel head per modality."""

    def __init__(self, c: CROMAConfig) -> None:
        super().__init__(c.embed_dim, c.decoder_dim, c.decoder_depth, c.decoder_heads, c.mlp_ratio,
                         c.qkv_bias)  # fmt: skip
        self.pred_optical = nn.Linear(c.decoder_dim, c.patch_size**2 * S2_CHANNELS)
        self.pred_radar = nn.Linear(c.decoder_dim, c.patch_size**2 * S1_CHANNELS)

    def forward(self, joint: Tensor, ids_restore: Tensor, grid: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Predict every patch's optical ``[B, N, p*p*12]`` and radar ``[B, N, p*p*2]`` pixels."""
        x = super().forward(joint, ids_restore, grid)  # [B, N, Dd]
        return self.pred_optical(x), self.pred_radar(x)


class CROMA(nn.Module):
    """CROMA radar-optical foundation model: ``model(batch)["loss"]`` to pretrain, ``embed`` / ``features``."""

    name = "croma"

    def __init__(self, config: CROMAConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else CROMAConfig()
        if not 0.0 < c.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {c.mask_ratio}")
        if c.norm_pix_scope not in ("joint", "per_modality"):
            raise ValueError(f"norm_pix_scope must be 'joint' or 'per_modality', got {c.norm_pix_scope!r}")
        self.norm_s1, self.norm_s2 = s1_norm(), s2_norm()
        self.radar_encoder = _encoder(S1_CHANNELS, c.radar_depth, c)
        self.optical_encoder = _encoder(S2_CHANNELS, c.optical_depth, c)
        self.cross_encoder = CrossEncoder(c)
        d = c.embed_dim
        self.gap_ffn_radar, self.gap_ffn_optical = _gap_ffn(d), _gap_ffn(d)
        self.proj_radar, self.proj_optical = nn.Linear(d, d), nn.Linear(d, d)
        self.logit_scale = LogitScale(c.init_temperature, c.max_logit_scale)
        self.decoder = CROMADecoder(c)
        if c.mae_init:
            self.apply(init_weights)
        nn.init.normal_(self.decoder.mask_token, std=0.02)
        self._alibi: dict[tuple, Tensor] = {}

    def alibi(self, grid: tuple[int, int], device: torch.device) -> Tensor:
        """The full 2D-ALiBi ``[1, heads, N, N]`` of a patch grid, cached."""
        key = (grid, str(device))
        if key not in self._alibi:
            self._alibi[key] = alibi_2d_bias(self.config.num_heads, grid).to(device)
        return self._alibi[key]

    def _inputs(self, s1, s2) -> tuple[Tensor | None, Tensor | None, tuple[int, int]]:
        """Validated, standardised ``s1`` / ``s2`` (either may be None) and their patch grid."""
        c, p = self.config, self.config.patch_size
        if s1 is None and s2 is None:
            raise ValueError("pass at least one of s1=[B, 2, H, W] (dB) or s2=[B, 12, H, W] (reflectance)")
        if s1 is not None:
            s1 = self.norm_s1(model_input(s1, S1_CHANNELS, p, "s1", config=c, biased=True))
        if s2 is not None:
            s2 = self.norm_s2(model_input(s2, S2_CHANNELS, p, "s2", config=c, biased=True))
        same_tiles(s1, s2)
        return s1, s2, self.radar_encoder.grid(s1 if s1 is not None else s2)

    def encode(self, s1: Tensor | None = None, s2: Tensor | None = None) -> dict[str, Tensor]:
        """The published forward pass: ``{sar, optical, joint}_encodings [B, N, D]`` and ``_GAP [B, D]``."""
        x1, x2, grid = self._inputs(s1, s2)
        bias = self.alibi(grid, (x1 if x1 is not None else x2).device)  # [1, heads, N, N]
        out: dict[str, Tensor] = {}
        if x1 is not None:
            out["sar_encodings"] = sar = self.radar_encoder(x1, bias)  # [B, N, D]
            out["sar_GAP"] = self.gap_ffn_radar(sar.mean(dim=1))  # [B, D]
        if x2 is not None:
            out["optical_encodings"] = optical = self.optical_encoder(x2, bias)
            out["optical_GAP"] = self.gap_ffn_optical(optical.mean(dim=1))
        if x1 is not None and x2 is not None:
            # both grids are complete, so the X-ALiBi between them is the 2D-ALiBi itself
            out["joint_encodings"] = joint = self.cross_encoder(sar, optical, bias, bias)
            out["joint_GAP"] = joint.mean(dim=1)
        return out

    def features(self, s1: Tensor | None = None, s2: Tensor | None = None, gsd=None) -> dict[str, Tensor]:
        """Patch features ``{"s1", "s2", "joint"}: [B, D, H/p, W/p]`` for what applies (``gsd`` is ignored)."""
        return self.feature_maps(self.encode(s1, s2), s1 if s1 is not None else s2)

    def embed(self, s1: Tensor | None = None, s2: Tensor | None = None, gsd=None) -> dict[str, Tensor]:
        """One vector ``[B, D]`` per tile: ``s1``, ``s2`` (see ``config.embed_projected``) and ``joint_GAP``."""
        return self.vectors(self.encode(s1, s2))

    def feature_maps(self, enc: dict[str, Tensor], image) -> dict[str, Tensor]:
        """:meth:`encode`'s token outputs laid on the patch grid of ``image [B, C, H, W]``."""
        grid = self.radar_encoder.grid(image)
        names = {"s1": "sar_encodings", "s2": "optical_encodings", "joint": "joint_encodings"}
        return {k: tokens_to_map(enc[v], grid) for k, v in names.items() if v in enc}

    def vectors(self, enc: dict[str, Tensor]) -> dict[str, Tensor]:
        """:meth:`embed`'s output from :meth:`encode`'s: the pooled encodings, projected if configured."""
        out = {}
        for key, gap, proj in (("s1", "sar_GAP", self.proj_radar), ("s2", "optical_GAP", self.proj_optical)):
            if gap in enc:
                out[key] = F.normalize(proj(enc[gap]), dim=-1) if self.config.embed_projected else enc[gap]
        if "joint_GAP" in enc:
            out["joint"] = enc["joint_GAP"]
        return out

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Pretraining step: independent masks, a contrastive and a reconstruction loss; masks 1 = hidden."""
        x1, x2, grid = self._inputs(batch_item(batch, "s1", self.name), batch_item(batch, "s2", self.name))
        b, n = x1.shape[0], grid[0] * grid[1]
        keep_r, mask_r, restore_r = random_masking(b, n, self.config.mask_ratio, x1.device)  # [B, K], [B, N]
        keep_o, mask_o, _ = random_masking(b, n, self.config.mask_ratio, x1.device)
        bias = self.alibi(grid, x1.device)
        bias_r = masked_alibi(bias, keep_r, keep_r)  # [B, heads, K, K]
        sar = self.radar_encoder(x1, bias_r, keep_r)  # [B, K, D]
        optical = self.optical_encoder(x2, masked_alibi(bias, keep_o, keep_o), keep_o)  # [B, K, D]
        sar_gap = self.gap_ffn_radar(sar.mean(dim=1))  # [B, D]
        optical_gap = self.gap_ffn_optical(optical.mean(dim=1))
        z_r = F.normalize(self.proj_radar(sar_gap), dim=-1)
        z_o = F.normalize(self.proj_optical(optical_gap), dim=-1)
        loss_c, logits = info_nce(z_r, z_o, self.logit_scale())
        # X-ALiBi: radar query i and optical key j are biased by the distance between their own positions
        joint = self.cross_encoder(sar, optical, bias_r, masked_alibi(bias, keep_r, keep_o))  # [B, K, D]
        pred_optical, pred_radar = self.decoder(joint, restore_r, grid)  # [B, N, p*p*C]
        target_optical, target_radar = self._targets(x1, x2)
        loss_sar = masked_mean(((pred_radar - target_radar) ** 2).mean(dim=-1), mask_r)
        loss_optical = masked_mean(((pred_optical - target_optical) ** 2).mean(dim=-1), mask_o)
        loss_mae = loss_sar + loss_optical
        return {"sar_encodings": sar, "optical_encodings": optical, "joint_encodings": joint,
                "sar_GAP": sar_gap, "optical_GAP": optical_gap, "joint_GAP": joint.mean(dim=1),
                "loss_contrastive": loss_c,
                "loss_mae": loss_mae, "loss": loss_c + loss_mae, "loss_mae_sar": loss_sar.detach(),
                "loss_mae_optical": loss_optical.detach(), "mask_sar": mask_r, "mask_optical": mask_o,
                "logits": logits.detach()}  # fmt: skip

    def _targets(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        c = self.config
        optical, radar = patchify(x2, c.patch_size), patchify(x1, c.patch_size)
        if not c.norm_pix_loss:
            return optical, radar
        if c.norm_pix_scope == "per_modality":
            return norm_pix_target(optical), norm_pix_target(radar)
        joint = norm_pix_target(torch.cat([optical, radar], dim=-1))  # [B, N, p*p*14], then split
        return joint[..., : optical.shape[-1]], joint[..., optical.shape[-1] :]


__all__ = ["PRESETS", "CROMA", "CROMAConfig", "CROMADecoder", "CrossEncoder"]
