"""kNN across ground sample distances (Scale-MAE's protocol): one footprint rendered at each GSD."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from xmodal_lab.data import SimulatedWorld

from .embeddings import embed_dataset
from .probes import knn_accuracy


def footprint_views(seed: int, n_places: int, gsds: Sequence[float] = (10.0, 20.0, 40.0),
                    footprint: float = 320.0) -> dict[float, SimulatedWorld]:
    """``{gsd: SimulatedWorld}``: the same ``n_places`` places at each GSD, tiles ``footprint`` m a side."""
    if not gsds:
        raise ValueError("footprint_views: give at least one GSD")
    views = {}
    for g in gsds:
        px = footprint / g
        if g <= 0 or abs(px - round(px)) > 1e-6 or round(px) < 1:
            raise ValueError(f"footprint_views: a {footprint:g} m footprint at {g:g} m is {px:g} px; "
                             "choose GSDs that divide the footprint into whole pixels")
        views[float(g)] = SimulatedWorld(seed=seed, size=round(px), n_scenes=n_places, gsd=float(g))
    return views


def _raw(world: SimulatedWorld) -> torch.Tensor:
    return torch.stack([world[i]["s2"].flatten() for i in range(len(world))])  # [N, 12 * H * W]


def knn_across_gsds(models: Mapping[str, nn.Module], fit_views: Mapping[float, SimulatedWorld],
                    test_views: Mapping[float, SimulatedWorld], k: int = 20,
                    temperature: float | None = 0.07) -> dict[str, dict[float, float]]:  # fmt: skip
    """``{name: {gsd: accuracy}}`` of a kNN per model and GSD, fitted and tested at that GSD on other places.

    Tiles are labelled by dominant class, compared by optical embedding, beside "raw pixels" and "majority";
    ``temperature`` as in :func:`knn_accuracy` (Scale-MAE: ``k=20``, 0.07).
    """
    if set(fit_views) != set(test_views):
        raise ValueError(f"knn_across_gsds: fit GSDs {sorted(fit_views)} differ from test GSDs "
                         f"{sorted(test_views)}")
    if not models:
        raise ValueError("knn_across_gsds: give at least one model")
    out: dict[str, dict[float, float]] = {name: {} for name in [*models, "raw pixels", "majority"]}
    for g in sorted(fit_views):
        fit, test = fit_views[g], test_views[g]
        for name, model in models.items():
            e_fit, e_test = embed_dataset(model, fit), embed_dataset(model, test)
            y_fit, y_test = e_fit["dominant_class"], e_test["dominant_class"]
            out[name][g] = knn_accuracy(e_fit["s2"], y_fit, e_test["s2"], y_test, k, temperature)
        out["raw pixels"][g] = knn_accuracy(_raw(fit), y_fit, _raw(test), y_test, k, temperature)
        out["majority"][g] = float(np.bincount(y_test).max() / len(y_test))
    return out
