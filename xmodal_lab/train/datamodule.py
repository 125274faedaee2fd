"""What training reads: a resumable step sampler, an in-memory cache, the data's band statistics."""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler, Subset

from xmodal_lab.data import SimulatedWorld, collate_pairs
from xmodal_lab.data.collate import _collate_key
from xmodal_lab.models.input_norm import InputNorm

#: Largest estimated size of a dataset that ``prepare_training_data(..., cache="auto")`` renders up front.
AUTO_CACHE_MB = 1024.0


class StepBatchSampler(Sampler[list[int]]):
    """An endless batch sampler whose ``k``-th batch depends only on the seed and ``k`` (resumable, DDP-sliced)."""

    def __init__(self, n_items: int, batch_size: int, seed: int = 0,
                 start_step: Callable[[], int] | None = None, rank: int | None = None,
                 world_size: int | None = None) -> None:  # fmt: skip
        if n_items < 1 or batch_size < 1:
            raise ValueError(f"StepBatchSampler: got {n_items} items and batch_size {batch_size}")
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.start_step, self.rank, self.world_size = start_step, rank, world_size

    def _dist(self) -> tuple[int, int]:
        rank, world = 0, 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        return rank if self.rank is None else self.rank, world if self.world_size is None else self.world_size

    def global_batch(self, step: int) -> list[int]:
        """Indices of the whole (all-process) batch of ``step``."""
        size = self.batch_size * self._dist()[1]
        if size > self.n_items:  # fewer items than one batch: every step sees a fresh shuffle of all items
            return self._perm(step).tolist()
        epoch, k = divmod(step, self.n_items // size)  # the rest of each permutation is skipped (drop_last)
        return self._perm(epoch)[k * size : (k + 1) * size].tolist()

    def _perm(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n_items, generator=g)

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self._dist()
        for step in itertools.count(int(self.start_step()) if self.start_step is not None else 0):
            batch = self.global_batch(step)
            per = max(1, len(batch) // world)
            yield batch[rank * per : (rank + 1) * per]


class CachedPairs(Dataset):
    """A dataset of pair dicts (only ``keys``) rendered once into memory, one stacked block per tensor key."""

    def __init__(self, data: Dataset, keys: tuple[str, ...] | None = None, batch_size: int = 64,
                 num_workers: int = 0) -> None:  # fmt: skip
        if len(data) == 0:
            raise ValueError("CachedPairs: the dataset is empty")
        self.source, self._n = data, len(data)
        self.config = getattr(data, "config", None)
        worlds = [w for w in _worlds(data) if isinstance(w, SimulatedWorld)]
        blocks: dict[str, torch.Tensor] = {}  # [N, ...] per tensor key whose items all match the first
        parts: dict[str, list[Any]] = {}  # the other keys, item by item
        order: dict[str, int] = {}  # every key, in the order the items give them: how many items have it
        row = 0
        for items in DataLoader(data, batch_size=batch_size, collate_fn=list, num_workers=num_workers):
            for item in items:
                for key, value in item.items():
                    if keys is not None and key not in keys:
                        continue
                    order[key] = order.get(key, 0) + 1
                    block = blocks.get(key)
                    if row == 0 and isinstance(value, torch.Tensor):
                        block = blocks[key] = torch.empty((self._n, *value.shape), dtype=value.dtype)
                    elif block is not None and not _fits(block, value):
                        parts[key] = [r.clone() for r in block[:row]]
                        del blocks[key]
                        block = None
                    if block is not None:
                        block[row] = value
                    else:
                        parts.setdefault(key, []).append(value)
                row += 1
            for world in worlds:  # the world's own copies of the tiles would double the memory
                world.forget()
        self.columns: dict[str, Any] = {}
        for key, count in order.items():
            if count != self._n:
                continue  # a key that only some items have cannot be batched anyway
            if key in blocks:
                self.columns[key] = blocks.pop(key)
                continue
            values = parts.pop(key)
            same = isinstance(values[0], torch.Tensor) and all(v.shape == values[0].shape for v in values)
            self.columns[key] = torch.stack(values) if same else values

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {key: column[index] for key, column in self.columns.items()}

    def batch(self, indices: list[int]) -> dict[str, Any]:
        """``collate_pairs([self[i] for i in indices])``, with one ``index_select`` per tensor key."""
        if len(indices) == 0:
            raise ValueError("CachedPairs.batch: got an empty list of indices")
        index = torch.as_tensor(indices, dtype=torch.long)
        return {key: column.index_select(0, index) if isinstance(column, torch.Tensor)
                else _collate_key(key, [column[i] for i in indices])
                for key, column in self.columns.items()}  # fmt: skip

    def __repr__(self) -> str:
        return f"CachedPairs({self.source!r}, {self._n} items in memory)"


def _fits(block: torch.Tensor, value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.shape == block.shape[1:] and value.dtype == block.dtype


class _BatchView(Dataset):
    """A :class:`CachedPairs` for a loader with a batch sampler: a list of indices in, one batch out."""

    def __init__(self, cached: CachedPairs) -> None:
        self.cached = cached

    def __len__(self) -> int:
        return len(self.cached)

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [self.cached.batch(indices)]


def _only_batch(items: list[dict[str, Any]]) -> dict[str, Any]:
    return items[0]


def _worlds(data: Dataset) -> list[Dataset]:
    """The datasets behind subsets and concatenations."""
    if isinstance(data, Subset):
        return _worlds(data.dataset)
    if isinstance(data, ConcatDataset):
        return [w for part in data.datasets for w in _worlds(part)]
    return [data]


def prepare_training_data(data: Dataset, cache: bool | str = "auto", num_workers: int = 0) -> Dataset:
    """``data``, or rendered once into a :class:`CachedPairs` ("auto": plain worlds, True: freezes augmentations)."""
    if cache not in ("auto", True, False):
        raise ValueError(f"cache: expected 'auto', True or False, got {cache!r}")
    if isinstance(data, CachedPairs) or cache is False:
        return data
    worlds = _worlds(data)
    if cache == "auto":
        if not all(isinstance(w, SimulatedWorld) and w.transform is None for w in worlds):
            return data
        item_mb = sum(v.nbytes for v in data[0].values() if isinstance(v, torch.Tensor)) / 2**20
        if item_mb * len(data) > AUTO_CACHE_MB:
            return data
    rng = torch.get_rng_state()  # the cache's loader draws a base seed: the run's masks must not move
    try:
        return CachedPairs(data, num_workers=num_workers)
    finally:
        torch.set_rng_state(rng)


def describe_data(data: Dataset) -> dict[str, Any]:
    """A JSON-friendly description saved with checkpoints: type, length, repr, root, simple config fields."""
    source = data.source if isinstance(data, CachedPairs) else data
    desc: dict[str, Any] = {"type": type(source).__name__, "length": len(data), "repr": repr(source)[:500]}
    config = getattr(source, "config", None)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        simple = (int, float, str, bool, type(None))
        desc["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
                          if all(isinstance(x, simple) for x in (v if isinstance(v, tuple) else (v,)))}
    if getattr(source, "root", None) is not None:
        desc["root"] = str(source.root)
    return desc


class PairDataModule(L.LightningDataModule):
    """Endless training batches of a pair dataset for a Lightning ``Trainer`` (CPU, one GPU or DDP)."""

    def __init__(self, data: Dataset, batch_size: int = 64, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        if len(data) == 0:
            raise ValueError("PairDataModule: the training dataset is empty")
        self.data, self.batch_size, self.seed, self.num_workers = data, batch_size, seed, num_workers

    def _step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        """An endless loader from the trainer's current step; ``max_steps`` or ``max_time`` ends training."""
        cached = isinstance(self.data, CachedPairs)
        # workers' base seeds come from the loader's own generator, not the global one that masks draw from
        return DataLoader(
            _BatchView(self.data) if cached else self.data,
            batch_sampler=StepBatchSampler(len(self.data), self.batch_size, self.seed, start_step=self._step),
            collate_fn=_only_batch if cached else collate_pairs, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, generator=torch.Generator().manual_seed(self.seed),
        )  # fmt: skip


@torch.no_grad()
def band_statistics(data: Dataset, n_batches: int = 4, batch_size: int = 64, seed: int = 0) -> dict[str, list]:
    """``{"s1_mean", "s1_std", "s2_mean", "s2_std"}`` (a float per band) over ``n_batches`` random batches."""
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate_pairs,
                        generator=torch.Generator().manual_seed(seed))
    parts: dict[str, list[torch.Tensor]] = {}
    for i, batch in enumerate(loader):
        if i >= n_batches:
            break
        for key in ("s1", "s2"):
            if isinstance(batch.get(key), torch.Tensor):
                x = batch[key].double()
                parts.setdefault(key, []).append(x.transpose(0, 1).reshape(x.shape[1], -1))  # [C, B*H*W]
    if not parts:
        raise ValueError("band_statistics: the data items hold neither 's1' nor 's2' tensors")
    stats: dict[str, list] = {}
    for key, chunks in parts.items():
        x = torch.cat(chunks, dim=1)
        mean, std = x.mean(dim=1), x.std(dim=1)
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise ValueError(f"band_statistics: '{key}' holds NaN or infinite values; clean the data first")
        stats[f"{key}_mean"] = mean.float().tolist()
        stats[f"{key}_std"] = std.clamp_min(1e-6).float().tolist()
    return stats


def _input_norms(model: nn.Module) -> dict[str, InputNorm]:
    return {name: m for name, m in model.named_modules() if isinstance(m, InputNorm)}


def set_normalization(model: nn.Module, stats: dict[str, list] | Any) -> list[str]:
    """Write :func:`band_statistics` (or a ``BandStats``) into the model's input norms; returns their names.

    A Sentinel-2 norm takes the config's ``s2_bands``; a norm of another size keeps its statistics (a warning).
    """
    if hasattr(stats, "to_dict"):
        stats = stats.to_dict()
    bands = getattr(getattr(model, "config", None), "s2_bands", None)
    updated = []
    for name, norm in _input_norms(model).items():
        modality = next((m for m in ("s1", "s2") if name.rsplit(".", 1)[-1].endswith(m)), None)
        if modality is None or f"{modality}_mean" not in stats:
            continue
        mean, std = stats[f"{modality}_mean"], stats[f"{modality}_std"]
        if modality == "s2" and bands is not None and norm.mean.numel() == len(bands) != len(mean):
            mean, std = [mean[i] for i in bands], [std[i] for i in bands]
        if norm.mean.numel() != len(mean):
            warnings.warn(f"set_normalization: {name} standardises {norm.mean.numel()} channels but the data "
                          f"give {len(mean)} for {modality}; kept its statistics", stacklevel=2)  # fmt: skip
            continue
        norm.set_stats(mean, std)
        updated.append(name)
    return updated


def normalization_state(model: nn.Module) -> dict[str, Any]:
    """The statistics a model standardises its inputs with: ``{module name: {"mean": [C], "std": [C]}}``."""
    return {name: {"mean": m.mean.flatten().tolist(), "std": m.std.flatten().tolist()}
            for name, m in _input_norms(model).items()}  # fmt: skip
