"""Downstream dense tasks on the simulated world, as notebook 09 runs them, over several seeds.

Usage: ``XMODAL_FAST=1 .venv/bin/python benchmarks/bench_downstream.py [--seeds 3] [--pre-steps 300]``

Each seed ``s`` repeats the notebook with ``SEED = s`` (its places, its pretraining, its heads):

1. Pretrain a tiny CROMA for a step budget on *unlabelled* scenes of the flood biomes (radar and optical
   pairs, no masks: the encoder sees water without being told where it is); a random-init twin gets the
   same input statistics. The floods include flooded vegetation (bright in radar, ``SimulatedFloods(
   flooded_vegetation=True)``) unless ``--open-water``.
2. On each frozen encoder, train a linear probe (the frozen-feature protocol) and the light UPerNet head with
   5 % and 100 % of the labelled flood scenes (radar input), head seeds 0-2; print mIoU and the *paired* gain
   (same labelled scenes and head seed for both encoders). Beside them: a VV threshold chosen on the same
   labelled scenes (the classical baseline). "5 % labels" is read as 5 % of the scenes, each fully labelled
   (the label-efficiency protocol of Sen1Floods11-style benchmarks), not 5 % of every
   scene's pixels.
3. Radar vs optical heads under 60 % cloud cover (water IoU).
4. Change detection (tile and patch level) against the log-ratio pixel baseline, thresholds chosen on
   held-out places.

The last table gives each number mean +/- sd over the seeds: the ranges notebook 09 checks. ``paired gain``
rows are, per seed, the mean over head seeds; ``pooled`` rows take all seeds x head seeds together. Numbers
depend on the machine only through time.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch

import xmodal_lab as xl
from xmodal_lab.data.changes import SimulatedChanges
from xmodal_lab.data.floods import SimulatedFloods
from xmodal_lab.eval.change import change_detection_report
from xmodal_lab.eval.dense import band_threshold_baseline, evaluate_segmentation
from xmodal_lab.train.downstream import dense_label_efficiency, fit_segmentation, label_subset

SIZE = 32
HEADS = ("linear", "upernet")


def pretrained_and_random(
    seed: int, pre_steps: int, n_scenes: int, vegetation: bool
) -> tuple[torch.nn.Module, torch.nn.Module, dict]:
    """A tiny CROMA pretrained on unlabelled flood-biome scenes and its untrained twin (same start, same norms)."""
    scenes = xl.train.CachedPairs(SimulatedFloods(seed=seed + 12, size=SIZE, n_scenes=n_scenes,
                                                  flooded_vegetation=vegetation), keys=("s1", "s2", "gsd"))  # fmt: skip
    xl.seed_everything(seed)
    model = xl.models.build("croma", preset="tiny", img_size=SIZE)
    xl.seed_everything(seed)
    twin = xl.models.build("croma", preset="tiny", img_size=SIZE)
    model, history = xl.train.fit(model, scenes, max_steps=pre_steps, batch_size=64, lr=2e-3, seed=seed,
                                  progress=False)  # fmt: skip
    xl.train.set_normalization(twin, xl.train.band_statistics(scenes))
    return model, twin, history


def ms(values: list[float] | np.ndarray, signed: bool = False) -> str:
    v = np.asarray(values, dtype=float)
    mean = f"{v.mean():+.3f}" if signed else f"{v.mean():.3f}"
    return f"{mean} +/- {v.std(ddof=1) if v.size > 1 else 0.0:.3f}"


def one_seed(seed: int, args: argparse.Namespace, skip: set[str], pooled: dict[str, list[float]]) -> dict:
    """Every number of notebook 09 for ``SEED = seed``."""
    out: dict[str, float] = {}
    head_seeds = (0, 1, 2)
    veg = not args.open_water
    t = time.perf_counter()
    model, twin, history = pretrained_and_random(seed, args.pre_steps, args.n_pre, veg)
    out["pretrain loss ratio"] = float(np.mean(history["loss"][-10:]) / np.mean(history["loss"][:10]))
    out["pretrain seconds"] = time.perf_counter() - t
    train = xl.train.CachedPairs(SimulatedFloods(seed=seed + 10, size=SIZE, n_scenes=args.n_train,
                                                 flooded_vegetation=veg))  # fmt: skip
    test = xl.train.CachedPairs(SimulatedFloods(seed=seed + 11, size=SIZE, n_scenes=args.n_test,
                                                flooded_vegetation=veg))  # fmt: skip
    out["water share"] = float(np.mean([test[i]["mask"].float().mean() for i in range(len(test))]))
    if veg:
        out["flooded vegetation share"] = float(
            np.mean([test[i]["flooded_vegetation"].float().mean() for i in range(len(test))])
        )
    if "labels" not in skip:
        thr = [band_threshold_baseline(label_subset(train, 0.05, s), test)["mIoU"] for s in head_seeds]
        out["mIoU VV threshold 5%"] = float(np.mean(thr))
        for head in HEADS:
            curves = dense_label_efficiency({"pretrained": model, "random init": twin}, train, test,
                                            fractions=(0.05, 1.0), seeds=head_seeds, metric="mIoU",
                                            modality="s1", head=head, max_steps=args.head_steps)  # fmt: skip
            for f in (0.05, 1.0):
                a, b = np.array(curves["pretrained"][f]), np.array(curves["random init"][f])
                gaps = a - b
                key = f"{head} {f:.0%}"
                out[f"mIoU pretrained {key}"], out[f"mIoU random {key}"] = a.mean(), b.mean()
                out[f"paired gain {key}"], out[f"paired gain sd {key}"] = gaps.mean(), gaps.std(ddof=1)
                out[f"head seeds ahead {key}"] = float((gaps > 0).sum())
                pooled[key].extend(gaps.tolist())
                print(f"  seed {seed}, {head:7s} {f:4.0%} labels: pretrained {ms(a)}, random init {ms(b)}, "
                      f"paired gains {np.round(gaps, 3).tolist()}", flush=True)  # fmt: skip
    if "clouds" not in skip:
        tr = xl.train.CachedPairs(SimulatedFloods(seed=seed + 10, size=SIZE, n_scenes=args.n_train,
                                                  cloud_cover=args.cloud_cover, flooded_vegetation=veg))  # fmt: skip
        te = xl.train.CachedPairs(SimulatedFloods(seed=seed + 11, size=SIZE, n_scenes=args.n_test,
                                                  cloud_cover=args.cloud_cover, flooded_vegetation=veg))  # fmt: skip
        out["cloud share"] = float(np.mean([te[i]["cloud_mask"].float().mean() for i in range(len(te))]))
        for modality in ("s1", "s2"):
            scores = [
                evaluate_segmentation(fit_segmentation(model, tr, modality=modality, seed=s,
                                                       max_steps=args.head_steps)[0], te)["iou"]["1"]
                for s in head_seeds
            ]  # fmt: skip
            out[f"cloudy water IoU {modality}"] = float(np.mean(scores))
            out[f"cloudy water IoU sd {modality}"] = float(np.std(scores, ddof=1))
        out["radar gain under clouds"] = out["cloudy water IoU s1"] - out["cloudy water IoU s2"]
    if "change" not in skip:
        cal = SimulatedChanges(seed=seed + 20, size=SIZE, n_scenes=64)
        te = SimulatedChanges(seed=seed + 21, size=SIZE, n_scenes=64)
        for modality in ("s1", "s2"):
            for name, enc in (("pretrained", model), ("random init", twin)):
                report = change_detection_report(enc, cal, te, modality=modality)
                for det in ("embedding tile", "embedding patch"):
                    out[f"change {modality} {name} {det.split()[1]} AUC"] = report[det]["auc"]
                    out[f"change {modality} {name} {det.split()[1]} F1"] = report[det]["f1"]
                if name == "pretrained":
                    for det in ("pixel tile", "pixel patch"):
                        out[f"change {modality} log-ratio {det.split()[1]} AUC"] = report[det]["auc"]
                        out[f"change {modality} log-ratio {det.split()[1]} F1"] = report[det]["f1"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="notebook seeds (places + pretraining) 0..N-1")
    p.add_argument("--pre-steps", type=int, default=300)
    p.add_argument("--n-pre", type=int, default=1024, help="unlabelled pretraining scenes")
    p.add_argument("--head-steps", type=int, default=60)
    p.add_argument("--n-train", type=int, default=100)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--cloud-cover", type=float, default=0.6)
    p.add_argument("--open-water", action="store_true", help="floods without flooded vegetation")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: labels, clouds, change")
    args = p.parse_args()
    torch.set_num_threads(1)
    skip = set(filter(None, args.skip.split(",")))
    start = time.perf_counter()
    per_seed: dict[str, list[float]] = defaultdict(list)
    pooled: dict[str, list[float]] = defaultdict(list)
    for seed in range(args.seeds):
        for key, value in one_seed(seed, args, skip, pooled).items():
            per_seed[key].append(value)
    floods = "open-water floods" if args.open_water else "floods with flooded vegetation"
    print(f"\nnotebook 09 over seeds 0-{args.seeds - 1} ({args.pre_steps} pretraining steps on {args.n_pre} "
          f"unlabelled flood-biome scenes, {floods}, {args.head_steps} head steps, {args.n_train} training / "
          f"{args.n_test} held-out scenes, radar heads on frozen encoders)")  # fmt: skip
    print(f"{'number':44s} {'mean +/- sd':>16s}   per seed")
    for key, values in per_seed.items():
        print(f"{key:44s} {ms(values, 'gain' in key):>16s}   {np.round(values, 3).tolist()}")
    for key, gaps in pooled.items():
        g = np.array(gaps)
        print(
            f"{'pooled paired gain ' + key:44s} {ms(g, True):>16s}   {int((g > 0).sum())}/{g.size} runs ahead"
        )
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
