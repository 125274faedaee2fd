"""Input recipes of published weights: from the kit's physical units to what each checkpoint was trained on.

The kit's models read Sentinel-1 sigma0 in dB (``VV, VH``) and Sentinel-2 reflectance (12 bands
``B1 ... B9, B11, B12``, no ``B10``). Published weights expect their own input: another band order (the
13-band SSL4EO-S12 weights include the cirrus band ``B10``), digital numbers instead of reflectance, 8-bit
RGB, their pretraining statistics, a clip. An :class:`InputRecipe` stored in the model (as ``norm_s1`` /
``norm_s2``, where the kit's own models keep their :class:`~xmodal_lab.models.input_norm.InputNorm`) does that
mapping, so users keep feeding physical units and the recipe travels with the weights.

A recipe computes, per output channel ``c``::

    v_c   = gain * x[bands[c]]            (or the constant fill[c] where bands[c] is None)
    v_c   = clip(v_c, *input_range)       (when input_range is set, e.g. 8-bit RGB)
    "standardize":  y_c = (v_c - mean_c) / std_c
    "croma":        y_c = clip((v_c - (mean_c - 2 std_c)) / (4 std_c), 0, 1)

The ``"croma"`` mode is CROMA's normalisation (Fuller et al. 2023; ``antofuller/CROMA`` README, after SatMAE
and SeCo): each channel is stretched linearly from ``mean - 2 std`` to ``mean + 2 std`` onto ``[0, 1]`` and
clipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

#: SSL4EO-S12 Sentinel-1 GRD statistics in dB (``VV, VH``), as published with the DeCUR / SSL4EO-S12 code
#: and used by torchgeo's SSL4EO-S12 Sentinel-1 transforms.
SSL4EO_S1_MEAN: tuple[float, ...] = (-12.59, -20.26)
SSL4EO_S1_STD: tuple[float, ...] = (5.26, 5.91)

#: SSL4EO-S12 Sentinel-2 L1C statistics in digital numbers for the 13 bands ``B1 ... B8, B8A, B9, B10, B11,
#: B12`` (torchgeo's SoftCon transforms; the SSL4EO-S12 repository's ``S2C_MEAN`` / ``S2C_STD``).
SSL4EO_S2_MEAN_DN: tuple[float, ...] = (
    1612.9, 1397.6, 1322.3, 1373.1, 1561.0, 2108.4, 2390.7, 2318.7, 2581.0, 837.7, 22.0, 2195.2, 1537.4,
)  # fmt: skip
SSL4EO_S2_STD_DN: tuple[float, ...] = (
    791.0, 854.3, 878.7, 1144.9, 1127.5, 1164.2, 1276.0, 1249.5, 1345.9, 577.5, 47.5, 1340.0, 1142.9,
)  # fmt: skip

#: Where the 13 SSL4EO-S12 bands come from in the kit's 12 bands: ``B10`` (cirrus, index 10 of the 13) is
#: absent from the kit's (and from L2A) products and is filled with a constant.
S2_13_FROM_12: tuple[int | None, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, None, 10, 11)

#: The constant ``B10`` fill, in reflectance: the SSL4EO-S12 mean of ``B10`` (22 DN), so a standardised
#: ``B10`` is exactly 0, the value the weights saw on average.
B10_FILL_REFLECTANCE = 22.0 / 10000.0

#: ImageNet RGB statistics on a ``[0, 1]`` scale (Scale-MAE's fMoW-RGB recipe after dividing by 255).
IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)

#: Reflectance shown as full white when Sentinel-2 is turned into 8-bit RGB (the usual true-colour stretch
#: 0 - 0.3 of :mod:`xmodal_lab.viz`); fMoW's RGB has no reflectance calibration, so this is a convention.
RGB_WHITE_REFLECTANCE = 0.3

RECIPE_MODES = ("standardize", "croma")


class InputRecipe(nn.Module):
    """A published checkpoint's input recipe, applied to physical units: band mapping, gain, clip, normalisation.

    It offers ``mean`` / ``std`` buffers and :meth:`set_stats` like
    :class:`~xmodal_lab.models.input_norm.InputNorm`, so it can take the place of a model's ``norm_s1`` /
    ``norm_s2``; the statistics are in the recipe's own units (after ``gain``), one per output channel.

    Args:
        mean: per-output-channel statistic ``[C_out]`` (after the gain).
        std: per-output-channel statistic ``[C_out]``, positive.
        bands: for each output channel, the input channel it reads, or ``None`` for a constant channel
            (``None`` as a whole: the input channels in order, ``C_out`` of them).
        fill: values of the constant channels, in the input's physical units (one per ``None`` in
            ``bands``).
        gain: multiplies the input first (``10000`` turns reflectance into digital numbers).
        input_range: ``(low, high)`` clip applied after the gain (8-bit RGB: ``(0, 255)``), or None.
        mode: ``"standardize"`` (``(v - mean) / std``) or ``"croma"`` (CROMA's
            ``clip((v - (mean - 2 std)) / (4 std), 0, 1)``).

    Example:
        >>> recipe = InputRecipe(SSL4EO_S1_MEAN, SSL4EO_S1_STD, mode="croma")
        >>> recipe(s1_db).shape  # [B, 2, H, W], values in [0, 1]
    """

    def __init__(
        self,
        mean: Sequence[float] | Tensor,
        std: Sequence[float] | Tensor,
        *,
        bands: Sequence[int | None] | None = None,
        fill: Sequence[float] = (),
        gain: float = 1.0,
        input_range: tuple[float, float] | None = None,
        mode: str = "standardize",
    ) -> None:
        super().__init__()
        if mode not in RECIPE_MODES:
            raise ValueError(f"mode must be one of {RECIPE_MODES}, got {mode!r}")
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        n_out = mean_t.numel()
        bands = tuple(range(n_out)) if bands is None else tuple(bands)
        if len(bands) != n_out:
            raise ValueError(f"bands names {len(bands)} output channels but mean has {n_out}")
        n_fill = sum(b is None for b in bands)
        if len(fill) != n_fill:
            raise ValueError(
                f"bands has {n_fill} constant channel(s) (None) but fill gives {len(fill)} value(s)"
            )
        if input_range is not None and not input_range[0] < input_range[1]:
            raise ValueError(f"input_range must be (low, high) with low < high, got {input_range}")
        self.mode = mode
        self.gain = float(gain)
        self.input_range = None if input_range is None else (float(input_range[0]), float(input_range[1]))
        self.bands = bands
        self.in_channels = 1 + max((b for b in bands if b is not None), default=-1)
        # output channel c reads column index[c] of [input channels..., constant channels...]
        fills = iter(range(n_fill))
        index = [b if b is not None else self.in_channels + next(fills) for b in bands]
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)
        self.register_buffer("fill", torch.as_tensor(list(fill), dtype=torch.float32).reshape(-1))
        self.register_buffer("mean", torch.zeros(1, n_out, 1, 1))
        self.register_buffer("std", torch.ones(1, n_out, 1, 1))
        self.set_stats(mean_t, std)

    @property
    def out_channels(self) -> int:
        """Channels the recipe produces (what the published encoder reads)."""
        return self.mean.shape[1]

    def set_stats(self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> None:
        """Replace the statistics (one per output channel, in the recipe's units after the gain).

        Raises:
            ValueError: wrong number of values or a non-positive standard deviation.
        """
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        n = self.mean.shape[1]
        if mean_t.numel() != n or std_t.numel() != n:
            raise ValueError(
                f"this recipe has {n} output channels; got {mean_t.numel()} means and {std_t.numel()} stds"
            )
        if not bool((std_t > 0).all()):
            raise ValueError(f"standard deviations must be positive, got {std_t.tolist()}")
        self.mean.copy_(mean_t.reshape(1, -1, 1, 1))
        self.std.copy_(std_t.reshape(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the recipe to physical units ``[B, C_in, H, W]``; returns ``[B, C_out, H, W]``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"input recipe reads [B, {self.in_channels}, H, W] physical units, got {tuple(x.shape)}"
            )
        if self.fill.numel():
            b, _, h, w = x.shape
            const = self.fill.to(x).reshape(1, -1, 1, 1).expand(b, -1, h, w)
            x = torch.cat([x, const], dim=1)  # [B, C_in + n_fill, H, W]
        v = x.index_select(1, self.index.to(x.device)) * self.gain  # [B, C_out, H, W]
        if self.input_range is not None:
            v = v.clamp(*self.input_range)
        if self.mode == "croma":
            low = self.mean - 2.0 * self.std
            return ((v - low) / (4.0 * self.std)).clamp(0.0, 1.0)
        return (v - self.mean) / self.std

    def extra_repr(self) -> str:
        """Summary shown by ``print(model)``."""
        return (
            f"mode={self.mode}, bands={self.bands}, gain={self.gain:g}, input_range={self.input_range}, "
            f"out_channels={self.out_channels}"
        )


def ssl4eo_s1_recipe(mode: str = "standardize") -> InputRecipe:
    """SSL4EO-S12 Sentinel-1 recipe: dB standardised (or CROMA-stretched) with the SSL4EO-S12 statistics.

    Args:
        mode: ``"standardize"`` (DeCUR, SoftCon, MoCo SSL4EO weights) or ``"croma"``.

    Returns:
        An :class:`InputRecipe` ``[B, 2, H, W]`` dB -> ``[B, 2, H, W]``.
    """
    return InputRecipe(SSL4EO_S1_MEAN, SSL4EO_S1_STD, mode=mode)


def ssl4eo_s2_recipe(kind: str) -> InputRecipe:
    """SSL4EO-S12 Sentinel-2 L1C recipes from the kit's 12 reflectance bands.

    Args:
        kind: ``"10k"``: 13 bands, digital number / 10000 (= reflectance; DeCUR, SSL4EO MoCo/DINO weights);
            ``"stats"``: 13 bands, digital numbers standardised with the SSL4EO-S12 statistics (SoftCon);
            ``"croma"``: the 12 bands without ``B10``, CROMA's stretch with the SSL4EO-S12 statistics.
            For the 13-band kinds ``B10`` is the constant :data:`B10_FILL_REFLECTANCE`.

    Returns:
        An :class:`InputRecipe` ``[B, 12, H, W]`` reflectance -> ``[B, 13 or 12, H, W]``.
    """
    if kind == "10k":
        return InputRecipe([0.0] * 13, [1.0] * 13, bands=S2_13_FROM_12, fill=[B10_FILL_REFLECTANCE])
    if kind == "stats":
        return InputRecipe(
            SSL4EO_S2_MEAN_DN,
            SSL4EO_S2_STD_DN,
            bands=S2_13_FROM_12,
            fill=[B10_FILL_REFLECTANCE],
            gain=10000.0,
        )
    if kind == "croma":
        keep = [i for i, b in enumerate(S2_13_FROM_12) if b is not None]
        return InputRecipe(
            [SSL4EO_S2_MEAN_DN[i] for i in keep],
            [SSL4EO_S2_STD_DN[i] for i in keep],
            gain=10000.0,
            mode="croma",
        )
    raise ValueError(f"kind must be '10k', 'stats' or 'croma', got {kind!r}")


def rgb8_imagenet_recipe(white: float = RGB_WHITE_REFLECTANCE) -> InputRecipe:
    """Scale-MAE's fMoW-RGB recipe from reflectance: 8-bit RGB, ``/ 255``, then ImageNet mean and std.

    The model feeds it the RGB bands (``B4, B3, B2``); reflectance ``white`` maps to 255 (clipped), a
    documented convention since fMoW's 8-bit imagery carries no reflectance calibration.

    Args:
        white: reflectance mapped to 255.

    Returns:
        An :class:`InputRecipe` ``[B, 3, H, W]`` reflectance -> ``[B, 3, H, W]``.
    """
    if white <= 0:
        raise ValueError(f"white must be a positive reflectance, got {white}")
    return InputRecipe(
        [255.0 * m for m in IMAGENET_MEAN],
        [255.0 * s for s in IMAGENET_STD],
        gain=255.0 / white,
        input_range=(0.0, 255.0),
    )


__all__ = [
    "B10_FILL_REFLECTANCE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RECIPE_MODES",
    "RGB_WHITE_REFLECTANCE",
    "S2_13_FROM_12",
    "SSL4EO_S1_MEAN",
    "SSL4EO_S1_STD",
    "SSL4EO_S2_MEAN_DN",
    "SSL4EO_S2_STD_DN",
    "InputRecipe",
    "rgb8_imagenet_recipe",
    "ssl4eo_s1_recipe",
    "ssl4eo_s2_recipe",
]
