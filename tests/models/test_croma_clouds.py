"""CROMA's cloud masking (a kit variant): dropped optical patches are skipped exactly as pretraining drops
hidden patches, a tile with no clear patch gets no cross-attention, and the default stays the paper's."""

from __future__ import annotations

import copy

import pytest
import torch
from model_helpers import make_pairs

from xmodal_lab.data import BorrowedCloudMasks, SimulatedWorld
from xmodal_lab.eval import embed_dataset
from xmodal_lab.models import CloudMaskedCROMA, build
from xmodal_lab.models.croma_clouds import cloud_tokens
from xmodal_lab.models.masking import gather_tokens
from xmodal_lab.models.positions import masked_alibi

N = 16  # 32 px tiles, patch 8: a 4 x 4 grid


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("croma", "tiny").eval()


@pytest.fixture(scope="module")
def clouds(model):
    return CloudMaskedCROMA(model)


@pytest.fixture(scope="module")
def pairs():
    return make_pairs(3, 32)


def test_keeping_every_patch_is_the_papers_unmasked_inference(model, clouds, pairs):
    with torch.no_grad():
        plain = model.encode(pairs["s1"], pairs["s2"])
        assert clouds.encode(pairs["s1"], pairs["s2"]).keys() == plain.keys()
        kept = clouds.encode(pairs["s1"], pairs["s2"], optical_mask=torch.zeros(3, N, dtype=torch.bool))
    for key in ("optical_encodings", "optical_GAP", "joint_encodings", "joint_GAP"):
        torch.testing.assert_close(kept[key], plain[key], atol=1e-5, rtol=1e-5)


def test_dropping_patches_equals_encoding_only_the_kept_ones(model, clouds, pairs):
    # the pretraining path: gather the kept tokens and their ALiBi rows / columns (X-ALiBi for the cross)
    g = torch.Generator().manual_seed(1)
    keep = torch.stack([torch.randperm(N, generator=g)[:6].sort().values for _ in range(3)])  # [3, 6]
    drop = torch.ones(3, N, dtype=torch.bool).scatter(1, keep, False)
    with torch.no_grad():
        masked = clouds.encode(pairs["s1"], pairs["s2"], optical_mask=drop)
        x1, x2 = model.norm_s1(pairs["s1"]), model.norm_s2(pairs["s2"])
        bias = model.alibi((4, 4), x1.device)
        sar = model.radar_encoder(x1, bias)
        optical = model.optical_encoder(x2, masked_alibi(bias, keep, keep), keep)  # [3, 6, D]
        all_radar = torch.arange(N).expand(3, N)
        joint = model.cross_encoder(sar, optical, bias, masked_alibi(bias, all_radar, keep))
        gap = model.gap_ffn_optical(optical.mean(dim=1))
    torch.testing.assert_close(
        gather_tokens(masked["optical_encodings"], keep), optical, atol=1e-5, rtol=1e-4
    )
    torch.testing.assert_close(masked["joint_encodings"], joint, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(masked["optical_GAP"], gap, atol=1e-5, rtol=1e-4)


def test_pixels_of_dropped_patches_no_longer_reach_the_joint_embedding(model, clouds, pairs):
    drop = torch.zeros(3, N, dtype=torch.bool)
    drop[:, :8] = True  # the top two patch rows
    s2 = pairs["s2"].clone()
    s2[:, :, :16] = 0.8  # a bright cloud over exactly those rows
    with torch.no_grad():
        a = clouds.embed(pairs["s1"], pairs["s2"], optical_mask=drop)
        b = clouds.embed(pairs["s1"], s2, optical_mask=drop)
        maps = clouds.features(pairs["s1"], s2, optical_mask=drop)
        plain_a, plain_b = model.embed(pairs["s1"], pairs["s2"]), model.embed(pairs["s1"], s2)
    torch.testing.assert_close(a["joint"], b["joint"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a["s2"], b["s2"], atol=1e-5, rtol=1e-5)
    assert {k: tuple(v.shape) for k, v in maps.items()} == {k: (3, 64, 4, 4) for k in ("s1", "s2", "joint")}
    assert float((plain_a["joint"] - plain_b["joint"]).abs().max()) > 1e-3, "without masking the cloud shows"


def test_a_tile_with_no_clear_patch_gets_no_cross_attention(model, clouds, pairs):
    # reference: the same cross encoder with its cross-attention's output projection zeroed
    ref_model = copy.deepcopy(model)
    for blk in ref_model.cross_encoder.blocks:
        torch.nn.init.zeros_(blk.cross_attn.proj.weight)
        torch.nn.init.zeros_(blk.cross_attn.proj.bias)
    mask = torch.zeros(3, 32, 32, dtype=torch.bool)
    mask[1] = True  # tile 1 is overcast, tiles 0 and 2 are clear
    with torch.no_grad():
        got = clouds.encode(pairs["s1"], pairs["s2"], cloud_mask=mask)
        ref = ref_model.encode(pairs["s1"], pairs["s2"])
        plain = model.encode(pairs["s1"], pairs["s2"])
        other = clouds.encode(pairs["s1"], torch.rand_like(pairs["s2"]), cloud_mask=mask)
    assert torch.isfinite(got["joint_GAP"]).all() and torch.isfinite(got["optical_GAP"]).all()
    torch.testing.assert_close(got["joint_GAP"][1], ref["joint_GAP"][1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got["joint_GAP"][1], other["joint_GAP"][1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got["joint_GAP"][[0, 2]], plain["joint_GAP"][[0, 2]], atol=1e-5, rtol=1e-5)
    assert got["optical_dropped"][1].all() and not got["optical_dropped"][[0, 2]].any()


def test_cloud_tokens_are_the_patches_mostly_under_cloud():
    torch.manual_seed(2)
    mask = torch.rand(2, 32, 32) < torch.rand(2, 1, 1)
    fraction = mask.float().reshape(2, 4, 8, 4, 8).mean(dim=(2, 4)).reshape(2, 16)  # row-major patches
    assert torch.equal(cloud_tokens(mask, 8), fraction > 0.5)
    assert torch.equal(cloud_tokens(mask, 8, threshold=0.1), fraction > 0.1)


def test_bad_masks_are_refused_with_a_clear_error(model, clouds, pairs):
    s1, s2 = pairs["s1"], pairs["s2"]
    with pytest.raises(ValueError, match="cloud_mask must be"):
        clouds.embed(s1, s2, cloud_mask=torch.zeros(3, 16, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="optical_mask must be bool"):
        clouds.embed(s1, s2, optical_mask=torch.zeros(3, N))
    with pytest.raises(ValueError, match="not both"):
        clouds.embed(s1, s2, optical_mask=torch.zeros(3, N, dtype=bool), cloud_mask=torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="pass s2 too"):
        clouds.embed(s1, cloud_mask=torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="threshold"):
        CloudMaskedCROMA(model, threshold=1.5)
    with pytest.raises(TypeError, match="cloud_mask"):
        model.embed(s1, s2, cloud_mask=torch.zeros(3, 32, 32))  # the paper's model has no cloud masking


def test_embed_dataset_passes_borrowed_cloud_masks(model, clouds):
    clear = SimulatedWorld(seed=5, size=32, n_scenes=6)
    cloudy = SimulatedWorld(seed=5, size=32, n_scenes=6, cloud_cover=1.0)
    borrowed = BorrowedCloudMasks(clear, cloudy)
    assert torch.equal(borrowed[2]["s2"], clear[2]["s2"]) and bool(borrowed[2]["cloud_mask"].all())
    plain = embed_dataset(model, clear)
    masked = embed_dataset(clouds, borrowed, pass_keys=("cloud_mask",))
    assert abs(plain["joint"] - masked["joint"]).max() > 1e-3
    assert abs(plain["s1"] - masked["s1"]).max() < 1e-5, "radar is never masked"
    with pytest.raises(KeyError, match="cloud_mask"):
        embed_dataset(
            clouds, [{k: v for k, v in clear[0].items() if k != "cloud_mask"}], pass_keys=("cloud_mask",)
        )
    with pytest.raises(ValueError, match="masks"):
        BorrowedCloudMasks(clear, SimulatedWorld(seed=5, size=32, n_scenes=5))
