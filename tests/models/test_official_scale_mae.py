"""Scale-MAE against the paper and the official code (bair-climate-initiative/scale-mae ``models_mae.py``).

The paper's high-frequency target is ``I_hf = I_hr - I_high-low``; the official ``forward_loss`` computes it as
``imgs - interpolate(interpolate(imgs, (dim1, dim1), mode="area"), imgs size, mode="bilinear")`` with
``band_config = [7, 56]`` (``main_pretrain.py``), and ``split_pred`` rebuilds the image as
``bilinear(area(pred_low -> dim1)) + pred_high``. The reference here implements the two resampling operators
from their definitions (area: the mean over the input cells ``floor(i * n / m) .. ceil((i + 1) * n / m)``;
bilinear with ``align_corners=False``: source coordinate ``(i + 0.5) * n / m - 0.5``, clamped at the borders)
in numpy, without the kit's helpers or ``torch.nn.functional.interpolate``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from model_helpers import make_pairs, overfit

from xmodal_lab.models import build


def area_matrix(n: int, m: int) -> np.ndarray:
    """``[m, n]``: row i averages the input cells ``floor(i n / m) .. ceil((i + 1) n / m) - 1``."""
    a = np.zeros((m, n))
    for i in range(m):
        lo, hi = math.floor(i * n / m), math.ceil((i + 1) * n / m)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def bilinear_matrix(n: int, m: int) -> np.ndarray:
    """``[m, n]``: linear interpolation from n to m samples, half-pixel centres (``align_corners=False``)."""
    a = np.zeros((m, n))
    for i in range(m):
        x = max((i + 0.5) * n / m - 0.5, 0.0)
        j = min(int(math.floor(x)), n - 1)
        t = x - j
        a[i, j] += 1.0 - t
        a[i, min(j + 1, n - 1)] += t
    return a


def resample(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Apply separable ``[m, n]`` operators to ``img [..., n_rows, n_cols]``."""
    return np.einsum("ih,...hw,jw->...ij", rows, img, cols)


def official_high_band(img: np.ndarray, dim1: int = 7) -> np.ndarray:
    h, w = img.shape[-2:]
    thumb = resample(img, area_matrix(h, dim1), area_matrix(w, dim1))
    return img - resample(thumb, bilinear_matrix(dim1, h), bilinear_matrix(dim1, w))


def test_reference_operators_are_what_they_claim():
    # a 2x area reduction is a 2x2 mean; bilinear upsampling keeps constants
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(resample(x, area_matrix(4, 2), area_matrix(4, 2)), [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_allclose(bilinear_matrix(7, 32).sum(1), np.ones(32))


@pytest.mark.parametrize("size", [32, 64])
def test_high_frequency_target_is_the_papers_i_hf_with_band_config(size):
    torch.manual_seed(0)
    model = build("scale_mae", "tiny")
    out = model(make_pairs(2, size))
    target = out["target"].detach().double().numpy()
    high = torch.from_numpy(official_high_band(target)).float()
    low = torch.from_numpy(
        resample(target, area_matrix(size, size // 2), area_matrix(size, size // 2))
    ).float()
    m = out["mask"][:, None].float()  # [B, 1, h, w], 1 = hidden
    cell = size // m.shape[-1]
    m_high = m.repeat_interleave(cell, 2).repeat_interleave(cell, 3).expand_as(high)
    m_low = m.repeat_interleave(cell // 2, 2).repeat_interleave(cell // 2, 3).expand_as(low)
    se_high = ((out["pred_high"] - high) ** 2)[m_high > 0].mean()  # use_l1_loss=False, the script's default
    mse = ((out["pred_low"] - low) ** 2)[m_low > 0].mean()
    assert out["loss_high"].item() == pytest.approx(se_high.item(), rel=1e-4)
    assert out["loss_low"].item() == pytest.approx(mse.item(), rel=1e-4)


def test_official_band_holds_more_detail_than_one_octave():
    """Energy of the high band on standardised tiles: the official band (all detail finer than 7 px a side)
    holds clearly more than a single Laplacian octave."""
    torch.manual_seed(0)
    model = build("scale_mae", "tiny")
    target = model(make_pairs(4, 64))["target"].detach().double().numpy()
    official = (official_high_band(target) ** 2).mean()
    low = resample(target, area_matrix(64, 32), area_matrix(64, 32))
    octave = ((target - resample(low, bilinear_matrix(32, 64), bilinear_matrix(32, 64))) ** 2).mean()
    assert official > 1.5 * octave


def test_reconstruction_follows_split_pred():
    torch.manual_seed(0)
    out = build("scale_mae", "tiny")(make_pairs(2, 64))
    pred_low = out["pred_low"].detach().double().numpy()
    smooth = resample(
        resample(pred_low, area_matrix(32, 7), area_matrix(32, 7)),
        bilinear_matrix(7, 64),
        bilinear_matrix(7, 64),
    )
    expected = torch.from_numpy(smooth).float() + out["pred_high"].detach()
    torch.testing.assert_close(out["reconstruction"].detach(), expected, atol=1e-5, rtol=1e-5)


def test_one_octave_option_and_bad_band_config():
    torch.manual_seed(0)
    out = build("scale_mae", "tiny", band_config=None)(make_pairs(2))
    target = out["target"].detach().double().numpy()
    low = resample(target, area_matrix(32, 16), area_matrix(32, 16))
    octave = target - resample(low, bilinear_matrix(16, 32), bilinear_matrix(16, 32))
    m = out["mask"][:, None].float().repeat_interleave(8, 2).repeat_interleave(8, 3).expand(-1, 12, -1, -1)
    se = ((out["pred_high"] - torch.from_numpy(octave).float()) ** 2)[m > 0].mean()
    assert out["loss_high"].item() == pytest.approx(se.item(), rel=1e-4)
    with pytest.raises(ValueError, match="band_config"):
        build("scale_mae", "tiny", band_config=(0, 56))
    with pytest.raises(ValueError, match=r"band_config\[0\] = 40 must be .* below the tile side 32"):
        build("scale_mae", "tiny", band_config=(40, 56))(make_pairs(2))


def test_super_resolve_doubles_the_resolution():
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", target_scale=2, loss_masking=False).eval()
    s2 = make_pairs(2, 32)["s2"]
    with torch.no_grad():
        out = model.super_resolve(s2=s2, gsd=20.0)
    assert tuple(out["reconstruction"].shape) == (2, 12, 64, 64)
    assert tuple(out["pred_low"].shape) == (2, 12, 32, 32) and tuple(out["pred_high"].shape) == (
        2,
        12,
        64,
        64,
    )
    one = build("scale_mae", "tiny", loss_masking=False).eval()
    with torch.no_grad():
        assert tuple(one.super_resolve(s2=s2)["reconstruction"].shape) == (2, 12, 32, 32)


def test_super_resolve_warns_when_visible_outputs_were_never_trained():
    """With the masked loss the decoder's outputs at visible positions get no gradient (next test), and
    ``super_resolve`` reads only those: it says so."""
    s2 = make_pairs(2, 32)["s2"]
    with pytest.warns(UserWarning, match="loss_masking=True"):
        build("scale_mae", "tiny").eval().super_resolve(s2=s2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build("scale_mae", "tiny", loss_masking=False).eval().super_resolve(s2=s2)


def test_super_resolve_encodes_like_pretraining(monkeypatch):
    """Pretraining with target_scale=2 encodes the 10 m tile area-downsampled to 20 m, with the 20 m GSD
    encoding; super_resolve on the 20 m tile must give the encoder exactly that input and encoding."""
    from xmodal_lab.models.scale_mae import ScaleMAE

    seen = []
    original = ScaleMAE.forward_encoder

    def spy(self, x, res, mask_ratio=0.0):
        seen.append((x.detach().clone(), res.clone()))
        return original(self, x, res, mask_ratio)

    monkeypatch.setattr(ScaleMAE, "forward_encoder", spy)
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", target_scale=2, loss_masking=False)
    fine = make_pairs(2, 64)["s2"]
    model({"s2": fine, "gsd": torch.tensor([10.0, 10.0])})
    coarse = torch.from_numpy(
        resample(fine.double().numpy(), area_matrix(64, 32), area_matrix(64, 32))
    ).float()
    model.super_resolve(s2=coarse, gsd=20.0)
    (x_train, res_train), (x_sr, res_sr) = seen
    torch.testing.assert_close(x_sr, x_train, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(res_train, torch.full((2,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(res_sr, res_train)


def test_super_resolution_training_loss_falls():
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", target_scale=2)
    first, last = overfit(model, make_pairs(2, 64), steps=60)
    print(f"scale-mae target_scale=2: loss {first:.3f} -> {last:.3f}")
    assert last < 0.5 * first


def test_loss_masking_off_counts_every_patch():
    """``loss_masking=False`` (the official ``--no_loss_masking`` switch): the loss is the plain mean over every
    pixel and band, visible patches included; the default counts hidden patches only (tested above)."""
    torch.manual_seed(0)
    model = build("scale_mae", "tiny", loss_masking=False)
    assert build("scale_mae", "tiny").config.loss_masking is True  # the paper's default
    out = model(make_pairs(2, 32))
    target = out["target"].detach().double().numpy()
    high = torch.from_numpy(official_high_band(target)).float()
    low = torch.from_numpy(resample(target, area_matrix(32, 16), area_matrix(32, 16))).float()
    assert out["loss_high"].item() == pytest.approx(((out["pred_high"] - high) ** 2).mean().item(), rel=1e-4)
    assert out["loss_low"].item() == pytest.approx(((out["pred_low"] - low) ** 2).mean().item(), rel=1e-4)
    assert 0.7 < out["mask"].float().mean().item() < 0.8  # the encoder still sees a quarter of the patches


def test_visible_outputs_train_only_without_loss_masking():
    """With the masked loss, no gradient reaches the decoder through a visible position; with
    ``loss_masking=False`` it does: the pathway ``super_resolve`` reads."""
    for loss_masking, reaches in ((True, False), (False, True)):
        torch.manual_seed(0)
        model = build("scale_mae", "tiny", loss_masking=loss_masking)
        out = model(make_pairs(2, 32))
        visible = (out["mask"] == 0)[:, None].repeat_interleave(8, 2).repeat_interleave(8, 3)
        grad = torch.autograd.grad(out["loss"], out["pred_high"], retain_graph=True)[0]
        assert bool((grad.abs() * visible).sum() > 0) is reaches


def test_decoder_heads_have_the_official_layout():
    """The official ``FPNHead`` and ``FCNHead(decoder_dim, fcn_dim=512, fcn_layers=2, 3)`` (RGB): a 1x1
    projection, blocks of a grouped 3x3 (``hidden // 2`` groups) and a 1x1 convolution plus a 1x1 residual, then
    LayerNorm, ConvTranspose x4 to ``hidden // 2``, a grouped 3x3 to ``hidden // 4``, a 1x1 back to
    ``hidden // 2`` and ConvTranspose x2 to the bands; the shapes written out from those definitions."""
    with torch.device("meta"):
        model = build("scale_mae", "base", s2_bands=(3, 2, 1))
    h, d = 512, 512
    block = {"convs.1.weight": (h // 2, 2, 3, 3), "convs.1.bias": (h // 2,), "convs.3.weight": (h, h // 2, 1, 1),
             "convs.3.bias": (h,), "residual.weight": (h, h, 1, 1), "residual.bias": (h,)}  # fmt: skip
    official = {"proj.weight": (h, d, 1, 1), "proj.bias": (h,)}
    official |= {f"conv_blocks.{i}.{k}": v for i in range(2) for k, v in block.items()}
    official |= {
        "pred.0.ln.weight": (h,), "pred.0.ln.bias": (h,),
        "pred.1.weight": (h, h // 2, 4, 4), "pred.1.bias": (h // 2,),  # ConvTranspose2d(k=4, s=4)
        "pred.3.weight": (h // 4, 2, 3, 3), "pred.3.bias": (h // 4,),
        "pred.5.weight": (h // 2, h // 4, 1, 1), "pred.5.bias": (h // 2,),
        "pred.7.weight": (h // 2, 3, 2, 2), "pred.7.bias": (3,),  # ConvTranspose2d(k=2, s=2)
    }  # fmt: skip
    for head in (model.fcn_high, model.fcn_low):
        assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == official
    # FPNHead: fpn1 = ConvTranspose x2, LayerNorm, GELU, ConvTranspose x2 (high band); fpn2 = ConvTranspose x2
    up = {"weight": (d, d, 2, 2), "bias": (d,)}
    fpn = {f"fpn1.{i}.{k}": v for i in (0, 3) for k, v in up.items()} | {
        f"fpn2.0.{k}": v for k, v in up.items()
    }
    fpn |= {"fpn1.1.ln.weight": (d,), "fpn1.1.ln.bias": (d,)}
    assert {k: tuple(v.shape) for k, v in model.fpn.state_dict().items()} == fpn
    assert model.fcn_high.pred[1].stride == (4, 4) and model.fcn_high.pred[7].stride == (2, 2)
