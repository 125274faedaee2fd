"""Sim-to-real fine-tuning helpers: the mix of real and simulated pairs, frozen patch embeddings."""

from __future__ import annotations

import pytest
import torch
from train_helpers import SIZE, tiny

from xmodal_lab.errors import InputTypeError, InputValueError
from xmodal_lab.train import MixedPairs, fit, freeze_patch_embeddings


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
