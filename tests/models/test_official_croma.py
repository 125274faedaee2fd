"""CROMA against the official pretraining code (antofuller/CROMA ``pretrain_croma.py``, ``DecoderMAE.forward``).

The official decoder stacks the 12 optical and 2 radar bands into one 14-channel image, patchifies it, standardises
every 14-channel patch by its own mean and (unbiased) variance, ``(t - mean) / sqrt(var + 1e-6)``, and only then
splits the target into its optical and radar channels; each part is scored on its own modality's mask. The
reference below is written on images from that description, not with the kit's patch helpers.

2D-ALiBi slopes follow the ALiBi paper's code (``get_slopes`` in ofirpress/attention_with_linear_biases, copied
into ``get_alibi`` of ``pretrain_croma.py``): for a power of two ``n`` the slopes are ``2^(-8k/n)``; otherwise
the ``m = 2^floor(log2 n)`` slopes of ``m`` heads, then every other slope of ``2m`` heads. The expected exponents
below are worked out by hand from that rule.
"""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import make_pairs, spy_croma_decoder

from xmodal_lab.models import build
from xmodal_lab.models.positions import alibi_slopes

P = 8


def joint_norm_pix_target(x: torch.Tensor) -> torch.Tensor:
    """Standardise each ``P x P`` patch of ``x [B, C, H, W]`` over all its channels and pixels together."""
    b, c, h, w = x.shape
    blocks = x.reshape(b, c, h // P, P, w // P, P)
    mean = blocks.mean(dim=(1, 3, 5), keepdim=True)
    var = blocks.var(dim=(1, 3, 5), keepdim=True)  # unbiased, as torch.var in the official code
    return ((blocks - mean) / (var + 1e-6) ** 0.5).reshape(b, c, h, w)


def kit_patches_to_image(pred: torch.Tensor, channels: int, side: int) -> torch.Tensor:
    """The kit's documented prediction layout ``[B, N, (p, p, C)]`` (row-major grid) as an image."""
    b, g = pred.shape[0], side // P
    x = pred.reshape(b, g, g, P, P, channels)  # [B, gh, gw, i, j, C]
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, side, side)


def masked_patch_mse(pred_img: torch.Tensor, target_img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    b, c, h, w = pred_img.shape
    err = (
        ((pred_img - target_img) ** 2).reshape(b, c, h // P, P, w // P, P).mean(dim=(1, 3, 5))
    )  # [B, gh, gw]
    err = err.reshape(b, -1)
    return (err * mask).sum() / mask.sum()


@pytest.fixture
def run(monkeypatch):
    preds = spy_croma_decoder(monkeypatch)

    def go(**overrides):
        torch.manual_seed(0)
        model = build("croma", "tiny", **overrides)
        batch = make_pairs(3)
        out = model(batch)
        return model, batch, out, preds

    return go


def test_default_target_is_the_joint_14_channel_norm_pix_patch(run):
    model, batch, out, preds = run()
    with torch.no_grad():
        stacked = torch.cat([model.norm_s2(batch["s2"]), model.norm_s1(batch["s1"])], dim=1)  # [B, 14, H, W]
        target = joint_norm_pix_target(stacked)
        optical = masked_patch_mse(
            kit_patches_to_image(preds["optical"], 12, 32), target[:, :12], out["mask_optical"]
        )
        radar = masked_patch_mse(kit_patches_to_image(preds["radar"], 2, 32), target[:, 12:], out["mask_sar"])
    assert out["loss_mae_optical"].item() == pytest.approx(optical.item(), rel=1e-5)
    assert out["loss_mae_sar"].item() == pytest.approx(radar.item(), rel=1e-5)
    assert out["loss_mae"].item() == pytest.approx(optical.item() + radar.item(), rel=1e-5)


def test_per_modality_option_standardises_each_sensor_alone(run):
    model, batch, out, preds = run(norm_pix_scope="per_modality")
    with torch.no_grad():
        radar_target = joint_norm_pix_target(model.norm_s1(batch["s1"]))
        radar = masked_patch_mse(kit_patches_to_image(preds["radar"], 2, 32), radar_target, out["mask_sar"])
        stacked = torch.cat([model.norm_s2(batch["s2"]), model.norm_s1(batch["s1"])], dim=1)
        joint = masked_patch_mse(
            kit_patches_to_image(preds["radar"], 2, 32),
            joint_norm_pix_target(stacked)[:, 12:],
            out["mask_sar"],
        )
    assert out["loss_mae_sar"].item() == pytest.approx(radar.item(), rel=1e-5)
    assert abs(joint.item() - radar.item()) > 0.05  # the two recipes really are different targets


def test_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="norm_pix_scope"):
        build("croma", "tiny", norm_pix_scope="modality")


# slope = 2 ** -exponent, head by head
SLOPE_EXPONENTS = {
    # m = 4: 2, 4, 6, 8; then heads 1 and 3 of the 8-head schedule (exponents 1, 3)
    6: [2, 4, 6, 8, 1, 3],
    # m = 8: 1 .. 8; then heads 1, 3, 5, 7 of the 16-head schedule (exponents 0.5, 1.5, 2.5, 3.5)
    12: [1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5],
    16: [0.5 * k for k in range(1, 17)],
}


@pytest.mark.parametrize("heads", sorted(SLOPE_EXPONENTS))
def test_alibi_slopes_follow_the_official_interleaving(heads):
    expected = torch.tensor([2.0**-e for e in SLOPE_EXPONENTS[heads]])
    torch.testing.assert_close(alibi_slopes(heads), expected, atol=0, rtol=1e-6)


def test_croma_with_six_heads_biases_attention_with_the_official_slopes():
    model = build("croma", "tiny", num_heads=6, embed_dim=96)
    bias = model.alibi((3, 3), torch.device("cpu"))
    assert bias.shape == (1, 6, 9, 9)
    for h, e in enumerate(SLOPE_EXPONENTS[6]):
        for i in range(9):
            for j in range(9):
                dist = math.hypot(i // 3 - j // 3, i % 3 - j % 3)
                assert bias[0, h, i, j].item() == pytest.approx(-(2.0**-e) * dist, abs=1e-6)


def test_logit_scale_is_uncapped_as_in_the_official_contrastive_loss():
    # official ContrastLossInput: logit_scale = nn.Parameter(log(1 / 0.07)), used as logit_scale.exp()
    model = build("croma", "tiny")
    with torch.no_grad():
        model.logit_scale.log_scale.fill_(8.0)
    assert model.logit_scale().item() == pytest.approx(math.exp(8.0), rel=1e-5)
    clip = build("croma", "tiny", max_logit_scale=100.0)
    with torch.no_grad():
        clip.logit_scale.log_scale.fill_(8.0)
    assert clip.logit_scale().item() == pytest.approx(100.0)


def test_default_init_is_pytorchs_as_in_the_official_code():
    # PyTorch's nn.Linear default: weights and biases uniform within 1 / sqrt(fan_in), biases non-zero;
    # MAE's Xavier init (the mae_init variant) reaches sqrt(6 / (fan_in + fan_out)) and zeroes the biases
    torch.manual_seed(0)
    qkv = build("croma", "tiny").optical_encoder.blocks[0].attn.qkv.weight  # [192, 64]
    proj = build("croma", "tiny").proj_radar
    assert qkv.abs().max() <= 1 / math.sqrt(64) and proj.bias.abs().max() > 0
    xavier = build("croma", "tiny", mae_init=True)
    assert xavier.optical_encoder.blocks[0].attn.qkv.weight.abs().max() > 1 / math.sqrt(64)
    assert not xavier.proj_radar.bias.any()
