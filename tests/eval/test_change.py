"""Change-detection scores on constructed cases with known answers, and on the simulated world."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xmodal_lab.data.changes import SimulatedChanges, collate_changes
from xmodal_lab.eval.change import (
    best_threshold,
    change_detection_report,
    change_metrics,
    embedding_change,
    pixel_difference,
    pool_to_grid,
)


def _mann_whitney_auc(scores, truth):
    """AUC as the probability that a changed item outscores an unchanged one (ties count half)."""
    pos, neg = scores[truth], scores[~truth]
    wins = sum(float((p > neg).sum()) + 0.5 * float((p == neg).sum()) for p in pos)
    return wins / (len(pos) * len(neg))


def test_metrics_against_hand_counts():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    truth = np.array([1, 1, 0, 1, 0, 0, 1, 0], dtype=bool)
    m = change_metrics(scores, truth, threshold=0.55)
    # predicted changed: 0.9, 0.8, 0.7, 0.6 -> tp 3, fp 1, fn 1
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    assert m["auc"] == pytest.approx(_mann_whitney_auc(scores, truth))
    assert m["positives"] == 4 and m["n"] == 8
    ties = np.array([1.0, 1.0, 0.0, 0.0])
    assert change_metrics(ties, np.array([1, 0, 1, 0], bool))["auc"] == pytest.approx(0.5)
    assert math.isnan(change_metrics(scores, np.zeros(8, bool))["auc"])


def test_best_threshold_separates_a_separable_case_and_maximises_f1():
    rng = np.random.default_rng(0)
    truth = rng.random(200) < 0.3
    scores = np.where(truth, 1.0 + rng.random(200), rng.random(200))
    t = best_threshold(scores, truth)
    assert change_metrics(scores, truth, t)["f1"] == 1.0
    noisy = scores + rng.normal(0, 0.4, 200)
    t = best_threshold(noisy, truth)
    best = max(change_metrics(noisy, truth, c)["f1"] for c in np.unique(noisy) - 1e-9)  # brute force
    assert change_metrics(noisy, truth, t)["f1"] == pytest.approx(best)
    with pytest.raises(ValueError, match="no change"):
        best_threshold(scores, np.zeros(200, bool))


def test_log_ratio_baseline_on_known_images():
    before = {"s1": torch.full((1, 2, 4, 4), -10.0), "s2": torch.full((1, 12, 4, 4), 0.1)}
    after = {"s1": before["s1"].clone(), "s2": before["s2"].clone()}
    after["s1"][0, :, 0, 0] = -20.0  # 10 dB darker = a tenfold ratio
    after["s2"][0, :, 1, 1] = 0.2  # twice as bright
    s1 = pixel_difference(before, after, "s1")
    assert s1[0, 0, 0] == pytest.approx(math.log(10.0)) and float(s1.sum()) == pytest.approx(math.log(10.0))
    s2 = pixel_difference(before, after, "s2")
    assert s2[0, 1, 1] == pytest.approx(math.log(2.0)) and s2[0, 0, 0] == 0
    joint = pixel_difference(before, after, "joint")
    assert joint[0, 1, 1] == pytest.approx(12 / 14 * math.log(2.0), rel=1e-5)
    with pytest.raises(ValueError, match="modality"):
        pixel_difference(before, after, "radar")


class _MeanColour(torch.nn.Module):
    """A stand-in encoder: the embedding is the band means (plus an offset so no vector is zero)."""

    def embed(self, s1=None, s2=None, gsd=None):
        return {"s1": s1.mean(dim=(2, 3)) + torch.tensor([30.0, 0.0])}

    def features(self, s1=None, s2=None, gsd=None):
        pooled = torch.nn.functional.avg_pool2d(s1, 4) + torch.tensor([30.0, 0.0])[None, :, None, None]
        return {"s1": pooled}


def test_embedding_change_is_the_cosine_distance():
    before = {"s1": torch.zeros(2, 2, 8, 8)}
    after = {"s1": torch.zeros(2, 2, 8, 8)}
    after["s1"][1, 1] = 30.0  # the second place turns: (30, 0) -> (30, 30), 45 degrees
    tile = embedding_change(_MeanColour(), before, after, "s1", "tile")
    assert tile[0] == pytest.approx(0.0, abs=1e-6) and tile[1] == pytest.approx(1 - math.cos(math.pi / 4))
    patch = embedding_change(_MeanColour(), before, after, "s1", "patch")
    assert patch.shape == (2, 2, 2) and torch.allclose(patch[1], torch.full((2, 2), tile[1].item()))
    with pytest.raises(ValueError, match="level"):
        embedding_change(_MeanColour(), before, after, "s1", "pixel")
    assert torch.equal(pool_to_grid(torch.eye(4)[None], (2, 2))[0], torch.full((2, 2), 0.5) * torch.eye(2))


def test_simulated_changes_and_a_report_with_a_baseline():
    cal, test = SimulatedChanges(seed=5, size=16, n_scenes=24), SimulatedChanges(seed=6, size=16, n_scenes=24)
    items = [test[i] for i in range(len(test))]
    assert any(it["event"] == "none" for it in items) and any(it["event"] != "none" for it in items)
    for it in items:
        assert it["change_mask"].shape == (16, 16)
        if it["event"] == "none":
            assert not it["change_mask"].any()
    batch = collate_changes(items[:3])
    assert batch["before"]["s1"].shape == (3, 2, 16, 16) and batch["change_mask"].shape == (3, 16, 16)
    report = change_detection_report(_MeanColour(), cal, test, modality="s1", batch_size=8)
    assert set(report) == {"embedding tile", "embedding patch", "pixel tile", "pixel patch", "pixel pixel"}
    for name, m in report.items():
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1 and "threshold" in m, name
    print({k: round(v["auc"], 3) for k, v in report.items()})
    assert report["pixel pixel"]["auc"] > 0.75  # the log-ratio sees floods and clearings (chance 0.5)
    assert report["pixel tile"]["n"] == 24
    with pytest.raises(ValueError, match="dates"):
        SimulatedChanges(dates=("2021-01-01",))
