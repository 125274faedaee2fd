"""kNN across ground sample distances: Scale-MAE's evaluation protocol on the simulated world.

As in Scale-MAE (Reed et al., ICCV 2023), the kNN fit set and the test set are both seen at one GSD at a
time, the encoder being told that GSD: a fixed footprint (e.g. 320 m) is rendered at each GSD (32 px at
10 m, 8 px at 40 m), and fit and test places are different worlds. The vote is the paper's weighted kNN
(:func:`~xmodal_lab.eval.probes.weighted_knn_accuracy`) or, with ``temperature=None``, a majority vote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from xmodal_lab.data import SimulatedWorld

from .embeddings import embed_dataset
from .probes import knn_accuracy, weighted_knn_accuracy


def footprint_views(
    seed: int, n_places: int, gsds: Sequence[float] = (10.0, 20.0, 40.0), footprint: float = 320.0
) -> dict[float, SimulatedWorld]:
    """``{gsd: SimulatedWorld}``: the same ``n_places`` places at several GSDs, tiles ``footprint`` m a side.

    Item ``i`` of every view is the same place, ``footprint / gsd`` pixels a side.

    Raises:
        ValueError: a GSD that does not divide the footprint into whole pixels, or no GSD.
    """
    if not gsds:
        raise ValueError("footprint_views: give at least one GSD")
    views = {}
    for g in gsds:
        px = footprint / g
        if g <= 0 or abs(px - round(px)) > 1e-6 or round(px) < 1:
            raise ValueError(
                f"footprint_views: a {footprint:g} m footprint at {g:g} m is {px:g} px; "
                "choose GSDs that divide the footprint into whole pixels"
            )
        views[float(g)] = SimulatedWorld(seed=seed, size=round(px), n_scenes=n_places, gsd=float(g))
    return views


def _raw(world: SimulatedWorld) -> torch.Tensor:
    """Flattened reflectances of every tile, the raw-pixel baseline."""
    return torch.stack([world[i]["s2"].flatten() for i in range(len(world))])  # [N, 12 * H * W]


def knn_across_gsds(
    models: Mapping[str, nn.Module],
    fit_views: Mapping[float, SimulatedWorld],
    test_views: Mapping[float, SimulatedWorld],
    k: int = 20,
    key: str = "s2",
    temperature: float | None = 0.07,
) -> dict[str, dict[float, float]]:
    """Accuracy of a kNN on each model's embeddings per GSD, fitted and tested at that GSD on different places.

    Each tile is labelled by its dominant land-cover class. Two baselines come with the models: kNN on the raw
    reflectances (``"raw pixels"``) and the most frequent class of the test set (``"majority"``).

    Args:
        models: ``{name: model}``; each model's ``embed(s2=..., gsd=...)`` receives the tiles' own GSD.
        fit_views: ``{gsd: dataset}`` whose embeddings the kNN is fitted on (see :func:`footprint_views`).
        test_views: ``{gsd: dataset}`` of other places, classified by the kNN; the same GSDs.
        k: neighbours (official: 20).
        key: the embedding to use (``"s2"`` for optical models).
        temperature: weight of a neighbour's vote ``exp(cos / temperature)`` (official: 0.07); ``None``
            counts every neighbour's vote once (majority vote).

    Returns:
        ``{name: {gsd: accuracy}}`` for every model, then ``"raw pixels"`` and ``"majority"``.

    Raises:
        ValueError: the two sets of views have different GSDs, or ``models`` is empty.
    """
    if set(fit_views) != set(test_views):
        raise ValueError(
            f"knn_across_gsds: fit GSDs {sorted(fit_views)} differ from test GSDs {sorted(test_views)}"
        )
    if not models:
        raise ValueError("knn_across_gsds: give at least one model")

    def knn(x_fit, y_fit, x_test, y_test):
        if temperature is None:
            return knn_accuracy(x_fit, y_fit, x_test, y_test, k=k)
        return weighted_knn_accuracy(x_fit, y_fit, x_test, y_test, k=k, temperature=temperature)

    out: dict[str, dict[float, float]] = {name: {} for name in [*models, "raw pixels", "majority"]}
    for g in sorted(fit_views):
        fit, test = fit_views[g], test_views[g]
        for name, model in models.items():
            e_fit, e_test = embed_dataset(model, fit), embed_dataset(model, test)
            y_fit, y_test = e_fit["dominant_class"], e_test["dominant_class"]
            out[name][g] = knn(e_fit[key], y_fit, e_test[key], y_test)
        out["raw pixels"][g] = knn(_raw(fit), y_fit, _raw(test), y_test)
        out["majority"][g] = float(np.bincount(y_test).max() / len(y_test))
    return out

