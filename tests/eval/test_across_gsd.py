"""kNN across GSDs (Scale-MAE's protocol): same footprint at every GSD, fit/test on different places."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xmodal_lab.eval.across_gsd import footprint_views, knn_across_gsds


class BandMeans(nn.Module):
    """A stand-in encoder: the mean reflectance of each band (the same for a place at every GSD)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.gsds: list[float] = []

    def embed(self, s1=None, s2=None, gsd=None):
        self.gsds += torch.as_tensor(gsd).reshape(-1).tolist()
        return {"s2": s2.mean(dim=(2, 3))}


def test_views_show_the_same_ground_with_fewer_pixels():
    views = footprint_views(seed=3, n_places=2, gsds=(10.0, 20.0, 40.0), footprint=320.0)
    fine = views[10.0][1]["s2"]  # [12, 32, 32]
    assert {g: tuple(v[1]["s2"].shape) for g, v in views.items()} == {
        10.0: (12, 32, 32),
        20.0: (12, 16, 16),
        40.0: (12, 8, 8),
    }
    # a coarse pixel is the area average of the fine pixels it covers (a sensor with bigger pixels)
    torch.testing.assert_close(views[40.0][1]["s2"], F.avg_pool2d(fine[None], 4)[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(views[20.0][1]["s2"], F.avg_pool2d(fine[None], 2)[0], rtol=1e-4, atol=1e-5)
    assert views[40.0][1]["gsd"] == 40.0


def test_views_refuse_fractional_pixels():
    with pytest.raises(ValueError, match="whole pixels"):
        footprint_views(seed=0, n_places=2, gsds=(10.0, 30.0), footprint=320.0)


def test_knn_across_gsds_against_a_hand_written_knn():
    fit, test = footprint_views(1, 24, (10.0, 40.0)), footprint_views(2, 16, (10.0, 40.0))
    model = BandMeans()
    table = knn_across_gsds({"band means": model}, fit, test, k=3, temperature=None)
    weighted = knn_across_gsds({"band means": model}, fit, test)  # the official vote: k = 20, exp(cos / 0.07)
    assert list(table) == ["band means", "raw pixels", "majority"]
    assert sorted(set(model.gsds)) == [10.0, 40.0]  # each tile embedded with its own GSD
    for g in (10.0, 40.0):

        def dominant(world):
            return np.array(
                [np.bincount(world[i]["landcover"].flatten().numpy()).argmax() for i in range(len(world))]
            )

        def means(world):
            return np.stack([world[i]["s2"].mean(dim=(1, 2)).numpy() for i in range(len(world))])

        y_fit, y_test = dominant(fit[g]), dominant(test[g])
        a, b = means(fit[g]), means(test[g])
        cos = (b / np.linalg.norm(b, axis=1, keepdims=True)) @ (
            a / np.linalg.norm(a, axis=1, keepdims=True)
        ).T
        votes = y_fit[np.argsort(-cos, axis=1)[:, :3]]  # [M, 3] labels of the 3 most similar fit tiles
        pred = np.array([np.bincount(v).argmax() for v in votes])
        assert table["band means"][g] == pytest.approx(float((pred == y_test).mean()))
        top = np.argsort(-cos, axis=1)[:, :20]
        totals = np.zeros((len(b), y_fit.max() + 1))
        for i in range(len(b)):
            for j in top[i]:
                totals[i, y_fit[j]] += np.exp(cos[i, j] / 0.07)
        assert weighted["band means"][g] == pytest.approx(float((totals.argmax(1) == y_test).mean()))
        assert table["majority"][g] == pytest.approx(np.bincount(y_test).max() / len(y_test))
        assert 0.0 <= table["raw pixels"][g] <= 1.0


def test_knn_across_gsds_needs_matching_views():
    fit, test = footprint_views(1, 4, (10.0, 20.0)), footprint_views(2, 4, (10.0,))
    with pytest.raises(ValueError, match="differ"):
        knn_across_gsds({"m": BandMeans()}, fit, test)
