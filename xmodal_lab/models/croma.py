"""CROMA: contrastive radar-optical masked autoencoder (Fuller, Millard and Green, NeurIPS 2023).

Two unimodal ViTs (optical: 12 bands; radar: 2 channels, half the depth) without positional embeddings:
position enters through **2D-ALiBi**, an attention bias ``-slope_h * distance(i, j)`` between patch
positions, with ALiBi's geometric slopes per head. A **cross-modal encoder** lets radar tokens attend to
optical tokens with **X-ALiBi** (the same distance matrix, between the radar query's and the optical key's
positions). Pretraining combines two objectives:

- **contrastive**: mean-pooled encodings pass an FFN (``sar_GAP``, ``optical_GAP``), a linear projection and
  L2 normalisation; symmetric InfoNCE with in-batch negatives and a learnable temperature (from 0.07);
- **masked autoencoding**: each modality hides 75% of its patches with its own random mask (same number kept),
  the encoders see only kept patches (the ALiBi matrix gathered for them), and a light decoder reconstructs
  both modalities' pixels from the joint encoding, each modality's loss on its own mask. As in the official
  ``pretrain_croma.py``, the target is the *joint* 14-channel patch (12 optical + 2 radar bands of one patch)
  standardised by its own mean and variance, then split into the optical and radar parts
  (``norm_pix_scope="joint"``); ``norm_pix_scope="per_modality"`` standardises each modality's patch
  separately (a kit variant, not the paper's).

At inference (``embed``, ``features``, ``encode``) nothing is masked and the full bias is used (the paper's
behaviour, the default). **Cloud masking** (a kit option, not in the paper): pass ``cloud_mask [B, H, W]``
(or ``optical_mask [B, N]``) to drop the optical tokens whose patch is mostly cloud, as pretraining's masking
drops hidden patches: the optical encoder's self-attention and the cross-modal encoder's attention to optical
tokens skip them, so the joint encoding rests on radar where the optical image shows only cloud (a tile with
no clear patch gets no cross-attention at all). During
pretraining, the cross-modal encoder's radar self-attention is biased by radar-to-radar distances and its
cross-attention by radar-to-optical distances (the reference pretraining script passes the radar-to-optical
matrix to both; at inference, where both sequences cover the full grid, the two coincide). Parameter
layout and computation match the published encoders, so torchgeo's / the official weights load through
:mod:`.convert` (the published models have no query/key/value biases: ``qkv_bias=False``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Block, MAEDecoder, ViTEncoder, init_weights
from .losses import MAX_LOGIT_SCALE, LogitScale, info_nce
from .masking import patchify, random_masking, tokens_to_map
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .positions import alibi_2d_bias, masked_alibi
from .validation import batch_item, model_input, same_tiles


@dataclass
class CROMAConfig:
    """Configuration of :class:`CROMA`.

    Attributes:
        img_size: nominal tile side in pixels; any multiple of the patch size works.
        patch_size: patch side.
        embed_dim: width of all three encoders.
        optical_depth: blocks of the optical encoder.
        radar_depth: blocks of the radar encoder (CROMA: half the optical depth).
        cross_depth: blocks of the cross-modal encoder (CROMA: half the optical depth).
        num_heads: heads of the encoders; each head gets its own ALiBi slope.
        mlp_ratio: MLP hidden width / width.
        qkv_bias: biases in the attention's query/key/value projections (False in the published CROMA).
        decoder_dim: decoder width.
        decoder_depth: decoder blocks.
        decoder_heads: decoder heads.
        mask_ratio: fraction of patches hidden in each modality during pretraining.
        norm_pix_loss: reconstruct per-patch standardised pixels.
        norm_pix_scope: which pixels share one patch's mean and variance: ``"joint"`` (official CROMA: the
            14-channel patch, optical and radar bands together, standardised then split) or ``"per_modality"``
            (kit variant: the optical and the radar patch each standardised on its own).
        init_temperature: initial InfoNCE temperature.
        max_logit_scale: cap of the inverse temperature (as in CLIP).
        embed_projected: ``embed`` returns the ``s1``/``s2`` vectors in the shared contrastive space
            (projected, unit norm), where radar and optical are comparable; False returns ``sar_GAP`` /
            ``optical_GAP`` (the published models ship without the projections, so converted weights use this).
        cloud_token_threshold: with ``cloud_mask=`` at inference, an optical patch whose cloudy fraction is
            above this is dropped (kit option; see :func:`cloud_tokens`).
    """

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
    norm_pix_scope: str = "joint"
    init_temperature: float = 0.07
    max_logit_scale: float = MAX_LOGIT_SCALE
    embed_projected: bool = True
    cloud_token_threshold: float = 0.5


PRESETS: dict[str, CROMAConfig] = {
    "tiny": CROMAConfig(),
    "small": CROMAConfig(
        img_size=64,
        embed_dim=256,
        optical_depth=6,
        radar_depth=3,
        cross_depth=3,
        num_heads=8,
        decoder_dim=256,
        decoder_heads=8,
    ),
    # CROMA-B as published: 120 px tiles, patch 8, width 768, optical 12 / radar 6 / cross 6, 16 heads
    "base": CROMAConfig(
        img_size=120,
        embed_dim=768,
        optical_depth=12,
        radar_depth=6,
        cross_depth=6,
        num_heads=16,
        decoder_dim=512,
        decoder_heads=8,
    ),
}


def _gap_ffn(dim: int) -> nn.Sequential:
    # same layer order (and so the same state-dict keys) as the published GAP-FFN
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


def cloud_tokens(cloud_mask: Tensor, patch_size: int, threshold: float = 0.5) -> Tensor:
    """Which patches are mostly cloud: the cloudy fraction of each ``p x p`` patch above ``threshold``.

    Args:
        cloud_mask: ``[B, H, W]`` bool or float in [0, 1] (1 = cloud or shadow), H and W multiples of ``p``.
        patch_size: patch side ``p``.
        threshold: cloudy fraction above which a patch counts as cloudy.

    Returns:
        ``[B, N]`` bool, True where the patch is dropped, patches in row-major order (as ``patchify``).

    Raises:
        ValueError: the mask is not ``[B, H, W]`` with sides divisible by ``patch_size``.
    """
    if cloud_mask.ndim != 3 or cloud_mask.shape[-1] % patch_size or cloud_mask.shape[-2] % patch_size:
        raise ValueError(
            f"cloud_mask must be [B, H, W] with H and W multiples of {patch_size}, got {tuple(cloud_mask.shape)}"
        )
    frac = F.avg_pool2d(cloud_mask.float()[:, None], patch_size)  # [B, 1, H/p, W/p]
    return frac.flatten(1) > threshold


class CROMAEncoder(ViTEncoder):
    """Unimodal CROMA ViT: the shared encoder without positional embeddings (2D-ALiBi biases attention).

    Called as ``encoder(x, bias, ids_keep)``: ``x [B, C, H, W]``, ALiBi ``[1 or B, heads, K, K]`` for the
    tokens kept, kept patch indices ``[B, K]`` (None: all patches); returns ``[B, K, D]``.

    Args:
        in_chans: input channels.
        depth: blocks.
        config: the model configuration.
    """

    def __init__(self, in_chans: int, depth: int, config: CROMAConfig) -> None:
        super().__init__(
            in_chans, config.patch_size, config.embed_dim, depth, config.num_heads, config.mlp_ratio,
            qkv_bias=config.qkv_bias, sincos=False,
        )  # fmt: skip


class CrossEncoder(nn.Module):
    """Cross-modal encoder: radar tokens self-attend, then attend to optical tokens (X-ALiBi), then an MLP.

    Args:
        config: the model configuration.
    """

    def __init__(self, config: CROMAConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            Block(
                config.embed_dim,
                config.num_heads,
                config.mlp_ratio,
                qkv_bias=config.qkv_bias,
                cross=True,
                norm_context=True,
            )
            for _ in range(config.cross_depth)
        )
        self.norm = nn.LayerNorm(config.embed_dim)

    def forward(
        self, radar: Tensor, optical: Tensor, bias: Tensor, cross_bias: Tensor, gate: Tensor | None = None
    ) -> Tensor:
        """Fuse the modalities.

        Args:
            radar: ``[B, Kr, D]`` queries.
            optical: ``[B, Ko, D]`` context.
            bias: radar self-attention ALiBi ``[1 or B, heads, Kr, Kr]``.
            cross_bias: X-ALiBi ``[1 or B, heads, Kr, Ko]`` (``-inf`` columns drop optical tokens).
            gate: ``[B]`` weight of the cross-attention output per tile (0 for a tile with no optical token
                left); None: 1 everywhere.

        Returns:
            Joint encodings ``[B, Kr, D]`` at the radar tokens' positions.
        """
        x = radar
        for blk in self.blocks:
            if gate is None:
                x = blk(x, bias=bias, context=optical, cross_bias=cross_bias)
                continue
            # the block's own steps, with the cross-attention residual weighted per tile
            x = x + blk.attn(blk.norm1(x), bias=bias)
            context = blk.norm_cross(optical) if blk.norm_context else optical
            x = x + gate[:, None, None] * blk.cross_attn(blk.norm_cross(x), context=context, bias=cross_bias)
            x = x + blk.mlp(blk.norm2(x))
        return self.norm(x)


class CROMADecoder(MAEDecoder):
    """Light MAE decoder (the shared one: mask tokens on the full grid, sin-cos positions) and pixel heads.

    Args:
        config: the model configuration.
    """

    def __init__(self, config: CROMAConfig) -> None:
        d = config.decoder_dim
        super().__init__(
            config.embed_dim, d, config.decoder_depth, config.decoder_heads, config.mlp_ratio,
            qkv_bias=config.qkv_bias,
        )  # fmt: skip
        pp = config.patch_size**2
        self.pred_optical = nn.Linear(d, pp * S2_CHANNELS)
        self.pred_radar = nn.Linear(d, pp * S1_CHANNELS)

    def forward(self, joint: Tensor, ids_restore: Tensor, grid: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Predict every patch of both modalities.

        Args:
            joint: joint encodings of the kept radar patches ``[B, K, D]``.
            ids_restore: the radar mask's ``[B, N]`` restore indices.
            grid: ``(h, w)``.

        Returns:
            ``optical [B, N, p*p*12]`` and ``radar [B, N, p*p*2]`` patch predictions (pixel order of
            :func:`~xmodal_lab.models.masking.patchify`).
        """
        x = super().forward(joint, ids_restore, grid)  # [B, N, Dd]
        return self.pred_optical(x), self.pred_radar(x)


class CROMA(nn.Module):
    """CROMA radar-optical foundation model.

    Args:
        config: a :class:`CROMAConfig` (default: the ``tiny`` preset).

    Example:
        >>> model = CROMA(PRESETS["tiny"])
        >>> out = model({"s1": s1, "s2": s2})  # [B, 2, 32, 32] dB, [B, 12, 32, 32] reflectance
        >>> out["loss"].backward()
        >>> model.embed(s1=s1, s2=s2)  # {"s1": [B, 64], "s2": [B, 64], "joint": [B, 64]}
    """

    name = "croma"

    def __init__(self, config: CROMAConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else CROMAConfig()
        if not 0.0 < c.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {c.mask_ratio}")
        if c.norm_pix_scope not in ("joint", "per_modality"):
            raise ValueError(f"norm_pix_scope must be 'joint' or 'per_modality', got {c.norm_pix_scope!r}")
        if not 0.0 <= c.cloud_token_threshold < 1.0:
            raise ValueError(f"cloud_token_threshold must be in [0, 1), got {c.cloud_token_threshold}")
        self.norm_s1 = s1_norm()
        self.norm_s2 = s2_norm()
        self.radar_encoder = CROMAEncoder(S1_CHANNELS, c.radar_depth, c)
        self.optical_encoder = CROMAEncoder(S2_CHANNELS, c.optical_depth, c)
        self.cross_encoder = CrossEncoder(c)
        self.gap_ffn_radar = _gap_ffn(c.embed_dim)
        self.gap_ffn_optical = _gap_ffn(c.embed_dim)
        self.proj_radar = nn.Linear(c.embed_dim, c.embed_dim)
        self.proj_optical = nn.Linear(c.embed_dim, c.embed_dim)
        self.logit_scale = LogitScale(c.init_temperature, c.max_logit_scale)
        self.decoder = CROMADecoder(c)
        self.apply(init_weights)
        nn.init.normal_(self.decoder.mask_token, std=0.02)
        self._alibi: dict[tuple, Tensor] = {}

    def alibi(self, grid: tuple[int, int], device: torch.device) -> Tensor:
        """The full 2D-ALiBi matrix ``[1, heads, N, N]`` of a patch grid (cached per grid and device)."""
        key = (grid, str(device))
        if key not in self._alibi:
            self._alibi[key] = alibi_2d_bias(self.config.num_heads, grid).to(device)
        return self._alibi[key]

    def _inputs(
        self, s1: Tensor | None, s2: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, tuple[int, int]]:
        p = self.config.patch_size
        if s1 is not None:
            s1 = model_input(s1, S1_CHANNELS, p, "s1")
        if s2 is not None:
            s2 = model_input(s2, S2_CHANNELS, p, "s2")
        if s1 is None and s2 is None:
            raise ValueError("pass at least one of s1=[B, 2, H, W] (dB) or s2=[B, 12, H, W] (reflectance)")
        same_tiles(s1, s2)
        ref = s1 if s1 is not None else s2
        grid = (ref.shape[-2] // p, ref.shape[-1] // p)
        return (
            self.norm_s1(s1) if s1 is not None else None,
            self.norm_s2(s2) if s2 is not None else None,
            grid,
        )

    def _hidden_optical(
        self, optical_mask: Tensor | None, cloud_mask: Tensor | None, b: int, grid: tuple[int, int], device
    ) -> Tensor | None:
        """The optical tokens to drop ``[B, N]`` bool from ``optical_mask`` or ``cloud_mask`` (None: none)."""
        if optical_mask is not None and cloud_mask is not None:
            raise ValueError("pass optical_mask=[B, N] or cloud_mask=[B, H, W], not both")
        n = grid[0] * grid[1]
        if cloud_mask is not None:
            cloud_mask = torch.as_tensor(cloud_mask, device=device)
            p = self.config.patch_size
            if tuple(cloud_mask.shape) != (b, grid[0] * p, grid[1] * p):
                raise ValueError(
                    f"cloud_mask must be [B, H, W] = {(b, grid[0] * p, grid[1] * p)} like s2, "
                    f"got {tuple(cloud_mask.shape)}"
                )
            return cloud_tokens(cloud_mask, p, self.config.cloud_token_threshold)
        if optical_mask is not None:
            optical_mask = torch.as_tensor(optical_mask, device=device)
            if optical_mask.dtype != torch.bool or tuple(optical_mask.shape) != (b, n):
                raise ValueError(
                    f"optical_mask must be bool [B, N] = {(b, n)} (True = drop the patch), "
                    f"got {optical_mask.dtype} {tuple(optical_mask.shape)}"
                )
            return optical_mask
        return None

    def encode(
        self,
        s1: Tensor | None = None,
        s2: Tensor | None = None,
        *,
        optical_mask: Tensor | None = None,
        cloud_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Unmasked encodings with the full ALiBi bias (the published model's forward pass).

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB.
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance.
            optical_mask: kit option, ``[B, N]`` bool: optical patches to drop (True), e.g. cloudy ones.
                Dropped tokens are skipped by the optical self-attention and by the cross-attention (their
                columns of the ALiBi / X-ALiBi bias become ``-inf``), as hidden patches are in pretraining; a
                tile with every patch dropped gets no cross-attention (its joint encoding is radar only).
            cloud_mask: kit option, ``[B, H, W]`` (1 = cloud or shadow, the pair's ``cloud_mask``): drop the
                patches whose cloudy fraction is above ``config.cloud_token_threshold``.

        Returns:
            ``sar_encodings [B, N, D]``, ``sar_GAP [B, D]`` (with s1), ``optical_encodings``, ``optical_GAP``
            (with s2; with a mask, pooled over the kept patches, or over all of them when none is kept),
            ``joint_encodings [B, N, D]``, ``joint_GAP [B, D]`` (with both); with a mask also
            ``optical_dropped [B, N]`` bool.
        """
        x1, x2, grid = self._inputs(s1, s2)
        ref = x1 if x1 is not None else x2
        bias = self.alibi(grid, ref.device)
        hidden = self._hidden_optical(optical_mask, cloud_mask, ref.shape[0], grid, ref.device)
        if hidden is not None and x2 is None:
            raise ValueError("optical_mask / cloud_mask drop optical patches: pass s2 too")
        opt_bias = cross_bias = bias
        gate = None
        if hidden is not None:
            none_kept = hidden.all(dim=1)  # [B]: nothing to attend; such tiles are gated off below
            drop = hidden & ~none_kept[:, None]
            key_bias = torch.zeros(drop.shape, dtype=bias.dtype, device=bias.device)
            key_bias = key_bias.masked_fill(drop, float("-inf"))[:, None, None, :]  # [B, 1, 1, N]
            opt_bias = cross_bias = bias + key_bias  # [B, heads, N, N]
            gate = (~none_kept).to(bias.dtype)
        out: dict[str, Tensor] = {}
        if x1 is not None:
            out["sar_encodings"] = self.radar_encoder(x1, bias)
            out["sar_GAP"] = self.gap_ffn_radar(out["sar_encodings"].mean(dim=1))
        if x2 is not None:
            out["optical_encodings"] = enc = self.optical_encoder(x2, opt_bias)
            if hidden is None:
                pooled = enc.mean(dim=1)
            else:
                kept = (~drop).to(enc.dtype)[..., None]  # [B, N, 1]
                pooled = (enc * kept).sum(dim=1) / kept.sum(dim=1)
                out["optical_dropped"] = hidden
            out["optical_GAP"] = self.gap_ffn_optical(pooled)
        if x1 is not None and x2 is not None:
            out["joint_encodings"] = self.cross_encoder(
                out["sar_encodings"], out["optical_encodings"], bias, cross_bias, gate=gate
            )
            out["joint_GAP"] = out["joint_encodings"].mean(dim=1)
        return out

    def features(
        self,
        s1: Tensor | None = None,
        s2: Tensor | None = None,
        gsd: Tensor | float | None = None,
        *,
        optical_mask: Tensor | None = None,
        cloud_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Patch features laid out on the grid.

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB.
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance.
            gsd: ignored (CROMA is not scale-aware); accepted for a uniform interface.
            optical_mask: optical patches to drop ``[B, N]`` bool (kit option, see :meth:`encode`).
            cloud_mask: ``[B, H, W]``: drop mostly cloudy optical patches (kit option, see :meth:`encode`).

        Returns:
            ``{"s1": [B, D, H/p, W/p], "s2": ..., "joint": ...}`` for the modalities that apply.
        """
        enc = self.encode(s1, s2, optical_mask=optical_mask, cloud_mask=cloud_mask)
        ref = s1 if s1 is not None else s2
        grid = (ref.shape[-2] // self.config.patch_size, ref.shape[-1] // self.config.patch_size)
        names = {"s1": "sar_encodings", "s2": "optical_encodings", "joint": "joint_encodings"}
        return {k: tokens_to_map(enc[v], grid) for k, v in names.items() if v in enc}

    def embed(
        self,
        s1: Tensor | None = None,
        s2: Tensor | None = None,
        gsd: Tensor | float | None = None,
        *,
        optical_mask: Tensor | None = None,
        cloud_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One vector per tile and modality.

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB.
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance.
            gsd: ignored; accepted for a uniform interface.
            optical_mask: optical patches to drop ``[B, N]`` bool (kit option, see :meth:`encode`).
            cloud_mask: ``[B, H, W]``: drop mostly cloudy optical patches before the joint encoder (kit
                option, see :meth:`encode`); the default (None) is the paper's unmasked inference.

        Returns:
            ``s1``, ``s2``: ``[B, D]`` in the shared contrastive space (unit norm) when
            ``config.embed_projected``, else ``sar_GAP`` / ``optical_GAP``; ``joint``: ``joint_GAP [B, D]``
            when both are given.
        """
        enc = self.encode(s1, s2, optical_mask=optical_mask, cloud_mask=cloud_mask)
        out = {}
        if "sar_GAP" in enc:
            out["s1"] = (
                self._shared(enc["sar_GAP"], self.proj_radar)
                if self.config.embed_projected
                else enc["sar_GAP"]
            )
        if "optical_GAP" in enc:
            out["s2"] = (
                self._shared(enc["optical_GAP"], self.proj_optical)
                if self.config.embed_projected
                else enc["optical_GAP"]
            )
        if "joint_GAP" in enc:
            out["joint"] = enc["joint_GAP"]
        return out

    @staticmethod
    def _shared(gap: Tensor, proj: nn.Module) -> Tensor:
        return F.normalize(proj(gap), dim=-1)

    @staticmethod
    def _standardise(patches: Tensor) -> Tensor:
        mean, var = patches.mean(dim=-1, keepdim=True), patches.var(dim=-1, keepdim=True)
        return (patches - mean) / (var + 1e-6) ** 0.5

    def _targets(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        """Reconstruction targets ``radar [B, N, p*p*2]`` and ``optical [B, N, p*p*12]``."""
        p = self.config.patch_size
        radar, optical = patchify(x1, p), patchify(x2, p)
        if not self.config.norm_pix_loss:
            return radar, optical
        if self.config.norm_pix_scope == "per_modality":
            return self._standardise(radar), self._standardise(optical)
        # official CROMA: one mean and variance over the 14-channel patch, then split by modality
        joint = self._standardise(torch.cat([optical, radar], dim=-1))  # [B, N, p*p*14]
        return joint[..., optical.shape[-1] :], joint[..., : optical.shape[-1]]

    @staticmethod
    def _reconstruction_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        per_patch = ((pred - target) ** 2).mean(dim=-1)  # [B, N]
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Pretraining step: independent masks, contrastive loss on the unimodal encodings, reconstruction.

        Args:
            batch: the pair batch: ``s1 [B, 2, H, W]`` dB and ``s2 [B, 12, H, W]`` reflectance (other keys
                are ignored).

        Returns:
            ``sar_encodings [B, K, D]``, ``optical_encodings [B, K, D]``, ``joint_encodings [B, K, D]`` (kept
            patches only), ``sar_GAP``, ``optical_GAP``, ``joint_GAP`` ``[B, D]``, ``loss_contrastive``,
            ``loss_mae`` (radar + optical), ``loss`` (their sum), ``loss_mae_sar``, ``loss_mae_optical``,
            ``mask_sar`` and ``mask_optical`` ``[B, N]`` (1 = hidden), ``logits [B, B]`` (radar rows).
        """
        s1, s2 = batch_item(batch, "s1", self.name), batch_item(batch, "s2", self.name)
        x1, x2, grid = self._inputs(s1, s2)
        b, n = x1.shape[0], grid[0] * grid[1]
        keep_r, mask_r, restore_r = random_masking(b, n, self.config.mask_ratio, x1.device)
        keep_o, mask_o, _ = random_masking(b, n, self.config.mask_ratio, x1.device)
        bias = self.alibi(grid, x1.device)
        bias_r, bias_o = masked_alibi(bias, keep_r, keep_r), masked_alibi(bias, keep_o, keep_o)

        sar = self.radar_encoder(x1, bias_r, keep_r)  # [B, K, D]
        optical = self.optical_encoder(x2, bias_o, keep_o)  # [B, K, D]
        sar_gap = self.gap_ffn_radar(sar.mean(dim=1))
        optical_gap = self.gap_ffn_optical(optical.mean(dim=1))
        loss_c, logits = info_nce(
            self._shared(sar_gap, self.proj_radar),
            self._shared(optical_gap, self.proj_optical),
            self.logit_scale(),
        )

        # X-ALiBi: radar query i and optical key j are biased by the distance between their own positions
        joint = self.cross_encoder(sar, optical, bias_r, masked_alibi(bias, keep_r, keep_o))
        pred_optical, pred_radar = self.decoder(joint, restore_r, grid)
        target_radar, target_optical = self._targets(x1, x2)
        loss_sar = self._reconstruction_loss(pred_radar, target_radar, mask_r)
        loss_optical = self._reconstruction_loss(pred_optical, target_optical, mask_o)
        loss_mae = loss_sar + loss_optical
        return {
            "sar_encodings": sar,
            "optical_encodings": optical,
            "joint_encodings": joint,
            "sar_GAP": sar_gap,
            "optical_GAP": optical_gap,
            "joint_GAP": joint.mean(dim=1),
            "loss_contrastive": loss_c,
            "loss_mae": loss_mae,
            "loss": loss_c + loss_mae,
            "loss_mae_sar": loss_sar.detach(),
            "loss_mae_optical": loss_optical.detach(),
            "mask_sar": mask_r,
            "mask_optical": mask_o,
            "logits": logits.detach(),
        }


__all__ = [
    "PRESETS",
    "CROMA",
    "CROMAConfig",
    "CROMADecoder",
    "CROMAEncoder",
    "CrossEncoder",
    "cloud_tokens",
    "masked_alibi",
]
