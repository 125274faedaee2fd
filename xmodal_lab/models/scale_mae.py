"""Scale-MAE: a masked autoencoder that knows the ground sample distance (GSD) of its input.

Three ideas on top of MAE (Reed et al., ICCV 2023):

1. **GSD positional encoding.** Patch coordinates are multiplied by ``res = GSD / reference GSD`` before the
   sin-cos encoding (:func:`~xmodal_lab.models.positions.gsd_sincos_pos_embed`), so a patch of a coarse image is
   encoded as lying further from its neighbours: the encoder sees how much ground a patch covers. Each image
   of a batch carries its own GSD (``batch["gsd"]``, metres).
2. **Laplacian-pyramid decoder.** After a transformer decoder, two convolutional heads reconstruct two bands
   of the target image: the *low-frequency* head the band-limited image (area-downsampled by 2) with an MSE
   loss, the *high-frequency* head the paper's ``I_hf = I_hr - I_high-low`` at full resolution with an L1
   loss; both losses over masked patches. As in the official code (``forward_loss`` of ``models_mae.py``,
   ``--band_config 7 56``), ``I_high-low`` is the image area-downsampled to ``band_config[0]`` pixels a side
   (7) and bilinearly upsampled back, so the high band holds every detail finer than a 7 x 7 thumbnail;
   ``band_config=None`` is the kit's simpler one-octave variant ``img - upsample(avgpool2(img))``.
3. **Reconstruction at a higher resolution than the input** (super-resolution). With ``target_scale=2`` the
   encoder sees the image downsampled by 2 (its GSD doubled in the encoding) and the decoder rebuilds it at
   full resolution, so the high-frequency head must restore detail the input no longer holds, as in the
   paper's pretraining (input 224 px, target 448 px). :meth:`ScaleMAE.super_resolve` then turns any image
   into one at ``target_scale`` times its resolution. ``base`` and ``large`` use it (tiles must be multiples
   of ``2 * patch_size``); ``target_scale=1`` (``tiny`` and ``small``, so that 32, 64 and 120 px tiles all
   train) encodes the image at hand.

Deliberate differences from the official code: the losses are averaged over channels as well as masked
pixels (the official code sums over channels: a constant factor, the number of bands, on both terms), and the
low target is always ``area(img -> H/2)`` (the official one too, unless ``band_config[1] == 224``).

The encoder is a ViT with a class token and pre-norm blocks whose parameter names follow timm's
``VisionTransformer``, so torchgeo's ``ScaleMAE`` weights load directly (see :mod:`.convert`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import MAEDecoder, ViTEncoder, init_weights
from .masking import random_masking, tokens_to_map
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .positions import gsd_sincos_pos_embed, sincos_table
from .state_names import keep_state_names
from .validation import batch_item, model_input


@dataclass
class ScaleMAEConfig:
    """Configuration of :class:`ScaleMAE`.

    Attributes:
        modality: what the model reads: ``"s2"`` (optical), ``"s1"`` (radar) or ``"s1s2"`` (both stacked,
            optical bands first; embeddings are then called ``"joint"``).
        s2_bands: indices of the Sentinel-2 bands read (``None`` = all 12; ``(3, 2, 1)`` = RGB, for
            weights pretrained on RGB imagery).
        img_size: nominal tile side in pixels; any multiple of the patch size works.
        patch_size: ViT patch side; ``patch_size * target_scale`` must be a multiple of 4.
        embed_dim: encoder width.
        depth: encoder blocks.
        num_heads: encoder heads.
        mlp_ratio: MLP hidden width / width.
        decoder_dim: decoder width.
        decoder_depth: decoder blocks.
        decoder_heads: decoder heads.
        head_dim: hidden channels of the two convolutional heads.
        head_blocks: residual convolution blocks per head.
        mask_ratio: fraction of patches hidden from the encoder during training.
        reference_gsd: the GSD (metres) encoded as ``res = 1``: an image at this GSD gets the plain MAE
            encoding (10 m = Sentinel-2's native GSD).
        gsd_encoding: ``False`` ignores the GSD (every image encoded as ``res = 1``): a plain MAE with the same
            architecture, the baseline of the Scale-MAE ablation.
        target_scale: 1 encodes the image at hand; 2 encodes it downsampled by 2 and reconstructs it at
            full resolution.
        l1_weight: weight of the high-frequency L1 loss.
        loss_masking: ``True`` (paper and official default) counts the loss over hidden patches only;
            ``False`` counts every patch, visible ones too (the official ``--no_loss_masking`` switch, "do not
            mask the loss for pixels that are not masked on input"). With masking the decoder's outputs at
            visible positions are never trained, so :meth:`ScaleMAE.super_resolve` (every patch visible)
            needs ``loss_masking=False`` to read a trained pathway.
        band_config: ``(dim1, dim2)`` of the official code: the high-frequency target is
            ``img - bilinear(area(img -> dim1 x dim1))`` (paper and official default ``(7, 56)``; ``dim2`` is
            kept for parity and not used, see the module docstring). ``None``: the kit's one-octave variant
            ``img - bilinear(avgpool2(img))``, a narrower band.
        pool: embedding of an image: ``"mean"`` of the patch tokens or the ``"cls"`` token.
        norm_eps: LayerNorm epsilon (1e-6 as in timm and the reference code).
    """

    modality: str = "s2"
    s2_bands: tuple[int, ...] | None = None
    img_size: int = 32
    patch_size: int = 8
    embed_dim: int = 64
    depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    decoder_dim: int = 64
    decoder_depth: int = 1
    decoder_heads: int = 4
    head_dim: int = 32
    head_blocks: int = 1
    mask_ratio: float = 0.75
    reference_gsd: float = 10.0
    gsd_encoding: bool = True
    target_scale: int = 1
    l1_weight: float = 1.0
    loss_masking: bool = True
    band_config: tuple[int, int] | None = (7, 56)
    pool: str = "mean"
    norm_eps: float = 1e-6


#: What the reference code's ViT-B and ViT-L pretraining share: 224 px, patch 16, decoder, 2x target.
_REFERENCE_SETUP = dict(
    img_size=224,
    patch_size=16,
    decoder_dim=512,
    decoder_depth=3,
    decoder_heads=16,
    head_dim=256,
    head_blocks=2,
    target_scale=2,
)

PRESETS: dict[str, ScaleMAEConfig] = {
    "tiny": ScaleMAEConfig(),
    "small": ScaleMAEConfig(
        img_size=64,
        embed_dim=256,
        depth=6,
        num_heads=8,
        decoder_dim=128,
        decoder_depth=2,
        decoder_heads=8,
        head_dim=64,
        head_blocks=2,
    ),
    # ViT-B/16 encoder with the reference code's decoder (512 wide, 3 blocks, 2 convolution blocks per head);
    # for 120 px Sentinel tiles override patch_size=8 and target_scale=1
    "base": ScaleMAEConfig(embed_dim=768, depth=12, num_heads=12, **_REFERENCE_SETUP),
    # the paper's released encoder (ViT-L/16)
    "large": ScaleMAEConfig(embed_dim=1024, depth=24, num_heads=16, **_REFERENCE_SETUP),
}


#: Checkpoint names: the encoder at the top level as in timm's ``VisionTransformer`` (torchgeo's weights
#: load as they are), the decoder as in the reference code.
_STATE_NAMES = (
    ("encoder.patch_embed.", "patch_embed."),
    ("encoder.cls_token", "cls_token"),
    ("encoder.blocks.", "blocks."),
    ("encoder.norm.", "norm."),
    ("decoder.embed.", "decoder_embed."),
    ("decoder.mask_token", "mask_token"),
    ("decoder.blocks.", "decoder_blocks."),
    ("decoder.norm.", "decoder_norm."),
)


class Norm2d(nn.LayerNorm):
    """LayerNorm over the channels of a feature map ``[B, C, H, W]``."""

    def forward(self, x: Tensor) -> Tensor:
        """Normalise each pixel's channel vector; returns ``[B, C, H, W]``."""
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvBlock(nn.Module):
    """Residual convolution block of the heads: depthwise 3x3 and pointwise mixing, plus a 1x1 shortcut.

    Args:
        dim: channels.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GELU(), nn.Conv2d(dim, dim, 3, padding=1, groups=dim), nn.GELU(), nn.Conv2d(dim, dim, 1)
        )
        self.shortcut = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H, W]``."""
        return self.body(x) + self.shortcut(x)


class PyramidHead(nn.Module):
    """Convolutional head predicting one band of the Laplacian pyramid from upsampled decoder features.

    Args:
        in_dim: decoder channels.
        hidden: hidden channels.
        n_blocks: residual blocks.
        out_chans: image channels.
        upsample: final upsampling factor.
    """

    def __init__(self, in_dim: int, hidden: int, n_blocks: int, out_chans: int, upsample: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, hidden, 1)
        self.blocks = nn.Sequential(*[ConvBlock(hidden) for _ in range(n_blocks)])
        self.pred = nn.Sequential(
            Norm2d(hidden, eps=1e-6),
            nn.ConvTranspose2d(hidden, hidden, upsample, stride=upsample),
            nn.GELU(),
            nn.Conv2d(hidden, out_chans, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_dim, h, w]`` -> ``[B, out_chans, h * upsample, w * upsample]``."""
        return self.pred(self.blocks(self.proj(x)))


def laplacian_bands(img: Tensor, band_config: tuple[int, int] | None = (7, 56)) -> tuple[Tensor, Tensor]:
    """Split an image into Scale-MAE's low- and high-frequency targets.

    Args:
        img: ``[B, C, H, W]`` with even H and W.
        band_config: ``(dim1, dim2)`` of the official code: ``high = img - bilinear(area(img -> dim1 x dim1))``
            (the paper's ``I_hf = I_hr - I_high-low``; default ``(7, 56)`` as in the official pretraining).
            ``None``: one Laplacian octave, ``high = img - bilinear(low)``.

    Returns:
        ``low [B, C, H/2, W/2]`` (area-downsampled image) and ``high [B, C, H, W]``. :func:`combine_bands` of
        the two gives ``img`` back exactly with ``None``, or when H and W are multiples of ``2 * dim1`` (as the
        official 448 px targets with ``dim1 = 7``); otherwise up to the area-pooling bins, as in the official
        ``split_pred``.
    """
    low = F.avg_pool2d(img, 2)
    return low, img - _smooth(img if band_config is not None else low, img.shape[-2:], band_config)


def combine_bands(low: Tensor, high: Tensor, band_config: tuple[int, int] | None = (7, 56)) -> Tensor:
    """Image from its two bands (the inverse of :func:`laplacian_bands`; official ``split_pred``).

    Args:
        low: ``[B, C, H/2, W/2]``.
        high: ``[B, C, H, W]``.
        band_config: as in :func:`laplacian_bands`.

    Returns:
        ``[B, C, H, W]``: ``bilinear(area(low -> dim1 x dim1)) + high`` (``bilinear(low) + high`` with None).
    """
    return _smooth(low, high.shape[-2:], band_config) + high


def _smooth(img: Tensor, size: tuple[int, int], band_config: tuple[int, int] | None) -> Tensor:
    # the band-limited image: area-downsampled to dim1 pixels a side (None: as given), bilinear back to size
    if band_config is not None:
        dim1 = band_config[0]
        if not 1 <= dim1 < min(size):
            raise ValueError(
                f"band_config[0] = {dim1} must be a positive size below the tile side {min(size)} px"
            )
        img = F.interpolate(img, size=(dim1, dim1), mode="area")
    return F.interpolate(img, size=tuple(size), mode="bilinear", align_corners=False)


class ScaleMAE(nn.Module):
    """Scale-aware masked autoencoder with a Laplacian-pyramid decoder.

    Args:
        config: a :class:`ScaleMAEConfig` (default: the ``tiny`` preset).

    Example:
        >>> model = ScaleMAE(PRESETS["tiny"])
        >>> out = model({"s2": s2, "gsd": torch.tensor([10.0, 20.0])})  # s2 [2, 12, 32, 32] reflectance
        >>> out["loss"].backward()
        >>> model.embed(s2=s2, gsd=10.0)["s2"].shape  # [2, 64]
    """

    name = "scale_mae"

    def __init__(self, config: ScaleMAEConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else ScaleMAEConfig()
        if c.modality not in ("s2", "s1", "s1s2"):
            raise ValueError(f"modality must be 's2', 's1' or 's1s2', got {c.modality!r}")
        if c.target_scale not in (1, 2) or (c.patch_size * c.target_scale) % 4:
            raise ValueError(
                f"target_scale must be 1 or 2 and patch_size * target_scale a multiple of 4, "
                f"got patch_size={c.patch_size}, target_scale={c.target_scale}"
            )
        if not 0.0 < c.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1) for masked reconstruction, got {c.mask_ratio}")
        if c.band_config is not None and (
            len(c.band_config) != 2 or not all(isinstance(d, int) and d >= 1 for d in c.band_config)
        ):
            raise ValueError(
                f"band_config must be None or two positive pixel sizes (dim1, dim2), got {c.band_config}"
            )
        if c.pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {c.pool!r}")
        if c.s2_bands is not None and not all(0 <= i < S2_CHANNELS for i in c.s2_bands):
            raise ValueError(f"s2_bands must index the 12 Sentinel-2 bands (0..11), got {c.s2_bands}")
        n_s2 = S2_CHANNELS if c.s2_bands is None else len(c.s2_bands)
        self.in_chans = {"s2": n_s2, "s1": S1_CHANNELS, "s1s2": n_s2 + S1_CHANNELS}[c.modality]
        self.key = {"s2": "s2", "s1": "s1", "s1s2": "joint"}[c.modality]
        if "s1" in c.modality:
            self.norm_s1 = s1_norm()
        if "s2" in c.modality:
            self.norm_s2 = s2_norm(c.s2_bands)

        # encoder: a ViT with a class token; positions are the GSD encoding, passed in by encode()
        self.encoder = ViTEncoder(
            self.in_chans, c.patch_size, c.embed_dim, c.depth, c.num_heads, c.mlp_ratio,
            norm_eps=c.norm_eps, cls_token=True,
        )  # fmt: skip

        # decoder: transformer on the full grid, then two upsampling branches (x2 low, x4 high)
        self.decoder = MAEDecoder(
            c.embed_dim, c.decoder_dim, c.decoder_depth, c.decoder_heads, c.mlp_ratio, norm_eps=c.norm_eps
        )
        d = c.decoder_dim
        self.fpn_low = nn.ConvTranspose2d(d, d, 2, stride=2)
        self.fpn_high = nn.Sequential(
            nn.ConvTranspose2d(d, d, 2, stride=2),
            Norm2d(d, eps=1e-6),
            nn.GELU(),
            nn.ConvTranspose2d(d, d, 2, stride=2),
        )
        # a token covers patch_size * target_scale target pixels: low band at half that, high band at all of it
        up = c.patch_size * c.target_scale // 4
        self.head_low = PyramidHead(d, c.head_dim, c.head_blocks, self.in_chans, up)
        self.head_high = PyramidHead(d, c.head_dim, c.head_blocks, self.in_chans, up)

        self.apply(init_weights)
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.decoder.mask_token, std=0.02)
        keep_state_names(self, _STATE_NAMES)

    # the encoder's parts under timm's names, as they are stored in checkpoints
    @property
    def patch_embed(self) -> nn.Module:
        """The encoder's patch embedding (``patch_embed`` in checkpoints)."""
        return self.encoder.patch_embed

    @property
    def cls_token(self) -> nn.Parameter:
        """The encoder's class token ``[1, 1, D]`` (``cls_token`` in checkpoints)."""
        return self.encoder.cls_token

    @property
    def blocks(self) -> nn.ModuleList:
        """The encoder's transformer blocks (``blocks`` in checkpoints)."""
        return self.encoder.blocks

    @property
    def norm(self) -> nn.Module:
        """The encoder's final LayerNorm (``norm`` in checkpoints)."""
        return self.encoder.norm

    # ----------------------------------------------------------------------------------------- inputs
    def _image(self, s1: Tensor | None, s2: Tensor | None, multiple: int) -> Tensor:
        """Check and standardise the modalities this model reads; returns ``[B, in_chans, H, W]``."""
        c = self.config
        parts = []
        if "s2" in c.modality:
            if s2 is None:
                raise ValueError(
                    f"this Scale-MAE (modality={c.modality!r}) needs s2=[B, 12, H, W] reflectance"
                )
            s2 = model_input(s2, S2_CHANNELS, multiple, "s2")
            parts.append(self.norm_s2(s2 if c.s2_bands is None else s2[:, list(c.s2_bands)]))
        if "s1" in c.modality:
            if s1 is None:
                raise ValueError(f"this Scale-MAE (modality={c.modality!r}) needs s1=[B, 2, H, W] dB")
            s1 = model_input(s1, S1_CHANNELS, multiple, "s1")
            parts.append(self.norm_s1(s1))
        if len(parts) == 2 and parts[0].shape[-2:] != parts[1].shape[-2:]:
            raise ValueError(
                f"s1 and s2 must be co-registered tiles of one size, got {tuple(s1.shape)}, {tuple(s2.shape)}"
            )
        return torch.cat(parts, dim=1)

    def gsd_ratio(self, gsd: Tensor | float | None, n_images: int) -> Tensor:
        """Turn ground sample distances into the encoding's ``res = GSD / reference_gsd``.

        Args:
            gsd: metres per pixel: a number, a tensor ``[B]`` (on any device), or None for the reference GSD.
            n_images: ``B``.

        Returns:
            ``[B]`` float64 ratios (float32 on devices without float64), on the device of a ``gsd`` tensor
            (all ones when ``config.gsd_encoding`` is off).
        """
        if gsd is None or not self.config.gsd_encoding:
            return torch.ones(n_images, dtype=torch.float64)
        device = gsd.device if isinstance(gsd, Tensor) else torch.device("cpu")
        cd = torch.float32 if device.type == "mps" else torch.float64
        g = gsd.detach().to(device, cd) if isinstance(gsd, Tensor) else torch.as_tensor(gsd, dtype=cd)
        g = g.reshape(-1)
        if g.numel() == 1:
            g = g.expand(n_images)
        if g.numel() != n_images:
            raise ValueError(f"gsd must be a positive number or one per image ([{n_images}]), got {gsd}")
        if device.type == "cpu":
            if not torch.all(g > 0):
                raise ValueError(f"gsd must be a positive number or one per image ([{n_images}]), got {gsd}")
        else:  # checked on the device, without waiting for it
            torch._assert_async(torch.all(g > 0), "gsd must be positive")
        return g / self.config.reference_gsd

    # ---------------------------------------------------------------------------------------- encoder
    def _pos_embed(self, dim: int, grid: tuple[int, int], res: Tensor, like: Tensor) -> Tensor:
        if res.device.type == "cpu" and torch.all(res == res[0]):
            # one cached encoding for the whole batch when every image has the same GSD
            return sincos_table(dim, grid, like.device, like.dtype, float(res[0])).unsqueeze(0)  # [1, N, D]
        # one encoding per image, computed where the model runs (no host round trip)
        return gsd_sincos_pos_embed(dim, grid, res.to(like.device), like.device, like.dtype)  # [B, N, D]

    def encode(
        self, x: Tensor, res: Tensor, mask_ratio: float = 0.0
    ) -> tuple[Tensor, Tensor | None, Tensor | None, tuple[int, int]]:
        """Run the encoder on a standardised image, optionally hiding a random ``mask_ratio`` of the patches.

        Args:
            x: ``[B, C, H, W]`` standardised.
            res: ``[B]`` GSD ratios.
            mask_ratio: fraction of patches to hide (0 at inference).

        Returns:
            ``tokens [B, 1 + K, D]`` (class token first, then the K kept patches in grid order), ``mask [B, N]``
            (1 = hidden) and ``ids_restore [B, N]`` (both None without masking), and the grid ``(h, w)``.
        """
        grid = self.encoder.grid(x)
        n = grid[0] * grid[1]
        pos = self._pos_embed(self.config.embed_dim, grid, res, x)
        mask = ids_restore = ids_keep = None
        if mask_ratio > 0:
            ids_keep, mask, ids_restore = random_masking(x.shape[0], n, mask_ratio, x.device)
        # the class token's position encoding is zero, as in the reference code
        return self.encoder(x, ids_keep=ids_keep, pos=pos), mask, ids_restore, grid

    # ---------------------------------------------------------------------------------------- decoder
    def decode(
        self, latent: Tensor, ids_restore: Tensor, res: Tensor, grid: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """Reconstruct both pyramid bands from the encoder's kept tokens.

        Args:
            latent: encoder output ``[B, 1 + K, D]``.
            ids_restore: ``[B, N]`` from the masking.
            res: ``[B]`` GSD ratios of the encoder input.
            grid: ``(h, w)`` patch grid.

        Returns:
            ``pred_low [B, C, Ht/2, Wt/2]`` and ``pred_high [B, C, Ht, Wt]`` for a target of
            ``Ht = h * patch_size * target_scale`` pixels (standardised units).
        """
        pos = self._pos_embed(self.config.decoder_dim, grid, res, latent)
        x = self.decoder(latent[:, 1:], ids_restore, grid, pos)  # [B, N, Dd]; the class token is not decoded
        fmap = tokens_to_map(x, grid)  # [B, Dd, h, w]
        return self.head_low(self.fpn_low(fmap)), self.head_high(self.fpn_high(fmap))

    # ------------------------------------------------------------------------------------- public API
    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Masked-reconstruction loss on a batch.

        Args:
            batch: the pair batch: ``s2 [B, 12, H, W]`` reflectance and/or ``s1 [B, 2, H, W]`` dB (as the
                modality requires), ``gsd`` (metres, a number or ``[B]``; reference GSD if absent). H and W
                must be multiples of ``patch_size * target_scale``.

        Returns:
            ``loss`` (MSE low band + ``l1_weight`` * L1 high band, over hidden patches, or every patch with ``loss_masking=False``), ``loss_low``,
            ``loss_high``, ``pred_low [B, C, H/2, W/2]``, ``pred_high [B, C, H, W]``, ``reconstruction``
            ``[B, C, H, W]`` (:func:`combine_bands` of the two, standardised units), ``target [B, C, H, W]``
            (the standardised image), ``mask [B, h, w]`` (1 = hidden from the encoder, on the encoder's grid).
        """
        c = self.config
        s1 = batch_item(batch, "s1", self.name) if "s1" in c.modality else None
        s2 = batch_item(batch, "s2", self.name) if "s2" in c.modality else None
        target = self._image(s1, s2, c.patch_size * c.target_scale)  # [B, C, H, W]
        res = self.gsd_ratio(batch.get("gsd"), target.shape[0]) * c.target_scale
        x = F.avg_pool2d(target, c.target_scale) if c.target_scale > 1 else target
        latent, mask, ids_restore, grid = self.encode(x, res, c.mask_ratio)
        pred_low, pred_high = self.decode(latent, ids_restore, res, grid)

        low, high = laplacian_bands(target, c.band_config)
        mask_map = mask.reshape(-1, 1, *grid)  # [B, 1, h, w]
        cell = c.patch_size * c.target_scale  # target pixels per token side
        counted = mask_map if c.loss_masking else torch.ones_like(mask_map)  # patches the loss counts
        m_high = counted.repeat_interleave(cell, 2).repeat_interleave(cell, 3)
        m_low = counted.repeat_interleave(cell // 2, 2).repeat_interleave(cell // 2, 3)
        loss_low = (m_low * (pred_low - low) ** 2).sum() / (m_low.sum() * self.in_chans)
        loss_high = (m_high * (pred_high - high).abs()).sum() / (m_high.sum() * self.in_chans)
        return {
            "loss": loss_low + c.l1_weight * loss_high,
            "loss_low": loss_low.detach(),
            "loss_high": loss_high.detach(),
            "pred_low": pred_low,
            "pred_high": pred_high,
            "reconstruction": combine_bands(pred_low, pred_high, c.band_config),
            "target": target,
            "mask": mask_map[:, 0],
        }

    def super_resolve(
        self, s1: Tensor | None = None, s2: Tensor | None = None, gsd: Tensor | float | None = None
    ) -> dict[str, Tensor]:
        """Encode a whole image (nothing masked) and reconstruct it at ``target_scale`` times its resolution.

        With ``target_scale=2`` a model pretrained to rebuild tiles from their half-resolution version turns a
        ``H x W`` image into a ``2H x 2W`` one (the paper's super-resolution use of the decoder).

        Which decoder outputs are trained: the decoder is the official one's default layout
        (``forward_decoder`` with ``--use_mask_token``, the default of ``main_pretrain.py``; the
        ``build_input_sequence`` of ``models_mae.py`` that would query every position with a mask token is
        never called): encoded visible tokens in place, mask tokens at hidden positions. With the paper's
        masked loss (``loss_masking=True``) the outputs at visible positions are never trained, in the
        official code too, and here every patch is visible. Pretrain with ``loss_masking=False`` (the official
        ``--no_loss_masking`` switch) for a model whose every output is trained. Measured in lesson 03
        (``benchmarks/bench_scale_mae_effect.py``, tiny preset, patch 4, 150 steps, 3 seeds, standardised
        units, 20 m -> 10 m): RMS 0.488 +/- 0.024 with the masked loss, 0.440 +/- 0.028 with
        ``loss_masking=False``, against 0.164 +/- 0.008 for bicubic upsampling. Compare with such a
        baseline before reading a super-resolved image.

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB (read when the modality includes radar).
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance (read when the modality includes optical).
            gsd: metres per pixel *of the input*, a number or ``[B]`` (reference GSD if None).

        Returns:
            ``reconstruction [B, C, sH, sW]`` (``s = target_scale``, standardised units, as ``target`` in
            :meth:`forward`), ``pred_low [B, C, sH/2, sW/2]``, ``pred_high [B, C, sH, sW]``.
        """
        c = self.config
        x = self._image(s1, s2, c.patch_size)
        res = self.gsd_ratio(gsd, x.shape[0])
        latent, _, _, grid = self.encode(x, res)
        n = grid[0] * grid[1]
        in_order = torch.arange(n, device=x.device).expand(x.shape[0], n)  # nothing masked
        pred_low, pred_high = self.decode(latent, in_order, res, grid)
        return {
            "reconstruction": combine_bands(pred_low, pred_high, c.band_config),
            "pred_low": pred_low,
            "pred_high": pred_high,
        }

    def features(
        self, s1: Tensor | None = None, s2: Tensor | None = None, gsd: Tensor | float | None = None
    ) -> dict[str, Tensor]:
        """Patch features of the whole (unmasked) image, laid out on the patch grid.

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB (read when the modality includes radar).
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance (read when the modality includes optical).
            gsd: metres per pixel, a number or ``[B]`` (reference GSD if None).

        Returns:
            ``{key: [B, D, H/p, W/p]}`` with key ``"s2"``, ``"s1"`` or ``"joint"`` (by modality).
        """
        tokens, grid = self._encode_full(s1, s2, gsd)
        return {self.key: tokens_to_map(tokens[:, 1:], grid)}

    def embed(
        self, s1: Tensor | None = None, s2: Tensor | None = None, gsd: Tensor | float | None = None
    ) -> dict[str, Tensor]:
        """One vector per image: mean of the patch tokens (or the class token, by ``config.pool``).

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB (read when the modality includes radar).
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance (read when the modality includes optical).
            gsd: metres per pixel, a number or ``[B]`` (reference GSD if None).

        Returns:
            ``{key: [B, D]}`` with key ``"s2"``, ``"s1"`` or ``"joint"`` (by modality).
        """
        tokens, _ = self._encode_full(s1, s2, gsd)
        pooled = tokens[:, 0] if self.config.pool == "cls" else tokens[:, 1:].mean(dim=1)
        return {self.key: pooled}

    def _encode_full(
        self, s1: Tensor | None, s2: Tensor | None, gsd: Tensor | float | None
    ) -> tuple[Tensor, tuple[int, int]]:
        x = self._image(s1, s2, self.config.patch_size)
        tokens, _, _, grid = self.encode(x, self.gsd_ratio(gsd, x.shape[0]))
        return tokens, grid


__all__ = ["PRESETS", "ScaleMAE", "ScaleMAEConfig", "combine_bands", "laplacian_bands"]
