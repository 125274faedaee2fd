"""Samples per second of a tiny model: its own training step on tensors in memory, against ``fit`` on a world.

Three rates in one run, on the same model, batch and tile size:

- ``model only``: forward, backward, gradient clipping and an AdamW step on batches already in memory (the
  ceiling: no data path at all);
- ``fit, rendered on access``: ``fit(..., config=FitConfig(cache=False))`` on a ``SimulatedWorld`` (every tile rendered on the
  training thread when its batch comes up);
- ``fit, fast path``: ``fit`` as the notebooks call it (the world rendered once up front, batches gathered by
  column). Its training rate excludes the rendering; the end-to-end rate counts it (rendering each scene
  once costs what the first epoch of the uncached run spends rendering, so the end-to-end gain grows with the
  number of epochs a lesson trains for).

    python benchmarks/bench_data_path.py                       # contrastive tiny, 32 px, batch 128, 1 thread
    python benchmarks/bench_data_path.py --model croma --steps 150 --threads 2 --repeats 5

The three run interleaved (A B C A B C ...); each prints its median rate, its ratio to the model alone
(median and [min-max] over the repeats), CPU next to wall seconds and the load average. The numbers depend
on the machine and on what else runs on it: quote them with both.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from interleave import interleaved, load_average, report

from xmodal_lab.config import seed_everything
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.models import build
from xmodal_lab.train import CachedPairs, FitConfig, fit


def model_only_rate(
    name: str, data: CachedPairs, steps: int, batch_size: int, lr: float
) -> tuple[float, float]:
    """Samples/s of the bare training step on batches already in memory, twice (its timed part is all of it)."""
    seed_everything(0)
    model = build(name, "tiny", img_size=data.columns["s2"].shape[-1]).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    g = torch.Generator().manual_seed(0)
    batches = [data.batch(torch.randperm(len(data), generator=g)[:batch_size].tolist()) for _ in range(8)]
    for i in range(3):  # warm-up steps, not timed
        model(batches[i])["loss"].backward()
        opt.step()
        opt.zero_grad()
    start = time.perf_counter()
    for i in range(steps):
        loss = model(batches[i % len(batches)])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    rate = steps * batch_size / (time.perf_counter() - start)
    return rate, rate


def fit_rates(name: str, args: argparse.Namespace, cache: bool | str) -> tuple[float, float]:
    """(training samples/s, end-to-end samples/s including rendering and statistics) of one ``fit`` run.

    Each run gets a fresh world, so that neither inherits the tiles the other rendered.
    """
    world = SimulatedWorld(seed=0, size=args.size, n_scenes=args.n_train)
    steps, batch_size, lr = args.steps, args.batch_size, args.lr
    seed_everything(0)
    model = build(name, "tiny", img_size=world.config.size)
    start = time.perf_counter()
    _, h = fit(
        model,
        world,
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=0,
        progress=False,
        config=FitConfig(cache=cache),
    )
    total = time.perf_counter() - start
    # history["time"] counts training seconds from the first step; skip the first 3 steps (start-up)
    train_s = h["time"][-1] - h["time"][2]
    return (steps - 3) * batch_size / train_s, steps * batch_size / total


def main() -> None:
    """Parse arguments, measure the three rates interleaved and print them side by side."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="contrastive")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--n-train", type=int, default=4096, help="scenes of the world (notebook 02: 4096)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each measurement")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# bench_data_path: {platform.processor() or platform.machine()}, {args.threads} torch thread(s), "
        f"{args.model} tiny, {args.size} px, batch {args.batch_size}, {args.steps} steps, {args.n_train} scenes; "
        f"{load_average()} at start"
    )
    t0 = time.perf_counter()
    cached = CachedPairs(SimulatedWorld(seed=0, size=args.size, n_scenes=args.n_train))
    print(f"# rendering {args.n_train} scenes once: {time.perf_counter() - t0:.1f} s")
    runs = interleaved(
        {
            "model only (in memory)": lambda: model_only_rate(
                args.model, cached, args.steps, args.batch_size, args.lr
            ),
            "fit, rendered on access": lambda: fit_rates(args.model, args, cache=False),
            "fit, fast path (default)": lambda: fit_rates(args.model, args, cache="auto"),
        },
        repeats=args.repeats,
    )
    print()
    report(runs, baseline="model only (in memory)", unit="training samples/s (end-to-end: with rendering)")


if __name__ == "__main__":
    main()
