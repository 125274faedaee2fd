"""Simulated clouds and their shadows, blended into the optical image only (radar sees through them)."""

from __future__ import annotations

import math
import statistics

import numpy as np
from torch.utils.data import Dataset

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.biomes import Scene, tag_key
from xmodal_lab.data.noise import fbm

#: Field units over which opacity rises from 0 (edge) to 1 (core); largest darkening of the ground by a shadow.
EDGE_WIDTH, SHADOW_DEPTH = 0.6, 0.7
#: Cloud-top texture: coarsest spacing (metres) and octaves of its field, brightness std and clip range.
TEXTURE_SPACING_M, TEXTURE_OCTAVES, TEXTURE_STD, TEXTURE_RANGE = 160.0, 4, 0.07, (0.75, 1.2)
#: Exponent of the opacity per band (thin cloud is more transparent at longer wavelengths).
BAND_TRANSPARENCY = np.array([1.0, 1.0, 1.0, 1.0, 1.1, 1.1, 1.2, 1.2, 1.2, 1.3, 1.5, 1.6], dtype=np.float32)


def cloud_fraction(cover: float, u: float) -> float:
    """A tile's cloudy fraction ``u ** ((1 - cover) / cover)``: mean ``cover`` over a uniform ``u`` in [0, 1)."""
    return float(u ** ((1.0 - cover) / cover)) if cover < 1 else 1.0


def cloud_layers(key: int, x: np.ndarray, y: np.ndarray, cover: float, u: list[float]) -> tuple[np.ndarray, ...]:
    """Cloud opacity, shadow weight and top brightness ``[H, W]`` from draws ``u``: fraction, size, shadow, sun."""
    fraction = cloud_fraction(cover, u[0])
    if fraction <= 1e-3:
        zero = np.zeros((len(y), len(x)), dtype=np.float32)
        return zero, zero, np.ones_like(zero)
    # the field has unit standard deviation: its (1 - fraction) quantile leaves ``fraction`` of it above
    threshold = statistics.NormalDist().inv_cdf(min(max(1.0 - fraction, 1e-6), 1 - 1e-6))
    spacing = 600.0 + 1400.0 * u[1]
    alpha = np.clip((fbm(key, x, y, spacing, 4)[0] - threshold) / EDGE_WIDTH, 0.0, 1.0).astype(np.float32)
    # The shadow is the cloud field seen from the sun: shifted away from it by height x tan(zenith).
    shift, angle = 300.0 + 900.0 * u[2], 2 * math.pi * u[3]
    shadow_field = fbm(key, x - shift * math.cos(angle), y - shift * math.sin(angle), spacing, 4)[0]
    shadow = (np.clip((shadow_field - threshold) / EDGE_WIDTH, 0.0, 1.0) * (1.0 - alpha)).astype(np.float32)
    texture = fbm(tag_key(key, "texture"), x, y, TEXTURE_SPACING_M, TEXTURE_OCTAVES)[0]
    brightness = np.clip(1.0 + TEXTURE_STD * texture, *TEXTURE_RANGE).astype(np.float32)
    return alpha, shadow, brightness


def add_clouds(scene: Scene, s2: np.ndarray, cover: float, rng: np.random.Generator,
               day: int) -> tuple[np.ndarray, np.ndarray]:
    """Blend clouds and shadows of date ordinal ``day`` into reflectance ``[12, H, W]``; returns it and the mask."""
    u = rng.random(4).tolist()
    if cloud_fraction(cover, u[0]) <= 1e-3:
        return s2, np.zeros(scene.shape, dtype=bool)
    alpha, shadow, brightness = cloud_layers(tag_key(scene.key ^ day, "cloud"), scene.x, scene.y, cover, u)
    alpha_b = alpha[None] ** BAND_TRANSPARENCY[:, None, None]  # [12, H, W]
    top = lc.CLOUD_SPECTRUM[:, None, None] * brightness[None]
    s2 = s2 * (1.0 - alpha_b) * (1.0 - SHADOW_DEPTH * shadow[None]) + top * alpha_b
    return s2.astype(np.float32, copy=False), (alpha > 0) | (shadow > 0)


class BorrowedCloudMasks(Dataset):
    """Items of ``data`` carrying the ``cloud_mask`` of the same index in ``masks_from``; pixels untouched."""

    def __init__(self, data: Dataset, masks_from: Dataset) -> None:
        if len(data) != len(masks_from):
            raise ValueError(f"BorrowedCloudMasks: {len(data)} items but {len(masks_from)} masks")
        self.data, self.masks_from = data, masks_from

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict:
        item, mask = self.data[index], self.masks_from[index]["cloud_mask"]
        if tuple(mask.shape) != tuple(item["s2"].shape[-2:]):
            raise ValueError(f"BorrowedCloudMasks: item {index}: s2 {tuple(item['s2'].shape)}, mask {tuple(mask.shape)}")
        return {**item, "cloud_mask": mask}
