import hashlib

import numpy as np
import pytest
import torch

from xmodal_lab import segment as S
from xmodal_lab.errors import CheckpointError
from xmodal_lab.segment import checkpoints
from xmodal_lab.segment.oneshot import cosine_confidence

pytestmark = pytest.mark.filterwarnings("ignore::xmodal_lab.segment.UntrainedSAMWarning")


@pytest.fixture(scope="module")
def tiny():
    return S.build_sam_arch("tiny")


@pytest.fixture(scope="module")
def s2_tile():
    rng = np.random.default_rng(0)
    s2 = rng.uniform(0.05, 0.3, size=(12, 32, 32)).astype(np.float32)
    s2[:, 8:24, 4:20] = 0.02  # a dark "lake"
    return s2


def test_build_sam_without_checkpoint_falls_back_to_tiny_untrained(capsys):
    with pytest.warns(S.UntrainedSAMWarning, match="TINY UNTRAINED"):
        sam = S.build_sam(device="cpu")
    printed = capsys.readouterr().out
    assert S.SAM_CHECKPOINTS["vit_b"].url in printed
    assert str(S.sam_cache_dir() / "sam_vit_b_01ec64.pth") in printed
    assert sam.untrained is True and sam.model_type == "tiny"
    assert sam.image_encoder.img_size == 128 and sam.prompt_encoder.image_embedding_size == (8, 8)
    assert sum(p.numel() for p in sam.parameters()) < 200_000
    assert sam.device == torch.device("cpu")


def test_missing_checkpoint_names_path_and_url(tmp_path):
    missing = tmp_path / "nowhere" / "sam_vit_l.pth"
    with pytest.raises(FileNotFoundError) as err:
        S.build_sam(checkpoint=missing, model_type="vit_l")
    assert str(missing) in str(err.value) and S.SAM_CHECKPOINTS["vit_l"].url in str(err.value)
    with pytest.raises(ValueError, match="model_type"):
        S.build_sam(model_type="vit_xl")


def test_checkpoint_in_the_published_layout_loads_safely(tmp_path, tiny, monkeypatch):
    # segment-anything publishes a plain state dict (torch.save of Sam.state_dict()) named sam_vit_b_01ec64.pth;
    # the vit_b architecture is shrunk to the tiny one so the file stays small
    monkeypatch.setitem(checkpoints.SAM_ARCHS, "vit_b", checkpoints.SAM_ARCHS["tiny"])
    state = {k: v + 0.5 for k, v in S.build_sam_arch("vit_b").state_dict().items()}  # differ from the init
    assert "image_encoder.patch_embed.proj.weight" in state and "mask_decoder.iou_token.weight" in state
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(state, path)
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    sam = S.build_sam(checkpoint=path, model_type="vit_b", device="cpu")
    assert seen["map_location"] == torch.device("cpu") and seen["weights_only"] is True
    for k, v in sam.state_dict().items():
        torch.testing.assert_close(v, state[k])
    assert sam.untrained is False and sam.model_type == "vit_b"
    torch.save(tiny.state_dict(), tmp_path / "tiny.pth")
    assert S.build_sam(checkpoint=tmp_path / "tiny.pth", model_type="tiny", device="cpu").untrained is True


_RAN = []


def _payload():
    _RAN.append(True)
    return {}


class _CodeOnLoad:
    def __reduce__(self):
        return (_payload, ())


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save({"image_encoder.pos_embed": torch.zeros(1), "extra": _CodeOnLoad()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        S.build_sam(checkpoint=path, model_type="tiny", device="cpu")
    assert not _RAN
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="SAM checkpoint"):
        S.build_sam(checkpoint=path, model_type="tiny", device="cpu")


def test_checkpoint_of_the_wrong_size_says_which_it_is(tmp_path, tiny):
    path = tmp_path / "tiny.pth"
    torch.save(tiny.state_dict(), path)
    with pytest.raises(ValueError, match="model_type='tiny'"):
        S.build_sam(checkpoint=path, model_type="vit_b", device="cpu")


def test_cached_checkpoint_is_found(tmp_path, tiny, monkeypatch):
    fake = S.SamCheckpoint("https://example.invalid/tiny.pth", "tiny_cached.pth", "0" * 32, 1)
    monkeypatch.setitem(S.SAM_CHECKPOINTS, "tiny", fake)
    state = {k: v * 0 + 0.25 for k, v in tiny.state_dict().items()}
    torch.save(state, S.sam_cache_dir() / fake.filename)
    sam = S.build_sam(model_type="tiny", device="cpu")
    assert float(sam.mask_decoder.iou_token.weight[0, 0].detach()) == 0.25


def test_download_offline_checksum_and_success(monkeypatch):
    ck = S.SAM_CHECKPOINTS["vit_b"]
    dest = S.sam_cache_dir() / ck.filename

    def offline(url, part, timeout):
        part.write_bytes(b"partial")
        raise ConnectionError("no network")

    monkeypatch.setattr(checkpoints, "_fetch", offline)
    with pytest.warns(RuntimeWarning, match="skipped"):
        assert S.download_sam_checkpoint("vit_b") is None
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()

    payload = b"not really a checkpoint"
    monkeypatch.setattr(checkpoints, "_fetch", lambda url, part, timeout: part.write_bytes(payload))
    with pytest.raises(ValueError, match="corrupt"):
        S.download_sam_checkpoint("vit_b")
    assert not dest.exists()

    monkeypatch.setitem(
        S.SAM_CHECKPOINTS, "vit_b", S.SamCheckpoint(ck.url, ck.filename, hashlib.md5(payload).hexdigest(), 1)
    )
    assert S.download_sam_checkpoint("vit_b") == dest and dest.read_bytes() == payload
    dest.unlink()


@pytest.mark.slow
def test_download_real_checkpoint():
    path = S.download_sam_checkpoint("vit_b")
    if path is None:
        pytest.skip("offline")
    sam = S.build_sam(checkpoint=path, model_type="vit_b", device="cpu")
    assert sam.untrained is False


def test_point_box_and_automatic_masks(tiny, s2_tile):
    seg = S.SamSegmenter(tiny).set_image(s2_tile)
    assert seg.image.shape == (32, 32, 3) and seg.image.dtype == np.uint8
    with pytest.warns(S.UntrainedSAMWarning):
        out = seg.points([[10, 12]])
    assert out.untrained and out.model_type == "tiny" and "UNTRAINED" in repr(out)
    assert out.masks.shape == (3, 32, 32) and out.masks.dtype == bool
    assert out.scores.shape == (3,) and out.low_res_logits.shape == (3, 32, 32)
    np.testing.assert_array_equal(out.areas, out.masks.sum(axis=(1, 2)))
    assert seg.box([4, 8, 19, 23]).masks.shape == (1, 32, 32)
    two = seg.predict([[10, 12], [28, 2]], labels=[1, 0], mask_input=out.low_res_logits[:1], multimask=False)
    assert len(two) == 1
    auto = seg.automatic(points_per_side=4, allow_untrained=True)
    assert auto.untrained and auto.masks.shape[1:] == (32, 32) and len(auto) >= 1
    assert (np.diff(auto.areas) <= 0).all() and auto.points.shape == (len(auto), 2)
    with pytest.raises(ValueError, match="prompt"):
        seg.predict()


def test_set_image_reuses_the_embedding_and_renders_radar(tiny, s2_tile):
    seg = S.SamSegmenter(tiny).set_image(s2_tile)
    first = seg.embedding()
    assert seg.set_image(s2_tile.copy()).embedding() is first  # same pixels: no second encoder pass
    s1 = np.full((2, 32, 32), -15.0, np.float32)
    s1[:, :16] = -24.0
    assert seg.set_image(s1).embedding() is not first
    assert seg.image[0, 0, 0] < seg.image[31, 0, 0]  # water (top rows) darker in the radar composite
    with pytest.raises(ValueError, match="12, H, W"):
        seg.set_image(np.zeros((5, 32, 32), np.float32))


def test_automatic_settings_for_eo():
    assert S.automatic_settings(32)["points_per_side"] == 8
    assert S.automatic_settings(1024)["points_per_side"] == 32
    trained = S.automatic_settings(64)
    assert trained["pred_iou_thresh"] < 0.88 and trained["stability_score_thresh"] < 0.95
    untrained = S.automatic_settings(64, untrained=True, box_nms_thresh=0.5)
    assert untrained["pred_iou_thresh"] == 0 and untrained["stability_score_thresh"] == 0
    assert untrained["box_nms_thresh"] == 0.5


def test_persam_on_sentinel_tiles_points_and_cascade(tiny, s2_tile):
    mask = np.zeros((32, 32), bool)
    mask[8:24, 4:20] = True
    seg = S.SamSegmenter(tiny)
    per = S.PerSAM(seg, s2_tile, mask)
    # the 32 px tile becomes 128 px, so each 16 px embedding cell is 4x4 tile pixels and this mask holds 4x4 cells
    emb = seg.embedding()[0]
    torch.testing.assert_close(per.target, emb[:, 2:6, 1:5].mean(dim=(1, 2)))

    target = np.ascontiguousarray(s2_tile[:, :, ::-1])  # the lake moved to the right
    with pytest.warns(S.UntrainedSAMWarning):
        res = per(target)
    assert res.untrained and "UNTRAINED" in repr(res)
    assert res.mask.shape == (32, 32) and res.confidence.shape == (32, 32)
    assert list(res.stages) == ["guided", "mask_refined", "box_refined"]
    grid = cosine_confidence(seg.embedding(), per.target)[0]
    # Bilinear resampling of the grid map never leaves its range.
    assert float(grid.min()) - 1e-5 <= res.confidence.min() < res.confidence.max() <= float(grid.max()) + 1e-5
    (px, py), (nx, ny) = res.points.astype(int)
    assert res.confidence[py, px] == res.confidence.max() and res.confidence[ny, nx] == res.confidence.min()
    plain = S.persam(seg, s2_tile, mask, target, guided_attention=False, semantic_prompt=False, cascade=False)
    assert list(plain.stages) == ["guided"]
    with pytest.raises(ValueError, match="reference_mask"):
        S.PerSAM(seg, s2_tile, mask[:16])
