"""ResNet-50 encoder in timm's layout, the backbone of the published SSL4EO-S12 weights (DeCUR, SoftCon, MoCo).

torchgeo's ``resnet50`` is timm's ``resnet50`` with the first convolution adapted to the number of bands;
wrapping it keeps timm's parameter names (``net.conv1.weight``, ``net.layer4.2.conv3.weight``, ...), so the
published state dicts load after a fixed prefix.
"""

from __future__ import annotations

from torch import Tensor, nn


class ResNet50Encoder(nn.Module):
    """timm / torchgeo ResNet-50 without its classifier, returning the last feature map.

    Args:
        in_chans: input channels (2 for Sentinel-1, 13 for the SSL4EO-S12 Sentinel-2 weights).

    Example:
        >>> enc = ResNet50Encoder(13)
        >>> enc(x).shape  # x [B, 13, 224, 224] -> [B, 2048, 7, 7]
    """

    out_dim = 2048

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        from torchgeo.models import resnet50  # heavy import, only when a ResNet-50 is built

        self.in_chans = in_chans
        self.net = resnet50(weights=None, in_chans=in_chans, num_classes=0)

    def forward(self, x: Tensor) -> Tensor:
        """Encode ``[B, in_chans, H, W]`` (already through the input recipe) into ``[B, 2048, H/32, W/32]``."""
        return self.net.forward_features(x)

    feature_map = forward


__all__ = ["ResNet50Encoder"]
