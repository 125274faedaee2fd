"""CROMA under clouds: radar, optical, joint and joint with cloud masking, over seeds and cloud covers.

Trains lesson 04's tiny CROMA (fast mode: 4096 training scenes, 250 steps, batch 64, lr 2e-3) once per seed,
fits linear probes on *clear* embeddings of a probe world, and scores them on the test world rendered at
each cloud cover (the same places; only the optical images change). ``joint+mask`` is the joint embedding
with ``CloudMaskedCROMA(model).embed(cloud_mask=...)``: optical patches that are mostly cloud are dropped before the
cross-modal encoder, so it falls back on radar where the optical image shows only cloud. Metrics: dominant
land-cover accuracy (baseline: the majority class) and multi-label mAP (baseline: a guessing probe, the label
prevalence). Prints mean +/- sd over the seeds and each seed's value.

    XMODAL_FAST=1 OMP_NUM_THREADS=1 python benchmarks/bench_croma_clouds.py --seeds 0 1 2

Training is deterministic on a CPU, so the numbers depend on the seeds only; the seconds depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

import xmodal_lab as xl
from xmodal_lab.files import publish, publish_text

EMBEDDINGS = ("s1", "s2", "joint", "joint+mask")


def run_seed(seed: int, covers: tuple[float, ...], args: argparse.Namespace) -> dict[str, float]:
    """Train one CROMA and probe it under every cloud cover; returns ``{"metric@cover/embedding": value}``."""
    torch.set_num_threads(1)
    xl.seed_everything(seed)
    train_world = xl.data.SimulatedWorld(seed=seed, size=args.size, n_scenes=args.n_train)
    model = xl.models.build("croma", preset="tiny")
    cached = f"{args.cache}/croma_clouds_seed{seed}_{args.steps}.pt" if args.cache else None
    if cached and os.path.exists(cached):
        xl.train.set_normalization(model, xl.train.band_statistics(train_world))
        model.load_state_dict(torch.load(cached, weights_only=True))
    else:
        model, history = xl.train.fit(
            model, train_world, max_steps=args.steps, max_minutes=60.0, batch_size=64, lr=2e-3, seed=seed
        )
        assert history["steps"] == args.steps, f"training was cut short at {history['steps']} steps"
        if cached:
            publish(cached, lambda tmp: torch.save(model.state_dict(), tmp), "cached weights")
    model.eval()
    masked_model = xl.models.CloudMaskedCROMA(model)
    probe_world = xl.data.SimulatedWorld(seed=seed + 2, size=args.size, n_scenes=args.n_test)
    emb_train = xl.eval.embed_dataset(model, probe_world)
    # the masked joint's probe: the clear probe scenes, once as they are and once with the cloud masks of
    # the same places on a cloudy date (the model drops those patches but never sees a cloudy pixel)
    cloudy_probe = xl.data.SimulatedWorld(
        seed=seed + 2, size=args.size, n_scenes=args.n_test, cloud_cover=0.5
    )
    borrowed = xl.data.clouds.BorrowedCloudMasks(probe_world, cloudy_probe)
    masked_train = xl.eval.embed_dataset(masked_model, borrowed, pass_keys=("cloud_mask",))["joint"]
    emb_train["joint+mask"] = np.concatenate([emb_train["joint"], masked_train])
    for k in ("dominant_class", "labels"):
        emb_train[k + "+"] = np.concatenate([emb_train[k], emb_train[k]])
    out: dict[str, float] = {}
    for cover in covers:
        test = xl.data.SimulatedWorld(seed=seed + 1, size=args.size, n_scenes=args.n_test, cloud_cover=cover)
        emb = xl.eval.embed_dataset(model, test)
        emb["joint+mask"] = xl.eval.embed_dataset(masked_model, test, pass_keys=("cloud_mask",))["joint"]
        y, labels = emb["dominant_class"], emb["labels"]
        out[f"majority@{cover:g}"] = float(np.bincount(y).max() / len(y))
        out[f"guess mAP@{cover:g}"] = float(np.asarray(labels, dtype=float).mean())
        out[f"cloudy@{cover:g}"] = float(
            np.mean([float(test[i]["cloud_mask"].float().mean()) for i in range(len(test))])
        )
        for key in EMBEDDINGS:
            plus = "+" if key == "joint+mask" else ""
            acc = xl.eval.linear_probe(emb_train[key], emb_train["dominant_class" + plus], emb[key], y)[
                "accuracy"
            ]
            out[f"acc@{cover:g}/{key}"] = float(acc)
            if args.map:
                m = xl.eval.linear_probe(emb_train[key], emb_train["labels" + plus], emb[key], labels)["mAP"]
                out[f"mAP@{cover:g}/{key}"] = float(m)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--covers", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--n-train", type=int, default=4096)
    p.add_argument("--n-test", type=int, default=384)
    p.add_argument("--map", action="store_true", help="also score multi-label mAP (slower)")
    p.add_argument(
        "--cache", help="folder to keep/reuse each seed's trained weights (files never overwritten)"
    )
    p.add_argument("--json", help="write every seed's numbers to this file")
    args = p.parse_args()
    start = time.time()
    per_seed = {}
    for seed in args.seeds:
        t = time.time()
        per_seed[seed] = run_seed(seed, tuple(args.covers), args)
        print(f"seed {seed}: {time.time() - t:.0f} s", flush=True)
    keys = list(per_seed[args.seeds[0]])
    print(f"\nCROMA tiny, {args.steps} steps, probes fitted on clear scenes; seeds {args.seeds}")
    for key in keys:
        values = [per_seed[s][key] for s in args.seeds]
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        each = ", ".join(f"{v:.3f}" for v in values)
        print(f"{key:26s} {np.mean(values):.3f} +/- {sd:.3f}   ({each})")
    for cover in [c for c in args.covers if c > 0]:
        gaps = [
            (per_seed[s][f"acc@{cover:g}/joint+mask"] - per_seed[s][f"acc@{cover:g}/joint"])
            / max(per_seed[s]["acc@0/joint"] - per_seed[s][f"acc@{cover:g}/joint"], 1e-9)
            for s in args.seeds
        ]
        print(f"cover {cover:g}: share of the joint's cloud loss recovered by masking {np.mean(gaps):.2f} "
              f"({', '.join(f'{g:.2f}' for g in gaps)})")  # fmt: skip
    print(f"total {time.time() - start:.0f} s")
    if args.json:
        publish_text(args.json, json.dumps({str(k): v for k, v in per_seed.items()}, indent=1), "benchmark JSON")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
