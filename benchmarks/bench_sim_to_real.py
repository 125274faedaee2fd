"""Sim-to-real gap of the simulated world, and whether pretraining on it transfers to real pairs.

Prints two tables:

1. **the gap**: statistics of real tiles (``xmodal_lab.data.real_pairs.real_transfer_split``) next to
   simulated tiles of four worlds: ``uncalibrated`` (independent speckle, ``speckle_sigma=0``: the world of
   early kit versions), ``default`` (the lessons' world: correlated speckle), ``calibrated``
   (``SimulatedWorld(realism="calibrated")``: also the radar's resolution-cell blur and gentler
   parcel-to-parcel radar contrast, fitted on the tuning split only), and ``cropland`` (the default world
   restricted to its cropland biome, the landscape of the tuning tiles): band means, the spread of VV inside a
   tile, histogram distances, mean ``|dVV/dy|`` and ``|dNIR/dy|``, spectral slopes, ENL, radar-optical
   cross-statistics, and a domain classifier's accuracy (0.5 = indistinguishable);
2. **transfer**: SAR -> optical retrieval on real tiles that no tuning saw (the east half of the SSL4EO-S12
   location, and the six BigEarthNet-MM pairs of Europe), for a tiny contrastive model trained
   (a) from scratch on the real west-half tiles, (b) on a simulated world only, (c) on the world then
   fine-tuned on the same real tiles, with three recipes: ``refit norm`` (``fit``'s default: the input
   standardisation is recomputed on the 64 real tiles), ``sim norm`` (``normalize=False``: the model keeps
   the statistics it was pretrained with, and a lower learning rate) and ``co-training`` (sim norm, and half
   of every fine-tuning batch drawn from the world: :class:`xmodal_lab.train.MixedPairs`); mean
   +/- sd over seeds, and the paired differences to scratch (same initial weights), by step budgets (never
   minutes).

Lesson 08's claim is ``--seeds 5 --worlds cropland``, co-training: both the recipe and the world were chosen
with ``--select`` on the west half (``--select --worlds default cropland``). Recipes are chosen with ``--select``
on the west half alone: two folds, fine-tune on the north quarter and
validate on the south quarter, then the other way round; the held-out east half and Europe are then reported
once, with the recipe chosen there. Only the west half of the SSL4EO-S12 location is ever used for tuning
(calibration statistics, recipe choice and fine-tuning).

The SSL4EO-S12 location is not part of the project: the benchmark reads it from ``--ssl4eo-root``, by default
``../shared/real_samples/ssl4eo_s12`` from the repository root (or under ``$XMODAL_REAL_SAMPLES``), and stops
with a message when it is absent.

Usage::

    python benchmarks/bench_sim_to_real.py                 # gap + transfer on both worlds, 3 seeds
    python benchmarks/bench_sim_to_real.py --ssl4eo-root ~/data/ssl4eo_s12
    python benchmarks/bench_sim_to_real.py --gap-only
    python benchmarks/bench_sim_to_real.py --select --seeds 3   # choose a recipe on the west half only
    python benchmarks/bench_sim_to_real.py --seeds 5 --worlds cropland   # lesson 08's transfer table
    python benchmarks/bench_sim_to_real.py --worlds calibrated --seeds 5 --pretrain-steps 600
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from xmodal_lab.config import REPO_ROOT, seed_everything
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.data import realism as R
from xmodal_lab.data.real_pairs import real_transfer_split
from xmodal_lab.data.transforms import PairedFlipRotate
from xmodal_lab.eval import embed_dataset, retrieval_metrics
from xmodal_lab.models import build
from xmodal_lab.train import CachedPairs, MixedPairs, fit, freeze_patch_embeddings

#: Where the SSL4EO-S12 location is read from unless ``--ssl4eo-root`` says otherwise (shared development data).
SSL4EO_ROOT = Path(os.environ.get("XMODAL_REAL_SAMPLES", REPO_ROOT.parent / "shared/real_samples")) / "ssl4eo_s12"
#: The simulated worlds compared: keyword arguments of ``SimulatedWorld``.
WORLDS: dict[str, dict] = {
    "uncalibrated": {"speckle_sigma": 0.0},
    "default": {},
    "calibrated": {"realism": "calibrated"},
    "cropland": {
        "biomes": ("cropland",)
    },  # the default world's physics, one biome: the tuning tiles' landscape
}
#: Fine-tuning recipes after pretraining: (row name, keyword arguments of ``fit``, plus ``sim_fraction``: the
#: share of simulated pairs mixed into the real tiles, ``freeze``: freeze the patch embeddings, and
#: ``steps_factor``: fine-tune for that many times the scratch baseline's steps).
RECIPES: tuple[tuple[str, dict], ...] = (
    ("sim + real (refit norm, lr 1e-3)", {"lr": 1e-3}),
    ("sim + real (sim norm, lr 3e-4)", {"lr": 3e-4, "normalize": False}),
    (
        "sim + real (co-training 50 % sim, sim norm, lr 3e-4)",
        {"lr": 3e-4, "normalize": False, "sim_fraction": 0.5},
    ),
)
#: Candidates compared by ``--select`` on the west half (north/south folds) before any held-out number.
CANDIDATES: tuple[tuple[str, dict], ...] = (
    ("sim + real (sim norm, lr 3e-4)", {"lr": 3e-4, "normalize": False}),
    ("sim + real (co-training 50 % sim, lr 3e-4)", {"lr": 3e-4, "normalize": False, "sim_fraction": 0.5}),
    ("sim + real (co-training 50 % sim, lr 1e-3)", {"lr": 1e-3, "normalize": False, "sim_fraction": 0.5}),
    ("sim + real (co-training 50 % sim, lr 3e-4, 2x steps)",
     {"lr": 3e-4, "normalize": False, "sim_fraction": 0.5, "steps_factor": 2}),
)  # fmt: skip
#: The recipe of lesson 08 and of the claim, chosen by ``--select`` (west folds, 3 seeds).
CHOSEN = "sim + real (co-training 50 % sim, sim norm, lr 3e-4)"


class TileSet(torch.utils.data.Dataset):
    """A list of tile dicts as a dataset, with an optional transform (augmentation)."""

    def __init__(self, tiles: list[dict], transform=None) -> None:
        self.tiles, self.transform = tiles, transform

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, i: int) -> dict:
        t = {k: v for k, v in self.tiles[i].items() if k in ("s1", "s2", "gsd")}
        return self.transform(t) if self.transform is not None else t


def gap_row(tiles: list[dict]) -> dict[str, float]:
    s1, s2 = R.stack_tiles(tiles, "s1"), R.stack_tiles(tiles, "s2")
    b1, b2 = R.band_summary(s1), R.band_summary(s2)
    g1, g2 = R.mean_abs_gradient(s1), R.mean_abs_gradient(s2)
    enl, sl1, sl2 = R.equivalent_number_of_looks(s1), R.spectral_slope(s1), R.spectral_slope(s2)
    row = {"VV dB": b1["mean"][0], "VH dB": b1["mean"][1], "VV sd": b1["std"][0],
           "VV sd in a tile": s1[:, 0].std(axis=(1, 2)).mean(), "|dVV/dy|": g1[0],
           "|dVH/dy|": g1[1], "ENL VV": enl[0], "slope VV": sl1[0], "red": b2["mean"][3], "NIR": b2["mean"][7],
           "|dNIR/dy|": g2[7], "slope NIR": sl2[7]}  # fmt: skip
    row.update(R.cross_statistics(s1, s2))
    return row


def print_gap(real: dict[str, list[dict]], worlds: dict[str, list[dict]]) -> None:
    rows = {name: gap_row(t) for name, t in {**real, **worlds}.items()}
    cols = list(next(iter(rows.values())))
    print("\n## Gap: real tiles vs the simulated world (32 px tiles at 10 m)\n")
    print("| statistic | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for c in cols:
        print(f"| {c} | " + " | ".join(f"{rows[n][c]:.3f}" for n in rows) + " |")
    tune = real["real tune"]
    ref1, ref2 = R.stack_tiles(tune, "s1"), R.stack_tiles(tune, "s2")
    feats_tune = R.tile_features(ref1, ref2)
    print("| W1(VV) to real tune, dB | " + " | ".join(
        f"{R.quantile_distance(ref1[:, 0], R.stack_tiles(t, 's1')[:, 0]):.3f}" for t in {**real, **worlds}.values()) + " |")  # fmt: skip
    print("| W1(NIR) to real tune | " + " | ".join(
        f"{R.quantile_distance(ref2[:, 7], R.stack_tiles(t, 's2')[:, 7]):.4f}" for t in {**real, **worlds}.values()) + " |")  # fmt: skip
    accs = []
    for t in {**real, **worlds}.values():
        f = R.tile_features(R.stack_tiles(t, "s1"), R.stack_tiles(t, "s2"))
        accs.append(R.domain_classifier_accuracy(feats_tune, f) if t is not tune else float("nan"))
    print("| domain classifier vs real tune (0.5 = same) | " + " | ".join(f"{a:.2f}" for a in accs) + " |")


def retrieval(model, tiles: list[dict]) -> dict[str, float]:
    emb = embed_dataset(model, TileSet(tiles))
    return retrieval_metrics(emb["s1"], emb["s2"])


def finetune(model, tiles: list[dict], world, recipe: dict, steps: int, seed: int):
    """Fine-tune ``model`` in place on real ``tiles`` (flips and rotations) with one recipe of RECIPES."""
    kw = dict(recipe)
    fraction, freeze = kw.pop("sim_fraction", 0.0), kw.pop("freeze", False)
    steps *= kw.pop("steps_factor", 1)
    if freeze:
        freeze_patch_embeddings(model)
    data = (MixedPairs(tiles, world, fraction, PairedFlipRotate()) if fraction > 0
            else TileSet(tiles, PairedFlipRotate()))  # fmt: skip
    tuned, _ = fit(model, data, max_steps=steps, seed=seed, progress=False, batch_size=32, **kw)
    for p in tuned.parameters():
        p.requires_grad_(True)
    return tuned


def transfer(folds, seeds, pretrain_steps, finetune_steps, n_scenes, world_kwargs, recipes=RECIPES) -> dict:
    """Scratch, sim only and sim + real (each recipe) per seed; ``folds``: ``[(tune tiles, {name: tiles})]``.

    Returns:
        ``{row name: [per seed {eval set: retrieval metrics}]}``; with several folds, the eval sets of all
        folds appear in each seed's dict.
    """
    results: dict[str, list[dict]] = {}
    common = {"progress": False, "batch_size": 32}
    for seed in seeds:
        t0 = time.time()
        world = CachedPairs(SimulatedWorld(seed=100 + seed, size=32, n_scenes=n_scenes, **world_kwargs),
                            keys=("s1", "s2", "gsd"))  # fmt: skip
        seed_everything(seed)  # the initial weights: lesson 08 builds its models the same way
        init = copy.deepcopy(build("contrastive", "tiny").state_dict())
        pre = build("contrastive", "tiny")
        pre.load_state_dict(init)
        pre, _ = fit(pre, world, max_steps=pretrain_steps, lr=3e-3, seed=seed, **{**common, "batch_size": 64})
        state = copy.deepcopy(pre.state_dict())
        row: dict[str, dict] = {}
        for tiles, evals in folds:
            scratch = build("contrastive", "tiny")
            scratch.load_state_dict(init)  # the same initial weights as the pretrained model
            scratch, _ = fit(scratch, TileSet(tiles, PairedFlipRotate()), max_steps=finetune_steps, lr=3e-3,
                             seed=seed, **common)  # fmt: skip
            row.setdefault("scratch (real only)", {}).update(
                {k: retrieval(scratch, v) for k, v in evals.items()}
            )
            pre.load_state_dict(state)
            row.setdefault("sim only", {}).update({k: retrieval(pre, v) for k, v in evals.items()})
            for name, recipe in recipes:
                pre.load_state_dict(state)
                tuned = finetune(pre, tiles, world, recipe, finetune_steps, seed)
                row.setdefault(name, {}).update({k: retrieval(tuned, v) for k, v in evals.items()})
        for name, metrics in row.items():
            results.setdefault(name, []).append(metrics)
        print(f"  seed {seed}: {time.time() - t0:.0f} s", flush=True)
    return results


def paired_gain(results: dict, name: str, key: str, metric: str = "recall@10") -> np.ndarray:
    """Per-seed difference ``name - scratch`` of one metric on one eval set (same seeds, same initial weights)."""
    base = np.array([r[key][metric] for r in results["scratch (real only)"]])
    return np.array([r[key][metric] for r in results[name]]) - base


def print_transfer(results: dict, n_test: dict[str, int]) -> None:
    print("\n## Transfer: SAR -> optical retrieval on held-out real tiles (mean +/- sd over seeds)\n")
    print("| training | " + " | ".join(f"{k} R@1 | {k} R@10 | {k} MRR" for k in n_test) + " |")
    print("|---|" + "---|---|---|" * len(n_test))
    print("| chance | " + " | ".join(
        f"{1 / n:.3f} | {min(10 / n, 1):.3f} | {sum(1 / r for r in range(1, n + 1)) / n:.3f}" for n in n_test.values()) + " |")  # fmt: skip
    for name, runs in results.items():
        cells = []
        for k in n_test:
            for m in ("recall@1", "recall@10", "mrr"):
                v = np.array([r[k][m] for r in runs])
                cells.append(f"{v.mean():.3f} +/- {v.std(ddof=1) if len(v) > 1 else 0:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nPaired differences to scratch, recall@10 (mean, sd of the differences, seeds ahead, by seed):")
    for k in n_test:
        for name in results:
            if name.startswith("sim"):
                d = paired_gain(results, name, k)
                sd = d.std(ddof=1) if len(d) > 1 else float("nan")
                print(f"  {k}, {name}: {d.mean():+.3f} (sd {sd:.3f}, {int((d > 0).sum())}/{len(d)} ahead; "
                      f"{np.round(d, 3).tolist()})")  # fmt: skip


def print_selection(results: dict) -> None:
    """The west-half recipe choice: recall@10 and MRR, both folds averaged per seed, paired against scratch."""
    print("\n## Recipe choice on the west half only (tune north / validate south, and the reverse)\n")
    print("| recipe | val recall@10 | paired gain R@10 | sd | seeds ahead | val MRR | paired gain MRR |")
    print("|---|---|---|---|---|---|---|")
    for name in results:
        r10 = np.array(
            [(r["val south"]["recall@10"] + r["val north"]["recall@10"]) / 2 for r in results[name]]
        )
        mrr = np.array([(r["val south"]["mrr"] + r["val north"]["mrr"]) / 2 for r in results[name]])
        g = (paired_gain(results, name, "val south") + paired_gain(results, name, "val north")) / 2
        gm = (
            paired_gain(results, name, "val south", "mrr") + paired_gain(results, name, "val north", "mrr")
        ) / 2
        sd = g.std(ddof=1) if len(g) > 1 else float("nan")
        print(f"| {name} | {r10.mean():.3f} +/- {r10.std(ddof=1) if len(r10) > 1 else 0:.3f} | {g.mean():+.3f} | "
              f"{sd:.3f} | {int((g > 0).sum())}/{len(g)} | {mrr.mean():.3f} | {gm.mean():+.3f} |")  # fmt: skip


def west_folds(tune: list[dict]) -> list[tuple[list[dict], dict[str, list[dict]]]]:
    """Two folds of the west-half tiles by row: tune north / validate south, and the reverse."""
    rows = sorted({t["window"][0] for t in tune})
    cut = rows[len(rows) // 2]
    north = [t for t in tune if t["window"][0] < cut]
    south = [t for t in tune if t["window"][0] >= cut]
    return [(north, {"val south": south}), (south, {"val north": north})]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--pretrain-steps", type=int, default=400)
    p.add_argument("--finetune-steps", type=int, default=150)
    p.add_argument("--n-scenes", type=int, default=2048)
    p.add_argument("--worlds", nargs="+", default=["default", "calibrated"], choices=list(WORLDS),
                   help="worlds to pretrain on in the transfer table")  # fmt: skip
    p.add_argument("--gap-only", action="store_true")
    p.add_argument("--select", action="store_true", help="compare CANDIDATES on west folds only, then stop")
    p.add_argument("--ssl4eo-root", type=Path, default=SSL4EO_ROOT, help="SSL4EO-S12 folder (s1/, s2a/)")
    a = p.parse_args()
    torch.set_num_threads(1)
    try:
        split = real_transfer_split(32, root=a.ssl4eo_root)
    except FileNotFoundError as err:
        sys.exit(f"bench_sim_to_real: {err}")
    seeds = list(range(a.seeds))
    if a.select:
        folds = west_folds(split["tune"])
        for label in a.worlds:
            print(f"\nrecipe choice: west half only, folds of {len(folds[0][0])} / {len(folds[1][0])} tiles; {label} "
                  f"world, pretrain {a.pretrain_steps} steps, fine-tune / scratch {a.finetune_steps} steps")  # fmt: skip
            res = transfer(
                folds, seeds, a.pretrain_steps, a.finetune_steps, a.n_scenes, WORLDS[label], CANDIDATES
            )
            print_selection(res)
        return
    worlds = {}
    for name, kw in WORLDS.items():
        w = SimulatedWorld(seed=0, size=32, n_scenes=256, **kw)
        worlds[f"sim {name}"] = [w[i] for i in range(256)]
    print_gap(
        {"real tune": split["tune"], "real test": split["test"], "real Europe": split["test_europe"]}, worlds
    )
    if a.gap_only:
        return
    n_test = {"test": len(split["test"]), "test_europe": len(split["test_europe"])}
    folds = [(split["tune"], {k: split[k] for k in n_test})]
    for label in a.worlds:
        print(f"\n### {label} world: pretrain {a.pretrain_steps} steps on {a.n_scenes} scenes, fine-tune / scratch "
              f"{a.finetune_steps} steps on {len(split['tune'])} real tiles (flips and rotations)")  # fmt: skip
        results = transfer(folds, seeds, a.pretrain_steps, a.finetune_steps, a.n_scenes, WORLDS[label])
        print_transfer(results, n_test)


if __name__ == "__main__":
    main()
