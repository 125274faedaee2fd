"""Sim-to-real gap of the simulated world, and whether pretraining on it transfers to real pairs.

Prints two tables:

1. **the gap**: statistics of real tiles (``xmodal_lab.data.real_pairs.real_transfer_split``) next to
   simulated tiles of three worlds: ``uncalibrated`` (independent speckle, ``speckle_sigma=0``: the world of
   early kit versions), ``default`` (the lessons' world: correlated speckle) and ``calibrated``
   (``SimulatedWorld(realism="calibrated")``: also the radar's resolution-cell blur and gentler
   parcel-to-parcel radar contrast, fitted on the tuning split only): band means, the spread of VV inside a
   tile, histogram distances, mean ``|dVV/dy|`` and ``|dNIR/dy|``, spectral slopes, ENL, radar-optical
   cross-statistics, and a domain classifier's accuracy (0.5 = indistinguishable);
2. **transfer**: SAR -> optical retrieval on real tiles that no tuning saw (the east half of the SSL4EO-S12
   location, and the six BigEarthNet-MM pairs of Europe), for a tiny contrastive model trained
   (a) from scratch on the real west-half tiles, (b) on a simulated world only, (c) on the world then
   fine-tuned on the same real tiles, with two recipes: ``refit norm`` (``fit``'s default: the input
   standardisation is recomputed on the 64 real tiles) and ``sim norm`` (``normalize=False``: the model keeps
   the statistics it was pretrained with, and a lower learning rate); mean +/- sd over seeds, by step budgets
   (never minutes).

Only the west half of the SSL4EO-S12 location is ever used for tuning (calibration statistics and fine-tuning).

Usage::

    python benchmarks/bench_sim_to_real.py                 # gap + transfer on both worlds, 3 seeds
    python benchmarks/bench_sim_to_real.py --gap-only
    python benchmarks/bench_sim_to_real.py --worlds calibrated --seeds 5 --pretrain-steps 600
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from xmodal_lab.config import seed_everything
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.data import realism as R
from xmodal_lab.data.real_pairs import real_transfer_split
from xmodal_lab.data.transforms import PairedFlipRotate
from xmodal_lab.eval import embed_dataset, retrieval_metrics
from xmodal_lab.models import build
from xmodal_lab.train import CachedPairs, fit

#: The simulated worlds compared: keyword arguments of ``SimulatedWorld``.
WORLDS: dict[str, dict] = {
    "uncalibrated": {"speckle_sigma": 0.0},
    "default": {},
    "calibrated": {"realism": "calibrated"},
}
#: Fine-tuning recipes after pretraining: (row name, keyword arguments of ``fit``).
RECIPES: tuple[tuple[str, dict], ...] = (
    ("sim + real (refit norm, lr 1e-3)", {"lr": 1e-3}),
    ("sim + real (sim norm, lr 3e-4)", {"lr": 3e-4, "normalize": False}),
)


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


def transfer(split, seeds, pretrain_steps, finetune_steps, n_scenes, world_kwargs, recipes=RECIPES) -> dict:
    results: dict[str, list[dict]] = {}
    tune = TileSet(split["tune"], PairedFlipRotate())
    common = {"progress": False, "batch_size": 32}

    def evaluate(model) -> dict:
        return {k: retrieval(model, split[k]) for k in ("test", "test_europe")}

    for seed in seeds:
        t0 = time.time()
        world = CachedPairs(SimulatedWorld(seed=100 + seed, size=32, n_scenes=n_scenes, **world_kwargs),
                            keys=("s1", "s2", "gsd"))  # fmt: skip
        seed_everything(seed)  # the initial weights: lesson 08 builds its models the same way
        scratch, _ = fit(
            build("contrastive", "tiny"), tune, max_steps=finetune_steps, lr=3e-3, seed=seed, **common
        )
        results.setdefault("scratch (real only)", []).append(evaluate(scratch))
        seed_everything(seed)
        pre, _ = fit(build("contrastive", "tiny"), world, max_steps=pretrain_steps, lr=3e-3, seed=seed,
                     **{**common, "batch_size": 64})  # fmt: skip
        results.setdefault("sim only", []).append(evaluate(pre))
        state = copy.deepcopy(pre.state_dict())
        for name, kw in recipes:
            pre.load_state_dict(state)
            tuned, _ = fit(pre, tune, max_steps=finetune_steps, seed=seed, **common, **kw)
            results.setdefault(name, []).append(evaluate(tuned))
        print(f"  seed {seed}: {time.time() - t0:.0f} s", flush=True)
    return results


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
    for k in n_test:
        base = np.array([r[k]["recall@10"] for r in results["scratch (real only)"]])
        for name, runs in results.items():
            if name.startswith("sim + real"):
                v = np.array([r[k]["recall@10"] for r in runs])
                spread = max(v.std(ddof=1), base.std(ddof=1)) if len(v) > 1 else float("nan")
                print(f"\n{name} - scratch, {k} recall@10: {v.mean() - base.mean():+.3f} (larger seed sd "
                      f"{spread:.3f}; paired differences by seed {np.round(v - base, 3).tolist()})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--pretrain-steps", type=int, default=400)
    p.add_argument("--finetune-steps", type=int, default=150)
    p.add_argument("--n-scenes", type=int, default=2048)
    p.add_argument("--worlds", nargs="+", default=["default", "calibrated"], choices=list(WORLDS),
                   help="worlds to pretrain on in the transfer table")  # fmt: skip
    p.add_argument("--gap-only", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    split = real_transfer_split(32)
    print(f"real tiles: tune {len(split['tune'])} (SSL4EO-S12 west half), held out: test "
          f"{len(split['test'])} (east half), test_europe {len(split['test_europe'])} (BigEarthNet-MM)")  # fmt: skip
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
    seeds = list(range(a.seeds))
    for label in a.worlds:
        print(f"\n### {label} world: pretrain {a.pretrain_steps} steps on {a.n_scenes} scenes, fine-tune / scratch "
              f"{a.finetune_steps} steps on {len(split['tune'])} real tiles (flips and rotations)")  # fmt: skip
        results = transfer(split, seeds, a.pretrain_steps, a.finetune_steps, a.n_scenes, WORLDS[label])
        print_transfer(results, n_test)


if __name__ == "__main__":
    main()
