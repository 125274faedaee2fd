"""Colours and labels shared by every figure and map, so that water is the same blue everywhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap, to_hex

#: Radar and optical points, lines and footprints.
MODALITY_COLOURS = {"s1": "#d95f02", "s2": "#1b9e77"}
#: The frame around the true match in retrieval figures and maps.
TRUE_MATCH_COLOUR = "#00c000"
#: The chosen query on maps.
QUERY_COLOUR = "#e7298a"

# Conventional land-cover colours, matched by a word in the class name; other classes get tab20 colours.
_NAMED = (
    ("water", "#2166ac"),
    ("river", "#4393c3"),
    ("sea", "#2166ac"),
    ("wetland", "#5ab4ac"),
    ("marsh", "#5ab4ac"),
    ("forest", "#1b7837"),
    ("tree", "#1b7837"),
    ("crop", "#e6c229"),
    ("agri", "#e6c229"),
    ("grass", "#a6d96a"),
    ("pasture", "#a6d96a"),
    ("shrub", "#8c9c3c"),
    ("urban", "#c51b1b"),
    ("built", "#c51b1b"),
    ("road", "#6b6b6b"),
    ("bare", "#d8b98a"),
    ("soil", "#c49a6c"),
    ("desert", "#f0d9a8"),
    ("sand", "#f0d9a8"),
    ("snow", "#e8f4f8"),
    ("ice", "#d0ecf4"),
    ("cloud", "#ffffff"),
)


def class_colours(n: int) -> list[str]:
    """``n`` distinct hex colours for class ids without a conventional colour (tab10, then tab20, then hsv)."""
    if n <= 10:
        cmap, values = colormaps["tab10"], np.arange(n) / 10 + 0.05
    elif n <= 20:
        cmap, values = colormaps["tab20"], np.arange(n) / 20 + 0.025
    else:
        cmap, values = colormaps["hsv"], np.arange(n) / n
    return [to_hex(cmap(v)) for v in values]


def _class_table(classes: Any) -> list[tuple[int, str, str | None]]:
    """``[(id, name, colour or None)]`` from the ways a class table can be written."""
    if isinstance(classes, Mapping):
        rows = []
        for key, value in classes.items():
            if isinstance(key, str) and isinstance(value, int):  # {name: id}
                rows.append((value, key, None))
            elif isinstance(value, str):  # {id: name}
                rows.append((int(key), value, None))
            elif isinstance(value, Mapping):  # {id: {"name": ..., "color": ...}}
                rows.append((int(key), str(value.get("name", key)), value.get("color", value.get("colour"))))
            else:  # {id: (name, colour)}
                rows.append((int(key), str(value[0]), value[1] if len(value) > 1 else None))
        return sorted(rows)
    rows = []
    for i, item in enumerate(classes):
        if isinstance(item, str):
            rows.append((i, item, None))
        elif hasattr(item, "name"):  # a dataclass or named tuple with name (and maybe id, color)
            colour = getattr(item, "color", getattr(item, "colour", None))
            rows.append((int(getattr(item, "id", i)), str(item.name), colour))
        elif isinstance(item, Sequence):  # (id, name[, colour])
            rows.append((int(item[0]), str(item[1]), item[2] if len(item) > 2 else None))
        else:
            raise TypeError(f"classes[{i}]: cannot read a land-cover class from {item!r}")
    return sorted(rows)


def _default_classes() -> Any:
    from xmodal_lab import data

    return data.LANDCOVER_CLASSES


def landcover_legend(classes: Any = None) -> tuple[list[int], dict[int, str], ListedColormap, BoundaryNorm]:
    """Ids, names and a colour map for land-cover maps.

    Args:
        classes: a class table (``{id: name}``, a list of names, or records with ``id``/``name``/``color``);
            default ``xmodal_lab.data.LANDCOVER_CLASSES``.

    Returns:
        ``(ids, names, cmap, norm)``: ``imshow(landcover, cmap=cmap, norm=norm)`` paints each id its colour.
    """
    table = _class_table(_default_classes() if classes is None else classes)
    if not table:
        raise ValueError("classes: the land-cover class table is empty")
    fallback = iter(class_colours(len(table)))
    ids, names, colours = [], {}, []
    for cid, name, colour in table:
        if colour is None:
            colour = next((c for word, c in _NAMED if word in name.lower()), None)
        colours.append(to_hex(colour) if colour is not None else next(fallback))
        ids.append(cid)
        names[cid] = name
    bounds = [ids[0] - 0.5] + [(a + b) / 2 for a, b in zip(ids, ids[1:])] + [ids[-1] + 0.5]
    cmap = ListedColormap(colours, name="landcover")
    return ids, names, cmap, BoundaryNorm(bounds, cmap.N)


def band_labels() -> list[str]:
    r"""Panel titles for the 12 Sentinel-2 bands then the 2 Sentinel-1 bands: name and centre wavelength.

    Returns:
        14 strings such as ``"B4 red\n664.6 nm"`` and ``"VV\n5.55 cm (C-band)"``.
    """
    from xmodal_lab.data import bands

    labels = []
    for band in bands.S2_BANDS:
        labels.append(f"{band.name} {band.common_name}\n{band.wavelength_nm:g} nm")
    for band in bands.S1_BANDS:
        labels.append(f"{band.name}\n{band.wavelength_cm:g} cm (C-band)")
    return labels
