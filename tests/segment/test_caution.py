"""The boundary-overestimation metrics against hand-computed references, and the study on SAM's own masks."""

import numpy as np
import pytest
import torch

from xmodal_lab import segment as S
from xmodal_lab.segment import checkpoints


def _squares():
    true = np.zeros((10, 10), bool)
    true[2:6, 2:6] = True  # 4 x 4 = 16 pixels, a ring of 12 boundary pixels
    pred = np.zeros((10, 10), bool)
    pred[1:7, 1:7] = True  # 6 x 6 = 36 pixels, a ring of 20 boundary pixels, one pixel outside the truth
    return pred, true


def test_area_ratio_by_hand():
    pred, true = _squares()
    assert S.area_ratio(pred, true) == pytest.approx(36 / 16)
    assert S.area_ratio(true, true) == 1.0
    with pytest.raises(ValueError, match="empty"):
        S.area_ratio(pred, np.zeros_like(true))
    with pytest.raises(ValueError, match="same shape"):
        S.area_ratio(pred, true[:5])


def test_boundary_is_the_inner_ring():
    _, true = _squares()
    ring = S.mask_boundary(true)
    assert ring.sum() == 12 and not ring[3:5, 3:5].any() and ring[2, 2:6].all()


def test_boundary_f_score_by_hand():
    pred, true = _squares()
    # Tolerance 1: 16 of the 20 predicted ring pixels are 1 px from the true ring; its 4 corners are
    # sqrt(2) from the true corners. Every true ring pixel has a predicted ring pixel 1 px outside it.
    p, r, f = S.boundary_f_score(pred, true, tolerance=1)
    assert p == pytest.approx(16 / 20) and r == pytest.approx(1.0)
    assert f == pytest.approx(2 * 0.8 * 1.0 / 1.8)
    # Tolerance 1.5 also reaches the corners; tolerance 0 demands identical boundaries.
    assert S.boundary_f_score(pred, true, tolerance=1.5) == pytest.approx((1.0, 1.0, 1.0))
    assert S.boundary_f_score(pred, true, tolerance=0) == (0.0, 0.0, 0.0)
    assert S.boundary_f_score(true, true, tolerance=0) == (1.0, 1.0, 1.0)
    empty = np.zeros_like(true)
    assert S.boundary_f_score(empty, empty) == (1.0, 1.0, 1.0)
    assert S.boundary_f_score(empty, true) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="tolerance"):
        S.boundary_f_score(pred, true, tolerance=-1)


def test_object_prompts_box_edges_and_interior_point():
    m = np.zeros((12, 12), bool)
    m[3:8, 2:11] = True  # 5 rows x 9 columns
    box, point = S.object_prompts(m)
    np.testing.assert_array_equal(box, [2, 3, 11, 8])  # outer pixel edges: width 9, height 5
    x, y = point.astype(int)
    assert y == 5 and 4 <= x <= 8  # the middle row, away from the short sides


def _scene(seed):
    rng = np.random.default_rng(seed)
    s2 = rng.uniform(0.15, 0.3, size=(12, 32, 32)).astype(np.float32)
    truth = np.zeros((32, 32), bool)
    y, x = rng.integers(4, 14, size=2)
    truth[y : y + 12, x : x + 12] = True
    s2[:, truth] = 0.02  # a dark "lake"
    return s2, truth


def test_study_refuses_an_untrained_sam_and_runs_with_a_checkpoint(tmp_path, monkeypatch):
    tiles, truths = zip(*[_scene(s) for s in range(3)])
    with pytest.warns(S.UntrainedSAMWarning):
        untrained = S.SamSegmenter(S.build_sam(device="cpu"))
    with pytest.raises(S.UntrainedSAMError, match="trained SAM checkpoint"):
        S.sam_boundary_study(untrained, tiles, truths)

    # A checkpoint in the published layout: vit_b's file name in the cache, SAM's state-dict keys; the
    # architecture is shrunk to the tiny one so the test stays fast.
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(checkpoints.SAM_ARCHS, "vit_b", checkpoints.SAM_ARCHS["tiny"])
    torch.save(S.build_sam_arch("vit_b").state_dict(), S.sam_cache_dir() / "sam_vit_b_01ec64.pth")
    seg = S.SamSegmenter(S.build_sam(device="cpu"))
    assert not seg.untrained and seg.model_type == "vit_b"
    study = S.sam_boundary_study(seg, tiles, truths, tolerance=1)
    assert len(study.per_object) == 3 and not study.untrained and "vit_b" in str(study)
    # The pooled numbers follow from SAM's own masks by the definitions above.
    assert study.area_ratio == pytest.approx(study.masks.sum() / study.truth.sum())
    for k, row in enumerate(study.per_object):
        assert row["boundary_f"] == pytest.approx(S.boundary_f_score(study.masks[k], truths[k], 1)[2])
        np.testing.assert_array_equal(study.truth[k], truths[k])
    assert study.boundary_f == pytest.approx(np.mean([r["boundary_f"] for r in study.per_object]))
    auto = seg.automatic(tiles[0])  # with a checkpoint the automatic generator runs
    assert auto.masks.shape[1:] == (32, 32) and not auto.untrained


def test_boundary_study_figure_draws_prompts_and_names_the_model(tmp_path, monkeypatch):
    from xmodal_lab.viz import model_plots as sam_plots

    tiles, truths = zip(*[_scene(s) for s in range(2)])
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(checkpoints.SAM_ARCHS, "vit_b", checkpoints.SAM_ARCHS["tiny"])
    torch.save(S.build_sam_arch("vit_b").state_dict(), S.sam_cache_dir() / "sam_vit_b_01ec64.pth")
    study = S.sam_boundary_study(S.SamSegmenter(S.build_sam(device="cpu")), tiles, truths)
    fig = sam_plots.plot_boundary_study(tiles, study)
    title = fig._suptitle.get_text()
    assert "SAM vit_b (checkpoint)" in title and f"x{study.area_ratio:.2f}" in title
    for k, ax in enumerate(fig.axes):
        (rect,) = ax.patches
        x0, y0, x1, y1 = study.boxes[k]
        assert (rect.get_width(), rect.get_height()) == (x1 - x0, y1 - y0) == (12, 12)
        np.testing.assert_array_equal(ax.get_lines()[0].get_xydata()[0], study.points[k])
