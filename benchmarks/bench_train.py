"""Time to reach a target on the simulated world, per model: the cost of a lesson's training cell.

For models that embed radar and optical tiles into one space (contrastive, CROMA) the target is a radar ->
optical retrieval recall@1 on held-out pairs; for the others (Scale-MAE) it is a relative fall of the
training loss. Training time excludes the validations that check the target. Prints one line per model and a
table; the numbers depend on the machine (say which when you quote them).

    python benchmarks/bench_train.py                         # CPU, tiny presets, 32 px tiles
    python benchmarks/bench_train.py --threads 2 --models contrastive croma
    python benchmarks/bench_train.py --device gpu --preset small --size 64 --batch-size 256 --target 0.3
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from xmodal_lab.config import seed_everything
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.models import build, list_models
from xmodal_lab.train import CachedPairs, FitConfig, fit


def first_reached(history: dict, key: str, target: float) -> dict | None:
    """The first validation record whose ``key`` reaches ``target``."""
    return next((v for v in history["val"] if v.get(key, -1) >= target), None)


def loss_fall_time(history: dict, fall: float, k: int = 5) -> tuple[int, float] | None:
    """Step and training seconds at which the moving mean of ``k`` losses first sits ``fall`` below the start."""
    losses = np.asarray(history["loss"])
    if len(losses) < 2 * k:
        return None
    start = losses[:k].mean()
    means = np.convolve(losses, np.ones(k) / k, mode="valid")  # mean of steps i .. i+k-1
    hits = np.flatnonzero(means <= (1 - fall) * start)
    if not len(hits):
        return None
    i = int(hits[0]) + k - 1
    return history["step"][i], history["time"][i]


def run(name: str, args: argparse.Namespace, train, val) -> dict:
    """Train one model until the time budget or the step limit; report when it reached the target."""
    seed_everything(args.seed)
    model = build(name, args.preset, img_size=args.size)
    embeds_both = {"s1", "s2"} <= set(model.embed(s1=val[0]["s1"][None], s2=val[0]["s2"][None]))
    _, h = fit(
        model, train, max_steps=args.max_steps, max_minutes=args.max_minutes, batch_size=args.batch_size,
        lr=args.lr, val_data=val if embeds_both else None, val_every=args.val_every if embeds_both else 0,
        seed=args.seed, progress=False, config=FitConfig(accelerator=args.device, devices=1),
    )  # fmt: skip
    row = {"model": name, "steps": h["steps"], "train_s": round(h["time"][-1], 1) if h["time"] else 0.0}
    row["s_per_step"] = round(row["train_s"] / max(1, h["steps"]), 3)
    if embeds_both:
        hit = first_reached(h, "s1->s2 recall@1", args.target)
        row["target"] = f"recall@1 >= {args.target:g}"
        row["final"] = round(h["val"][-1]["s1->s2 recall@1"], 3) if h["val"] else None
        row["reached_step"], row["reached_s"] = (hit["step"], round(hit["time"], 1)) if hit else (None, None)
    else:
        hit = loss_fall_time(h, args.loss_fall)
        row["target"] = f"loss -{100 * args.loss_fall:.0f}%"
        k = min(5, len(h["loss"]))
        row["final"] = round(1 - np.mean(h["loss"][-k:]) / np.mean(h["loss"][:k]), 3) if k else None
        row["reached_step"], row["reached_s"] = (hit[0], round(hit[1], 1)) if hit else (None, None)
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    """Parse arguments, render the data once, train each model and print a table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=sorted(list_models()), help="models to time")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--size", type=int, default=32, help="tile side in pixels")
    p.add_argument("--n-train", type=int, default=2048, help="training pairs (rendered once, kept in memory)")
    p.add_argument("--n-val", type=int, default=256, help="held-out pairs (chance recall@1 is 1/n-val)")
    p.add_argument("--target", type=float, default=0.10, help="recall@1 to reach (default 0.10, 25x chance)")
    p.add_argument("--loss-fall", type=float, default=0.30, help="loss fall to reach for the others")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument(
        "--max-steps", type=int, default=400, help="steps (also the length of the cosine schedule)"
    )
    p.add_argument("--max-minutes", type=float, default=3.0, help="budget per model")
    p.add_argument("--val-every", type=int, default=10)
    p.add_argument("--device", default="auto", help="auto, cpu or gpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = torch.cuda.is_available() and args.device != "cpu"
    where = (
        torch.cuda.get_device_name(0)
        if gpu
        else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads"
    )
    print(
        f"# bench_train: {where}; preset {args.preset}, {args.size} px, batch {args.batch_size}, torch {torch.__version__}"
    )
    t0 = time.perf_counter()
    train = CachedPairs(SimulatedWorld(seed=args.seed, size=args.size, n_scenes=args.n_train))
    val = CachedPairs(SimulatedWorld(seed=args.seed + 1, size=args.size, n_scenes=args.n_val))
    print(f"# rendered {args.n_train + args.n_val} pairs in {time.perf_counter() - t0:.1f} s")
    rows = [run(name, args, train, val) for name in args.models]
    print(f"\n{'model':<12} {'target':<18} {'reached at':>18} {'final':>7} {'steps':>6} {'s/step':>7}")
    for r in rows:
        reached = (
            f"{r['reached_s']} s (step {r['reached_step']})" if r["reached_s"] is not None else "not reached"
        )
        print(
            f"{r['model']:<12} {r['target']:<18} {reached:>18} {r['final']!s:>7} {r['steps']:>6} {r['s_per_step']:>7}"
        )


if __name__ == "__main__":
    main()
