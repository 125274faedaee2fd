"""Shared fixtures of the data tests: a small world and its per-class statistics, computed once."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld, ndvi


@pytest.fixture(scope="session")
def world() -> SimulatedWorld:
    return SimulatedWorld(seed=0, size=48, n_scenes=400)


@pytest.fixture(scope="session")
def class_stats(world) -> dict[str, dict[str, np.ndarray]]:
    """Pixels of 240 clear scenes grouped by land-cover class: VV, VH (dB), NDVI, mean visible reflectance."""
    acc: dict[str, dict[str, list]] = {name: {"vv": [], "vh": [], "ndvi": [], "vis": []} for name in LANDCOVER_CLASSES}
    for i in range(240):
        p = world[i]
        lc, s1, s2 = p["landcover"].numpy(), p["s1"].numpy(), p["s2"].numpy()
        nd = ndvi(s2)
        for c, name in enumerate(LANDCOVER_CLASSES):
            m = lc == c
            if m.any():
                acc[name]["vv"].append(s1[0][m])
                acc[name]["vh"].append(s1[1][m])
                acc[name]["ndvi"].append(nd[m])
                acc[name]["vis"].append(s2[1:4][:, m].mean(0))
    return {n: {k: np.concatenate(v) for k, v in d.items() if v} for n, d in acc.items()}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensor ops run fastest on one thread (and CI gives each test worker one core)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
