"""Seed spread: run an experiment over several seeds and report mean +/- sd, so a gap can be judged."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedSpread:
    """One metric's ``values`` over several ``seeds``."""

    name: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.seeds):
            raise ValueError(f"SeedSpread {self.name!r}: {len(self.values)} values for {len(self.seeds)} seeds")
        if len(self.values) < 2:
            raise ValueError(f"SeedSpread {self.name!r}: a spread needs at least 2 seeds, got {len(self.values)}")
        if bad := [s for s, v in zip(self.seeds, self.values) if not math.isfinite(v)]:
            raise ValueError(f"SeedSpread {self.name!r}: non-finite value for seed(s) {bad}")

    @property
    def mean(self) -> float:
        """Mean over seeds."""
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        """Sample standard deviation over seeds."""
        return statistics.stdev(self.values)

    def __repr__(self) -> str:
        each = ", ".join(f"{v:.3f}" for v in self.values)
        return f"{self.name}: {self.mean:.3f} +/- {self.sd:.3f} over {len(self.values)} seeds ({each})"


class SeedSpreads(dict):
    """Several metrics over the same seeds (a dict of :class:`SeedSpread`), shown one per line."""

    def __repr__(self) -> str:
        return "\n".join(repr(s) for s in self.values())


def over_seeds(experiment: Callable[[int], float | Mapping[str, float]], seeds: Iterable[int] = (0, 1, 2),
               name: str = "value") -> SeedSpread | SeedSpreads:
    """``experiment(seed)`` per seed: a :class:`SeedSpread` of numbers, :class:`SeedSpreads` of mappings."""
    seeds = tuple(int(s) for s in seeds)
    if len(seeds) < 2:
        raise ValueError(f"over_seeds: a spread needs at least 2 seeds, got {list(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"over_seeds: seeds repeat in {list(seeds)}; each seed must be a new draw")
    results = [experiment(seed) for seed in seeds]
    if all(isinstance(r, Mapping) for r in results):
        keys = list(results[0])
        for seed, r in zip(seeds, results):
            if list(r) != keys:
                raise ValueError(f"over_seeds: seed {seed} returned keys {list(r)}, seed {seeds[0]} {keys}")
        return SeedSpreads({k: SeedSpread(k, seeds, tuple(_number(r[k], k) for r in results)) for k in keys})
    return SeedSpread(name, seeds, tuple(_number(r, name) for r in results))


def _number(value: object, name: str) -> float:
    try:
        return float(value)  # numbers, 0-d tensors and arrays
    except (TypeError, ValueError):
        raise TypeError(f"over_seeds: {name!r}: the experiment must return a number or a mapping of numbers, "
                        f"got {type(value).__name__}") from None
