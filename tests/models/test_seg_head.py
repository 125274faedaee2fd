"""The segmentation head: shapes on every encoder, frozen vs fine-tuned, the loss, bad input, learning."""

from __future__ import annotations

import math

import pytest
import torch

from xmodal_lab.models import build
from xmodal_lab.models.seg_head import SegmentationModel, UPerNetHead


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _batch(b: int = 2, size: int = 32, k: int = 2) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "s1": torch.randn(b, 2, size, size, generator=g) * 3 - 12,
        "s2": torch.rand(b, 12, size, size, generator=g) * 0.3,
        "gsd": torch.full((b,), 10.0),
        "mask": torch.randint(0, k, (b, size, size), generator=g),
    }


@pytest.mark.parametrize(
    "name, modality",
    [("contrastive", "s1"), ("contrastive", "s2"), ("croma", "s1"), ("croma", "s2"), ("croma", "joint"),
     ("scale_mae", "s2"), ("skysense", "joint"), ("mmearth", "s2")],
)  # fmt: skip
@pytest.mark.parametrize("batch_size", [1, 3])
def test_logits_cover_every_pixel_for_every_encoder(name, modality, batch_size):
    seg = SegmentationModel(build(name, preset="tiny"), num_classes=3, modality=modality)
    out = seg(_batch(batch_size, k=3))
    assert out["logits"].shape == (batch_size, 3, 32, 32)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert seg.predict(_batch(batch_size)).shape == (batch_size, 32, 32)


def test_head_builds_the_pyramid_at_four_strides():
    head = UPerNetHead(in_dim=16, num_classes=2, dim=8)
    feats = torch.randn(2, 16, 4, 4)
    levels = [res(feats).shape[-2:] for res in head.resample]
    assert levels == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert head(feats, size=(32, 32)).shape == (2, 2, 32, 32)


def test_frozen_encoder_gets_no_gradient_and_stays_in_eval_mode():
    enc = build("croma", preset="tiny")
    seg = SegmentationModel(enc, num_classes=2, modality="s1", freeze_encoder=True)
    seg.train()
    assert not enc.training and seg.head.training
    seg(_batch())["loss"].backward()
    assert all(p.grad is None for p in enc.parameters())
    assert all(p.grad is not None for p in seg.head.parameters() if p.requires_grad)


def test_fine_tuned_encoder_gets_gradients():
    enc = build("croma", preset="tiny")
    seg = SegmentationModel(enc, num_classes=2, modality="s1", freeze_encoder=False)
    seg.train()
    seg(_batch())["loss"].backward()
    radar = [p for n, p in enc.named_parameters() if n.startswith("radar_encoder.")]
    assert radar and all(p.grad is not None for p in radar)


def test_loss_is_cross_entropy_over_labelled_pixels_only():
    seg = SegmentationModel(build("croma", preset="tiny"), num_classes=2, modality="s1").eval()
    batch = _batch()
    batch["mask"][0, :16] = -1
    out = seg(batch)
    logits, mask = out["logits"], batch["mask"]
    # reference: -log softmax of the true class, averaged over labelled pixels (written out by hand)
    logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    keep = mask >= 0
    picked = logp.permute(0, 2, 3, 1)[keep].gather(1, mask[keep][:, None])
    assert math.isclose(float(out["loss"].detach()), float(-picked.mean()), rel_tol=1e-5)
    batch["mask"][:] = -1
    empty = seg(batch)["loss"]
    assert float(empty) == 0.0 and empty.requires_grad


def test_bad_input_is_named():
    enc = build("contrastive", preset="tiny")
    with pytest.raises(ValueError, match="joint"):
        SegmentationModel(enc, 2, modality="joint")
    with pytest.raises(ValueError, match="modality"):
        SegmentationModel(enc, 2, modality="radar")
    with pytest.raises(ValueError, match="num_classes"):
        SegmentationModel(enc, 1)
    with pytest.raises(TypeError, match="features"):
        SegmentationModel(torch.nn.Linear(2, 2), 2)
    seg = SegmentationModel(enc, 2, modality="s1")
    with pytest.raises(KeyError, match="s1"):
        seg({"s2": torch.rand(1, 12, 32, 32)})
    bad = _batch()
    bad["mask"][0, 0, 0] = 5
    with pytest.raises(ValueError, match="class ids"):
        seg(bad)
    bad = _batch()
    bad["mask"] = bad["mask"][:, :16]
    with pytest.raises(ValueError, match="mask"):
        seg(bad)


def test_changed_input_statistics_of_a_frozen_encoder_warn():
    enc = build("croma", preset="tiny")
    seg = SegmentationModel(enc, 2, modality="s1").train()
    enc.norm_s1.set_stats([0.0, 0.0], [2.0, 2.0])
    with pytest.warns(UserWarning, match="normalize=False"):
        seg(_batch())


def test_head_learns_a_pixel_rule_on_a_frozen_random_encoder():
    """Water is dark in radar: a head on frozen features separates dark from bright blocks."""
    torch.manual_seed(0)
    seg = SegmentationModel(build("croma", preset="tiny"), num_classes=2, modality="s1", head_dim=16)
    opt = torch.optim.AdamW([p for p in seg.parameters() if p.requires_grad], lr=3e-3)
    g = torch.Generator().manual_seed(1)

    def batch():
        mask = (torch.rand(8, 1, 4, 4, generator=g) < 0.5).long()
        mask = mask.repeat_interleave(8, 2).repeat_interleave(8, 3)[:, 0]  # blocks of 8x8 pixels
        s1 = torch.where(mask[:, None].bool(), -22.0, -8.0) + torch.randn(8, 2, 32, 32, generator=g)
        return {"s1": s1, "mask": mask}

    seg.train()
    first = None
    for _ in range(40):
        loss = seg(batch())["loss"]
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = batch()
    accuracy = float((seg.predict(test) == test["mask"]).float().mean())
    print(f"loss {first:.3f} -> {float(loss):.3f}, pixel accuracy {accuracy:.3f}")
    assert float(loss) < 0.5 * first
    assert accuracy > 0.9  # chance 0.5


def test_linear_head_is_a_batch_normed_1x1_convolution_upsampled():
    from xmodal_lab.models.seg_head import LinearHead

    head = LinearHead(in_dim=16, num_classes=3).train()
    feats = torch.randn(2, 16, 4, 4) * 5 + 2
    out = head(feats, size=(32, 32))
    # reference written out: standardise each channel over batch and grid (biased variance, eps 1e-5),
    # then W f + b per patch, then bilinear upsampling of the patch logits
    mean = feats.mean(dim=(0, 2, 3), keepdim=True)
    var = feats.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    z = (feats - mean) / torch.sqrt(var + 1e-5)
    w, b = head.classifier.weight[:, :, 0, 0], head.classifier.bias
    patch_logits = torch.einsum("kd,bdhw->bkhw", w, z) + b[None, :, None, None]
    ref = torch.nn.functional.interpolate(patch_logits, size=(32, 32), mode="bilinear", align_corners=False)
    assert out.shape == (2, 3, 32, 32) and torch.allclose(out, ref, atol=1e-5)
    assert sum(p.numel() for p in head.parameters()) == 16 * 3 + 3, "only the linear layer learns"


def test_segmentation_model_takes_a_linear_head_and_keeps_it_in_its_config():
    seg = SegmentationModel(build("croma", preset="tiny"), num_classes=2, modality="s1", head="linear")
    out = seg(_batch())
    assert out["logits"].shape == (2, 2, 32, 32) and torch.isfinite(out["loss"])
    assert seg.config.head == "linear"
    assert type(SegmentationModel.from_config(seg.config).head).__name__ == "LinearHead"
    with pytest.raises(ValueError, match="head"):
        SegmentationModel(build("croma", preset="tiny"), num_classes=2, head="mlp")
