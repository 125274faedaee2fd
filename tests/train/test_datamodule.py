"""Batch order as a function of (seed, step); DDP slices; the in-memory cache; data descriptions."""

from __future__ import annotations

import itertools

import torch

from xmodal_lab.data import SimulatedWorld
from xmodal_lab.train import CachedPairs, PairDataModule, StepBatchSampler, describe_data


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
