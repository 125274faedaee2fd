"""Input recipes of published weights: from the kit's physical units to what each checkpoint was trained on.

An :class:`InputRecipe` replaces a model's ``norm_s1`` / ``norm_s2`` (band order, digital numbers, 8-bit RGB,
pretraining statistics), so users keep feeding Sentinel-1 dB and Sentinel-2 reflectance.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

#: SSL4EO-S12 Sentinel-1 GRD statistics in dB (VV, VH).
SSL4EO_S1_MEAN = (-12.59, -20.26)
SSL4EO_S1_STD = (5.26, 5.91)

#: SSL4EO-S12 Sentinel-2 L1C statistics in digital numbers, 13 bands B1 ... B8, B8A, B9, B10, B11, B12.
SSL4EO_S2_MEAN_DN = (
    1612.9, 1397.6, 1322.3, 1373.1, 1561.0, 2108.4, 2390.7, 2318.7, 2581.0, 837.7, 22.0, 2195.2, 1537.4,
)  # fmt: skip
SSL4EO_S2_STD_DN = (
    791.0, 854.3, 878.7, 1144.9, 1127.5, 1164.2, 1276.0, 1249.5, 1345.9, 577.5, 47.5, 1340.0, 1142.9,
)  # fmt: skip

#: The kit's band feeding each of the 13 SSL4EO-S12 bands; B10 (absent from L2A) is a constant.
S2_13_FROM_12 = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, None, 10, 11)

#: B10 filled with its SSL4EO-S12 mean (22 DN) in reflectance: standardised, it is exactly 0.
B10_FILL_REFLECTANCE = 22.0 / 10000.0

#: ImageNet RGB statistics on a [0, 1] scale.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Reflectance shown as white in 8-bit RGB (the kit's true-colour stretch; fMoW RGB has no calibration).
RGB_WHITE_REFLECTANCE = 0.3


class InputRecipe(nn.Module):
    """A published checkpoint's input recipe on physical units: band mapping, gain, clip, normalisation.

    Output channel ``c`` is ``v = clip(gain * x[bands[c]], *input_range)``, then ``(v - mean) / std``
    (``mode="standardize"``) or CROMA's stretch of ``mean +- 2 std`` onto ``[0, 1]`` (``"croma"``).
    ``mean`` and ``std`` ``[C_out]`` are in the recipe's units (after ``gain``; 10000 turns reflectance into
    digital numbers); a None in ``bands`` reads the next constant of ``fill`` (physical units).
    """

    def __init__(self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor, *,
                 bands: Sequence[int | None] | None = None, fill: Sequence[float] = (), gain: float = 1.0,
                 input_range: tuple[float, float] | None = None, mode: str = "standardize") -> None:  # fmt: skip
        super().__init__()
        if mode not in ("standardize", "croma"):
            raise ValueError(f"mode must be one of ('standardize', 'croma'), got {mode!r}")
        n_out = torch.as_tensor(mean).numel()
        bands = tuple(range(n_out)) if bands is None else tuple(bands)
        if len(bands) != n_out:
            raise ValueError(f"bands names {len(bands)} output channels but mean has {n_out}")
        n_fill = bands.count(None)
        if len(fill) != n_fill:
            raise ValueError(f"bands has {n_fill} constant channel(s) but fill gives {len(fill)} value(s)")
        self.mode, self.gain, self.input_range, self.bands = mode, float(gain), input_range, bands
        self.in_channels = 1 + max((b for b in bands if b is not None), default=-1)
        # output channel c reads column index[c] of [input channels..., constant channels...]
        fills = iter(range(self.in_channels, self.in_channels + n_fill))
        index = [next(fills) if b is None else b for b in bands]
        self.register_buffer("index", torch.tensor(index), persistent=False)
        self.register_buffer("fill", torch.tensor(list(fill), dtype=torch.float32))
        self.register_buffer("mean", torch.zeros(1, n_out, 1, 1))
        self.register_buffer("std", torch.ones(1, n_out, 1, 1))
        self.set_stats(mean, std)

    @property
    def out_channels(self) -> int:
        """Channels the recipe produces."""
        return self.mean.shape[1]

    def set_stats(self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> None:
        """Replace the statistics ``[C_out]`` (in the recipe's units, after the gain)."""
        mean_t, std_t = (torch.as_tensor(v, dtype=torch.float32).reshape(1, -1, 1, 1) for v in (mean, std))
        if mean_t.numel() != (n := self.out_channels) or std_t.numel() != n:
            raise ValueError(
                f"this recipe has {n} output channels; got {mean_t.numel()} means and {std_t.numel()} stds")
        if not bool((std_t > 0).all()):
            raise ValueError(f"standard deviations must be positive, got {std_t.flatten().tolist()}")
        self.mean.copy_(mean_t)
        self.std.copy_(std_t)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the recipe to physical units ``[B, C_in, H, W]``; returns ``[B, C_out, H, W]``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input recipe reads [B, {self.in_channels}, H, W] physical units, got {tuple(x.shape)}")
        if self.fill.numel():
            b, _, h, w = x.shape
            x = torch.cat([x, self.fill.to(x).reshape(1, -1, 1, 1).expand(b, -1, h, w)], dim=1)
        v = x.index_select(1, self.index.to(x.device)) * self.gain  # [B, C_out, H, W]
        if self.input_range is not None:
            v = v.clamp(*self.input_range)
        if self.mode == "croma":
            return ((v - (self.mean - 2.0 * self.std)) / (4.0 * self.std)).clamp(0.0, 1.0)
        return (v - self.mean) / self.std

    def extra_repr(self) -> str:
        """Summary shown by ``print(model)``."""
        return f"mode={self.mode}, bands={self.bands}, gain={self.gain:g}, input_range={self.input_range}"


def ssl4eo_s1_recipe(mode: str = "standardize") -> InputRecipe:
    """SSL4EO-S12 Sentinel-1 recipe ``[B, 2, H, W]`` dB -> ``[B, 2, H, W]``, standardised or CROMA-stretched."""
    return InputRecipe(SSL4EO_S1_MEAN, SSL4EO_S1_STD, mode=mode)


def ssl4eo_s2_recipe(kind: str) -> InputRecipe:
    """SSL4EO-S12 Sentinel-2 L1C recipes from the kit's 12 reflectance bands ``[B, 12, H, W]``.

    ``kind``: ``"10k"`` (DeCUR: 13 bands, reflectance as is), ``"stats"`` (SoftCon: 13 bands in DN,
    standardised) or ``"croma"`` (12 bands in DN, CROMA's stretch); the 13-band kinds add B10 as a constant.
    """
    if kind == "10k":
        return InputRecipe([0.0] * 13, [1.0] * 13, bands=S2_13_FROM_12, fill=[B10_FILL_REFLECTANCE])
    if kind == "stats":
        fill = [B10_FILL_REFLECTANCE]
        return InputRecipe(SSL4EO_S2_MEAN_DN, SSL4EO_S2_STD_DN, bands=S2_13_FROM_12, fill=fill, gain=10000.0)
    if kind == "croma":
        keep = [i for i, b in enumerate(S2_13_FROM_12) if b is not None]
        mean, std = [SSL4EO_S2_MEAN_DN[i] for i in keep], [SSL4EO_S2_STD_DN[i] for i in keep]
        return InputRecipe(mean, std, gain=10000.0, mode="croma")
    raise ValueError(f"kind must be '10k', 'stats' or 'croma', got {kind!r}")


def rgb8_imagenet_recipe(white: float = RGB_WHITE_REFLECTANCE) -> InputRecipe:
    """Scale-MAE's fMoW-RGB recipe on reflectance B4, B3, B2: ``white`` becomes 255, then ImageNet statistics."""
    if white <= 0:
        raise ValueError(f"white must be a positive reflectance, got {white}")
    mean, std = [255.0 * m for m in IMAGENET_MEAN], [255.0 * s for s in IMAGENET_STD]
    return InputRecipe(mean, std, gain=255.0 / white, input_range=(0.0, 255.0))
