"""8-bit RGB renderings of Sentinel-2 and Sentinel-1 images for figures and map overlays.

The stretch itself lives in :mod:`xmodal_lab.data.composites` (Segment Anything needs the same 8-bit
composites); this module only adapts tensors, batches and pair dicts to it, so that a figure and a SAM
prompt always show a student the same pixels. The default is the fixed display stretch per modality
(optical reflectance 0-0.3 with gamma 1/2.2, radar fixed dB ranges), so every panel of a figure and both
dates of a change pair share one scale; ``stretch="percentile"`` gives the per-tile 2-98 % stretch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xmodal_lab.data import composites as data_composites
from xmodal_lab.viz._common import first_image, to_numpy


def _hwc_uint8(x: Any) -> np.ndarray:
    a = to_numpy(x)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = np.moveaxis(a, 0, -1)
    return np.ascontiguousarray(a.astype(np.uint8, copy=False))


def s2_true_colour(s2: Any, *, stretch: str = "fixed") -> np.ndarray:
    """True-colour composite (B4, B3, B2) of a Sentinel-2 image, reflectance 0-0.3 with gamma 1/2.2.

    Args:
        s2: reflectance ``[12, H, W]`` (or ``[B, 12, H, W]``: the first image is used).
        stretch: ``"fixed"`` (default, the same in every tile) or ``"percentile"`` (per-tile 2-98 %).

    Returns:
        ``[H, W, 3]`` uint8.
    """
    return _hwc_uint8(data_composites.s2_true_color(first_image(s2, 12, "s2"), stretch=stretch))


def s2_false_colour(s2: Any, *, stretch: str = "fixed") -> np.ndarray:
    """False-colour composite (B8, B4, B3: vegetation red) of a Sentinel-2 image, NIR 0-0.5, red/green 0-0.3.

    Args:
        s2: reflectance ``[12, H, W]`` (or ``[B, 12, H, W]``).
        stretch: ``"fixed"`` (default) or ``"percentile"``.

    Returns:
        ``[H, W, 3]`` uint8.
    """
    return _hwc_uint8(data_composites.s2_false_color(first_image(s2, 12, "s2"), stretch=stretch))


def s1_composite(s1: Any) -> np.ndarray:
    """Radar composite (VV, VH, VV-VH as R, G, B) of a Sentinel-1 image.

    Args:
        s1: sigma0 in dB ``[2, H, W]`` (or ``[B, 2, H, W]``).

    Returns:
        ``[H, W, 3]`` uint8.
    """
    return _hwc_uint8(data_composites.s1_composite(first_image(s1, 2, "s1")))


def render(image: Any, modality: str, *, stretch: str = "fixed") -> np.ndarray:
    """Render an image of a named modality to 8-bit RGB.

    Args:
        image: ``[C, H, W]`` values (a batch: its first image), or an ``[H, W, 3]`` uint8 picture already
            rendered (returned as is).
        modality: a rendering of :data:`xmodal_lab.data.composites.RENDERINGS`: ``"s2"`` true colour,
            ``"s2_false"`` colour infrared, ``"s1"`` VV/VH/ratio composite, ``"s1_vv"``, ``"s1_vh"``.
        stretch: optical stretch, ``"fixed"`` (default) or ``"percentile"``.

    Returns:
        ``[H, W, 3]`` uint8.
    """
    a = to_numpy(image)
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 3:
        return a
    if modality not in data_composites.RENDERINGS:
        raise ValueError(f"modality: expected one of {data_composites.RENDERINGS}, got {modality!r}")
    channels = 2 if modality.startswith("s1") else 12
    return _hwc_uint8(
        data_composites.to_sam_image(first_image(a, channels, modality), modality, stretch=stretch)
    )
