"""Per-class IoU and F1 against scikit-learn, no-data pixels, and scoring a model over a dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, jaccard_score

from xmodal_lab.eval.dense import confusion_matrix, evaluate_segmentation, segmentation_scores


def test_iou_and_f1_match_scikit_learn_and_skip_nodata():
    rng = np.random.default_rng(0)
    target = rng.integers(-1, 3, size=(4, 16, 16))
    pred = np.where(rng.random((4, 16, 16)) < 0.7, np.maximum(target, 0), rng.integers(0, 3, (4, 16, 16)))
    scores = segmentation_scores(
        torch.from_numpy(pred), torch.from_numpy(target), 3, class_names=["a", "b", "c"]
    )
    keep = target.ravel() >= 0
    t, p = target.ravel()[keep], pred.ravel()[keep]
    ref_iou = jaccard_score(t, p, average=None, labels=[0, 1, 2])
    ref_f1 = f1_score(t, p, average=None, labels=[0, 1, 2])
    assert np.allclose([scores["iou"][k] for k in "abc"], ref_iou)
    assert np.allclose([scores["f1"][k] for k in "abc"], ref_f1)
    assert math.isclose(scores["mIoU"], ref_iou.mean()) and math.isclose(scores["mF1"], ref_f1.mean())
    assert math.isclose(scores["accuracy"], float((t == p).mean()))
    assert scores["pixels"] == keep.sum()


def test_iou_and_f1_match_torchmetrics():
    from torchmetrics.classification import MulticlassF1Score, MulticlassJaccardIndex

    g = torch.Generator().manual_seed(1)
    target = torch.randint(-1, 4, (3, 12, 12), generator=g)
    noise = torch.randint(0, 4, (3, 12, 12), generator=g)
    pred = torch.where(torch.rand(3, 12, 12, generator=g) < 0.6, target.clamp(min=0), noise)
    scores = segmentation_scores(pred, target, 4)
    iou = MulticlassJaccardIndex(4, average="none", ignore_index=-1)(pred, target)
    f1 = MulticlassF1Score(4, average="none", ignore_index=-1, multidim_average="global")(pred, target)
    assert np.allclose([scores["iou"][str(k)] for k in range(4)], iou.numpy(), atol=1e-6)
    assert np.allclose([scores["f1"][str(k)] for k in range(4)], f1.numpy(), atol=1e-6)
    assert scores["mIoU"] == pytest.approx(float(iou.mean()), abs=1e-6)


def test_known_confusion_matrix_and_absent_class():
    pred = torch.tensor([0, 0, 1, 1, 1])
    target = torch.tensor([0, 1, 1, 1, -1])
    cm = confusion_matrix(pred, target, 3)
    assert cm.tolist() == [[1, 0, 0], [1, 2, 0], [0, 0, 0]]
    s = segmentation_scores(pred, target, 3)
    assert s["iou"]["0"] == pytest.approx(0.5) and s["iou"]["1"] == pytest.approx(2 / 3)
    assert math.isnan(s["iou"]["2"]) and s["mIoU"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_bad_class_ids_are_named():
    with pytest.raises(ValueError, match="class ids"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match="pixels"):
        confusion_matrix(torch.zeros(3), torch.zeros(4), 2)


class _Threshold(torch.nn.Module):
    """A 'model' that calls a pixel water when VV is below -15 dB."""

    num_classes = 2

    def predict(self, batch):
        return (batch["s1"][:, 0] < -15).long()


def test_evaluate_segmentation_over_a_dataset():
    items = []
    for i in range(5):
        mask = torch.zeros(8, 8, dtype=torch.long)
        mask[: i + 1] = 1
        s1 = torch.where(mask.bool(), -20.0, -8.0)[None].repeat(2, 1, 1)
        mask[0, 0] = -1
        items.append({"s1": s1, "mask": mask})
    s = evaluate_segmentation(_Threshold(), items, batch_size=2)
    assert s["iou"]["1"] == 1.0 and s["pixels"] == 5 * 64 - 5
    with pytest.raises(ValueError, match="empty"):
        evaluate_segmentation(_Threshold(), [])


def test_band_threshold_baseline_finds_the_separating_threshold():
    from xmodal_lab.eval.dense import band_threshold_baseline

    g = torch.Generator().manual_seed(0)

    def scene(n: int) -> list[dict]:
        items = []
        for _ in range(n):
            mask = (torch.rand(8, 8, generator=g) < 0.5).long()
            vv = torch.where(mask == 1, -20.0, -8.0) + torch.rand(8, 8, generator=g)  # water < -19, land > -8
            items.append({"s1": torch.stack([vv, vv - 6]), "mask": mask})
        return items

    labelled, test = scene(4), scene(4)
    out = band_threshold_baseline(labelled, test)
    assert -19.0 <= out["threshold"] <= -8.0 and out["mIoU"] == 1.0
    test[0]["mask"][:] = -1  # unlabelled pixels are not scored
    assert band_threshold_baseline(labelled, test)["pixels"] == 3 * 64
    with pytest.raises(ValueError, match="empty"):
        band_threshold_baseline([], test)
