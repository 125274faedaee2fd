"""Feeding pair datasets to training: a resumable step sampler, an in-memory cache, a Lightning DataModule.

The order of training batches is a pure function of ``(seed, step)``: batch ``k`` comes from the
permutation of epoch ``k // steps_per_epoch``. A resumed run therefore sees exactly the batches the
uninterrupted run would have seen, and under DDP every process takes its own slice of the same global batch.

The fast path: :func:`prepare_training_data` renders a simulated world once into a :class:`CachedPairs`
before training (the same items, so the same losses), and batches of a :class:`CachedPairs` are gathered
with one ``index_select`` per tensor column instead of being stacked item by item.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from xmodal_lab.data import SimulatedWorld, collate_pairs
from xmodal_lab.data.collate import _collate_key


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class StepBatchSampler(Sampler[list[int]]):
    """An endless batch sampler whose ``k``-th batch depends only on the seed and ``k``.

    Args:
        n_items: dataset length.
        batch_size: items per batch and per process.
        seed: shuffling seed.
        start_step: callable giving the step to start from when iteration begins (the trainer's
            ``global_step`` after a resume), or None for 0.
        rank: this process's rank (default: from ``torch.distributed``).
        world_size: number of processes (default: from ``torch.distributed``).
    """

    def __init__(
        self,
        n_items: int,
        batch_size: int,
        seed: int = 0,
        start_step: Callable[[], int] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if n_items < 1:
            raise ValueError("StepBatchSampler: the dataset is empty")
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive number, got {batch_size}")
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.start_step = start_step
        self._rank, self._world = rank, world_size

    def global_batch(self, step: int) -> list[int]:
        """Indices of the whole (all-process) batch of ``step``."""
        _, world = self._dist()
        size = self.batch_size * world
        if size > self.n_items:  # fewer items than one batch: every step sees a fresh shuffle of all items
            return self._perm(step).tolist()
        per_epoch = self.n_items // size  # the remainder of each permutation is skipped (drop_last)
        epoch, k = divmod(step, per_epoch)
        return self._perm(epoch)[k * size : (k + 1) * size].tolist()

    def _perm(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n_items, generator=g)

    def _dist(self) -> tuple[int, int]:
        rank, world = _rank_and_world()
        return (
            self._rank if self._rank is not None else rank,
            self._world if self._world is not None else world,
        )

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self._dist()
        step = int(self.start_step()) if self.start_step is not None else 0
        while True:
            batch = self.global_batch(step)
            per = max(1, len(batch) // world)
            yield batch[rank * per : (rank + 1) * per]
            step += 1


class CachedPairs(Dataset):
    """A dataset of pair dicts rendered once and kept in memory (for training several epochs on a CPU).

    Tensors are stacked into one block per key and other values kept in lists; items come back as the
    original pair dicts (their tensors are views of the cache).

    Args:
        data: any dataset of pair dicts (``SimulatedWorld`` renders each item on every access).
        keys: keep only these keys (default: all).
        batch_size: items rendered per loader batch while filling the cache.
        num_workers: DataLoader workers used to fill the cache.
    """

    def __init__(
        self, data: Dataset, keys: tuple[str, ...] | None = None, batch_size: int = 64, num_workers: int = 0
    ) -> None:
        if len(data) == 0:
            raise ValueError("CachedPairs: the dataset is empty")
        self.source = data
        parts: dict[str, list[Any]] = {}
        loader = DataLoader(
            data, batch_size=batch_size, shuffle=False, collate_fn=list, num_workers=num_workers
        )
        for items in loader:
            for item in items:
                for key, value in item.items():
                    if keys is None or key in keys:
                        parts.setdefault(key, []).append(value)
        # tensors of one shape are stacked into one block of memory; everything else stays a list
        self.columns: dict[str, Any] = {}
        for key, values in parts.items():
            if len(values) != len(data):
                continue  # a key that only some items have cannot be batched anyway
            same = isinstance(values[0], torch.Tensor) and all(v.shape == values[0].shape for v in values)
            self.columns[key] = torch.stack(values) if same else values
        self._n = len(data)
        self.config = getattr(data, "config", None)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {key: column[index] for key, column in self.columns.items()}

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [self[i] for i in indices]

    def batch(self, indices: list[int]) -> dict[str, Any]:
        """The batch of ``indices``, gathered column by column (one ``index_select`` per tensor key).

        Equal to ``collate_pairs([self[i] for i in indices])``, without stacking item by item.

        Args:
            indices: item numbers.

        Returns:
            A batch dict, as :func:`~xmodal_lab.data.collate_pairs` makes it.
        """
        if len(indices) == 0:
            raise ValueError("CachedPairs.batch: got an empty list of indices")
        index = torch.as_tensor(indices, dtype=torch.long)
        return {
            key: column.index_select(0, index)
            if isinstance(column, torch.Tensor)
            else _collate_key(key, [column[i] for i in indices])
            for key, column in self.columns.items()
        }

    def __repr__(self) -> str:
        return f"CachedPairs({self.source!r}, {self._n} items in memory)"


class _BatchView(Dataset):
    """A :class:`CachedPairs` seen by a ``DataLoader`` with a batch sampler: a list of indices in, one batch out."""

    def __init__(self, cached: CachedPairs) -> None:
        self.cached = cached

    def __len__(self) -> int:
        return len(self.cached)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.cached[index]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [self.cached.batch(indices)]


def _only_batch(items: list[dict[str, Any]]) -> dict[str, Any]:
    return items[0]


def renders_on_access(data: Dataset) -> bool:
    """Whether ``data`` is a simulated world without a transform (or a subset or concatenation of them).

    Such items are a pure function of their index, so rendering them once gives exactly the items that
    training would have rendered; datasets with random augmentations or files on disk are not of this kind.
    """
    if isinstance(data, SimulatedWorld):
        return data.transform is None
    if isinstance(data, torch.utils.data.Subset):
        return renders_on_access(data.dataset)
    if isinstance(data, torch.utils.data.ConcatDataset):
        return all(renders_on_access(d) for d in data.datasets)
    return False


#: Largest estimated size of a dataset that ``prepare_training_data(..., cache="auto")`` renders up front.
AUTO_CACHE_MB = 1024.0


def prepare_training_data(data: Dataset, cache: bool | str = "auto", num_workers: int = 0) -> Dataset:
    """The dataset that training reads: ``data`` itself, or ``data`` rendered once into a :class:`CachedPairs`.

    Rendering a simulated tile costs about as much as a training step of a tiny model on it, and an epoch
    of a few thousand tiles is seen many times: rendering each tile once, before training, and gathering
    batches column by column raises the tiny models' steps per second about 1.6 times, to the rate of the
    model alone on tensors in memory (``benchmarks/bench_data_path.py``). The cached items are the
    items of ``data``, so losses, masks and batches are exactly those of the uncached run.

    Args:
        data: a dataset of pair dicts.
        cache: ``"auto"`` renders datasets that render on access (:func:`renders_on_access`) when their
            estimated size is at most :data:`AUTO_CACHE_MB`; ``True`` renders any dataset (random
            augmentations are then frozen at their first draw); ``False`` never renders up front.
        num_workers: DataLoader workers used to fill the cache.

    Returns:
        ``data`` or a :class:`CachedPairs` of it.

    Raises:
        ValueError: ``cache`` is not ``"auto"``, True or False.
    """
    if cache not in ("auto", True, False):
        raise ValueError(f"cache: expected 'auto', True or False, got {cache!r}")
    if isinstance(data, CachedPairs) or cache is False:
        return data
    if cache == "auto":
        if not renders_on_access(data):
            return data
        first = data[0]
        item_mb = sum(v.nbytes for v in first.values() if isinstance(v, torch.Tensor)) / 2**20
        if item_mb * len(data) > AUTO_CACHE_MB:
            return data
    rng = torch.get_rng_state()  # the cache's loader draws a base seed: the run's masks must not move
    try:
        cached = CachedPairs(data, num_workers=num_workers)
    finally:
        torch.set_rng_state(rng)
    _forget_rendered(data)  # the world's own copies of the tiles would double the memory (Binder: 2 GB)
    return cached


def _forget_rendered(data: Dataset) -> None:
    """Empty the render caches of the simulated worlds behind ``data`` (as a pickled world starts)."""
    if isinstance(data, SimulatedWorld) and hasattr(data, "_cache"):
        data._cache.clear()
        data._cache_bytes = 0
    elif isinstance(data, torch.utils.data.Subset):
        _forget_rendered(data.dataset)
    elif isinstance(data, torch.utils.data.ConcatDataset):
        for part in data.datasets:
            _forget_rendered(part)


def describe_data(data: Dataset) -> dict[str, Any]:
    """A small, JSON-friendly description of a dataset, saved with checkpoints.

    Returns:
        ``{"type", "length", "repr"}`` and, for datasets with a config dataclass, its simple fields.
    """
    source = getattr(data, "source", data) if isinstance(data, CachedPairs) else data
    desc: dict[str, Any] = {"type": type(source).__name__, "length": len(data), "repr": repr(source)[:500]}
    config = getattr(source, "config", None)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        simple = (int, float, str, bool, type(None))
        desc["config"] = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(config).items()
            if isinstance(v, simple) or (isinstance(v, tuple) and all(isinstance(x, simple) for x in v))
        }
    root = getattr(source, "root", None)
    if root is not None:
        desc["root"] = str(root)
    return desc


class PairDataModule(L.LightningDataModule):
    """Training batches of a pair dataset for a Lightning ``Trainer`` (CPU, one GPU or DDP).

    Args:
        data: a dataset of pair dicts.
        batch_size: items per batch and per device.
        seed: shuffling seed (the batch order is a function of seed and step, so resumes continue it).
        num_workers: DataLoader workers.
    """

    def __init__(self, data: Dataset, batch_size: int = 64, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        if len(data) == 0:
            raise ValueError("PairDataModule: the training dataset is empty")
        self.data, self.batch_size, self.seed, self.num_workers = data, batch_size, seed, num_workers

    def _global_step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        """An endless loader; the trainer's ``max_steps`` or ``max_time`` ends training."""
        sampler = StepBatchSampler(len(self.data), self.batch_size, self.seed, start_step=self._global_step)
        cached = isinstance(self.data, CachedPairs)  # gathered column by column: the fast path
        return DataLoader(
            _BatchView(self.data) if cached else self.data, batch_sampler=sampler,
            collate_fn=_only_batch if cached else collate_pairs, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # base seeds of workers come from this generator, not the global one that masks draw from
            generator=torch.Generator().manual_seed(self.seed),
        )  # fmt: skip
