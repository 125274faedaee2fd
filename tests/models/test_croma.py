"""CROMA: shapes, independent masks, 2D-ALiBi and X-ALiBi, contrastive loss, gradients, overfitting, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from model_helpers import assert_all_params_get_grad, make_pairs, overfit, spy_croma_decoder
from torchgeo.models.croma import BaseTransformerCrossAttn

from xmodal_lab.models import build
from xmodal_lab.models.croma import CROMA, PRESETS
from xmodal_lab.models.losses import info_nce
from xmodal_lab.models.masking import patchify
from xmodal_lab.models.positions import alibi_2d_bias, masked_alibi

KEYS = {"sar_encodings", "optical_encodings", "joint_encodings", "sar_GAP", "optical_GAP", "joint_GAP",
        "loss_contrastive", "loss_mae", "loss"}  # fmt: skip


@pytest.mark.parametrize("size, n", [(32, 16), (64, 64), (120, 225)])
def test_tiny_shapes(size, n):
    torch.manual_seed(0)
    model = build("croma", "tiny")
    b = make_pairs(2, size)
    out = model(b)
    k = round(n / 4)
    assert KEYS <= set(out)
    for name in ("sar_encodings", "optical_encodings", "joint_encodings"):
        assert tuple(out[name].shape) == (2, k, 64)
    for name in ("sar_GAP", "optical_GAP", "joint_GAP"):
        assert tuple(out[name].shape) == (2, 64)
    assert out["loss"].shape == () and tuple(out["mask_sar"].shape) == (2, n)
    model.eval()
    side = size // 8
    with torch.no_grad():
        feats = model.features(s1=b["s1"], s2=b["s2"])
        emb = model.embed(s1=b["s1"], s2=b["s2"])
        enc = model.encode(s1=b["s1"])
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        key: (2, 64, side, side) for key in ("s1", "s2", "joint")
    }
    assert {k: tuple(v.shape) for k, v in emb.items()} == {key: (2, 64) for key in ("s1", "s2", "joint")}
    assert set(enc) == {"sar_encodings", "sar_GAP"} and tuple(enc["sar_encodings"].shape) == (2, n, 64)


def test_masks_independent_and_drop_exactly_75_percent():
    torch.manual_seed(0)
    out = build("croma", "tiny")(make_pairs(64, noise=0.0))
    ms, mo = out["mask_sar"], out["mask_optical"]
    assert torch.all(ms.sum(1) == 12) and torch.all(mo.sum(1) == 12)
    assert not torch.equal(ms, mo)
    # independent masks: P(hidden in both) = 0.75 * 0.75; for one shared mask it would be 0.75
    both = (ms * mo).mean().item()
    assert abs(both - 0.5625) < 0.05


def test_masked_alibi_gathers_kept_positions():
    bias = alibi_2d_bias(4, (4, 4))
    iq, ik = torch.tensor([[0, 5, 15], [1, 2, 3]]), torch.tensor([[3, 12], [0, 15]])
    out = masked_alibi(bias, iq, ik)
    assert out.shape == (2, 4, 3, 2)
    for b in range(2):
        for i in range(3):
            for j in range(2):
                torch.testing.assert_close(out[b, :, i, j], bias[0, :, iq[b, i], ik[b, j]])


def _paper_alibi(heads: int, side: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The paper's bias ``-2^(-8h/heads) * distance`` between patches ``rows [Kr]`` and ``cols [Kc]``."""
    out = torch.empty(heads, len(rows), len(cols))
    for h in range(heads):
        for i, a in enumerate(rows.tolist()):
            for j, c in enumerate(cols.tolist()):
                dist = math.hypot(a // side - c // side, a % side - c % side)
                out[h, i, j] = -(2.0 ** (-8.0 * (h + 1) / heads)) * dist
    return out


def _torchgeo_cross_encoder(model) -> BaseTransformerCrossAttn:
    """torchgeo's CROMA joint encoder carrying the kit's cross-encoder weights."""
    ref = BaseTransformerCrossAttn(dim=64, depth=1, num_heads=4).eval()
    blk, d = model.cross_encoder.blocks[0], 64
    pairs = {
        "0.to_qkv.weight": blk.attn.qkv.weight, "0.to_out.weight": blk.attn.proj.weight,
        "0.to_out.bias": blk.attn.proj.bias, "0.input_norm.weight": blk.norm1.weight,
        "0.input_norm.bias": blk.norm1.bias, "1.to_q.weight": blk.cross_attn.q.weight,
        "1.to_k.weight": blk.cross_attn.kv.weight[:d], "1.to_v.weight": blk.cross_attn.kv.weight[d:],
        "1.to_out.weight": blk.cross_attn.proj.weight, "1.to_out.bias": blk.cross_attn.proj.bias,
        "1.input_norm.weight": blk.norm_cross.weight, "1.input_norm.bias": blk.norm_cross.bias,
        "2.input_norm.weight": blk.norm2.weight, "2.input_norm.bias": blk.norm2.bias,
        "2.net.0.weight": blk.mlp.fc1.weight, "2.net.0.bias": blk.mlp.fc1.bias,
        "2.net.3.weight": blk.mlp.fc2.weight, "2.net.3.bias": blk.mlp.fc2.bias,
    }  # fmt: skip
    state = {f"layers.0.{k}": v for k, v in pairs.items()}
    norm = model.cross_encoder.norm
    state |= {"norm_out.weight": norm.weight, "norm_out.bias": norm.bias}
    ref.load_state_dict({k: v.detach() for k, v in state.items()})
    return ref


def test_cross_encoder_matches_torchgeo_with_x_alibi_of_the_kept_patches():
    """Joint encodings of pretraining against torchgeo's joint encoder, biases from the paper's formula:
    radar self-attention by radar-radar distances, cross-attention by radar-optical distances (X-ALiBi)."""
    torch.manual_seed(0)
    model = build("croma", "tiny")
    out = model(make_pairs(2))
    ref = _torchgeo_cross_encoder(model)
    with torch.no_grad():
        for b in range(2):
            keep_r = (out["mask_sar"][b] == 0).nonzero().flatten()  # sorted kept patches
            keep_o = (out["mask_optical"][b] == 0).nonzero().flatten()
            sar, optical = out["sar_encodings"][b : b + 1], out["optical_encodings"][b : b + 1]

            def joint(self_bias, cross_bias, sar=sar, optical=optical):
                x = sar
                for self_attn, cross_attn, ffn in ref.layers:
                    x = self_attn(x, self_bias) + x
                    x = cross_attn(x, optical, cross_bias) + x
                    x = ffn(x) + x
                return ref.norm_out(x)[0]

            x_alibi = _paper_alibi(4, 4, keep_r, keep_o)[None]
            expected = joint(_paper_alibi(4, 4, keep_r, keep_r)[None], x_alibi)
            torch.testing.assert_close(out["joint_encodings"][b], expected, atol=1e-5, rtol=1e-4)
            # the reference script's choice, X-ALiBi for the radar self-attention too, gives other encodings
            assert (joint(x_alibi, x_alibi) - expected).abs().max() > 1e-3


def test_inference_uses_the_full_bias_and_is_deterministic():
    torch.manual_seed(0)
    model = build("croma", "tiny").eval()
    b = make_pairs(2)
    with torch.no_grad():
        first, second = model.embed(s1=b["s1"], s2=b["s2"]), model.embed(s1=b["s1"], s2=b["s2"])
        x1 = model.norm_s1(b["s1"])
        by_hand = model.radar_encoder(x1, alibi_2d_bias(4, (4, 4)))
    for k in first:
        assert torch.equal(first[k], second[k])
    torch.testing.assert_close(model.features(s1=b["s1"])["s1"].flatten(2).transpose(1, 2), by_hand)


def test_contrastive_loss_is_info_nce_on_projected_gap():
    torch.manual_seed(0)
    model = build("croma", "tiny")
    out = model(make_pairs(4))
    a = F.normalize(model.proj_radar(out["sar_GAP"]), dim=-1)
    o = F.normalize(model.proj_optical(out["optical_GAP"]), dim=-1)
    expected, _ = info_nce(a, o, 1 / 0.07)
    assert out["loss_contrastive"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert out["loss"].item() == pytest.approx(
        out["loss_contrastive"].item() + out["loss_mae"].item(), rel=1e-5
    )
    assert out["loss_mae"].item() == pytest.approx(
        (out["loss_mae_sar"] + out["loss_mae_optical"]).item(), rel=1e-5
    )


def test_each_modality_is_scored_on_its_own_mask(monkeypatch):
    preds = spy_croma_decoder(monkeypatch)
    torch.manual_seed(0)
    model = build("croma", "tiny")
    b = make_pairs(2)
    out = model(b)

    def by_hand(pred, target, mask):
        per_patch = ((pred - target) ** 2).mean(-1)
        return per_patch[mask.bool()].mean()

    # the official target: each 14-channel patch standardised as a whole, then split (see test_official_croma)
    joint = torch.cat([patchify(model.norm_s2(b["s2"]), 8), patchify(model.norm_s1(b["s1"]), 8)], dim=-1)
    joint = (joint - joint.mean(-1, keepdim=True)) / (joint.var(-1, keepdim=True) + 1e-6) ** 0.5
    target_optical, target_radar = joint[..., : 64 * 12], joint[..., 64 * 12 :]
    sar = by_hand(preds["radar"], target_radar, out["mask_sar"])
    optical = by_hand(preds["optical"], target_optical, out["mask_optical"])
    assert out["loss_mae_sar"].item() == pytest.approx(sar.item(), rel=1e-5)
    assert out["loss_mae_optical"].item() == pytest.approx(optical.item(), rel=1e-5)
    # scored on the other modality's mask the numbers differ: the masks are not shared
    assert by_hand(preds["radar"], target_radar, out["mask_optical"]).item() != pytest.approx(sar.item())


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = build("croma", "tiny")
    assert_all_params_get_grad(model, model(make_pairs(4))["loss"])


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = build("croma", "tiny")
    first, last = overfit(model, make_pairs(2), steps=120, lr=5e-3)
    print(f"croma tiny: loss {first:.3f} -> {last:.3f}")
    assert last <= 0.2 * first


def test_embed_space_option():
    torch.manual_seed(0)
    b = make_pairs(2)
    shared = build("croma", "tiny").eval()
    gap = build("croma", "tiny", embed_projected=False).eval()
    gap.load_state_dict(shared.state_dict())
    with torch.no_grad():
        e_shared, e_gap, enc = shared.embed(s1=b["s1"]), gap.embed(s1=b["s1"]), shared.encode(s1=b["s1"])
    torch.testing.assert_close(e_shared["s1"].norm(dim=1), torch.ones(2))
    torch.testing.assert_close(e_gap["s1"], enc["sar_GAP"])


def test_clear_errors():
    model = build("croma", "tiny")
    b = make_pairs(2)
    with pytest.raises(ValueError, match="s1: expected 2 channels"):
        model.embed(s1=b["s2"])
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        model.embed(s2=b["s2"][..., :20, :20])
    with pytest.raises(ValueError, match="co-registered"):
        model.embed(s1=b["s1"], s2=make_pairs(2, 64)["s2"])
    with pytest.raises(KeyError, match=r"batch\['s1'\]"):
        model({"s2": b["s2"]})
    with pytest.raises(ValueError, match="mask_ratio"):
        build("croma", "tiny", mask_ratio=1.0)


def test_presets_match_the_paper():
    base = PRESETS["base"]
    assert (base.embed_dim, base.optical_depth, base.radar_depth, base.cross_depth) == (768, 12, 6, 6)
    assert (base.num_heads, base.patch_size, base.img_size, base.qkv_bias) == (16, 8, 120, False)
    with torch.device("meta"):
        counts = {
            p: sum(t.numel() for t in CROMA(PRESETS[p]).parameters()) for p in ("tiny", "small", "base")
        }
    assert counts["tiny"] < 1_000_000 < counts["small"] < counts["base"]
