"""Scale-MAE's Laplacian pyramid: the low and high bands of an image, and the FCN heads that predict them."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Norm2d(nn.Module):
    """LayerNorm over the channels of a feature map ``[B, C, H, W]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H, W]``."""
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FPNHead(nn.Module):
    """Upsample the decoder's feature map ``[B, D, h, w]`` by 4 (for the high band) and by 2 (the low band)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        up2 = lambda: nn.ConvTranspose2d(dim, dim, 2, stride=2)  # noqa: E731
        self.fpn1 = nn.Sequential(up2(), Norm2d(dim), nn.GELU(), up2())
        self.fpn2 = nn.Sequential(up2())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, D, h, w]`` -> ``[B, D, 4h, 4w]`` and ``[B, D, 2h, 2w]``."""
        return self.fpn1(x), self.fpn2(x)


class ResidualConv(nn.Module):
    """Residual block of the FCN heads: grouped 3x3 and pointwise convolutions, plus a 1x1 shortcut."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        self.convs = nn.Sequential(nn.GELU(), nn.Conv2d(dim, half, 3, padding=1, groups=half), nn.GELU(),
                                   nn.Conv2d(half, dim, 1))  # fmt: skip
        self.residual = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H, W]``."""
        return self.convs(x) + self.residual(x)


class FCNHead(nn.Module):
    """FCN head predicting one band: projection, residual blocks, two transposed convolutions."""

    def __init__(self, in_dim: int, hidden: int, n_blocks: int, out_chans: int, upsample: int) -> None:
        super().__init__()
        up2 = 2 if upsample % 2 == 0 else 1
        up1 = upsample // up2
        self.proj = nn.Conv2d(in_dim, hidden, 1)
        self.conv_blocks = nn.Sequential(*[ResidualConv(hidden) for _ in range(n_blocks)])
        self.pred = nn.Sequential(
            Norm2d(hidden), nn.ConvTranspose2d(hidden, hidden // 2, up1, stride=up1), nn.GELU(),
            nn.Conv2d(hidden // 2, hidden // 4, 3, padding=1, groups=hidden // 4), nn.GELU(),
            nn.Conv2d(hidden // 4, hidden // 2, 1), nn.GELU(),
            nn.ConvTranspose2d(hidden // 2, out_chans, up2, stride=up2),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_dim, h, w]`` -> ``[B, out_chans, h * upsample, w * upsample]``."""
        return self.pred(self.conv_blocks(self.proj(x)))


def laplacian_bands(img: Tensor, band_config: tuple[int, int] | None = (7, 56)) -> tuple[Tensor, Tensor]:
    """``low [B, C, H/2, W/2]`` and ``high = img - bilinear(area(img -> dim1 x dim1))`` (None: of low)."""
    low = F.avg_pool2d(img, 2)
    return low, img - _smooth(img if band_config is not None else low, img.shape[-2:], band_config)


def combine_bands(low: Tensor, high: Tensor, band_config: tuple[int, int] | None = (7, 56)) -> Tensor:
    """Image ``[B, C, H, W]`` from its two bands, the inverse of :func:`laplacian_bands`."""
    return _smooth(low, high.shape[-2:], band_config) + high


def _smooth(img: Tensor, size: tuple[int, int], band_config: tuple[int, int] | None) -> Tensor:
    if band_config is not None:
        dim1 = band_config[0]
        if not 1 <= dim1 < min(size):
            raise ValueError(f"band_config[0] = {dim1} must be a positive size below the tile side "
                             f"{min(size)} px")  # fmt: skip
        img = F.interpolate(img, size=(dim1, dim1), mode="area")
    return F.interpolate(img, size=tuple(size), mode="bilinear", align_corners=False)


__all__ = ["FCNHead", "FPNHead", "Norm2d", "ResidualConv", "combine_bands", "laplacian_bands"]
