"""Group-project extensions: linear-probe quality and training throughput of SkySense- and MMEarth-style models.

Usage: ``.venv/bin/python benchmarks/bench_extensions.py [--steps 200] [--batch-size 32] [--seeds 0 1 2]
[--threads 1]``

On the simulated world (32 px tiles), every model is pretrained for the same number of steps on the same 800
tiles, then frozen; a logistic-regression probe (``xmodal_lab.eval.linear_probe``) on mean-pooled embeddings
is fitted on 100 other labelled tiles and scored on 400 more:

- land cover: the majority class of each tile (accuracy);
- scene labels: the multi-hot land-cover classes present (micro-F1).

Models: an optical-only MAE (``MMEarth`` with ``tasks=("s2",)``), the multi-pretext MAE with radar only,
with all pretext tasks, and untrained; SkySense's ``s2`` and ``joint`` embeddings after the same steps.
Throughput is training tiles per second on this machine (forward, backward and AdamW step).
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import numpy as np
import torch

from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld
from xmodal_lab.eval import linear_probe
from xmodal_lab.models.mmearth import PRESETS as MM_PRESETS
from xmodal_lab.models.mmearth import MMEarth
from xmodal_lab.models.skysense import PRESETS as SKY_PRESETS
from xmodal_lab.models.skysense import SkySense

N_PRE, N_PROBE_TRAIN, N_PROBE_TEST = 800, 100, 400
KEYS = ("s1", "s2", "landcover", "labels", "lat", "lon")


def load(world: SimulatedWorld, start: int, n: int) -> dict:
    """Render tiles ``start .. start + n`` into one batch dict (dates kept as ISO strings)."""
    pairs = [world[i] for i in range(start, start + n)]
    out = {k: torch.stack([torch.as_tensor(p[k]) for p in pairs]) for k in KEYS}
    out["date"] = [p["date"] for p in pairs]
    return out


def take(data: dict, idx: torch.Tensor) -> dict:
    return {k: [v[i] for i in idx.tolist()] if isinstance(v, list) else v[idx] for k, v in data.items()}


def pretrain(
    model: torch.nn.Module, data: dict, steps: int, batch_size: int, seed: int, lr: float = 1e-3
) -> tuple[torch.nn.Module, float]:
    """AdamW steps on random batches; returns the model in eval mode and training tiles per second."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model(take(data, torch.randint(0, N_PRE, (batch_size,), generator=g)))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    return model.eval(), steps * batch_size / max(seconds, 1e-9)


def majority(lc: torch.Tensor) -> np.ndarray:
    return (
        torch.stack([torch.bincount(x.flatten(), minlength=len(LANDCOVER_CLASSES)) for x in lc])
        .argmax(1)
        .numpy()
    )


def probe(embed, train: dict, test: dict, key: str) -> tuple[float, float]:
    """(land-cover accuracy, scene-label micro-F1) of linear probes on the frozen ``key`` embeddings."""
    with torch.no_grad():
        x_tr, x_te = embed(train)[key].numpy(), embed(test)[key].numpy()
    acc = linear_probe(x_tr, majority(train["landcover"]), x_te, majority(test["landcover"]))["accuracy"]
    f1 = linear_probe(x_tr, train["labels"].numpy(), x_te, test["labels"].numpy())["micro_f1"]
    return acc, f1


def run(seed: int, steps: int, batch_size: int) -> list[tuple[str, float, float, float]]:
    world = SimulatedWorld(seed=seed, size=32, n_scenes=N_PRE + N_PROBE_TRAIN + N_PROBE_TEST)
    pre = load(world, 0, N_PRE)
    train, test = load(world, N_PRE, N_PROBE_TRAIN), load(world, N_PRE + N_PROBE_TRAIN, N_PROBE_TEST)
    rows = []
    mm_embed = lambda m: lambda d: m.embed(s2=d["s2"])  # noqa: E731
    for label, tasks in (
        ("MAE, optical only", ("s2",)),
        ("multi-pretext: + radar", ("s2", "s1")),
        ("multi-pretext: all tasks", ("s2", "s1", "landcover", "labels")),
    ):
        torch.manual_seed(seed)
        model, speed = pretrain(
            MMEarth(replace(MM_PRESETS["tiny"], tasks=tasks)), pre, steps, batch_size, seed
        )
        rows.append((label, *probe(mm_embed(model), train, test, "s2"), speed))
    torch.manual_seed(seed)
    rows.append(
        ("MAE, untrained", *probe(mm_embed(MMEarth(MM_PRESETS["tiny"]).eval()), train, test, "s2"), 0.0)
    )

    torch.manual_seed(seed)
    sky, speed = pretrain(SkySense(SKY_PRESETS["tiny"]), pre, steps, batch_size, seed)

    def sky_embed(d: dict) -> dict:
        return sky.embed(s1=d["s1"], s2=d["s2"], date=d["date"], lat=d["lat"], lon=d["lon"])

    rows.append(("SkySense s2", *probe(sky_embed, train, test, "s2"), speed))
    rows.append(("SkySense joint", *probe(sky_embed, train, test, "joint"), speed))
    return rows


def spread(values: np.ndarray) -> str:
    """Mean, and the standard deviation over seeds when there are several."""
    return f"{values.mean():.3f}" + (f" ± {values.std():.3f}" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}"
    )
    print(
        f"{args.steps} steps x {args.batch_size} tiles; probes fitted on {N_PROBE_TRAIN} tiles, scored on {N_PROBE_TEST}"
    )
    results: dict[str, list] = {}
    for seed in args.seeds:
        for name, acc, f1, speed in run(seed, args.steps, args.batch_size):
            results.setdefault(name, []).append((acc, f1, speed))
    print(f"{'model':28s} {'land-cover acc':>15s} {'labels micro-F1':>16s} {'tiles/s':>9s}")
    for name, values in results.items():
        v = np.array(values)
        print(f"{name:28s} {spread(v[:, 0]):>15s} {spread(v[:, 1]):>16s} {v[:, 2].mean():9.0f}")


if __name__ == "__main__":
    main()
