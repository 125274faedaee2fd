"""Published-weight conversion: torchgeo's CROMA / ScaleMAE / ResNet-50 (random weights, small configs), saved
in their published layouts, give our encodings; keys that fit no parameter are named."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import nn
from torchgeo.models import resnet50
from torchgeo.models.croma import CROMA as TorchgeoCROMA
from torchgeo.models.scale_mae import ScaleMAE as TorchgeoScaleMAE

import xmodal_lab
from xmodal_lab.errors import CheckpointError
from xmodal_lab.models import build
from xmodal_lab.weights import (
    croma_from_torchgeo,
    load_published,
    resnet50_from_torchgeo,
    scale_mae_from_torchgeo,
)

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
    a, b = croma_from_torchgeo(torchgeo_croma), croma_from_torchgeo(tmp_path / "CROMA_tiny.pt")
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
    with pytest.raises(CheckpointError, match="'s2_encoder.extra.weight', which maps to no parameter"):
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
        tokens, _, _, _ = ours.forward_encoder(ours.norm_s2(x), ours.gsd_ratio(gsd, 3))
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
    with pytest.raises(CheckpointError, match=r"lack parameters: \['encoder.norm.weight'\]"):
        scale_mae_from_torchgeo({k: v for k, v in tg.state_dict().items() if k != "norm.weight"}, num_heads=2)


def test_resnet50_from_published_file(tmp_path):
    tg = _jitter(resnet50(in_chans=13))  # timm's resnet50 with a 13-band stem, the published layout
    torch.save(dict(tg.state_dict(), **{"fc.weight": torch.zeros(1000, 2048)}), tmp_path / "rn50.pth")
    ours = resnet50_from_torchgeo(tmp_path / "rn50.pth")
    assert ours.in_chans == 13 and not ours.training
    x = torch.randn(1, 13, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours.feature_map(x), tg.forward_features(x), atol=1e-5)
    sd = tg.state_dict()
    with pytest.raises(CheckpointError, match="'layer5.0.weight', which maps to no parameter"):
        resnet50_from_torchgeo(dict(sd, **{"layer5.0.weight": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="lack parameters: .*layer4.2.bn3.weight"):
        resnet50_from_torchgeo({k: v for k, v in sd.items() if k != "layer4.2.bn3.weight"})
    with pytest.raises(CheckpointError, match="shape mismatch for .bn1.bias."):
        resnet50_from_torchgeo(dict(sd, **{"bn1.bias": torch.zeros(3)}))


class _Published(nn.Module):
    """A timm-style layout: encoder parts at the top level."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, 4))
        self.blocks = nn.ModuleList([nn.Linear(4, 4)])
        self.norm = nn.LayerNorm(4)


class _Kit(nn.Module):
    """The same parameters under the kit's module paths (``encoder.*``)."""

    name = "scale_mae"

    def __init__(self) -> None:
        super().__init__()
        self.encoder = _Published()
        self.head = nn.Linear(4, 2)


def test_rename_applies_only_where_the_model_lacks_the_published_key():
    published = _Published().state_dict()
    kit = load_published(_Kit(), published, require="encoder.")
    for key, value in published.items():
        assert torch.equal(kit.state_dict()[f"encoder.{key}"], value)
    same = load_published(_Published(), published, require="")  # names the model holds load as they are
    assert all(torch.equal(same.state_dict()[k], v) for k, v in published.items())
    with pytest.raises(CheckpointError, match="'pos_embed', which maps to no parameter"):
        load_published(_Kit(), dict(published, pos_embed=torch.zeros(1)))
    with pytest.raises(CheckpointError, match="lack parameters: .*encoder.norm.bias"):
        load_published(_Kit(), {k: v for k, v in published.items() if k != "norm.bias"}, require="encoder.")


def test_mmearth_decoder_loads_from_the_published_names():
    torch.manual_seed(0)
    model = build("mmearth", "tiny")
    # the published names of the decoder, whichever names the model itself uses
    published = (("decoder.embed.", "decoder_embed."), ("decoder.mask_token", "mask_token"),
                 ("decoder.blocks.", "decoder."), ("decoder.norm.", "decoder_norm."))  # fmt: skip
    state = {}
    for key, value in model.state_dict().items():
        for kit, theirs in published:
            if key.startswith(kit):
                key = theirs + key[len(kit) :]
                break
        state[key] = value
    assert {"decoder_embed.weight", "mask_token", "decoder.0.attn.qkv.weight", "decoder_norm.weight"} <= set(
        state
    )
    torch.manual_seed(1)
    other = load_published(build("mmearth", "tiny"), state, require="")
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), other.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2), k1


def test_models_and_data_never_import_weights():
    package = Path(xmodal_lab.__file__).parent
    for path in [*package.glob("models/*.py"), *package.glob("data/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []  # absolute or relative
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any("weights" in n.split(".") for n in names), path.name
