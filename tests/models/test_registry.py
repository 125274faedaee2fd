"""Registry: build by name and preset, overrides, the uniform model interface, clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from model_helpers import make_pairs

from xmodal_lab.models import MODELS, build, get_config, list_models
from xmodal_lab.models.registry import config_from_dict

NAMES = ["contrastive", "scale_mae", "croma", "skysense", "mmearth"]


def test_every_model_has_three_presets():
    assert set(list_models()) == set(NAMES)
    for name in NAMES:
        assert {"tiny", "small", "base"} <= set(list_models()[name])


@pytest.mark.parametrize("name", NAMES)
def test_uniform_interface(name):
    """forward -> scalar loss; embed -> [B, D] per modality; features -> [B, D, h, w]; extra batch keys ignored."""
    torch.manual_seed(0)
    model = build(name)
    assert model.name == name and dataclasses.is_dataclass(model.config)
    b = make_pairs(2)
    assert model(b)["loss"].ndim == 0
    model.eval()
    with torch.no_grad():
        emb = model.embed(s1=b["s1"], s2=b["s2"], gsd=b["gsd"])
        feats = model.features(s1=b["s1"], s2=b["s2"], gsd=b["gsd"])
    assert emb and set(emb) <= {"s1", "s2", "joint"} and set(feats) == set(emb)
    assert all(v.ndim == 2 and v.shape[0] == 2 for v in emb.values())
    grid = 32 // model.config.patch_size
    assert all(v.ndim == 4 and v.shape[0] == 2 and v.shape[-2:] == (grid, grid) for v in feats.values())


def test_overrides_change_one_field():
    model = build("croma", "tiny", embed_dim=32, num_heads=2)
    assert (
        model.config.embed_dim == 32
        and model.config.optical_depth == MODELS["croma"].presets["tiny"].optical_depth
    )
    assert get_config("scale_mae", "small", mask_ratio=0.5).mask_ratio == 0.5
    assert MODELS["scale_mae"].presets["small"].mask_ratio == 0.75  # presets are never mutated


def test_config_round_trip_through_dict():
    cfg = get_config("scale_mae", "tiny", s2_bands=(3, 2, 1))
    assert config_from_dict("scale_mae", dataclasses.asdict(cfg) | {"s2_bands": [3, 2, 1]}) == cfg


def test_clear_errors():
    with pytest.raises(KeyError, match="unknown model 'clip'"):
        build("clip")
    with pytest.raises(KeyError, match="no preset 'huge'"):
        build("croma", "huge")
    with pytest.raises(TypeError, match="no field"):
        build("croma", "tiny", widht=3)
