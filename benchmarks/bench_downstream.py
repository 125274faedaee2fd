"""Downstream dense tasks on the simulated world: flood-mapping label efficiency and change-detection AUCs.

Usage: ``XMODAL_FAST=1 .venv/bin/python benchmarks/bench_downstream.py [--seeds 3] [--pre-steps 100]``

1. Pretrain a tiny CROMA on the world with ``fit`` for a step budget; a random-init twin gets the same input
   statistics. 2. Train the same light UPerNet head on each frozen encoder with 1/5/10/100 % of the labelled
   flood scenes (radar input), several seeds; print mIoU, mean +/- sd, and the paired gap. 3. Radar vs optical heads
   under clouds. 4. Change detection (tile and patch level) against the log-ratio pixel baseline, thresholds
   chosen on held-out places, over several place seeds. Numbers depend on the machine only through time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import xmodal_lab as xl
from xmodal_lab.data.changes import SimulatedChanges
from xmodal_lab.data.floods import SimulatedFloods
from xmodal_lab.eval.change import change_detection_report
from xmodal_lab.eval.dense import evaluate_segmentation
from xmodal_lab.train.downstream import dense_label_efficiency, fit_segmentation


def pretrained_and_random(
    pre_steps: int, size: int = 32, seed: int = 0
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A tiny CROMA pretrained on the world for ``pre_steps`` and its untrained twin (same start, same norms)."""
    world = xl.data.SimulatedWorld(seed=seed, size=size, n_scenes=4096)
    xl.seed_everything(seed)
    model = xl.models.build("croma", preset="tiny", img_size=size)
    xl.seed_everything(seed)
    twin = xl.models.build("croma", preset="tiny", img_size=size)
    model, history = xl.train.fit(model, world, max_steps=pre_steps, batch_size=64, lr=2e-3, seed=seed,
                                  progress=False)  # fmt: skip
    xl.train.set_normalization(twin, xl.train.band_statistics(world))
    print(f"pretraining: {history['steps']} steps in {history['seconds']:.0f} s, "
          f"loss {history['loss'][0]:.2f} -> {history['loss'][-1]:.2f}")  # fmt: skip
    return model, twin


def ms(values: list[float]) -> str:
    return f"{np.mean(values):.3f} +/- {np.std(values):.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--pre-steps", type=int, default=100)
    p.add_argument("--head-steps", type=int, default=60)
    p.add_argument("--fractions", default="0.01,0.05,0.1,1.0")
    p.add_argument("--n-train", type=int, default=100)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--skip", default="", help="comma-separated parts to skip: labels, clouds, change")
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    skip = set(filter(None, args.skip.split(",")))
    start = time.perf_counter()
    model, twin = pretrained_and_random(args.pre_steps)
    train = SimulatedFloods(seed=10, n_scenes=args.n_train)
    test = SimulatedFloods(seed=11, n_scenes=args.n_test)
    if "labels" not in skip:
        fractions = [float(f) for f in args.fractions.split(",")]
        for metric in ("mIoU",):
            curves = dense_label_efficiency({"pretrained": model, "random init": twin}, train, test,
                                            fractions=fractions, seeds=seeds, metric=metric, modality="s1",
                                            max_steps=args.head_steps)  # fmt: skip
            print(f"\nflood mapping, radar head on a frozen encoder, {metric} on {len(test)} held-out scenes "
                  f"({len(seeds)} seeds, {args.head_steps} head steps, {len(train)} training scenes)")  # fmt: skip
            print(f"{'labels':>8s}  {'pretrained':>16s}  {'random init':>16s}  {'paired gap':>16s}")
            for f in fractions:
                a, b = np.array(curves["pretrained"][f]), np.array(curves["random init"][f])
                print(f"{f:8.0%}  {ms(a):>16s}  {ms(b):>16s}  {ms(a - b):>16s}")
    if "clouds" not in skip:
        print("\nradar vs optical under clouds (pretrained encoder, 100 % labels, water IoU)")
        for cover in (0.0, 0.6):
            tr = SimulatedFloods(seed=10, n_scenes=args.n_train, cloud_cover=cover)
            te = SimulatedFloods(seed=11, n_scenes=args.n_test, cloud_cover=cover)
            row = {}
            for modality in ("s1", "s2"):
                row[modality] = [
                    evaluate_segmentation(fit_segmentation(model, tr, modality=modality, seed=s,
                                                           max_steps=args.head_steps)[0], te)["iou"]["1"]
                    for s in seeds
                ]  # fmt: skip
            print(f"cloud cover {cover:.1f}: radar {ms(row['s1'])}  optical {ms(row['s2'])}")
    if "change" not in skip:
        print("\nchange detection, ROC-AUC over place seeds (thresholds chosen on held-out places)")
        results: dict[str, list[float]] = {}
        for s in seeds:
            cal, te = (
                SimulatedChanges(seed=100 + 2 * s, n_scenes=64),
                SimulatedChanges(seed=101 + 2 * s, n_scenes=64),
            )
            for name, enc in (("pretrained", model), ("random init", twin)):
                for modality in ("s1", "s2"):
                    report = change_detection_report(enc, cal, te, modality=modality)
                    for det, m in report.items():
                        if det.startswith("pixel") and name != "pretrained":
                            continue  # the baseline does not depend on the encoder
                        label = det if det.startswith("pixel") else det.replace("embedding", name)
                        results.setdefault(f"{modality} {label}", []).append(m["auc"])
                        results.setdefault(f"{modality} {label} F1", []).append(m["f1"])
        for key in sorted(k for k in results if not k.endswith("F1")):
            print(f"{key:32s} AUC {ms(results[key])}   F1 {ms(results[key + ' F1'])}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
