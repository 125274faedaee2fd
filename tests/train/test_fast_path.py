"""The fast data path (a world rendered once, batches gathered by column) and fit's cut-short warning."""

from __future__ import annotations

import warnings

import pytest
import torch
from train_helpers import SIZE, tiny

from xmodal_lab.data import SimulatedWorld, collate_pairs
from xmodal_lab.train import CachedPairs, FitConfig, PairDataModule, fit
from xmodal_lab.train import datamodule as dm

ARGS = {"batch_size": 16, "lr": 2e-3, "seed": 0, "progress": False}


def test_cached_batches_equal_collated_items():
    world = SimulatedWorld(seed=3, size=8, n_scenes=6)
    cached = CachedPairs(world)
    indices = [4, 0, 5, 2]
    expected = collate_pairs([world[i] for i in indices])
    got = cached.batch(indices)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert got[key].dtype == value.dtype and torch.equal(got[key], value), key
        else:
            assert got[key] == value, key
    with pytest.raises(ValueError, match="empty"):
        cached.batch([])


def test_the_loader_of_a_cache_yields_collated_batches():
    world = SimulatedWorld(seed=3, size=8, n_scenes=6)
    plain = next(iter(PairDataModule(world, batch_size=4, seed=1).train_dataloader()))
    fast = next(iter(PairDataModule(CachedPairs(world), batch_size=4, seed=1).train_dataloader()))
    assert plain.keys() == fast.keys()
    for key, value in plain.items():
        assert torch.equal(fast[key], value) if isinstance(value, torch.Tensor) else fast[key] == value, key


def test_prepare_renders_only_pure_worlds_that_fit(monkeypatch):
    world = SimulatedWorld(seed=0, size=8, n_scenes=4)
    assert isinstance(dm.prepare_training_data(world), CachedPairs)
    assert len(world._cache) == 0  # the tiles live once in memory, in the training cache
    concat = torch.utils.data.ConcatDataset([world, torch.utils.data.Subset(world, [0, 1])])
    assert isinstance(dm.prepare_training_data(concat), CachedPairs)
    assert dm.prepare_training_data(world, cache=False) is world
    augmented = SimulatedWorld(seed=0, size=8, n_scenes=4, transform=lambda p: p)
    assert dm.prepare_training_data(augmented) is augmented  # random augmentations must stay random
    assert isinstance(dm.prepare_training_data(augmented, cache=True), CachedPairs)
    monkeypatch.setattr(dm, "AUTO_CACHE_MB", 1e-3)
    assert dm.prepare_training_data(world) is world  # too big for memory: rendered on access
    with pytest.raises(ValueError, match="cache"):
        dm.prepare_training_data(world, cache="yes")


def test_rendering_up_front_changes_no_loss():
    world = SimulatedWorld(seed=0, size=SIZE, n_scenes=48)
    _, fast = fit(tiny("croma"), world, max_steps=6, **ARGS)
    _, slow = fit(tiny("croma"), world, max_steps=6, config=FitConfig(cache=False), **ARGS)
    assert fast["loss"] == slow["loss"]  # CROMA draws masks: the global random stream is untouched too
    assert fast["steps"] == slow["steps"] == fast["steps_asked"] == 6 and not fast["cut_short"]


def test_a_run_cut_short_by_the_cap_says_so(small_world):
    with pytest.warns(UserWarning, match=r"CUT SHORT: (\d+) of 100000 steps") as caught:
        _, h = fit(tiny(), small_world, max_steps=100_000, max_minutes=0.01, **ARGS)
    assert h["cut_short"] and h["steps"] < h["steps_asked"] == 100_000
    assert f"{h['steps']} of 100000" in str(caught[0].message)
    assert "results will differ from the text" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that does all its steps says nothing
        _, h = fit(tiny(), small_world, max_steps=3, max_minutes=5.0, **ARGS)
    assert not h["cut_short"] and h["steps"] == 3
