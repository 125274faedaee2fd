"""Fair comparisons for the benchmarks: runs interleaved (A B A B ...), ratios with their range, CPU next to wall.

    from interleave import interleaved, report
    runs = interleaved({"A": run_a, "B": run_b}, repeats=3)   # each run returns the items it processed,
    report(runs, baseline="A")                                 # or (rate of its timed part, end-to-end rate)

Each run is timed on the wall clock and on this process's CPU clock (all threads): CPU seconds well below
wall seconds times the threads used mean the run waited (on disk, or on other processes of a loaded machine).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Run:
    """One timed run: its rate (items/s), its end-to-end rate, wall and CPU seconds."""

    rate: float
    end_to_end: float
    wall: float
    cpu: float


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the core count, as one string."""
    if not hasattr(os, "getloadavg"):
        return f"load average n/a, {os.cpu_count()} cores"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min), {os.cpu_count()} cores"


def timed(run: Callable[[], float | tuple[float, float]]) -> Run:
    """Time one call of ``run``: it returns the items it processed, or ``(rate, end-to-end rate)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate, end_to_end = result if isinstance(result, tuple) else (result / wall, result / wall)
    return Run(float(rate), float(end_to_end), wall, cpu)


def interleaved(
    runs: dict[str, Callable[[], float | tuple[float, float]]], repeats: int = 3
) -> dict[str, list[Run]]:
    """``{name: [Run] * repeats}``, the calls alternating A B ... A B ... so drifts in load hit every name alike."""
    out: dict[str, list[Run]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            out[name].append(timed(run))
    return out


def report(runs: dict[str, list[Run]], baseline: str, unit: str = "items/s") -> None:
    """Print per name the medians of: rate, paired ratio to ``baseline`` [min-max], end-to-end rate, CPU, wall."""
    base = runs[baseline]
    print(f"{unit}, medians of {len(base)} interleaved repeats; ratio: to '{baseline}' [min-max]")
    print(f"{'':32s} {'rate':>9s} {'ratio [min-max]':>22s} {'end-to-end':>11s} {'CPU s':>8s} {'wall s':>8s}")
    for name, rows in runs.items():
        ratios = [r.rate / b.rate for r, b in zip(rows, base)]
        ratio = f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]"
        med = {
            k: statistics.median(getattr(r, k) for r in rows) for k in ("rate", "end_to_end", "cpu", "wall")
        }
        print(f"{name:32s} {med['rate']:9.0f} {ratio:>22s} {med['end_to_end']:11.0f} {med['cpu']:8.2f} "
              f"{med['wall']:8.2f}")  # fmt: skip
    print(f"# {load_average()}")
