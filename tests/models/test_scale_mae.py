"""Scale-MAE: shapes, GSD encoding in use, Laplacian targets and loss, masking, gradients, overfitting, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from model_helpers import assert_all_params_get_grad, make_pairs, overfit

from xmodal_lab.models import build
from xmodal_lab.models.positions import gsd_sincos_pos_embed
from xmodal_lab.models.scale_mae import PRESETS, ScaleMAE, laplacian_bands


@pytest.mark.parametrize("size, grid", [(32, 4), (64, 8), (120, 15)])
def test_tiny_shapes(size, grid):
    torch.manual_seed(0)
    model = build("scale_mae", "tiny")
    b = make_pairs(2, size)
    out = model(b)
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {
        "loss": (), "loss_low": (), "loss_high": (),
        "pred_low": (2, 12, size // 2, size // 2), "pred_high": (2, 12, size, size),
        "reconstruction": (2, 12, size, size), "target": (2, 12, size, size), "mask": (2, grid, grid),
    }  # fmt: skip
    model.eval()
    assert tuple(model.features(s2=b["s2"], gsd=b["gsd"])["s2"].shape) == (2, 64, grid, grid)
    assert tuple(model.embed(s2=b["s2"], gsd=10.0)["s2"].shape) == (2, 64)


def test_higher_resolution_target():
    """target_scale=2: the encoder sees the tile at half resolution, the decoder rebuilds it at full."""
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", target_scale=2)
    out = model(make_pairs(2, 64))
    assert tuple(out["mask"].shape) == (2, 4, 4)  # 64 px -> 32 px input -> 4x4 patches
    assert tuple(out["pred_high"].shape) == (2, 12, 64, 64) and tuple(out["pred_low"].shape) == (
        2,
        12,
        32,
        32,
    )
    with pytest.raises(ValueError, match="multiples of the patch size 16"):
        model(make_pairs(2, 40))


@pytest.mark.parametrize("modality, key, channels", [("s1", "s1", 2), ("s1s2", "joint", 14)])
def test_other_modalities(modality, key, channels):
    model = build("scale_mae", "tiny", modality=modality)
    b = make_pairs(2)
    out = model(b)
    assert tuple(out["pred_high"].shape) == (2, channels, 32, 32)
    assert list(model.embed(s1=b["s1"], s2=b["s2"])) == [key]


def test_band_subset_reads_rgb():
    model = build("scale_mae", "tiny", s2_bands=(3, 2, 1))
    assert model.encoder.patch_embed.proj.in_channels == 3
    assert tuple(model(make_pairs(2))["pred_high"].shape) == (2, 3, 32, 32)


def test_mask_hides_exactly_75_percent():
    torch.manual_seed(0)
    out = build("scale_mae", "tiny")(make_pairs(3, 64))
    assert torch.all(out["mask"].sum(dim=(1, 2)) == 48)


def test_laplacian_bands_one_octave_option():
    img = torch.randn(2, 3, 8, 8)
    low, high = laplacian_bands(img, band_config=None)
    torch.testing.assert_close(low, F.avg_pool2d(img, 2))
    torch.testing.assert_close(F.interpolate(low, scale_factor=2, mode="bilinear") + high, img)
    _, flat = laplacian_bands(torch.full((1, 1, 8, 8), 3.0), band_config=None)
    assert flat.abs().max() < 1e-6  # a flat image has no high-frequency band
    _, flat = laplacian_bands(torch.full((1, 1, 28, 28), 3.0))
    assert flat.abs().max() < 1e-6


@pytest.mark.parametrize("use_l1_loss", [False, True])
def test_loss_is_mse_low_plus_mse_or_l1_high_over_masked_patches(use_l1_loss):
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", use_l1_loss=use_l1_loss, l1_weight=0.5)
    out = model(make_pairs(2))
    low, high = laplacian_bands(out["target"])
    m = out["mask"][:, None]  # [B, 1, 4, 4]
    m_high = F.interpolate(m, scale_factor=8, mode="nearest").expand_as(high)
    m_low = F.interpolate(m, scale_factor=4, mode="nearest").expand_as(low)
    mse = ((out["pred_low"] - low) ** 2)[m_low > 0].mean()
    err = (out["pred_high"] - high).abs() if use_l1_loss else (out["pred_high"] - high) ** 2
    high_loss = err[m_high > 0].mean()
    weight = 0.5 if use_l1_loss else 1.0  # as the official code, the weight applies to the L1 term only
    assert out["loss_low"].item() == pytest.approx(mse.item(), rel=1e-5)
    assert out["loss_high"].item() == pytest.approx(high_loss.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx(mse.item() + weight * high_loss.item(), rel=1e-5)


def test_gsd_feeds_the_encoding_per_image():
    torch.manual_seed(0)
    model = build("scale_mae", "tiny").eval()
    s2 = make_pairs(2)["s2"]
    with torch.no_grad():
        mixed = model.embed(s2=s2, gsd=torch.tensor([10.0, 40.0]))["s2"]
        at10 = model.embed(s2=s2, gsd=10.0)["s2"]
        at40 = model.embed(s2=s2, gsd=40.0)["s2"]
        default = model.embed(s2=s2)["s2"]
    torch.testing.assert_close(mixed[0], at10[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(mixed[1], at40[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(default, at10)  # no GSD means the reference GSD (10 m)
    assert (at10 - at40).abs().max() > 1e-3


def test_plain_mae_ablation_ignores_the_gsd():
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", gsd_encoding=False).eval()
    s2 = make_pairs(2)["s2"]
    torch.testing.assert_close(
        model.gsd_ratio(torch.tensor([20.0, 40.0]), 2), torch.ones(2, dtype=torch.float64)
    )
    with torch.no_grad():
        torch.testing.assert_close(model.embed(s2=s2, gsd=40.0)["s2"], model.embed(s2=s2, gsd=10.0)["s2"])


def test_encoder_adds_the_gsd_encoding_of_the_ratio():
    """The encoder's first tokens are patch embeddings plus gsd_sincos_pos_embed(res = gsd / 10 m)."""
    torch.manual_seed(0)
    model = ScaleMAE(dataclasses.replace(PRESETS["tiny"], depth=0)).eval()  # white-box: the encoder without blocks
    x = torch.randn(2, 12, 32, 32)
    with torch.no_grad():
        tokens, _, _, _ = model.forward_encoder(x, model.gsd_ratio(torch.tensor([20.0, 5.0]), 2))
        patches = model.encoder.patch_embed(x)
        expected = patches + gsd_sincos_pos_embed(64, 4, torch.tensor([2.0, 0.5]))
    torch.testing.assert_close(tokens[:, 1:], model.encoder.norm(expected), atol=1e-5, rtol=0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", pool="cls")
    assert_all_params_get_grad(model, model(make_pairs(2))["loss"])


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = build("scale_mae", "tiny")
    first, last = overfit(model, make_pairs(2, noise=0.3), steps=150, lr=5e-3)
    print(f"scale_mae tiny: loss {first:.3f} -> {last:.3f}")
    assert last <= 0.2 * first


def test_clear_errors():
    model = build("scale_mae", "tiny")
    b = make_pairs(2)
    with pytest.raises(ValueError, match="needs s2"):
        model.embed(s1=b["s1"])
    with pytest.raises(ValueError, match="s2: expected 12 channels"):
        model.embed(s2=b["s1"])
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        model.embed(s2=b["s2"][..., :12, :12])
    with pytest.raises(ValueError, match="gsd must be a positive"):
        model.embed(s2=b["s2"], gsd=torch.tensor([10.0, 20.0, 30.0]))
    with pytest.raises(KeyError, match=r"batch\['s2'\]"):
        model({"s1": b["s1"]})
    with pytest.raises(ValueError, match="target_scale"):
        build("scale_mae", "tiny", patch_size=6)
    with pytest.raises(ValueError, match="s2_bands"):
        build("scale_mae", "tiny", s2_bands=(12,))
    with pytest.raises(ValueError, match="head_dim must be a multiple of 4"):
        build("scale_mae", "tiny", head_dim=30)


def test_presets_sizes():
    assert set(PRESETS) >= {"tiny", "small", "base"}
    base = PRESETS["base"]
    assert (base.embed_dim, base.depth, base.num_heads, base.patch_size) == (768, 12, 12, 16)
    with torch.device("meta"):
        counts = {
            p: sum(t.numel() for t in ScaleMAE(PRESETS[p]).parameters()) for p in ("tiny", "small", "base")
        }
    assert counts["tiny"] < 500_000 < counts["small"] < counts["base"]


def test_one_patch_view_carries_no_gsd_information():
    """A 1 x 1 patch grid (8 px at patch 8) sits at position 0, where every res gives the same encoding:
    the lesson's recipe uses patch 4 so that a 40 m view of a 320 m footprint keeps 2 x 2 patches."""
    torch.manual_seed(0)
    s2 = make_pairs(2, 8)["s2"]
    one_patch = build("scale_mae", "tiny").eval()
    two_by_two = build("scale_mae", "tiny", patch_size=4, target_scale=2).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            one_patch.embed(s2=s2, gsd=40.0)["s2"], one_patch.embed(s2=s2, gsd=10.0)["s2"]
        )
        assert (
            two_by_two.embed(s2=s2, gsd=40.0)["s2"] - two_by_two.embed(s2=s2, gsd=10.0)["s2"]
        ).abs().max() > 1e-3
    # sin(0) = 0 and cos(0) = 1 whatever the ratio: the reference formula at the origin
    origin = torch.cat([torch.zeros(16), torch.ones(16), torch.zeros(16), torch.ones(16)])
    torch.testing.assert_close(gsd_sincos_pos_embed(64, 1, 4.0)[0], origin)
