"""Contrastive radar-optical dual encoder (CLIP-style): two encoders, projections, symmetric InfoNCE."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import ViTEncoder, init_weights
from .losses import MAX_LOGIT_SCALE, LogitScale, info_nce
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .validation import batch_item, model_input, same_tiles


@dataclass
class ContrastiveConfig:
    """Configuration of :class:`ContrastiveDualEncoder`; ``patch_size`` to ``mlp_ratio`` size the ViT."""

    backbone: str = "vit"  # or "resnet"
    img_size: int = 32
    patch_size: int = 8
    embed_dim: int = 64
    depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    resnet_widths: tuple[int, ...] = (32, 64, 128)  # channels per stage; each later one halves the size
    resnet_blocks: tuple[int, ...] = (1, 1, 1)  # blocks per stage; (2, 2, 2, 2), (64, ..., 512): ResNet-18
    resnet_stem_stride: int = 1  # 1 keeps full resolution; 4 is ResNet's 7x7 stride-2 conv and max-pool
    proj_dim: int = 64
    proj_hidden: int = 128  # hidden width of the projection MLP; 0: one linear layer
    init_temperature: float = 0.07
    max_logit_scale: float | None = MAX_LOGIT_SCALE  # cap of the inverse temperature; None: free


PRESETS: dict[str, ContrastiveConfig] = {
    "tiny": ContrastiveConfig(),
    "small": ContrastiveConfig(img_size=64, embed_dim=192, depth=6, num_heads=6, proj_dim=128, proj_hidden=512),
    # a ResNet-18 per modality (first conv for 2 / 12 bands) on BigEarthNet's 120 px tiles
    "base": ContrastiveConfig(backbone="resnet", img_size=120, resnet_widths=(64, 128, 256, 512),
                              resnet_blocks=(2, 2, 2, 2), resnet_stem_stride=4, proj_dim=256,
                              proj_hidden=1024),
}  # fmt: skip


def vit_encoder(in_chans: int, config: ContrastiveConfig) -> ViTEncoder:
    """The shared ViT encoder sized by a config."""
    c = config
    return ViTEncoder(in_chans, c.patch_size, c.embed_dim, c.depth, c.num_heads, c.mlp_ratio)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            conv = nn.Conv2d(c_in, c_out, 1, stride, bias=False)
            self.shortcut = nn.Sequential(conv, nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """ResNet with a first convolution for any number of bands: ``[B, C, H, W]`` -> last stage ``[B, D, h, w]``."""

    def __init__(self, in_chans: int, config: ContrastiveConfig) -> None:
        super().__init__()
        widths, blocks, stride = config.resnet_widths, config.resnet_blocks, config.resnet_stem_stride
        if len(widths) != len(blocks) or not widths:
            raise ValueError(f"resnet_widths {widths} and resnet_blocks {blocks} must be non-empty, "
                             "same length")  # fmt: skip
        if stride not in (1, 4):
            raise ValueError(f"resnet_stem_stride must be 1 or 4, got {stride}")
        kernel, conv_stride = (3, 1) if stride == 1 else (7, 2)
        stem = [nn.Conv2d(in_chans, widths[0], kernel, conv_stride, kernel // 2, bias=False)]
        stem += [nn.BatchNorm2d(widths[0]), nn.ReLU()] + ([nn.MaxPool2d(3, 2, 1)] if stride == 4 else [])
        self.stem = nn.Sequential(*stem)
        stages, c_in = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            layers = [BasicBlock(c_in, width, 1 if i == 0 else 2)]
            layers += [BasicBlock(width, width, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            c_in = width
        self.stages = nn.Sequential(*stages)
        self.out_dim = widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        """The last feature map ``[B, D, h, w]`` of a standardised image ``[B, C, H, W]``."""
        return self.stages(self.stem(x))

    feature_map = forward


def _projection(in_dim: int, hidden: int, out_dim: int) -> nn.Module:
    if hidden <= 0:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))


class ContrastiveDualEncoder(nn.Module):
    """Radar and optical encoders trained with symmetric InfoNCE into one embedding space."""

    name = "contrastive"

    def __init__(self, config: ContrastiveConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else ContrastiveConfig()
        if c.backbone not in ("vit", "resnet"):
            raise ValueError(f"backbone must be 'vit' or 'resnet', got {c.backbone!r}")
        encoder = vit_encoder if c.backbone == "vit" else ResNetEncoder
        self.norm_s1, self.norm_s2 = s1_norm(), s2_norm()
        self.encoder_s1, self.encoder_s2 = encoder(S1_CHANNELS, c), encoder(S2_CHANNELS, c)
        self.proj_s1 = _projection(self.encoder_s1.out_dim, c.proj_hidden, c.proj_dim)
        self.proj_s2 = _projection(self.encoder_s2.out_dim, c.proj_hidden, c.proj_dim)
        self.logit_scale = LogitScale(c.init_temperature, c.max_logit_scale)
        if c.backbone == "vit":
            self.apply(init_weights)

    @property
    def input_multiple(self) -> int:
        """Height and width must be multiples of this (the ViT patch; 1 for the ResNet)."""
        return self.config.patch_size if self.config.backbone == "vit" else 1

    def features(self, s1: Tensor | None = None, s2: Tensor | None = None, gsd=None) -> dict[str, Tensor]:
        """Feature maps ``{"s1", "s2"}: [B, D, h, w]`` of the modalities given (``gsd`` is ignored)."""
        out = {}
        for name, x, channels in (("s1", s1, S1_CHANNELS), ("s2", s2, S2_CHANNELS)):
            if x is not None:
                x = model_input(x, channels, self.input_multiple, name, config=self.config)
                out[name] = getattr(self, f"encoder_{name}").feature_map(getattr(self, f"norm_{name}")(x))
        if not out:
            raise ValueError("pass at least one of s1=[B, 2, H, W] or s2=[B, 12, H, W]")
        return out

    def embed(self, s1: Tensor | None = None, s2: Tensor | None = None, gsd=None) -> dict[str, Tensor]:
        """Unit-norm embeddings ``{"s1", "s2"}: [B, proj_dim]`` in the shared space (``gsd`` is ignored)."""
        proj = {"s1": self.proj_s1, "s2": self.proj_s2}
        feats = self.features(s1=s1, s2=s2)
        return {k: F.normalize(proj[k](v.mean(dim=(2, 3))), dim=-1) for k, v in feats.items()}

    def similarity(self, s1: Tensor, s2: Tensor) -> Tensor:
        """Cosine similarity ``[B1, B2]`` of every radar tile ``[B1, 2, H, W]`` with every optical tile."""
        return self.embed(s1=s1)["s1"] @ self.embed(s2=s2)["s2"].t()

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """InfoNCE ``loss``, ``logits [B, B]`` (radar rows) and the embeddings of ``batch["s1"]``, ``batch["s2"]``."""
        s1, s2 = batch_item(batch, "s1", self.name), batch_item(batch, "s2", self.name)
        same_tiles(s1, s2)
        emb, scale = self.embed(s1=s1, s2=s2), self.logit_scale()
        loss, logits = info_nce(emb["s1"], emb["s2"], scale)
        return {"loss": loss, "logits": logits, **emb, "logit_scale": scale.detach()}


__all__ = ["PRESETS", "ContrastiveConfig", "ContrastiveDualEncoder", "ResNetEncoder", "vit_encoder"]
