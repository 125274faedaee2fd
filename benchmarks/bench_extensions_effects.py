"""The MMEarth and SkySense effects of lesson 07, over seeds (mean +/- sd), with the lesson's own recipe.

Usage: ``.venv/bin/python benchmarks/bench_extensions_effects.py [--seeds 0 1 2] [--sky-steps 50]
[--mm-steps 150] [--threads 1]``

The recipe is the fast mode of ``notebooks/07_group_projects.ipynb``: for seed ``s`` the pretraining world is
``SimulatedWorld(seed=s, size=32, n_scenes=2048)``, the probe worlds use seeds ``s + 2`` (fit) and ``s + 1``
(score), 384 tiles each, and every model is trained by ``xl.train.fit`` with training seed ``s``.

1. **MMEarth on held-out labels.** An optical-only MAE (``tasks=("s2",)``), the multi-pretext MAE with the
   radar image as extra pretext target (``tasks=("s2", "s1")``) and with every pretext task of the kit
   (``("s2", "s1", "landcover", "labels")``), same encoder, steps, batches and masks. Only labels that are
   **not** pretext targets of a model are reported for it: land cover and scene labels for the first two, the
   biome (never a pretext target) for all three, so the probes measure what the pretext tasks taught, not
   label leakage. Logistic-regression probes on frozen mean-pooled
   optical embeddings, fitted on the first 100 tiles of the fit world (label-scarce, where MMEarth reports
   its largest gains) and scored on the 384 score tiles: scene-label micro-F1, the majority land-cover class
   (accuracy) and the biome (accuracy).
2. **SkySense pixel-level gain.** The paper's loss (pixel + object + image InfoNCE) against the image-level-
   only ablation (``granularities=("image",)``), same budget. Dense task: the kit's encoder-based one-shot
   segmentation (``xl.segment.one_shot_segment``, optical features): for water and forest, one reference tile
   of the fit world that the class covers 25-60 % (the first 3 such tiles, one run each), and every score
   tile the class covers >= 10 %; the IoU is pooled over those tiles, then averaged over references and the
   two classes.
3. **SkySense geo-context prototypes** on a region-dependent label, the biome (each biome lives at its own
   places on Earth): linear-probe accuracy of the ``joint`` embedding of the full model when the tile's
   location selects its region's prototypes, against the same model and tiles with the location withheld
   (every region's prototypes consulted), against a model trained with ``geo_context=False`` (the same
   recipe, no prototypes: ``F_fus = F^mm``), and against the optical ``s2`` embedding.

4. **Projects A-C** (contrastive dual encoder, 200 steps x 128): linear-probe accuracy with 1 % and all labels,
   optical-to-radar probe transfer as it is and after removing each modality's mean embedding, and
   radar->optical recall@1 across the 384 score tiles and inside one 128 px GeoTIFF scene (16 tiles).

Baselines printed: the majority class (accuracy) and each task's untrained/ablated counterpart.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import xmodal_lab as xl
from xmodal_lab.data import LANDCOVER_CLASSES

SIZE, N_TRAIN, N_EVAL, N_FIT = 32, 2048, 384, 100
ONE_SHOT_CLASSES, N_REFS = ("water", "forest"), 3


def worlds(seed: int) -> tuple:
    """The lesson's worlds: pretraining (rendered once), probe-fit and probe-score."""
    train = xl.train.CachedPairs(xl.data.SimulatedWorld(seed=seed, size=SIZE, n_scenes=N_TRAIN))
    fit_world = xl.data.SimulatedWorld(seed=seed + 2, size=SIZE, n_scenes=N_EVAL)
    score_world = xl.data.SimulatedWorld(seed=seed + 1, size=SIZE, n_scenes=N_EVAL)
    return train, fit_world, score_world


def majority_share(y: np.ndarray) -> float:
    """Accuracy of always answering the most frequent class."""
    return float(np.bincount(np.unique(y, return_inverse=True)[1]).max() / len(y))


def mmearth_probes(model, fit_emb: dict, score_emb: dict) -> dict[str, float]:
    """Scene-label micro-F1, dominant-class and biome accuracy of probes on frozen optical embeddings."""
    tr = {k: v[:N_FIT] for k, v in fit_emb.items() if hasattr(v, "__len__")}
    lp = xl.eval.linear_probe
    return {
        "labels_f1": lp(tr["s2"], tr["labels"], score_emb["s2"], score_emb["labels"])["micro_f1"],
        "dominant_acc": lp(tr["s2"], tr["dominant_class"], score_emb["s2"], score_emb["dominant_class"])[
            "accuracy"
        ],
        "biome_acc": lp(tr["s2"], np.asarray(tr["biome"]), score_emb["s2"], np.asarray(score_emb["biome"]))[
            "accuracy"
        ],
    }


MM_VARIANTS = {"mae": ("s2",), "radar": ("s2", "s1"), "all": ("s2", "s1", "landcover", "labels")}


def mmearth_effect(seed: int, steps: int, data: tuple, variants=tuple(MM_VARIANTS)) -> dict[str, float]:
    """Optical-only vs multi-pretext MAE, probed on held-out labels."""
    train, fit_world, score_world = data
    out = {}
    for label, tasks in ((v, MM_VARIANTS[v]) for v in variants):
        xl.seed_everything(seed)
        m = xl.models.build("mmearth", preset="tiny", tasks=tasks)
        m, hist = xl.train.fit(m, train, max_steps=steps, batch_size=32, lr=2e-3, seed=seed, progress=False)
        assert hist["steps"] == steps
        scores = mmearth_probes(m, xl.eval.embed_dataset(m, fit_world), xl.eval.embed_dataset(m, score_world))
        # only labels that are not pretext targets are reported: for "all" that is the biome alone
        held_out = scores if label != "all" else {"biome_acc": scores["biome_acc"]}
        out.update({f"{label}_{k}": v for k, v in held_out.items()})
    return out


def one_shot_iou(model, fit_world, score_world, modality: str = "s2", upsample: str = "guided") -> float:
    """Pooled one-shot IoU, averaged over references and the classes of ``ONE_SHOT_CLASSES``.

    ``upsample="bilinear"`` reads the features alone; ``"guided"`` (the kit's default) lets the tile's own
    pixels shape the mask edges, which helps every encoder, trained or not.
    """
    fit_lc = torch.stack([fit_world[i]["landcover"] for i in range(len(fit_world))])
    score = [score_world[i] for i in range(len(score_world))]
    score_lc = torch.stack([p["landcover"] for p in score])
    values = []
    for name in ONE_SHOT_CLASSES:
        cls = LANDCOVER_CLASSES.index(name)
        share = (fit_lc == cls).float().mean(dim=(1, 2))
        refs = torch.nonzero((share > 0.25) & (share < 0.6)).flatten()[:N_REFS].tolist()
        present = [i for i in range(len(score)) if (score_lc[i] == cls).float().mean() >= 0.1]
        truth = (score_lc[present] == cls).numpy()
        targets = [score[i] for i in present]
        for r in refs:
            res = xl.segment.one_shot_segment(
                model, fit_world[r], fit_lc[r] == cls, targets, modality=modality, upsample=upsample
            )
            values.append(xl.eval.iou(res.masks, truth))
    return statistics.fmean(values)


def biome_probe(model, fit_world, score_world, key: str, located: bool) -> float:
    """Biome accuracy of a linear probe on SkySense's ``key`` embedding (with or without the tile location)."""

    def embed(world) -> tuple[np.ndarray, np.ndarray]:
        pairs = [world[i] for i in range(len(world))]
        s1, s2 = torch.stack([p["s1"] for p in pairs]), torch.stack([p["s2"] for p in pairs])
        loc = {"lat": [p["lat"] for p in pairs], "lon": [p["lon"] for p in pairs]} if located else {}
        with torch.no_grad():
            z = model.embed(s1=s1, s2=s2, date=[p["date"] for p in pairs], **loc)[key]
        return z.numpy(), np.array([p["biome"] for p in pairs])

    (x_tr, y_tr), (x_te, y_te) = embed(fit_world), embed(score_world)
    return xl.eval.linear_probe(x_tr, y_tr, x_te, y_te)["accuracy"]


def loss_curve_numbers(log: list[dict], label: str) -> dict[str, float]:
    """The lesson's reading of a per-granularity loss log: the pixel loss at the start and how far it fell."""
    pixel = [r["loss_pixel"] for r in log]
    start, end = statistics.fmean(pixel[:3]), statistics.fmean(pixel[-5:])
    return {f"{label}_pixel_start": start, f"{label}_pixel_drop": start - end}


def skysense_effects(seed: int, steps: int, data: tuple, curves_only: bool = False) -> dict[str, float]:
    """Per-granularity losses, pixel-level gain (one-shot IoU) and geo-context gain (biome probe) of SkySense."""
    train, fit_world, score_world = data
    out = {}
    for label, levels in (("full", ("pixel", "object", "image")), ("image_only", ("image",))):
        xl.seed_everything(seed)
        m = xl.models.build("skysense", preset="tiny", granularities=levels)
        log: list[dict] = []
        keys = ("loss_pixel", "loss_object", "loss_image")
        m.register_forward_hook(
            lambda mod, inputs, o, log=log, keys=keys: (
                log.append({k: float(o[k]) for k in keys}) if mod.training else None
            )
        )
        m, hist = xl.train.fit(m, train, max_steps=steps, batch_size=64, lr=1e-3, seed=seed, progress=False)
        assert hist["steps"] == steps and len(log) == steps
        out.update(loss_curve_numbers(log, label))
        if curves_only:
            continue
        out[f"{label}_iou"] = one_shot_iou(m, fit_world, score_world)
        out[f"{label}_iou_bilinear"] = one_shot_iou(m, fit_world, score_world, upsample="bilinear")
        if label == "full":
            out["biome_joint_located"] = biome_probe(m, fit_world, score_world, "joint", located=True)
            out["biome_joint_unlocated"] = biome_probe(m, fit_world, score_world, "joint", located=False)
            out["biome_s2"] = biome_probe(m, fit_world, score_world, "s2", located=True)
    if not curves_only:
        # the trained ablation: the same recipe with no prototypes at all, so F_fus = F^mm
        xl.seed_everything(seed)
        m = xl.models.build("skysense", preset="tiny", geo_context=False)
        m, hist = xl.train.fit(m, train, max_steps=steps, batch_size=64, lr=1e-3, seed=seed, progress=False)
        assert hist["steps"] == steps
        out["biome_joint_no_geo_trained"] = biome_probe(m, fit_world, score_world, "joint", located=True)
    xl.seed_everything(seed)
    if curves_only:
        return out
    untrained = xl.models.build("skysense", preset="tiny").eval()
    out["untrained_iou"] = one_shot_iou(untrained, fit_world, score_world)
    out["untrained_iou_bilinear"] = one_shot_iou(untrained, fit_world, score_world, upsample="bilinear")
    out["biome_majority"] = majority_share(np.array([score_world[i]["biome"] for i in range(N_EVAL)]))
    return out


def centred(emb: dict, means: dict) -> dict:
    """Embeddings with each modality's own mean removed (the "modality gap" between radar and optical)."""
    return {k: v - means[k] if k in means else v for k, v in emb.items()}


def projects_effects(seed: int, steps: int, data: tuple) -> dict[str, float]:
    """Projects A-C of the lesson: label efficiency, cross-modal transfer, retrieval inside one GeoTIFF scene."""
    train, fit_world, score_world = data
    xl.seed_everything(seed)
    model = xl.models.build("contrastive", preset="tiny")
    model, hist = xl.train.fit(
        model, train, max_steps=steps, batch_size=128, lr=2e-3, seed=seed, progress=False
    )
    assert hist["steps"] == steps
    tr, te = xl.eval.embed_dataset(model, fit_world), xl.eval.embed_dataset(model, score_world)
    out = {"majority": majority_share(te["dominant_class"])}
    for m in ("s1", "s2"):
        curve = xl.eval.label_efficiency(tr[m], tr["dominant_class"], te[m], te["dominant_class"], seed=seed)
        out[f"{m}_acc_1pct"], out[f"{m}_acc_all"] = curve[0.01][0], curve[1.0][0]
    raw = xl.eval.cross_modal_transfer(tr, te, source="s2", target="s1")
    means = {m: tr[m].mean(axis=0) for m in ("s1", "s2")}
    fixed = xl.eval.cross_modal_transfer(centred(tr, means), centred(te, means), source="s2", target="s1")
    out.update(
        transfer_same=raw["same_modality"],
        transfer_raw=raw["cross_modal"],
        transfer_centred=fixed["cross_modal"],
    )
    out["retrieval_r1_many_scenes"] = xl.eval.retrieval_metrics(te["s1"], te["s2"])["recall@1"]
    with tempfile.TemporaryDirectory() as folder:
        paths = xl.data.SimulatedWorld(seed=seed, size=128, n_scenes=4).to_geotiff(0, Path(folder))
        tiles = xl.data.PairedRasterDataset(paths["s1"], paths["s2"], size=SIZE)
        mine = xl.eval.embed_dataset(model, tiles)
        out["retrieval_r1_one_scene"] = xl.eval.retrieval_metrics(mine["s1"], mine["s2"])["recall@1"]
        out["one_scene_chance"] = 1.0 / len(tiles)
    return out


def fmt(values: list[float]) -> str:
    """``mean +/- sd (v0, v1, ...)``."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} +/- {sd:.3f} ({', '.join(f'{v:.3f}' for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sky-steps", type=int, default=50)
    parser.add_argument("--mm-steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--projects-steps", type=int, default=200)
    parser.add_argument("--sky-curves-only", action="store_true", help="SkySense: only the loss curves")
    parser.add_argument(
        "--mm-variants", nargs="+", choices=("mae", "radar", "all"), default=["mae", "radar", "all"]
    )
    parser.add_argument("--skip", choices=("projects", "mmearth", "skysense"), nargs="*", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}"
    )
    print(
        f"seeds {args.seeds}; MMEarth {args.mm_steps} steps x 32; SkySense {args.sky_steps} steps x 64",
        flush=True,
    )
    rows: dict[str, list[float]] = {}
    for seed in args.seeds:
        t0 = time.perf_counter()
        data = worlds(seed)
        if "projects" not in args.skip:
            for k, v in projects_effects(seed, args.projects_steps, data).items():
                rows.setdefault(f"projects {k}", []).append(v)
        if "mmearth" not in args.skip:
            for k, v in mmearth_effect(seed, args.mm_steps, data, args.mm_variants).items():
                rows.setdefault(f"mmearth {k}", []).append(v)
        if "skysense" not in args.skip:
            for k, v in skysense_effects(seed, args.sky_steps, data, args.sky_curves_only).items():
                rows.setdefault(f"skysense {k}", []).append(v)
        print(f"seed {seed} done in {time.perf_counter() - t0:.0f} s: "
              + ", ".join(f"{k}={v[-1]:.3f}" for k, v in rows.items()), flush=True)  # fmt: skip
    print("\n## Lesson 07 effects (mean +/- sd over seeds, per-seed values)")
    for k, v in rows.items():
        print(f"{k:36s} {fmt(v)}")
    for a, b, what in (
        ("mmearth radar_labels_f1", "mmearth mae_labels_f1", "MMEarth radar pretext gain, scene-label F1"),
        (
            "mmearth radar_dominant_acc",
            "mmearth mae_dominant_acc",
            "MMEarth radar pretext gain, land-cover acc",
        ),
        ("mmearth radar_biome_acc", "mmearth mae_biome_acc", "MMEarth radar pretext gain, biome acc"),
        ("mmearth all_biome_acc", "mmearth mae_biome_acc", "MMEarth all-pretext gain, biome acc (held out)"),
        ("skysense full_iou", "skysense image_only_iou", "SkySense pixel+object gain, one-shot IoU"),
        ("skysense full_iou_bilinear", "skysense image_only_iou_bilinear", "  the same, bilinear upsampling"),
        (
            "skysense biome_joint_located",
            "skysense biome_joint_unlocated",
            "SkySense geo-context gain, biome acc",
        ),
        (
            "skysense biome_joint_located",
            "skysense biome_joint_no_geo_trained",
            "  vs a model trained with geo_context=False",
        ),
    ):
        if a in rows and b in rows:
            print(f"{what:44s} {fmt([x - y for x, y in zip(rows[a], rows[b])])}")


if __name__ == "__main__":
    main()
