"""Heads on a label subset (fit_segmentation, dense_label_efficiency); sim-to-real mixes and frozen patch embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import SIZE, tiny

from xmodal_lab.data.floods import SimulatedFloods
from xmodal_lab.errors import InputTypeError, InputValueError
from xmodal_lab.eval.dense import evaluate_segmentation
from xmodal_lab.models import build
from xmodal_lab.train import (
    CachedPairs,
    MixedPairs,
    dense_label_efficiency,
    fit,
    fit_segmentation,
    freeze_patch_embeddings,
    label_subset,
)


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


def _real(n: int = 8) -> list[dict]:
    """Pairs recognisable by their values: a constant s1 of -10 - i / 2 dB (simulated radar has speckle)."""
    return [
        {"s1": torch.full((2, SIZE, SIZE), -10.0 - i / 2), "s2": torch.full((12, SIZE, SIZE), 0.1),
         "gsd": 10.0, "date": "2020-06-04", "window": (0, i)}
        for i in range(n)
    ]  # fmt: skip


def _is_real(item: dict) -> bool:
    return bool(item["s1"].std() == 0)


@pytest.mark.parametrize("fraction, share", [(0.5, 0.5), (0.8, 0.2), (0.0, 1.0)])
def test_the_real_share_of_the_items_is_one_minus_the_sim_fraction(small_world, fraction, share):
    mix = MixedPairs(_real(8), small_world, fraction)
    items = [mix[i] for i in range(len(mix))]
    n_real = sum(_is_real(t) for t in items)
    assert n_real == mix.n_real and n_real / len(mix) == pytest.approx(share)
    assert len(mix) == mix.n_real_repeats * 8 + (len(small_world) if fraction > 0 else 0)
    # every real pair appears equally often, every simulated pair once
    counts = torch.bincount(
        torch.tensor([round(float(-2 * (t["s1"][0, 0, 0] + 10))) for t in items if _is_real(t)])
    )
    assert counts.tolist() == [mix.n_real_repeats] * 8
    sims = [t for t in items if not _is_real(t)]
    for k, t in enumerate(sims):
        assert torch.equal(t["s1"], small_world[k]["s1"]) and set(t) == {"s1", "s2", "gsd"}


def test_the_transform_applies_to_real_items_only(small_world):
    def mark(pair: dict) -> dict:
        return {**pair, "s2": pair["s2"] + 1.0}

    mix = MixedPairs(_real(4), small_world, 0.5, transform=mark)
    assert torch.allclose(mix[0]["s2"], torch.full((12, SIZE, SIZE), 1.1))
    assert torch.equal(mix[mix.n_real]["s2"], small_world[0]["s2"])
    assert set(mix[0]) == {"s1", "s2", "gsd"}  # date and window are dropped: batches collate


def test_bad_arguments_are_named():
    with pytest.raises(InputValueError, match="sim_fraction"):
        MixedPairs(_real(), _real(), 1.0)
    with pytest.raises(InputValueError, match="sim_fraction"):
        MixedPairs(_real(), _real(), -0.1)
    with pytest.raises(InputTypeError, match="sim_fraction"):
        MixedPairs(_real(), _real(), "half")
    with pytest.raises(InputValueError, match="0 real"):
        MixedPairs([], _real(), 0.5)
    with pytest.raises(IndexError):
        MixedPairs(_real(2), _real(2), 0.5)[4]


def test_co_training_batches_hold_both_domains_and_the_loss_falls(small_world):
    mix = MixedPairs(_real(16), small_world, 0.5)
    model, h = fit(tiny(), mix, max_steps=30, batch_size=16, lr=2e-3, seed=0, progress=False)
    assert h["steps"] == 30
    assert sum(h["loss"][-5:]) / 5 < sum(h["loss"][:5]) / 5 - 0.1


def test_frozen_patch_embeddings_do_not_move_and_the_rest_trains(small_world):
    model = tiny()
    names = freeze_patch_embeddings(model)
    assert sorted(names) == sorted(
        f"encoder_{m}.patch_embed.proj.{p}" for m in ("s1", "s2") for p in ("weight", "bias")
    )
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    fit(model, small_world, max_steps=5, batch_size=16, lr=2e-3, seed=0, progress=False, normalize=False)
    after = dict(model.named_parameters())
    frozen = {k for k in before if torch.equal(before[k], after[k])}
    assert frozen == set(names)
    with pytest.raises(InputValueError, match="patch_embed"):
        freeze_patch_embeddings(torch.nn.Linear(2, 2))
