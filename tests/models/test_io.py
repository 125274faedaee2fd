"""save_model / load_model: identical outputs after a round trip, normalisation saved, no silent overwrite."""

from __future__ import annotations

import pytest
import torch
from model_helpers import make_pairs

from xmodal_lab.models import build, load_model, save_model


@pytest.mark.parametrize("name", ["contrastive", "scale_mae", "croma"])
def test_round_trip_gives_identical_outputs(name, tmp_path):
    torch.manual_seed(0)
    model = build(name, "tiny").eval()
    model.norm_s2.set_stats(torch.linspace(0.05, 0.3, 12), torch.full((12,), 0.1))  # saved with the weights
    path = save_model(model, tmp_path / "sub" / f"{name}.pt")
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    b = make_pairs(2)
    with torch.no_grad():
        e1, e2 = model.embed(s1=b["s1"], s2=b["s2"]), loaded.embed(s1=b["s1"], s2=b["s2"])
        f1, f2 = model.features(s1=b["s1"], s2=b["s2"]), loaded.features(s1=b["s1"], s2=b["s2"])
    assert set(e1) == set(e2)
    for k in e1:
        assert torch.equal(e1[k], e2[k]) and torch.equal(f1[k], f2[k])
    torch.testing.assert_close(loaded.norm_s2.mean.flatten(), torch.linspace(0.05, 0.3, 12))


def test_refuses_to_overwrite(tmp_path):
    model = build("contrastive")
    path = save_model(model, tmp_path / "m.pt")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(build("contrastive", embed_dim=32, num_heads=2), path)
    assert path.read_bytes() == before
    save_model(build("contrastive", embed_dim=32, num_heads=2), path, overwrite=True)
    assert load_model(path).config.embed_dim == 32


def test_clear_errors(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(missing)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a model file"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(TypeError, match="registry"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "lin.pt")
