"""Bi-temporal pairs of the simulated world with known change masks, for scoring change detection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from xmodal_lab.data.collate import collate_pairs
from xmodal_lab.data.io import check_index
from xmodal_lab.data.world import SimulatedWorld


class SimulatedChanges(Dataset):
    """Places before and after (``before``, ``after``, ``change_mask`` ``[H, W]``, ``event``, ``index``).

    With probability ``p_event`` an event that suits the biome happens; otherwise only nuisances change.
    """

    def __init__(self, seed: int = 0, size: int = 32, n_scenes: int = 128,
                 dates: Sequence[str] = ("2021-04-15", "2021-09-15"), p_event: float = 0.5, **world_kwargs: Any):
        if len(dates) != 2:
            raise ValueError(f"dates: expected two dates (before, after), got {list(dates)}")
        if not 0.0 <= p_event <= 1.0:
            raise ValueError(f"p_event: expected a probability in [0, 1], got {p_event}")
        self.world = SimulatedWorld(seed=seed, size=size, n_scenes=n_scenes, **world_kwargs)
        self.dates, self.p_event = tuple(dates), float(p_event)

    def __len__(self) -> int:
        return len(self.world)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_index(index, len(self), "SimulatedChanges")
        u = np.random.default_rng([self.world.config.seed, index, 7]).random()
        before, after = self.world.time_series(index, self.dates, event="auto" if u < self.p_event else None)
        return {"before": before, "after": after, "change_mask": after["change_mask"].clone(), "event": after["event"],
                "index": index}


def collate_changes(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch :class:`SimulatedChanges` items: ``before`` / ``after`` as pair batches, masks ``[B, H, W]``."""
    batch = collate_pairs(items)  # change_mask [B, H, W], event a list, index [B]
    for key in ("before", "after"):
        batch[key] = collate_pairs(batch[key])
    return batch
