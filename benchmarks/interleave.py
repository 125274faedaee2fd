"""Fair comparisons for the benchmarks: runs interleaved (A B A B ...), ratios with their range, CPU next to wall.

    from interleave import interleaved, report
    runs = interleaved({"A": run_a, "B": run_b}, repeats=3)   # each run returns the items it processed
    report(runs, baseline="A")

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
    """One timed run: items processed, wall and CPU seconds."""

    items: float
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.items / self.wall


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the core count, as one string."""
    if not hasattr(os, "getloadavg"):
        return f"load average n/a, {os.cpu_count()} cores"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min), {os.cpu_count()} cores"


def timed(run: Callable[[], float]) -> Run:
    """Time one call of ``run`` (which returns the number of items it processed)."""
    wall, cpu = time.perf_counter(), time.process_time()
    items = run()
    return Run(float(items), time.perf_counter() - wall, time.process_time() - cpu)


def interleaved(runs: dict[str, Callable[[], float]], repeats: int = 3) -> dict[str, list[Run]]:
    """``{name: [Run] * repeats}``, the calls alternating A B ... A B ... so drifts in load hit every name alike."""
    out: dict[str, list[Run]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            out[name].append(timed(run))
    return out


def report(runs: dict[str, list[Run]], baseline: str, unit: str = "items/s") -> None:
    """Print per name: median rate, median ratio to ``baseline`` [min-max of the paired ratios], CPU and wall."""
    base = runs[baseline]
    print(f"{'':32s} {'median ' + unit:>18s} {'ratio to ' + baseline:>22s} {'CPU s / wall s (median)':>25s}")
    for name, rows in runs.items():
        ratios = [r.rate / b.rate for r, b in zip(rows, base)]
        ratio = f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]"
        cpu, wall = statistics.median(r.cpu for r in rows), statistics.median(r.wall for r in rows)
        print(f"{name:32s} {statistics.median(r.rate for r in rows):18.0f} {ratio:>22s} {cpu:12.2f} / {wall:.2f}")
    print(f"# {len(base)} interleaved repeats; {load_average()}")
