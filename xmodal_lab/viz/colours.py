"""How the kit paints data: one fixed stretch per modality (SAM's too), colours shared by figures and maps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap, to_hex

from xmodal_lab.data import composites as dc
from xmodal_lab.viz._common import first_image, to_numpy

#: Display ranges in dB, the same on every panel.
VV_RANGE = dc.VV_RANGE_DB
VH_RANGE = dc.VH_RANGE_DB
#: One reflectance range for every optical band, so that a band that looks dark *is* dark.
REFLECTANCE_RANGE = (0.0, 0.4)

MODALITY_COLOURS = {"s1": "#d95f02", "s2": "#1b9e77"}
TRUE_MATCH_COLOUR = "#00c000"
QUERY_COLOUR = "#e7298a"

# Conventional land-cover colours, matched by a word in the class name; other classes get tab colours.
_NAMED = (
    ("water", "#2166ac"), ("river", "#4393c3"), ("sea", "#2166ac"), ("wetland", "#5ab4ac"),
    ("marsh", "#5ab4ac"), ("forest", "#1b7837"), ("tree", "#1b7837"), ("crop", "#e6c229"),
    ("agri", "#e6c229"), ("grass", "#a6d96a"), ("pasture", "#a6d96a"), ("shrub", "#8c9c3c"),
    ("urban", "#c51b1b"), ("built", "#c51b1b"), ("road", "#6b6b6b"), ("bare", "#d8b98a"),
    ("soil", "#c49a6c"), ("desert", "#f0d9a8"), ("sand", "#f0d9a8"), ("snow", "#e8f4f8"),
    ("ice", "#d0ecf4"), ("cloud", "#ffffff"),
)  # fmt: skip


def render(image: Any, modality: str, *, stretch: str = "fixed") -> np.ndarray:
    """An ``[H, W, 3]`` uint8 rendering (``data.composites.RENDERINGS``) of ``[C, H, W]`` or a batch's first.

    An ``[H, W, 3]`` uint8 picture is returned as is.
    """
    a = to_numpy(image)
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 3:
        return a
    if modality not in dc.RENDERINGS:
        raise ValueError(f"modality: expected one of {dc.RENDERINGS}, got {modality!r}")
    chw = first_image(a, 2 if modality.startswith("s1") else 12, modality)
    return np.ascontiguousarray(dc.to_sam_image(chw, modality, stretch=stretch))


def s2_true_colour(s2: Any, *, stretch: str = "fixed") -> np.ndarray:
    """True colour (B4, B3, B2) of ``[12, H, W]`` reflectance: 0-0.3 with gamma 1/2.2, ``[H, W, 3]`` uint8."""
    return render(s2, "s2", stretch=stretch)


def landcover_legend(classes: Any = None) -> tuple[list[int], dict[int, str], ListedColormap, BoundaryNorm]:
    """``(ids, names, cmap, norm)`` of land-cover ``classes`` (``{id: name}`` or names) for ``imshow``."""
    if classes is None:
        from xmodal_lab import data
        classes = data.LANDCOVER_CLASSES
    table = sorted((dict(classes) if isinstance(classes, Mapping) else dict(enumerate(classes))).items())
    if not table:
        raise ValueError("classes: the land-cover class table is empty")
    n = len(table)  # classes without a conventional colour: tab10, tab20, then hsv
    tab = colormaps["tab10" if n <= 10 else "tab20"].colors
    fallback = iter(to_hex(c) for c in (tab[:n] if n <= 20 else colormaps["hsv"](np.arange(n) / n)))
    ids, names = [int(cid) for cid, _ in table], {int(cid): str(name) for cid, name in table}
    colours = [next((c for word, c in _NAMED if word in str(name).lower()), None) or next(fallback)
               for _, name in table]  # the conventional colour of a word in the name, else the next fallback
    bounds = [ids[0] - 0.5] + [(a + b) / 2 for a, b in zip(ids, ids[1:])] + [ids[-1] + 0.5]
    cmap = ListedColormap(colours, name="landcover")
    return ids, names, cmap, BoundaryNorm(bounds, cmap.N)
