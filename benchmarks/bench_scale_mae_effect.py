"""Scale-MAE's headline effect at tiny scale: kNN on the same places seen at 10, 20 and 40 m.

The paper's protocol (official ``eval/knn.py``): every image of the kNN fit set and of the test set is
area-downsampled to one evaluation size, its GSD ratio scaled to match, and a cosine kNN fitted on the fit
set's embeddings classifies the test set. Here the footprint is fixed (``FOOTPRINT`` metres) and each GSD sees
it with fewer pixels: 32 px at 10 m, 16 px at 20 m, 8 px at 40 m. The fit places and the test places are
different worlds (different seeds). Compared per GSD, over seeds (mean +/- sd):

* **Scale-MAE**: GSD encoding on, pretrained on batches that mix 10, 20 and 40 m tiles;
* **plain MAE**: the same network and data with ``gsd_encoding=False``;
* **raw pixels**: kNN on the reflectances themselves; **majority**: the most frequent class of the test set.

kNN vote: the official one (``eval/knn.py``: k = 20, votes weighted ``exp(cos / 0.07)``); ``--majority-vote``
is a plain k = 5 majority vote.

It also measures super-resolution: two Scale-MAEs pretrained with ``target_scale=2`` (patch 4, the same data
and steps), one with the paper's masked loss and one with ``loss_masking=False`` (the loss over every patch, so
the decoder outputs that ``super_resolve`` reads are trained), encode a 20 m tile (the 10 m test tile
area-downsampled by 2) and reconstruct the 10 m tile; their RMS error (standardised units) against bicubic
upsampling of the same input.

    XMODAL_FAST=1 python benchmarks/bench_scale_mae_effect.py --seeds 0 1 2
    python benchmarks/bench_scale_mae_effect.py --steps 1500 --seeds 0 1 2   # a larger budget
    XMODAL_FAST=1 python benchmarks/bench_scale_mae_effect.py --train-gsds 10 --no-sr   # pretrain at 10 m only

Training is deterministic on a CPU: the numbers depend on the seeds and the budget only. Measured (seeds 0-2,
gap = Scale-MAE - plain MAE at 10 / 20 / 40 m, mean +/- sd):

* default recipe (patch 8, ``target_scale=1``), 150 steps, official vote: +0.004 +/- 0.008, -0.001 +/- 0.011,
  +0.010 +/- 0.011; super-resolution RMS 0.488 +/- 0.024 (masked loss), 0.440 +/- 0.028 (every patch), bicubic
  0.164 +/- 0.008;
* the same with ``--majority-vote``: +0.020 +/- 0.027, +0.014 +/- 0.006, +0.025 +/- 0.026;
* ``--majority-vote --steps 300``: +0.003 +/- 0.008, -0.007 +/- 0.022, -0.023 +/- 0.017;
* ``--majority-vote --patch-size 4 --target-scale 2``: -0.007 +/- 0.016, -0.007 +/- 0.013, -0.001 +/- 0.006;
* ``--train-gsds 10 --no-sr`` (pretraining at 10 m only, official vote): +0.000 +/- 0.000, +0.001 +/- 0.005,
  +0.000 +/- 0.000: trained at ``res = 1`` only, the two models are the same network, and at test time the GSD
  code changes nothing at 10 m (the same code) or 40 m (one patch), and almost nothing at 20 m;
* ``--no-sr --pool cls`` (the class token as the embedding, as the official kNN reads it): +0.005 +/- 0.027,
  -0.012 +/- 0.020, -0.010 +/- 0.025, every accuracy lower than with mean pooling (Scale-MAE 0.655 / 0.642 /
  0.630): after 150 steps the class token has learned less than the patch tokens' mean.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import xmodal_lab as xl
from xmodal_lab.eval.across_gsd import footprint_views, knn_across_gsds
from xmodal_lab.files import publish_text

#: Ground covered by every evaluation tile (metres): 32 px at 10 m, 16 px at 20 m, 8 px at 40 m.
FOOTPRINT = 320.0
GSDS = (10.0, 20.0, 40.0)


@dataclass
class Recipe:
    """A pretraining recipe shared by Scale-MAE and the plain MAE."""

    steps: int = 150
    batch_size: int = 64
    lr: float = 1.5e-3
    n_train: int = 2048
    size: int = 32
    patch_size: int = 8
    target_scale: int = 1
    n_eval: int = 256
    k: int = 20
    temperature: float | None = 0.07
    train_gsds: tuple[float, ...] = GSDS
    pool: str = "mean"


def pretrain(gsd_encoding: bool, seed: int, recipe: Recipe, **overrides) -> tuple[torch.nn.Module, dict]:
    """Pretrain a tiny Scale-MAE (or the plain MAE) on tiles mixing ``recipe.train_gsds`` (10, 20 and 40 m)."""
    xl.seed_everything(seed)
    model = xl.models.build(
        "scale_mae", preset="tiny", gsd_encoding=gsd_encoding, patch_size=recipe.patch_size,
        target_scale=recipe.target_scale, pool=recipe.pool, **overrides,
    )  # fmt: skip
    parts = [
        xl.data.SimulatedWorld(
            seed=seed, size=recipe.size, n_scenes=recipe.n_train // len(recipe.train_gsds), gsd=g
        )
        for g in recipe.train_gsds
    ]
    data = torch.utils.data.ConcatDataset(parts)
    return xl.train.fit(
        model, data, max_steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr, seed=seed,
        progress=False,
    )  # fmt: skip


def knn_table(models: dict, seed: int, recipe: Recipe) -> dict[str, float]:
    """kNN accuracy per GSD (fit and test at that GSD, on different places) for models and baselines."""
    fit_views = footprint_views(seed + 1000, recipe.n_eval, GSDS, FOOTPRINT)
    test_views = footprint_views(seed + 2000, recipe.n_eval, GSDS, FOOTPRINT)
    table = knn_across_gsds(models, fit_views, test_views, k=recipe.k, temperature=recipe.temperature)
    return {f"{name}@{g:g}": acc for name, row in table.items() for g, acc in row.items()}


@torch.no_grad()
def super_resolution_error(model: torch.nn.Module, seed: int, n: int = 64) -> dict[str, float]:
    """RMS error (standardised units) of 20 m -> 10 m reconstruction: the model against bicubic upsampling."""
    world = xl.data.SimulatedWorld(seed=seed + 2000, size=32, n_scenes=n, gsd=10.0)
    s2 = torch.stack([world[i]["s2"] for i in range(n)])  # [n, 12, 32, 32] reflectance at 10 m
    coarse = F.avg_pool2d(s2, 2)  # [n, 12, 16, 16]: the same places at 20 m
    truth = model.norm_s2(s2)
    recon = model.super_resolve(s2=coarse, gsd=20.0)["reconstruction"]
    bicubic = F.interpolate(model.norm_s2(coarse), scale_factor=2, mode="bicubic", align_corners=False)
    rms = lambda a: float(((a - truth) ** 2).mean().sqrt())  # noqa: E731
    return {"super-resolution RMS": rms(recon), "bicubic RMS": rms(bicubic)}


def run_seed(seed: int, recipe: Recipe, sr: bool = True) -> dict[str, float]:
    """Every number of the table for one seed."""
    scale, h1 = pretrain(True, seed, recipe)
    plain, _ = pretrain(False, seed, recipe)
    out = knn_table({"Scale-MAE": scale, "plain MAE": plain}, seed, recipe)
    if sr:
        sr_recipe = Recipe(**{**vars(recipe), "target_scale": 2, "patch_size": 4})
        masked = scale if recipe.target_scale == 2 else pretrain(True, seed, sr_recipe)[0]
        every = pretrain(True, seed, sr_recipe, loss_masking=False)[0]
        for name, model in (("masked loss", masked), ("loss on every patch", every)):
            err = super_resolution_error(model, seed)
            out[f"super-resolution RMS, {name}"] = err["super-resolution RMS"]
            out["bicubic RMS"] = err["bicubic RMS"]
    out["loss end / start"] = float(np.mean(h1["loss"][-10:]) / np.mean(h1["loss"][:10]))
    out["seconds"] = h1["seconds"]
    return out


def summarise(rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and sample sd of every number over the seeds."""
    return {k: (statistics.mean(r[k] for r in rows), statistics.stdev(r[k] for r in rows)) for k in rows[0]}


def main() -> None:
    """Print the per-GSD table (mean +/- sd over seeds) and the super-resolution errors."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--target-scale", type=int, default=1)
    p.add_argument("--patch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--no-sr", action="store_true")
    p.add_argument(
        "--pool",
        choices=("mean", "cls"),
        default="mean",
        help="embedding: mean of patch tokens or the class token (official kNN)",
    )
    p.add_argument(
        "--train-gsds", type=float, nargs="+", default=list(GSDS), help="GSDs of the pretraining tiles"
    )
    p.add_argument(
        "--majority-vote", action="store_true", help="plain k=5 majority vote instead of the official one"
    )
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    recipe = Recipe(
        steps=a.steps,
        target_scale=a.target_scale,
        patch_size=a.patch_size,
        lr=a.lr,
        train_gsds=tuple(a.train_gsds),
        pool=a.pool,
    )
    if a.majority_vote:
        recipe = Recipe(**{**vars(recipe), "k": 5, "temperature": None})
    rows = []
    for seed in a.seeds:
        t = time.perf_counter()
        rows.append(run_seed(seed, recipe, sr=not a.no_sr))
        print(
            f"seed {seed}: {time.perf_counter() - t:.0f} s",
            json.dumps({k: round(v, 4) for k, v in rows[-1].items()}),
            flush=True,
        )
    s = summarise(rows)
    print(f"\nkNN accuracy per GSD, same {FOOTPRINT:g} m footprint; {recipe}; seeds {a.seeds}")
    names = ["Scale-MAE", "plain MAE", "raw pixels", "majority"]
    print(f"{'GSD':>6} " + " ".join(f"{n:>16}" for n in names) + f" {'gap':>16}")
    for g in GSDS:
        cells = [f"{s[f'{n}@{g:g}'][0]:.3f} +/- {s[f'{n}@{g:g}'][1]:.3f}" for n in names]
        gaps = [r[f"Scale-MAE@{g:g}"] - r[f"plain MAE@{g:g}"] for r in rows]
        gap = f"{statistics.mean(gaps):+.3f} +/- {statistics.stdev(gaps):.3f}"
        print(f"{g:>4g} m " + " ".join(f"{c:>16}" for c in cells) + f" {gap:>16}")
    for k in [k for k in s if "RMS" in k]:
        print(f"{k}: {s[k][0]:.3f} +/- {s[k][1]:.3f}")
    if a.json:
        text = json.dumps({"recipe": vars(recipe), "seeds": a.seeds, "rows": rows}, indent=1)
        publish_text(a.json, text, "benchmark JSON")


if __name__ == "__main__":
    main()
