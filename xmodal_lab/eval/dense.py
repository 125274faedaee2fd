"""Dense (per-pixel) scores: confusion matrix, IoU and F1 per class; ``ignore_index`` pixels never count."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from xmodal_lab.data.collate import collate_pairs
from xmodal_lab.errors import InputTypeError, InputValueError


def _class_ids(x: Any, name: str) -> torch.Tensor:
    """A flat long tensor of class ids; refuses floats that are not whole numbers (probabilities, logits)."""
    t = torch.as_tensor(x.detach().cpu() if isinstance(x, torch.Tensor) else np.asarray(x)).flatten()
    if t.is_floating_point() and not bool((t == t.round()).all()):
        raise InputTypeError(f"{name}: expected class ids, got fractional floats (probabilities or logits?); "
                             "pass the class map, e.g. probs.argmax(axis=1)")
    return t.long()


def confusion_matrix(pred: Any, target: Any, num_classes: int, ignore_index: int = -1) -> np.ndarray:
    """Pixel counts ``[K, K]`` (row = true class, column = predicted) of two class maps of one shape."""
    pred, target = _class_ids(pred, "pred"), _class_ids(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred has {pred.numel()} pixels but target {target.numel()}")
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    for name, x in (("pred", pred), ("target", target)):
        if x.numel() and (x.min() < 0 or x.max() >= num_classes):
            got = f"{int(x.min())}..{int(x.max())}"
            raise ValueError(f"{name}: class ids must lie in 0..{num_classes - 1}, got {got}")
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).numpy().astype(np.int64)


def scores_from_confusion(cm: np.ndarray, class_names: list[str] | None = None) -> dict[str, Any]:
    """IoU and F1 per class (NaN when absent, left out of the means), their means and accuracy."""
    cm = np.asarray(cm, dtype=np.float64)
    names = class_names or [str(i) for i in range(cm.shape[0])]
    if len(names) != cm.shape[0]:
        raise ValueError(f"class_names: expected {cm.shape[0]} names, got {len(names)}")
    if not cm.sum():
        raise InputValueError(
            "scores: no labelled pixel (every target pixel is ignore_index or the confusion matrix is empty); "
            "score images that hold labelled pixels, or check ignore_index")
    tp = np.diag(cm)
    fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        f1 = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return {
        "iou": dict(zip(names, iou.tolist())), "f1": dict(zip(names, f1.tolist())),
        "mIoU": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "mF1": float(np.nanmean(f1)) if np.isfinite(f1).any() else float("nan"),
        "accuracy": float(tp.sum() / cm.sum()), "pixels": int(cm.sum()),
    }  # fmt: skip


def segmentation_scores(pred: Any, target: Any, num_classes: int, ignore_index: int = -1,
                        class_names: list[str] | None = None) -> dict[str, Any]:
    """:func:`scores_from_confusion` of predicted against true class maps."""
    return scores_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index), class_names)


@torch.no_grad()
def evaluate_segmentation(model: torch.nn.Module, data: Dataset, batch_size: int = 64) -> dict[str, Any]:
    """Score a segmentation model (``num_classes``, ``predict(batch) -> [B, H, W]``) on labelled pairs."""
    if len(data) == 0:
        raise ValueError("evaluate_segmentation: the dataset is empty")
    k = int(model.num_classes)
    cm = np.zeros((k, k), dtype=np.int64)
    for batch in DataLoader(data, batch_size=batch_size, collate_fn=collate_pairs):
        if "mask" not in batch:
            raise KeyError("evaluate_segmentation: the items have no 'mask' labels")
        cm += confusion_matrix(model.predict(batch), batch["mask"], k)
    return scores_from_confusion(cm)


def band_threshold_baseline(labelled: Dataset, test: Dataset) -> dict[str, Any]:
    """The one-band water map ``VV < t`` every flood map should beat; ``t``: best mIoU of 101 VV quantiles."""
    if len(labelled) == 0 or len(test) == 0:
        raise ValueError("band_threshold_baseline: the labelled and the test scenes must not be empty")

    def stack(data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        items = [data[i] for i in range(len(data))]
        values = torch.stack([it["s1"][0] for it in items]).flatten()
        return values, torch.stack([it["mask"] for it in items]).flatten().long()

    x, y = stack(labelled)
    keep = y != -1
    if not keep.any():
        raise ValueError("band_threshold_baseline: the labelled scenes have no labelled pixel")
    x, y = x[keep], y[keep]
    candidates = torch.quantile(x, torch.linspace(0.01, 0.99, 101))
    best = max(candidates.tolist(), key=lambda t: segmentation_scores(x < t, y, 2)["mIoU"])
    xt, yt = stack(test)
    return {**segmentation_scores(xt < best, yt, 2), "threshold": float(best)}
