"""Speed of the simulated world: pairs per second on one core (and of the real-sample loader).

Usage::

    python benchmarks/bench_world.py [--n 2000] [--size 64]

Prints wall-clock and CPU-time rates; on a shared machine the CPU-time rate is the one to compare.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from xmodal_lab.data import SimulatedWorld, bigearthnet_examples  # noqa: E402


def rate(fn, n: int) -> tuple[float, float]:
    """Items per second over ``n`` calls of ``fn(i)``: (wall clock, CPU time of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - wall), n / max(time.process_time() - cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="pairs per measurement")
    parser.add_argument("--size", type=int, default=64, help="tile side in pixels")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, size = args.n, args.size
    print(f"one core; torch threads {torch.get_num_threads()}; {n} pairs per row")
    print(f"{'setting':44s} {'wall pairs/s':>13s} {'cpu pairs/s':>12s}")
    rows = [
        (f"{size}x{size}, 10 m, clear (default)", SimulatedWorld(seed=0, size=size, n_scenes=10 * n), n),
        (
            f"{size}x{size}, 10 m, uncalibrated radar",
            SimulatedWorld(seed=0, size=size, n_scenes=10 * n, speckle_sigma=0.0, radar_blur=0.0),
            n,
        ),
        (
            f"{size}x{size}, 10 m, cloud_cover=0.3",
            SimulatedWorld(seed=0, size=size, n_scenes=10 * n, cloud_cover=0.3),
            n,
        ),
        (
            f"{size}x{size}, 20 m (area average of 2x2)",
            SimulatedWorld(seed=0, size=size, n_scenes=10 * n, gsd=20.0),
            n // 4,
        ),
        (
            f"{size}x{size}, 40 m (area average of 4x4)",
            SimulatedWorld(seed=0, size=size, n_scenes=10 * n, gsd=40.0),
            n // 16,
        ),
        ("120x120, 10 m (BigEarthNet size)", SimulatedWorld(seed=0, size=120, n_scenes=10 * n), n // 4),
    ]
    for name, world, m in rows:
        for i in range(9 * n, 9 * n + 200):  # warm the caches (UTM transformers, weight matrices)
            world[i]
        wall, cpu = rate(lambda i, w=world: w[i], m)  # fresh scene indices
        print(f"{name:44s} {wall:13.0f} {cpu:12.0f}")
    world = SimulatedWorld(seed=0, size=size, n_scenes=100)
    dates = ["2021-03-01", "2021-06-01", "2021-09-01", "2021-12-01"]
    wall, cpu = rate(lambda i: world.time_series(i, dates), 50)
    print(f"{'time series of 4 dates':44s} {wall * 4:13.0f} {cpu * 4:12.0f}")
    real = bigearthnet_examples()
    wall, cpu = rate(lambda i: real[i % len(real)], 60)
    print(f"{'BigEarthNet-MM examples (120x120, from disk)':44s} {wall:13.0f} {cpu:12.0f}")


if __name__ == "__main__":
    main()
