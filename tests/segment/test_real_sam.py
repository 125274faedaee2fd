"""The published-weights path of lesson 06, without a download: a generated checkpoint in the official layout."""

import dataclasses

import numpy as np
import pytest
import torch

import xmodal_lab as xl
from xmodal_lab import segment as S
from xmodal_lab.segment import checkpoints

pytestmark = pytest.mark.filterwarnings("ignore::xmodal_lab.segment.UntrainedSAMWarning")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty private cache, and a vit_b architecture small enough to save and load in a test."""
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    small = dataclasses.replace(checkpoints.SAM_ARCHS["tiny"])
    monkeypatch.setitem(checkpoints.SAM_ARCHS, "vit_b", small)
    return tmp_path / "cache" / "sam"


def _publish(path, seed=1):
    """Write a SAM state dict as the official files hold it: a plain ``{name: tensor}`` dict."""
    sam = S.build_sam_arch("vit_b")
    with torch.no_grad():
        torch.manual_seed(seed)
        for p in sam.parameters():
            p.add_(0.01 * torch.randn_like(p))  # weights that differ from build_sam_arch's seeded ones
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sam.state_dict(), path)
    return sam.state_dict()


def test_no_checkpoint_means_the_untrained_path(cache):
    assert not S.real_sam_available()
    sam = S.build_sam(device="cpu")
    assert sam.untrained and sam.model_type == "tiny"


def test_a_file_with_another_name_is_not_the_checkpoint(cache):
    _publish(cache / "sam_vit_b.pth")
    assert not S.real_sam_available()
    assert S.build_sam(device="cpu").untrained


def test_the_official_file_in_the_cache_is_found_and_loaded(cache):
    state = _publish(cache / S.SAM_CHECKPOINTS["vit_b"].filename)
    assert S.real_sam_available("vit_b")
    assert not S.real_sam_available("vit_l")
    sam = S.build_sam(device="cpu")
    assert not sam.untrained and sam.model_type == "vit_b"
    assert S.sam_label(sam) == "SAM vit_b (checkpoint)"
    loaded = sam.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


@pytest.fixture(scope="module")
def real_pairs():
    ben = xl.data.BigEarthNetMM(xl.config.data_dir() / "bigearthnet_mm")
    return [ben[i] for i in range(len(ben))]


def test_real_composite_study_runs_with_the_loaded_weights(cache, real_pairs):
    _publish(cache / S.SAM_CHECKPOINTS["vit_b"].filename)
    segmenter = S.SamSegmenter(S.build_sam(device="cpu"))
    study = S.real_composite_study(segmenter, real_pairs)
    # the bundled pairs: five have dense vegetation (NDVI > 0.7) on 5-95 % of their pixels, one is a lake shore
    assert study.n_tiles == 5 and study.concept == "ndvi > 0.7" and study.model_type == "vit_b"
    assert 0.0 <= study.zero_shot_iou <= 1.0 and 0.0 <= study.persam_iou <= 1.0
    assert study.boundary.area_ratio > 0 and not study.boundary.untrained
    assert "zero-shot" in str(study) and "PerSAM" in str(study)


def test_real_composite_study_refuses_an_untrained_sam(cache, real_pairs):
    with pytest.raises(S.UntrainedSAMError, match="download_sam_checkpoint"):
        S.real_composite_study(S.SamSegmenter(S.build_sam(device="cpu")), real_pairs)


def test_real_composite_study_needs_two_tiles_with_the_concept(cache, real_pairs):
    _publish(cache / S.SAM_CHECKPOINTS["vit_b"].filename)
    segmenter = S.SamSegmenter(S.build_sam(device="cpu"))
    with pytest.raises(xl.errors.InputValueError, match="need 2"):
        S.real_composite_study(segmenter, real_pairs, band="ndwi", threshold=0.9)
    assert np.isfinite(S.real_composite_study(segmenter, real_pairs[:2], threshold=0.5).persam_iou)
