"""Segment Anything and one-shot segmentation: latency of the tiny SAM on a CPU, one-shot IoU on the simulated world.

Usage:
    python benchmarks/bench_sam.py                      # latency + one-shot table (a few minutes on 2 cores)
    python benchmarks/bench_sam.py --skip-oneshot       # latency only
    python benchmarks/bench_sam.py --encoders croma --steps 0 200 --seeds 0 1

One-shot protocol: train a tiny encoder with ``fit`` on 256 tiles of a simulated world; for each class, the
reference is the first training tile the class covers 25-60% of; the score is the IoU pooled over held-out
tiles (world indices 512-639) the class covers at least 10% of. ``min``/``mean`` are over the first five
reference tiles that satisfy the rule, to show how much one reference matters.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from xmodal_lab import segment as samlib
from xmodal_lab.config import seed_everything
from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld
from xmodal_lab.eval.segmentation import boundary_overestimation, iou
from xmodal_lab.models.registry import build
from xmodal_lab.segment import one_shot_segment
from xmodal_lab.train import CachedPairs, fit


def _ms(fn, repeat: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1000 * (time.perf_counter() - t0) / repeat


def bench_latency(sizes: tuple[int, ...], repeat: int) -> None:
    warnings.simplefilter("ignore", samlib.UntrainedSAMWarning)
    sam = samlib.build_sam_arch("tiny")
    n_params = sum(p.numel() for p in sam.parameters())
    print(f"\n## Tiny untrained SAM on the CPU ({n_params / 1e3:.0f} k parameters, input {sam.image_encoder.img_size} px, "
          f"{torch.get_num_threads()} threads)")  # fmt: skip
    print(f"{'tile':>6} {'encode ms':>10} {'point ms':>9} {'box ms':>8} {'auto ms':>9} {'PerSAM ms':>10}")
    world = SimulatedWorld(seed=0, size=max(sizes), n_scenes=4)
    for size in sizes:
        s2 = world[0]["s2"][:, :size, :size]
        other = world[1]["s2"][:, :size, :size]
        mask = (world[0]["landcover"][:size, :size] == world[0]["landcover"][0, 0]).numpy()
        seg = samlib.SamSegmenter(sam)

        def encode(seg=seg, s2=s2):
            seg._key = None  # force a new embedding
            seg.set_image(s2)

        enc = _ms(encode, repeat)
        seg.set_image(s2)
        point = _ms(lambda seg=seg, size=size: seg.points([[size // 2, size // 2]]), repeat)
        box = _ms(lambda seg=seg, size=size: seg.box([1, 1, size - 2, size - 2]), repeat)
        auto = _ms(
            lambda seg=seg: seg.automatic(points_per_side=8, allow_untrained=True), max(1, repeat // 5)
        )
        per = samlib.PerSAM(seg, s2, mask)
        persam = _ms(lambda per=per, other=other: per(other), max(1, repeat // 2))
        print(f"{size:>6} {enc:>10.1f} {point:>9.1f} {box:>8.1f} {auto:>9.1f} {persam:>10.1f}")
    print(
        "(automatic: 8x8 grid with thresholds 0, as for any untrained model; PerSAM: encode + 3 decoder passes)"
    )


def bench_oneshot(
    encoders: list[str], steps_list: list[int], seeds: list[int], modalities: list[str]
) -> None:
    print("\n## Encoder one-shot segmentation on the simulated world (pooled IoU on held-out tiles)")
    print(f"{'world':>5} {'encoder':>11} {'steps':>5} {'train s':>7} {'modality':>8} {'class':>7} "
          f"{'IoU':>5} {'bilin.':>6} {'area x':>6} {'min5':>5} {'mean5':>5}")  # fmt: skip
    for seed in seeds:
        world = SimulatedWorld(seed=seed, size=32, n_scenes=1024)
        train = CachedPairs(torch.utils.data.Subset(world, range(256)))
        held = [world[i] for i in range(512, 640)]
        train_lc = train.columns["landcover"]
        held_lc = torch.stack([p["landcover"] for p in held])
        for name in encoders:
            for steps in steps_list:
                seed_everything(0)
                model = build(name, preset="tiny")
                t0 = time.perf_counter()
                if steps:
                    model, _ = fit(
                        model, train, max_steps=steps, batch_size=32, lr=2e-3, progress=False, seed=0
                    )
                train_s = time.perf_counter() - t0
                for modality in modalities:
                    for cls_name in ("water", "forest"):
                        cls = LANDCOVER_CLASSES.index(cls_name)
                        share = (train_lc == cls).float().mean(dim=(1, 2))
                        refs = [int(i) for i in torch.nonzero((share > 0.25) & (share < 0.6)).flatten()[:5]]
                        present = [p for p, lab in zip(held, held_lc) if (lab == cls).float().mean() >= 0.1]
                        if not refs or not present:
                            continue
                        truth = (torch.stack([p["landcover"] for p in present]) == cls).numpy()
                        scores = []
                        for r in refs:
                            res = one_shot_segment(
                                model, train[r], train_lc[r] == cls, present, modality=modality
                            )
                            scores.append(iou(res.masks, truth))
                            if r == refs[0]:
                                first, ratio = scores[0], boundary_overestimation(res.masks, truth).area_ratio
                                plain = one_shot_segment(
                                    model,
                                    train[r],
                                    train_lc[r] == cls,
                                    present,
                                    modality=modality,
                                    upsample="bilinear",
                                )
                                bilinear = iou(plain.masks, truth)
                        print(f"{seed:>5} {name:>11} {steps:>5} {train_s:>7.1f} {modality:>8} {cls_name:>7} "
                              f"{first:>5.2f} {bilinear:>6.2f} {ratio:>6.2f} {min(scores):>5.2f} "
                              f"{statistics.mean(scores):>5.2f}", flush=True)  # fmt: skip
    print(
        "IoU: first reference, guided upsampling (the test's setting for contrastive/200/s1+s2); bilin.: same with "
        "bilinear upsampling; area x: predicted / true area on the same objects (>1 = boundaries overestimated)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--encoders", nargs="+", default=["contrastive", "croma"])
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--modalities", nargs="+", default=["s2", "s1", "s1+s2"])
    parser.add_argument("--skip-oneshot", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    np.set_printoptions(precision=3)
    bench_latency(tuple(args.sizes), args.repeat)
    if not args.skip_oneshot:
        bench_oneshot(args.encoders, args.steps, args.seeds, args.modalities)


if __name__ == "__main__":
    main()
