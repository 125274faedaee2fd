"""Transforms of pair dicts (normalisation, GSD rescaling, augmentation); geometric ones move every layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from affine import Affine
from torch import Tensor

from xmodal_lab.data.io import check_whole, window_transform
from xmodal_lab.errors import InputValueError

#: Keys holding ``[H, W]`` maps that follow every geometric change of the images.
MASK_KEYS = ("landcover", "cloud_mask", "nodata_mask", "change_mask", "igbp")
#: Keys holding ``[C, H, W]`` images.
IMAGE_KEYS = ("s1", "s2")


@dataclass(frozen=True)
class BandStats:
    """Per-band mean and std in physical units (``s1`` ``[2]`` dB, ``s2`` ``[12]``), saved with a checkpoint."""

    s1_mean: tuple[float, ...]
    s1_std: tuple[float, ...]
    s2_mean: tuple[float, ...]
    s2_std: tuple[float, ...]
    n_pixels: int = 0

    @classmethod
    def compute(cls, dataset: Sequence[dict], n: int = 256, seed: int = 0) -> BandStats:
        """Statistics (population std) over ``n`` items of ``dataset`` drawn with ``seed``."""
        if len(dataset) == 0:
            raise ValueError("BandStats.compute: the dataset is empty")
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(dataset), generator=g)[: min(n, len(dataset))].tolist()
        sums, count = {}, 0
        for i in order:
            pair = dataset[i]
            for key in IMAGE_KEYS:
                x = torch.as_tensor(pair[key]).double().flatten(1)  # [C, H*W]
                s = sums.setdefault(key, [torch.zeros(x.shape[0], dtype=torch.float64)] * 2)
                sums[key] = [s[0] + x.sum(1), s[1] + (x * x).sum(1)]
            count += x.shape[1]
        out = {}  # key -> (mean, std)
        for key in IMAGE_KEYS:
            mean = sums[key][0] / count
            var = (sums[key][1] / count - mean * mean).clamp_min(0)
            out[key] = (tuple(mean.tolist()), tuple(var.sqrt().tolist()))
        return cls(*out["s1"], *out["s2"], count)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (for a checkpoint or JSON)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def tensors(self, key: str) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` float32 ``[C, 1, 1]`` for ``"s1"`` or ``"s2"``."""
        mean, std = getattr(self, f"{key}_mean"), getattr(self, f"{key}_std")
        return torch.tensor(mean).float()[:, None, None], torch.tensor(std).float()[:, None, None]


class Normalize:
    """Standardise ``s1`` and ``s2`` per band: ``(x - mean) / std``."""

    def __init__(self, stats: BandStats) -> None:
        self.stats = stats

    def __call__(self, pair: dict) -> dict:
        """Apply to one pair dict (returns a new dict)."""
        out = dict(pair)
        for key in IMAGE_KEYS:
            mean, std = self.stats.tensors(key)
            out[key] = (torch.as_tensor(pair[key]) - mean) / std.clamp_min(1e-6)
        return out


def rescale_gsd(pair: dict, gsd: float) -> dict:
    """Resample a pair to another GSD over the same footprint (Scale-MAE on real data).

    An integer factor ``k`` averages ``k x k`` blocks (radar in linear power, classes by majority), as a coarser
    sensor would; other factors resample bilinearly with antialiasing (maps: nearest).
    """
    old = float(pair["gsd"])
    if gsd <= 0 or not math.isfinite(gsd):
        raise ValueError(f"rescale_gsd: expected a positive GSD in metres, got {gsd}")
    factor, (h, w) = gsd / old, torch.as_tensor(pair["s2"]).shape[-2:]
    k = round(factor)
    integer = k >= 1 and abs(factor - k) < 1e-6
    if integer and (h % k or w % k):
        raise ValueError(f"rescale_gsd: a {h}x{w} tile cannot be cut into {k}x{k} blocks for {old:g} m -> {gsd:g} m")
    size = (h // k, w // k) if integer else (max(1, round(h / factor)), max(1, round(w / factor)))
    out = dict(pair)
    for key in IMAGE_KEYS:
        x = torch.as_tensor(pair[key]).float()
        if key == "s1":  # average power, not decibels
            x = 10.0 ** (x / 10.0)
        if integer:
            x = F.avg_pool2d(x[None], k)[0]
        else:
            x = F.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
        out[key] = 10.0 * torch.log10(x.clamp_min(1e-10)) if key == "s1" else x
    for key in MASK_KEYS:
        if key in pair:
            m = torch.as_tensor(pair[key])
            if integer and k > 1 and key in ("landcover", "igbp"):  # the majority class of each k x k block
                hk, wk = m.shape[0] // k, m.shape[1] // k
                out[key] = torch.mode(m.reshape(hk, k, wk, k).permute(0, 2, 1, 3).reshape(hk, wk, k * k), -1).values
            elif integer and k > 1:
                out[key] = F.avg_pool2d(m[None, None].float(), k)[0, 0] >= 0.5
            else:
                out[key] = F.interpolate(m[None, None].float(), size=size, mode="nearest")[0, 0].to(m.dtype)
    out["gsd"] = float(gsd)
    if pair.get("transform") is not None:
        out["transform"] = tuple(Affine(*pair["transform"][:6]) @ Affine.scale(w / size[1], h / size[0]))[:6]
    return out


def flip_rotate(pair: dict, k: int, flip: bool) -> dict:
    """Rotate every image and map by ``k`` quarter turns, then optionally flip; pixels keep their coordinates."""
    out = dict(pair)
    h, w = torch.as_tensor(pair["s2"]).shape[-2:]
    for key in (*IMAGE_KEYS, *MASK_KEYS):
        if key in pair:
            x = torch.rot90(torch.as_tensor(pair[key]), k, (-2, -1))
            out[key] = torch.flip(x, (-1,)) if flip else x
    if pair.get("transform") is not None:
        t = Affine(*tuple(pair["transform"])[:6])
        for _ in range(k % 4):  # rot90: new[r, c] = old[c, w - 1 - r]
            t = t @ Affine(0, -1, w, 1, 0, 0)
            h, w = w, h
        if flip:
            t = t @ Affine(-1, 0, w, 0, 1, 0)
        out["transform"] = tuple(t)[:6]
    return out


class PairedFlipRotate:
    """One random element of the dihedral group (4 rotations x optional flip) applied to both sensors and masks."""

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator

    def __call__(self, pair: dict) -> dict:
        """Apply to one pair dict (returns a new dict)."""
        r = torch.randint(8, (1,), generator=self.generator).item()
        return flip_rotate(pair, r % 4, r >= 4)


class PairedRandomCrop:
    """One random ``size x size`` window cut from both sensors and every mask; the transform follows."""

    def __init__(self, size: int, generator: torch.Generator | None = None) -> None:
        if check_whole(size, "PairedRandomCrop size") < 1:
            raise InputValueError(f"PairedRandomCrop: size must be at least 1 pixel, got {size}")
        self.size, self.generator = int(size), generator

    def __call__(self, pair: dict) -> dict:
        """Apply to one pair dict (returns a new dict)."""
        (h, w), s = torch.as_tensor(pair["s2"]).shape[-2:], self.size
        if s > h or s > w:
            raise ValueError(f"PairedRandomCrop: crop of {s} px does not fit a {h}x{w} tile")
        r = int(torch.randint(h - s + 1, (1,), generator=self.generator))
        c = int(torch.randint(w - s + 1, (1,), generator=self.generator))
        out = dict(pair)
        for key in (*IMAGE_KEYS, *MASK_KEYS):
            if key in pair:
                out[key] = torch.as_tensor(pair[key])[..., r : r + s, c : c + s]
        if pair.get("transform") is not None:
            out["transform"] = window_transform(pair["transform"], r, c)
        return out
