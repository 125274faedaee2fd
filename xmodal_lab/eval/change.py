"""Change detection scored against known masks, with thresholds chosen on held-out places."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from xmodal_lab.data.changes import collate_changes

MIN_CHANGED = 0.05  # a tile changed when at least this fraction of its pixels did


def _check_modality(modality: str) -> None:
    if modality not in ("s1", "s2", "joint"):
        raise ValueError(f"modality: expected 's1', 's2' or 'joint', got {modality!r}")


def _flat(scores: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    s, t = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(truth).astype(bool).ravel()
    if s.shape != t.shape:
        raise ValueError(f"{s.size} scores but {t.size} truth values")
    if not np.isfinite(s).all():
        raise ValueError("change scores contain NaN or infinite values")
    return s, t


def change_metrics(scores: Any, truth: Any, threshold: float | None = None) -> dict[str, float]:
    """AUC and AP (NaN for one-class truth); with a threshold, precision, recall and F1 of ``score > it``."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score
    s, t = _flat(scores, truth)
    both = 0 < t.sum() < t.size  # AUC and AP need both classes
    auc, ap = (float(f(t, s)) if both else float("nan") for f in (roc_auc_score, average_precision_score))
    out = {"auc": auc, "ap": ap, "positives": int(t.sum()), "n": int(t.size)}
    if threshold is not None:
        pred = s > threshold
        precision, recall, f1, _ = precision_recall_fscore_support(t, pred, average="binary", zero_division=0)
        out.update(threshold=float(threshold), precision=float(precision), recall=float(recall), f1=float(f1))
    return out


def best_threshold(scores: Any, truth: Any) -> float:
    """The threshold with the highest F1 on held-out scores (midpoints between distinct scores)."""
    s, t = _flat(scores, truth)
    if not t.any():
        raise ValueError("best_threshold: the held-out truth has no change; use places with events")
    u = np.unique(s)
    candidates = np.concatenate([[u[0] - 1e-9], (u[:-1] + u[1:]) / 2])
    order = np.argsort(s)
    above = s.size - np.searchsorted(s[order], candidates, side="right")  # predicted "changed" per candidate
    tp = np.concatenate([[0], np.cumsum(t[order][::-1])])[above]  # true changes among the highest scores
    return float(candidates[int(np.argmax(2 * tp / (above + t.sum())))])  # the best F1


@torch.no_grad()
def embedding_change(model: torch.nn.Module, before: dict, after: dict, modality: str = "s1",
                     level: str = "tile") -> Tensor:
    """Cosine distance ``1 - cos`` of two dates' embeddings: ``[B]`` per tile, ``[B, h, w]`` per patch."""
    if level not in ("tile", "patch"):
        raise ValueError(f"level: expected one of ('tile', 'patch'), got {level!r}")
    _check_modality(modality)
    need = ("s1", "s2") if modality == "joint" else (modality,)
    model.eval()
    fn = model.embed if level == "tile" else model.features
    outs = [fn(**{k: batch[k] for k in need}, gsd=batch.get("gsd")) for batch in (before, after)]
    if modality not in outs[0]:
        raise ValueError(f"{type(model).__name__} gives {sorted(outs[0])}, not {modality!r}")
    return 1.0 - F.cosine_similarity(outs[0][modality], outs[1][modality], dim=1, eps=1e-8)


def pixel_difference(before: dict, after: dict, modality: str = "s1") -> Tensor:
    """Log-ratio baseline ``mean_bands |ln(after / before)|`` per pixel ``[B, H, W]``: speckle multiplies."""
    _check_modality(modality)
    diffs = []
    if modality in ("s1", "joint"):
        diffs.append((after["s1"].double() - before["s1"].double()).abs() / (10.0 / np.log(10.0)))
    if modality in ("s2", "joint"):
        eps = 1e-4  # the kit's reflectance floor
        x0, x1 = before["s2"].double().clamp_min(eps), after["s2"].double().clamp_min(eps)
        diffs.append(torch.log(x1 / x0).abs())
    return torch.cat(diffs, dim=1).mean(dim=1).float()


def pool_to_grid(pixels: Tensor, grid: tuple[int, int]) -> Tensor:
    """Average a per-pixel map ``[B, H, W]`` over the cells of a ``grid`` ``(h, w)``."""
    return F.adaptive_avg_pool2d(pixels.float()[:, None], grid)[:, 0]


def change_detection_scores(model: torch.nn.Module | None, data: Dataset | Iterable, modality: str = "s1",
                            batch_size: int = 32) -> dict[str, dict[str, np.ndarray]]:  # fmt: skip
    """``{detector: {"scores", "truth"}}`` per tile, patch and pixel for the model and the pixel baseline."""
    parts: dict[str, dict[str, list]] = {}

    def add(name: str, scores: Tensor, truth: Tensor) -> None:
        for key, value in (("scores", scores), ("truth", truth)):
            parts.setdefault(name, {"scores": [], "truth": []})[key].append(value.flatten().cpu().numpy())

    for batch in DataLoader(data, batch_size=batch_size, collate_fn=collate_changes):
        mask = batch["change_mask"].float()  # [B, H, W]
        diff = pixel_difference(batch["before"], batch["after"], modality)
        tile_truth = mask.mean(dim=(1, 2)) >= MIN_CHANGED
        add("pixel tile", diff.mean(dim=(1, 2)), tile_truth)
        add("pixel pixel", diff, mask > 0)
        if model is not None:
            tile = embedding_change(model, batch["before"], batch["after"], modality)  # [B]
            add("embedding tile", tile, tile_truth)
            patch = embedding_change(model, batch["before"], batch["after"], modality, "patch")  # [B, h, w]
            grid = tuple(patch.shape[-2:])
            patch_truth = pool_to_grid(mask, grid) >= 0.5  # a patch changed when half its pixels did
            add("embedding patch", patch, patch_truth)
            add("pixel patch", pool_to_grid(diff, grid), patch_truth)
    return {name: {key: np.concatenate(v) for key, v in entry.items()} for name, entry in parts.items()}


def change_detection_report(model: torch.nn.Module | None, calibration: Dataset, test: Dataset,
                            modality: str = "s1", batch_size: int = 32) -> dict[str, dict[str, float]]:
    """Each detector's F1-best threshold chosen on ``calibration``, its :func:`change_metrics` on ``test``."""
    calib = change_detection_scores(model, calibration, modality, batch_size)
    scored = change_detection_scores(model, test, modality, batch_size)
    thresholds = {name: best_threshold(c["scores"], c["truth"]) for name, c in calib.items()}
    return {name: change_metrics(e["scores"], e["truth"], thresholds[name]) for name, e in scored.items()}
