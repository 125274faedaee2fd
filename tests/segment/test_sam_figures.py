"""SAM figures say which model drew them, UNTRAINED without a checkpoint, and draw the prompts."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from xmodal_lab import segment as S  # noqa: E402
from xmodal_lab.viz import model_plots as sam_plots  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::xmodal_lab.segment.UntrainedSAMWarning")


@pytest.fixture(scope="module")
def seg():
    return S.SamSegmenter(S.build_sam_arch("tiny"))


@pytest.fixture(scope="module")
def tile():
    rng = np.random.default_rng(0)
    s2 = rng.uniform(0.05, 0.3, size=(12, 32, 32)).astype(np.float32)
    s2[:, 8:24, 4:20] = 0.02
    truth = np.zeros((32, 32), bool)
    truth[8:24, 4:20] = True
    return s2, truth


def _title(fig):
    return fig._suptitle.get_text()


def _markers(ax):
    return {(line.get_marker(), tuple(np.round(line.get_xydata()[0], 3))) for line in ax.get_lines()}


def test_untrained_titles_and_drawn_prompts(seg, tile):
    s2, truth = tile
    seg.set_image(s2)
    out = seg.predict(points=[[10, 12], [28, 2]], labels=[1, 0], box=[4, 8, 20, 24])
    np.testing.assert_array_equal(out.prompt_points, [[10, 12], [28, 2]])
    np.testing.assert_array_equal(out.prompt_labels, [1, 0])
    fig = sam_plots.plot_sam_masks(s2, out, what="point + box prompt", truth=truth)
    assert "UNTRAINED SAM (random weights, no checkpoint)" in _title(fig)
    assert _title(fig).startswith("point + box prompt")
    first = fig.axes[0]
    assert _markers(first) == {("*", (10.0, 12.0)), ("X", (28.0, 2.0))}
    (rect,) = first.patches
    assert (rect.get_width(), rect.get_height()) == (16, 16)
    assert "IoU" in fig.axes[1].get_title() and "SAM's own score" in fig.axes[1].get_title()

    per = S.persam(seg, s2, truth, np.ascontiguousarray(s2[:, :, ::-1]))
    fig = sam_plots.plot_persam(s2, per, truth=truth)
    assert "UNTRAINED" in _title(fig) and "PerSAM" in _title(fig) and per.model_type == "tiny"
    (px, py), (nx, ny) = per.points
    assert _markers(fig.axes[1]) == {("*", (px, py)), ("X", (nx, ny))}


def test_trained_title_names_the_checkpoint(tile):
    s2, _ = tile
    fake = S.SamMasks(np.zeros((1, 32, 32), bool), np.array([0.9]), np.array([0]), False, "vit_b")
    title = _title(sam_plots.plot_sam_masks(s2, fake, what="box prompt"))
    assert "UNTRAINED" not in title and "SAM vit_b (checkpoint)" in title
    assert S.sam_label(fake) == sam_plots.sam_label(fake) == "SAM vit_b (checkpoint)"
    assert sam_plots.UNTRAINED_LABEL == S.UNTRAINED_LABEL


def test_automatic_generator_is_skipped_without_a_checkpoint(seg, tile):
    s2, _ = tile
    with pytest.raises(S.UntrainedSAMError, match="automatic mask generator skipped"):
        seg.automatic(s2)
    assert isinstance(S.UntrainedSAMError("x"), RuntimeError)
    auto = seg.automatic(s2, allow_untrained=True, points_per_side=4)
    fig = sam_plots.plot_sam_masks(s2, auto, what="automatic masks")
    assert "UNTRAINED" in _title(fig) and len(fig.axes[0].get_lines()) == len(auto)


def test_one_shot_figure_says_no_sam(tile):
    s2, truth = tile
    conf = np.random.default_rng(1).normal(size=(2, 32, 32)).astype(np.float32)
    res = S.OneShotResult(
        masks=conf > 0,
        confidence=conf,
        patch_confidence=conf[:, ::8, ::8],
        threshold=0.0,
        reference_iou=1.0,
        positive_points=np.array([[3, 4], [5, 6]]),
        negative_points=np.array([[7, 8], [9, 10]]),
    )
    fig = sam_plots.plot_one_shot(torch.from_numpy(np.stack([s2, s2])), res, 1, truth=truth, baseline=truth)
    assert "no SAM" in _title(fig) and "target 1" in _title(fig)
    assert _markers(fig.axes[0]) == {("*", (5.0, 6.0)), ("X", (9.0, 10.0))}
    assert len(fig.axes) == 3 + 1  # three panels and the confidence colour bar
