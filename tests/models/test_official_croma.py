"""CROMA against the official pretraining code (antofuller/CROMA ``pretrain_croma.py``, ``DecoderMAE.forward``).

The official decoder stacks the 12 optical and 2 radar bands into one 14-channel image, patchifies it, standardises
every 14-channel patch by its own mean and (unbiased) variance, ``(t - mean) / sqrt(var + 1e-6)``, and only then
splits the target into its optical and radar channels; each part is scored on its own modality's mask. The
reference below is written on images from that description, not with the kit's patch helpers.
"""

from __future__ import annotations

import pytest
import torch
from model_helpers import make_pairs

from xmodal_lab.models import build
from xmodal_lab.models.croma import CROMADecoder

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
    preds = {}
    original = CROMADecoder.forward

    def spy(self, joint, ids_restore, grid):
        preds["optical"], preds["radar"] = original(self, joint, ids_restore, grid)
        return preds["optical"], preds["radar"]

    monkeypatch.setattr(CROMADecoder, "forward", spy)

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
