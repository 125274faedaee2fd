"""fit_segmentation trains a head with fit() on a label subset; dense_label_efficiency returns curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.data.floods import SimulatedFloods
from xmodal_lab.eval.dense import evaluate_segmentation
from xmodal_lab.models import build
from xmodal_lab.train import CachedPairs, dense_label_efficiency, fit_segmentation, label_subset


@pytest.fixture(scope="module")
def floods():
    # open-water floods: these tests check that heads learn on an untrained encoder, which random features
    # support only when water is dark (flooded vegetation needs pretrained features: lesson 09)
    open_water = dict(size=16, flooded_vegetation=False)
    return CachedPairs(SimulatedFloods(seed=4, n_scenes=40, **open_water)), SimulatedFloods(
        seed=5, n_scenes=16, **open_water
    )


def test_label_subset_is_seeded_and_sized():
    data = list(range(100))
    a, b = label_subset(data, 0.05, seed=1), label_subset(data, 0.05, seed=1)
    assert len(a) == 5 and a.indices == b.indices and a.indices != label_subset(data, 0.05, seed=2).indices
    assert len(label_subset(data, 0.001)) == 1
    with pytest.raises(ValueError, match="fraction"):
        label_subset(data, 0.0)


def test_a_fraction_leaving_one_scene_is_refused_with_the_reason(floods):
    with pytest.raises(ValueError, match="leaves 1 labelled scene"):
        fit_segmentation(build("croma", preset="tiny", img_size=16), floods[0], fraction=0.01, max_steps=1)


def test_a_radar_head_maps_water_well_above_chance_and_keeps_the_encoder(floods):
    train, test = floods
    encoder = build("croma", preset="tiny", img_size=16)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    model, history = fit_segmentation(encoder, train, modality="s1", max_steps=30, batch_size=8, lr=3e-3)
    scores = evaluate_segmentation(model, test)
    water = sum(float(test[i]["mask"].float().mean()) for i in range(len(test))) / len(test)
    majority = max(water, 1 - water)
    print(f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}; accuracy {scores['accuracy']:.3f} "
          f"(majority {majority:.3f}), mIoU {scores['mIoU']:.3f}")  # fmt: skip
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    # predicting the majority class everywhere scores mIoU = majority / 2 (< 0.5: the other class gets 0)
    assert scores["mIoU"] > 0.5 + 0.2 and scores["accuracy"] > majority
    after = encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), (
        "a frozen encoder (and its norms) is unchanged"
    )


def test_dense_label_efficiency_returns_a_curve_per_encoder(floods):
    train, test = floods
    encoders = {
        "a": build("croma", preset="tiny", img_size=16),
        "b": build("contrastive", preset="tiny", img_size=16),
    }
    curves = dense_label_efficiency(encoders, train, test, fractions=(0.1, 1.0), seeds=(0, 1), max_steps=2,
                                    metric="iou/1")  # fmt: skip
    assert set(curves) == {"a", "b"} and set(curves["a"]) == {0.1, 1.0}
    assert all(len(v) == 2 and all(0 <= x <= 1 for x in v) for c in curves.values() for v in c.values())
    with pytest.raises(ValueError, match="metric"):
        dense_label_efficiency(
            encoders, train, test, fractions=(1.0,), seeds=(0,), max_steps=1, metric="dice"
        )


def test_a_linear_probe_on_frozen_features_learns_water(floods):
    train, test = floods
    items = [test[i] for i in range(len(test))]
    water = float(torch.stack([it["mask"] for it in items]).float().mean())
    model, history = fit_segmentation(build("croma", preset="tiny", img_size=16), train, modality="s1",
                                      head="linear", max_steps=40, batch_size=8)  # fmt: skip
    assert type(model.head).__name__ == "LinearHead" and history["steps"] == 40
    assert np.mean(history["loss"][-5:]) < 0.8 * np.mean(history["loss"][:5]), "the probe's loss falls"
    scores = evaluate_segmentation(model, test)
    print(f"linear probe mIoU {scores['mIoU']:.3f}; all-water baseline {water / 2:.3f}")
    assert scores["mIoU"] > water / 2 + 0.2
