"""Small seeded pair dicts placed on the globe, independent of the data layer."""

from __future__ import annotations

import pytest
import torch
from pyproj import Transformer

#: A toy land-cover table in the shape the data layer's may take: {id: name}.
CLASSES = {0: "water", 1: "forest", 2: "cropland", 3: "urban"}


def make_pair(
    seed: int, lat: float, lon: float, size: int = 32, gsd: float = 10.0, landcover: bool = True
) -> dict:
    """A georeferenced pair centred on (lat, lon) in its UTM zone, with tensors like the data layer's."""
    g = torch.Generator().manual_seed(seed)
    zone = int((lon + 180) // 6) + 1
    crs = f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    half = size * gsd / 2
    pair = {
        "s1": -25 + 20 * torch.rand(2, size, size, generator=g),
        "s2": 0.4 * torch.rand(12, size, size, generator=g),
        "gsd": gsd,
        "lat": lat,
        "lon": lon,
        "date": f"2021-06-{1 + seed % 28:02d}",
        "crs": crs,
        "transform": (gsd, 0.0, x - half, 0.0, -gsd, y + half),
    }
    if landcover:
        pair["landcover"] = torch.randint(0, len(CLASSES), (size, size), generator=g, dtype=torch.int64)
    return pair


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures belong to pyplot (so plt.show() finds them in notebooks): close them after each test."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def pairs() -> list[dict]:
    """Six tiles in three places (central Europe, the tropics, the southern hemisphere)."""
    places = [(48.1, 11.5), (48.12, 11.53), (48.2, 11.4), (-3.1, -60.0), (-33.9, 18.4), (-33.92, 18.45)]
    return [make_pair(i, lat, lon) for i, (lat, lon) in enumerate(places)]
