"""Batch order as a function of (seed, step); DDP slices; the in-memory cache; band statistics and norms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from xmodal_lab.data import BandStats, SimulatedWorld, collate_pairs
from xmodal_lab.models import build
from xmodal_lab.train import (
    CachedPairs,
    PairDataModule,
    StepBatchSampler,
    band_statistics,
    describe_data,
    normalization_state,
    set_normalization,
)
from xmodal_lab.train import datamodule as dm


def take(sampler: StepBatchSampler, n: int) -> list[list[int]]:
    return list(itertools.islice(iter(sampler), n))


def test_each_epoch_is_a_permutation_without_repeats():
    batches = take(StepBatchSampler(10, 3, seed=1, rank=0, world_size=1), 6)  # 3 batches per epoch, 1 dropped
    assert all(len(b) == 3 for b in batches)
    for epoch in (batches[:3], batches[3:]):
        flat = [i for b in epoch for i in b]
        assert len(set(flat)) == 9 and set(flat) <= set(range(10))
    assert batches[:3] != batches[3:]  # a new shuffle every epoch


def test_resuming_at_step_k_continues_the_same_sequence():
    full = take(StepBatchSampler(50, 8, seed=3, rank=0, world_size=1), 12)
    resumed = take(StepBatchSampler(50, 8, seed=3, start_step=lambda: 7, rank=0, world_size=1), 5)
    assert resumed == full[7:]
    other_seed = take(StepBatchSampler(50, 8, seed=4, rank=0, world_size=1), 12)
    assert other_seed != full


def test_ddp_ranks_split_one_global_batch():
    ranks = [take(StepBatchSampler(40, 4, seed=0, rank=r, world_size=2), 3) for r in (0, 1)]
    one = StepBatchSampler(40, 4, seed=0, rank=0, world_size=2)
    for step in range(3):
        assert ranks[0][step] + ranks[1][step] == one.global_batch(step)
        assert not set(ranks[0][step]) & set(ranks[1][step])


def test_fewer_items_than_a_batch():
    batches = take(StepBatchSampler(5, 8, seed=0, rank=0, world_size=1), 2)
    assert [sorted(b) for b in batches] == [list(range(5))] * 2


def test_cached_pairs_equal_the_source():
    world = SimulatedWorld(seed=2, size=8, n_scenes=5)
    cached = CachedPairs(world, batch_size=2)
    assert len(cached) == 5
    for i in (0, 4):
        a, b = world[i], cached[i]
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, b[key]), key
            else:
                assert value == b[key], key
    only = CachedPairs(world, keys=("s1", "s2"))
    assert set(only[0]) == {"s1", "s2"}
    assert isinstance(only.columns["s1"], torch.Tensor) and only.columns["s1"].shape == (5, 2, 8, 8)


def test_describe_data_and_loader():
    world = SimulatedWorld(seed=2, size=8, n_scenes=5)
    desc = describe_data(CachedPairs(world))
    assert desc["type"] == "SimulatedWorld" and desc["length"] == 5
    assert desc["config"]["seed"] == 2 and desc["config"]["size"] == 8
    loader = PairDataModule(world, batch_size=2, seed=0).train_dataloader()
    batch = next(iter(loader))
    assert batch["s1"].shape == (2, 2, 8, 8) and batch["s2"].shape == (2, 12, 8, 8)


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


def test_statistics_match_numpy_when_covering_all_items(small_world):
    stats = band_statistics(small_world, n_batches=10, batch_size=16)  # 4 batches hold all 64 items
    for key, channels in (("s1", 2), ("s2", 12)):
        x = np.stack([small_world[i][key].numpy() for i in range(len(small_world))]).astype(np.float64)
        x = x.transpose(1, 0, 2, 3).reshape(channels, -1)
        np.testing.assert_allclose(stats[f"{key}_mean"], x.mean(axis=1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats[f"{key}_std"], x.std(axis=1, ddof=1), rtol=1e-4)
    print("radar mean dB", np.round(stats["s1_mean"], 2), "std", np.round(stats["s1_std"], 2))


def test_models_standardise_with_the_training_statistics(small_world):
    stats = band_statistics(small_world, n_batches=10, batch_size=64)
    for name in ("contrastive", "croma", "scale_mae"):
        model = build(name, "tiny", img_size=16)
        updated = set_normalization(model, stats)
        assert "norm_s2" in updated, (name, updated)
        batch = torch.stack([small_world[i]["s2"] for i in range(64)])
        z = model.norm_s2(batch)  # [64, 12, 16, 16]
        assert z.mean(dim=(0, 2, 3)).abs().max() < 1e-4
        assert (z.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
        saved = normalization_state(model)
        np.testing.assert_allclose(saved["norm_s2"]["mean"], stats["s2_mean"], rtol=1e-6)


def test_band_subset_and_mismatch(small_world):
    stats = band_statistics(small_world, n_batches=1, batch_size=16)
    model = build("scale_mae", "tiny", img_size=16, s2_bands=(3, 2, 1))
    assert set_normalization(model, stats) == ["norm_s2"]
    np.testing.assert_allclose(
        model.norm_s2.mean.flatten(), [stats["s2_mean"][i] for i in (3, 2, 1)], rtol=1e-6
    )
    wrong = {"s2_mean": [0.1] * 5, "s2_std": [1.0] * 5}
    with pytest.warns(UserWarning, match="kept its statistics"):
        assert set_normalization(build("contrastive", "tiny", img_size=16), wrong) == []


def test_band_stats_of_the_data_layer_are_accepted(small_world):
    stats = BandStats.compute(small_world, n=64)
    model = build("croma", "tiny", img_size=16)
    assert sorted(set_normalization(model, stats)) == ["norm_s1", "norm_s2"]
    np.testing.assert_allclose(model.norm_s1.std.flatten(), stats.s1_std, rtol=1e-6)


def test_non_finite_data_is_refused():
    bad = [{"s1": torch.full((2, 4, 4), float("nan")), "s2": torch.zeros(12, 4, 4)}] * 4
    with pytest.raises(ValueError, match="'s1' holds NaN"):
        band_statistics(bad, batch_size=2)


def test_cached_pairs_keep_the_tiles_once_and_odd_keys_like_a_stack():
    world = SimulatedWorld(seed=1, size=8, n_scenes=7)
    cached = CachedPairs(world, batch_size=3)
    assert len(world._cache) == 0  # the world's render cache is emptied as the blocks fill
    assert torch.equal(cached.columns["s2"], torch.stack([world[i]["s2"] for i in range(7)]))
    items = [{"a": torch.full((2,), i), "b": torch.zeros(i + 1), "c": torch.ones(1)} for i in range(4)]
    del items[2]["c"]
    odd = CachedPairs(items, batch_size=2)
    assert torch.equal(odd.columns["a"], torch.stack([it["a"] for it in items]))
    assert "c" not in odd.columns  # one item lacks it
    assert [len(v) for v in odd.columns["b"]] == [1, 2, 3, 4]  # shapes differ: kept item by item
