"""Bi-temporal pairs of the simulated world with known change masks, for scoring change detection.

Item ``i`` is place ``i`` seen on two dates. With probability ``p_event`` a change event that suits the
biome (deforestation, flood, construction) happens between them; otherwise only the season, the clouds
and the speckle change (the nuisances a change detector must ignore).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal_lab.data.io import check_index
from xmodal_lab.data.world import SimulatedWorld


class SimulatedChanges(Dataset):
    """Places seen before and after, with the pixels an event changed.

    Args:
        seed: world seed (use different seeds for calibration and test places).
        size: tile side in pixels.
        n_scenes: dataset length.
        dates: the two acquisition dates (ISO strings).
        p_event: probability that a place has an event between the dates (biomes without events never do).
        **world_kwargs: other :class:`SimulatedWorld` settings (``cloud_cover``, ``biomes``, ``looks``...).

    Returns per item:
        ``{"before": pair dict, "after": pair dict, "change_mask": bool [H, W], "event": str, "index": int}``;
        ``event`` is ``"none"`` when nothing happened (and ``change_mask`` is all False).
    """

    def __init__(
        self,
        seed: int = 0,
        size: int = 32,
        n_scenes: int = 128,
        dates: Sequence[str] = ("2021-04-15", "2021-09-15"),
        p_event: float = 0.5,
        **world_kwargs: Any,
    ) -> None:
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
        return {
            "before": before,
            "after": after,
            "change_mask": after["change_mask"].clone(),
            "event": after["event"],
            "index": index,
        }


def collate_changes(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch :class:`SimulatedChanges` items: ``before`` / ``after`` as pair batches, masks ``[B, H, W]``."""
    from xmodal_lab.data.collate import collate_pairs

    return {
        "before": collate_pairs([it["before"] for it in items]),
        "after": collate_pairs([it["after"] for it in items]),
        "change_mask": torch.stack([it["change_mask"] for it in items]),
        "event": [it["event"] for it in items],
        "index": torch.tensor([it["index"] for it in items]),
    }
