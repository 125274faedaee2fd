"""Inputs that used to give a silent wrong answer now get one of the kit's errors naming the argument and fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.errors import InputTypeError, InputValueError, NodataError
from xmodal_lab.eval import (
    confusion_matrix,
    embed_raster,
    knn_accuracy,
    retrieval_metrics,
    scores_from_confusion,
    segmentation_scores,
)

RNG = np.random.default_rng(0)
E6 = RNG.normal(size=(6, 8))


@pytest.mark.parametrize("ks", [(6,), (1, 10)])
def test_recall_at_k_of_the_whole_gallery_is_refused(ks):
    with pytest.raises(InputValueError, match=r"k=\d+.*N=6"):
        retrieval_metrics(E6, E6 + 1, ks=ks)


def test_default_recalls_keep_only_the_ks_below_n():
    m = retrieval_metrics(E6, E6)
    assert set(m) == {"recall@1", "recall@5", "median_rank", "mrr"}  # recall@10 of 6 items would be 1.0
    assert retrieval_metrics(E6, E6[::-1], ks=(5,))["recall@5"] < 1.0


@pytest.mark.parametrize("temperature", [None, 0.07])
def test_knn_with_more_neighbours_than_training_items_is_refused(temperature):
    x, y = RNG.normal(size=(4, 8)), np.array([0, 1, 1, 1])
    with pytest.raises(InputValueError, match=r"k=5.*4 training"):
        knn_accuracy(x, y, x, y, k=5, temperature=temperature)
    assert 0.0 <= knn_accuracy(x, y, x, y, k=3, temperature=temperature) <= 1.0


@pytest.mark.parametrize("kw", [{"stride": 16.5}, {"tile": 32.0}, {"stride": True}])
def test_embed_raster_refuses_non_integer_tile_and_stride(kw, tmp_path):
    with pytest.raises(InputTypeError, match="tile|stride"):
        embed_raster(torch.nn.Identity(), tmp_path / "s1.tif", tmp_path / "s2.tif", None, **kw)


def test_scores_over_no_labelled_pixel_are_refused():
    target = np.full((4, 4), -1)
    with pytest.raises(InputValueError, match="no labelled pixel.*ignore_index"):
        segmentation_scores(np.zeros((4, 4), int), target, 2)
    with pytest.raises(InputValueError, match="no labelled pixel"):
        scores_from_confusion(np.zeros((2, 2)))
    s = scores_from_confusion(
        np.array([[3, 0], [0, 0]])
    )  # an absent class is still NaN, left out of the mean
    assert np.isnan(s["iou"]["1"]) and s["mIoU"] == 1.0


def test_float_probabilities_as_predictions_are_refused():
    probs = np.array([[0.9, 0.2], [0.6, 0.4]])
    with pytest.raises(InputTypeError, match="pred.*argmax"):
        confusion_matrix(probs, np.array([[1, 0], [1, 0]]), 2)
    cm = confusion_matrix(np.array([[1.0, 0.0]]), np.array([[1, 0]]), 2)  # whole-number floats are class ids
    np.testing.assert_array_equal(cm, [[1, 0], [0, 1]])


@pytest.fixture(scope="module")
def seg():
    from xmodal_lab.segment import SamSegmenter, build_sam

    return SamSegmenter(build_sam(device="cpu")).set_image(np.full((64, 48, 3), 120, np.uint8))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"points": np.zeros((0, 2))}, "points.*empty|no point"),
        ({"points": [[np.nan, 3.0]]}, "points.*NaN"),
        ({"points": [[50.0, 10.0]]}, "points.*outside"),  # x beyond the 48-pixel width
        ({"points": [[10.0, -1.0]]}, "points.*outside"),
        ({"points": [[10.0, 10.0]], "labels": [2]}, "labels.*0 or 1"),
        ({"box": (30, 5, 10, 20)}, "box.*x1.*x0"),
        ({"box": (5, 30, 20, 10)}, "box.*y1.*y0"),
        ({"box": (0, 0, np.nan, 10)}, "box.*NaN"),
    ],
)
def test_sam_prompts_are_checked(seg, kw, match):
    with pytest.raises(InputValueError, match=match):
        seg.predict(**kw)


def test_sam_good_prompts_still_work(seg):
    assert seg.predict(points=[[10.0, 20.0]], labels=[1]).masks.shape[-2:] == (64, 48)
    assert seg.predict(box=(2, 3, 40, 60)).masks.shape[-2:] == (64, 48)


def test_nan_tile_is_refused_by_sam_and_persam(seg):
    from xmodal_lab.segment import persam

    nan_tile = np.full((12, 32, 32), np.nan, np.float32)
    with pytest.raises(NodataError, match="image.*NaN"):
        seg.set_image(nan_tile)
    good = np.random.default_rng(1).uniform(0, 0.3, size=(12, 32, 32)).astype(np.float32)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 8:20] = True
    with pytest.raises(NodataError, match="NaN"):
        persam(seg.sam, good, mask, nan_tile)
