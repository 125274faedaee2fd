"""Published-weight conversion: torchgeo's CROMA / ScaleMAE (random weights, small configs) give our encodings."""

from __future__ import annotations

import pytest
import torch
from torchgeo.models.croma import CROMA as TorchgeoCROMA
from torchgeo.models.scale_mae import ScaleMAE as TorchgeoScaleMAE

from xmodal_lab.models.convert import croma_from_official, croma_from_torchgeo, scale_mae_from_torchgeo

PARTS = ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")


def _jitter(model: torch.nn.Module) -> torch.nn.Module:
    """Perturb every parameter so that LayerNorm affines and biases are not at their trivial init."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _identity_norms(model: torch.nn.Module) -> None:
    """Published models take pre-normalised inputs: make our InputNorm a no-op for the comparison."""
    for name in ("norm_s1", "norm_s2"):
        if hasattr(model, name):
            norm = getattr(model, name)
            norm.set_stats(torch.zeros(norm.mean.numel()), torch.ones(norm.mean.numel()))


@pytest.fixture(scope="module")
def torchgeo_croma():
    torch.manual_seed(0)
    return _jitter(TorchgeoCROMA(encoder_dim=64, encoder_depth=2, num_heads=16, patch_size=8, image_size=32))


def test_croma_from_torchgeo_matches_encodings(torchgeo_croma):
    ours = croma_from_torchgeo(torchgeo_croma)
    _identity_norms(ours)
    assert (ours.config.embed_dim, ours.config.optical_depth, ours.config.radar_depth) == (64, 2, 1)
    assert ours.config.qkv_bias is False and ours.config.num_heads == 16
    torch.manual_seed(2)
    s1, s2 = torch.randn(3, 2, 32, 32), torch.randn(3, 12, 32, 32)
    with torch.no_grad():
        ref, got = torchgeo_croma(s1, s2), ours.encode(s1, s2)
        emb = ours.embed(s1=s1, s2=s2)
    assert (
        set(ref)
        == set(got)
        == {f"{m}_{k}" for m in ("sar", "optical", "joint") for k in ("encodings", "GAP")}
    )
    for key in ref:
        assert torch.allclose(ref[key], got[key], atol=1e-5), key
    # converted models embed with the published GAP representations
    assert torch.allclose(emb["s1"], ref["sar_GAP"], atol=1e-5) and torch.allclose(
        emb["joint"], ref["joint_GAP"], atol=1e-5
    )


def test_croma_from_official_checkpoint_layout(torchgeo_croma, tmp_path):
    sd = torchgeo_croma.state_dict()
    official = {p: {k[len(p) + 1 :]: v for k, v in sd.items() if k.startswith(p + ".")} for p in PARTS}
    torch.save(official, tmp_path / "CROMA_tiny.pt")
    a, b = croma_from_torchgeo(torchgeo_croma), croma_from_official(tmp_path / "CROMA_tiny.pt")
    published = ("radar_encoder.", "optical_encoder.", "cross_encoder.", "gap_ffn_")
    loaded = [k for k in a.state_dict() if k.startswith(published)]
    assert len(loaded) == len([k for k in sd if k != "attn_bias"]) - 1  # to_k and to_v become one kv
    for k in loaded:
        assert torch.equal(a.state_dict()[k], b.state_dict()[k]), k
    assert torch.allclose(
        a.radar_encoder.patch_embed.proj.weight.flatten(1), sd["s1_encoder.linear_input.weight"]
    )


def test_croma_single_modality_and_unknown_keys():
    torch.manual_seed(0)
    tg = _jitter(
        TorchgeoCROMA(modalities=["optical"], encoder_dim=32, encoder_depth=2, num_heads=16, image_size=16)
    )
    ours = croma_from_torchgeo(tg)
    _identity_norms(ours)
    x = torch.randn(2, 12, 16, 16)
    with torch.no_grad():
        assert torch.allclose(tg(x_optical=x)["optical_GAP"], ours.encode(s2=x)["optical_GAP"], atol=1e-5)
    sd = dict(tg.state_dict(), **{"s2_encoder.extra.weight": torch.zeros(1)})
    with pytest.raises(KeyError, match="does not map"):
        croma_from_torchgeo(sd)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        croma_from_torchgeo("missing.pt")


@pytest.mark.parametrize("res", [1.0, 2.5])
def test_scale_mae_from_torchgeo_matches_encoder(res):
    torch.manual_seed(0)
    tg = TorchgeoScaleMAE(
        res=res, img_size=32, patch_size=8, in_chans=12, embed_dim=64, depth=2, num_heads=4, num_classes=0
    )
    tg = _jitter(tg)
    ours = scale_mae_from_torchgeo(tg, num_heads=4)
    _identity_norms(ours)
    assert (ours.config.embed_dim, ours.config.depth, ours.config.patch_size) == (64, 2, 8)
    x = torch.randn(3, 12, 32, 32)
    gsd = res * ours.config.reference_gsd  # torchgeo takes the ratio, we take metres
    with torch.no_grad():
        ref = tg.forward_features(x)  # [B, 1 + N, D], class token first
        tokens, _, _, _ = ours.encode(ours.norm_s2(x), ours.gsd_ratio(gsd, 3))
        feats = ours.features(s2=x, gsd=gsd)["s2"]
    assert torch.allclose(ref, tokens, atol=1e-5)
    assert torch.allclose(feats.flatten(2).transpose(1, 2), ref[:, 1:], atol=1e-5)
    # torchgeo pools the class token
    cls_model = scale_mae_from_torchgeo(tg.state_dict(), num_heads=4, pool="cls")
    _identity_norms(cls_model)
    with torch.no_grad():
        assert torch.allclose(cls_model.embed(s2=x, gsd=gsd)["s2"], tg(x), atol=1e-5)


def test_scale_mae_rgb_weights_read_rgb_bands():
    torch.manual_seed(0)
    tg = _jitter(
        TorchgeoScaleMAE(
            img_size=16, patch_size=8, in_chans=3, embed_dim=32, depth=1, num_heads=2, num_classes=0
        )
    )
    ours = scale_mae_from_torchgeo({"model": tg.state_dict()}, num_heads=2)
    assert ours.config.s2_bands == (3, 2, 1)
    _identity_norms(ours)
    s2 = torch.randn(2, 12, 16, 16)
    with torch.no_grad():
        assert torch.allclose(
            ours.features(s2=s2)["s2"].flatten(2).transpose(1, 2),
            tg.forward_features(s2[:, [3, 2, 1]])[:, 1:],
            atol=1e-5,
        )
    with pytest.raises(KeyError, match="lack encoder parameters"):
        scale_mae_from_torchgeo({k: v for k, v in tg.state_dict().items() if k != "norm.weight"}, num_heads=2)
