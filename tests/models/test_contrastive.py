"""Contrastive dual encoder: shapes, gradients, InfoNCE and similarity, overfitting, errors, presets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from model_helpers import assert_all_params_get_grad, make_pairs, overfit

from xmodal_lab.models import build
from xmodal_lab.models.contrastive import PRESETS, ContrastiveConfig, ContrastiveDualEncoder
from xmodal_lab.models.losses import info_nce

SMALL_RESNET = {"backbone": "resnet", "resnet_widths": (8, 16), "resnet_blocks": (1, 1)}


@pytest.mark.parametrize("size, grid", [(32, 4), (64, 8), (120, 15)])
def test_vit_shapes(size, grid):
    torch.manual_seed(0)
    model = build("contrastive", "tiny").eval()
    b = make_pairs(2, size)
    with torch.no_grad():
        feats = model.features(s1=b["s1"], s2=b["s2"])
        emb = model.embed(s1=b["s1"], s2=b["s2"])
        out = model(b)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "s1": (2, 64, grid, grid),
        "s2": (2, 64, grid, grid),
    }
    assert {k: tuple(v.shape) for k, v in emb.items()} == {"s1": (2, 64), "s2": (2, 64)}
    torch.testing.assert_close(emb["s1"].norm(dim=1), torch.ones(2))
    assert out["loss"].shape == () and out["logits"].shape == (2, 2)


@pytest.mark.parametrize("size, grid", [(32, 16), (40, 20)])
def test_resnet_shapes_any_size(size, grid):
    model = build("contrastive", "tiny", **SMALL_RESNET).eval()
    b = make_pairs(2, size)
    feats = model.features(s1=b["s1"])
    assert tuple(feats["s1"].shape) == (2, 16, grid, grid)
    assert tuple(model.embed(s2=b["s2"])["s2"].shape) == (2, 64)


@pytest.mark.parametrize("overrides", [{}, SMALL_RESNET])
def test_gradients_reach_every_parameter(overrides):
    torch.manual_seed(0)
    model = build("contrastive", "tiny", **overrides)
    assert_all_params_get_grad(model, model(make_pairs(4))["loss"])


def test_loss_is_symmetric_info_nce_of_the_embeddings():
    torch.manual_seed(0)
    model = build("contrastive", "tiny").eval()
    b = make_pairs(5)
    out = model(b)
    assert out["logit_scale"].item() == pytest.approx(1 / 0.07, rel=1e-5)
    a, c = out["s1"], out["s2"]
    logits = out["logit_scale"] * a @ c.t()
    target = torch.arange(5)
    by_hand = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    assert out["loss"].item() == pytest.approx(by_hand.item(), abs=1e-5)
    assert out["loss"].item() == pytest.approx(info_nce(a, c, out["logit_scale"])[0].item(), abs=1e-6)


def test_similarity_is_cosine_matrix():
    torch.manual_seed(0)
    model = build("contrastive", "tiny").eval()
    b1, b2 = make_pairs(3, seed=1), make_pairs(5, seed=2)
    with torch.no_grad():
        sim = model.similarity(b1["s1"], b2["s2"])
        e1, e2 = model.embed(s1=b1["s1"])["s1"], model.embed(s2=b2["s2"])["s2"]
    assert sim.shape == (3, 5)
    torch.testing.assert_close(sim, F.cosine_similarity(e1[:, None], e2[None], dim=-1), atol=1e-5, rtol=0)
    assert sim.abs().max() <= 1 + 1e-5


def test_temperature_is_capped_at_clip_value():
    model = build("contrastive", "tiny")
    with torch.no_grad():
        model.logit_scale.log_scale.fill_(8.0)
    assert model(make_pairs(2))["logit_scale"].item() == pytest.approx(100.0)


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = build("contrastive", "tiny")
    first, last = overfit(model, make_pairs(8), steps=100, lr=3e-3)
    print(f"contrastive tiny: loss {first:.3f} -> {last:.3f}")
    assert last <= 0.2 * first


def test_clear_errors():
    model = build("contrastive", "tiny")
    b = make_pairs(2)
    with pytest.raises(ValueError, match="s1: expected 2 channels"):
        model.embed(s1=b["s2"])
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        model.embed(s2=b["s2"][..., :30, :30])
    with pytest.raises(ValueError, match="NaN"):
        model.embed(s1=torch.full_like(b["s1"], float("nan")))
    with pytest.raises(KeyError, match=r"batch\['s2'\]"):
        model({"s1": b["s1"]})
    with pytest.raises(ValueError, match="same number of pairs"):
        model({"s1": b["s1"], "s2": make_pairs(3)["s2"]})
    with pytest.raises(ValueError, match="at least one"):
        model.embed()
    with pytest.raises(ValueError, match="backbone"):
        ContrastiveDualEncoder(ContrastiveConfig(backbone="swin"))


def test_presets_sizes():
    assert set(PRESETS) >= {"tiny", "small", "base"}
    assert PRESETS["base"].backbone == "resnet" and PRESETS["base"].resnet_blocks == (2, 2, 2, 2)
    with torch.device("meta"):
        counts = {
            p: sum(t.numel() for t in build("contrastive", p).parameters()) for p in ("tiny", "small", "base")
        }
    assert counts["tiny"] < 500_000 < counts["small"] < counts["base"]


def test_base_encoder_is_resnet18_with_adapted_first_conv():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        ours = build("contrastive", "base").encoder_s2
        ref = torchvision.models.resnet18()
        ref.conv1 = torch.nn.Conv2d(12, 64, 7, 2, 3, bias=False)
    n_ref = sum(p.numel() for n, p in ref.named_parameters() if not n.startswith("fc."))
    assert sum(p.numel() for p in ours.parameters()) == n_ref
