"""Hostile inputs that used to give a silent wrong answer now raise one of the kit's errors naming the argument.

The simulated world's settings, SkySense's locations, model configs (``build`` and the CLI's ``--set``) and
model files with non-finite weights.
"""

from __future__ import annotations

import math

import pytest
import torch

from xmodal_lab.data import SimulatedWorld
from xmodal_lab.errors import CheckpointError, InputValueError
from xmodal_lab.models import build
from xmodal_lab.models.io import load_model, save_model
from xmodal_lab.models.registry import get_config


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"years": (2023, 2018)}, "years"),
        ({"years": (2018,)}, "years"),
        ({"incidence": (-10.0, 40.0)}, "incidence"),
        ({"incidence": (30.0, 200.0)}, "incidence"),
        ({"incidence": (46.0, 30.0)}, "incidence"),
        ({"incidence": (30.0, math.nan)}, "incidence"),
        ({"looks": math.inf}, "looks"),
        ({"looks": math.nan}, "looks"),
    ],
)
def test_world_refuses_meaningless_settings(kwargs, name):
    with pytest.raises(InputValueError, match=name):
        SimulatedWorld(size=8, n_scenes=2, **kwargs)


def test_world_accepts_edge_settings():
    world = SimulatedWorld(size=8, n_scenes=2, years=(2020, 2020), incidence=(35.0, 35.0), looks=1.0)
    pair = world[0]
    assert pair["date"].startswith("2020") and world.place(0).incidence == 35.0
    assert torch.isfinite(pair["s1"]).all()


def _skysense():
    torch.manual_seed(0)
    return build("skysense", "tiny", img_size=16).eval()


def _images(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    world = SimulatedWorld(seed=0, size=16, n_scenes=batch)
    pairs = [world[i] for i in range(batch)]
    return torch.stack([p["s1"] for p in pairs]), torch.stack([p["s2"] for p in pairs])


@pytest.mark.parametrize(
    "lat, lon, name",
    [
        ([200.0, 10.0], [11.0, 11.0], "lat"),
        ([-90.5, 10.0], [11.0, 11.0], "lat"),
        ([math.nan, 10.0], [11.0, 11.0], "lat"),
        ([48.0, 10.0], [400.0, 11.0], "lon"),
        ([48.0, 10.0], [-181.0, 11.0], "lon"),
        ([48.0, 10.0], [math.inf, 11.0], "lon"),
    ],
)
def test_skysense_refuses_impossible_locations(lat, lon, name):
    model = _skysense()
    s1, s2 = _images()
    with pytest.raises(InputValueError, match=name), torch.no_grad():
        model.embed(s1=s1, s2=s2, lat=lat, lon=lon)
    batch = {"s1": s1, "s2": s2, "lat": torch.tensor(lat), "lon": torch.tensor(lon)}
    with pytest.raises(InputValueError, match=name):
        model(batch)


def test_skysense_accepts_the_whole_globe():
    model = _skysense()
    s1, s2 = _images()
    with torch.no_grad():
        west = model.embed(s1=s1, s2=s2, lat=[-90.0, 90.0], lon=[-180.0, 0.0])["joint"]
        east = model.embed(s1=s1, s2=s2, lat=[-90.0, 90.0], lon=[180.0, 359.9])["joint"]
    assert west.shape == east.shape and torch.isfinite(east).all()


@pytest.mark.parametrize(
    "name, overrides, field",
    [
        ("contrastive", {"depth": 0}, "depth"),
        ("skysense", {"patch_size": 0}, "patch_size"),
        ("mmearth", {"num_heads": -1}, "num_heads"),
        ("croma", {"optical_depth": 0}, "optical_depth"),
        ("scale_mae", {"decoder_heads": 0}, "decoder_heads"),
        ("croma", {"embed_dim": 0}, "embed_dim"),
        ("mmearth", {"embed_dim": 60, "num_heads": 8}, "num_heads"),
        ("scale_mae", {"decoder_dim": 30, "decoder_heads": 4}, "decoder_heads"),
        ("contrastive", {"depth": 2.5}, "depth"),
        ("skysense", {"depth": True}, "depth"),
    ],
)
def test_config_check_refuses_empty_or_split_transformers(name, overrides, field):
    with pytest.raises((InputValueError, TypeError), match=field):
        get_config(name, "tiny", **overrides)
    with pytest.raises((InputValueError, TypeError), match=field):
        build(name, "tiny", **overrides)


def test_cli_set_depth_zero_is_a_usage_error(tmp_path, capsys):
    from xmodal_lab.train.__main__ import main

    argv = ["--model", "contrastive", "--set", "depth=0", "--data", "world", "--size", "16", "--n-scenes", "8",
            "--val-size", "0", "--batch-size", "4", "--max-steps", "1", "--no-progress", "--out", str(tmp_path / "x.ckpt")]  # fmt: skip
    with pytest.raises(SystemExit):
        main(argv)
    assert "depth" in capsys.readouterr().err
    assert not (tmp_path / "x.ckpt").exists()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_load_model_refuses_non_finite_weights(tmp_path, bad):
    torch.manual_seed(0)
    model = build("contrastive", "tiny")
    names = [k for k, v in model.state_dict().items() if v.is_floating_point()]
    first, later = names[3], names[-1]
    with torch.no_grad():
        model.state_dict()[later].view(-1)[0] = bad
        model.state_dict()[first].view(-1)[-1] = bad
    path = save_model(model, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=first.replace(".", r"\.")) as info:
        load_model(path)
    assert later not in str(info.value)


def test_load_model_keeps_finite_weights(tmp_path):
    torch.manual_seed(0)
    model = build("croma", "tiny")
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
