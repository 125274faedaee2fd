"""A trained segmentation model (encoder + head) survives fit's checkpoint and the model file, bit for bit."""

from __future__ import annotations

import pytest
import torch

from xmodal_lab.data.collate import collate_pairs
from xmodal_lab.data.floods import SimulatedFloods
from xmodal_lab.errors import CheckpointError
from xmodal_lab.models import SegmentationModel, build, load_model, save_model
from xmodal_lab.train import fit, load_checkpoint
from xmodal_lab.train.checkpoint import checkpoint_info


@pytest.fixture(scope="module")
def scenes():
    return SimulatedFloods(seed=6, size=16, n_scenes=12)


def _trained(scenes, **kwargs) -> SegmentationModel:
    torch.manual_seed(0)
    seg = SegmentationModel(build("croma", preset="tiny", img_size=16), 2, head_dim=8, **kwargs)
    seg, _ = fit(seg, scenes, max_steps=3, batch_size=4, lr=3e-3, normalize=False, progress=False)
    return seg.eval()


@pytest.mark.parametrize(
    "kwargs",
    [{"modality": "s1"}, {"modality": "joint", "freeze_encoder": False, "class_weights": [0.3, 0.7]}],
)
def test_checkpoint_reloads_the_whole_model_with_identical_outputs(scenes, tmp_path, kwargs):
    path = tmp_path / "seg.ckpt"
    torch.manual_seed(0)
    seg = SegmentationModel(build("croma", preset="tiny", img_size=16), 2, head_dim=8, **kwargs)
    seg, _ = fit(seg, scenes, max_steps=3, batch_size=4, lr=3e-3, normalize=False, progress=False,
                 checkpoint=path)  # fmt: skip
    info = checkpoint_info(path)
    assert info["name"] == "segmentation" and info["config"]["encoder"] == "croma"
    assert info["config"]["modality"] == kwargs["modality"] and info["config"]["head_dim"] == 8
    loaded, _ = load_checkpoint(path)
    assert isinstance(loaded, SegmentationModel) and not loaded.training
    assert loaded.freeze_encoder == kwargs.get("freeze_encoder", True)
    if "class_weights" in kwargs:
        assert torch.allclose(loaded.class_weights, torch.tensor(kwargs["class_weights"]))
    batch = collate_pairs([scenes[i] for i in range(4)])
    seg.eval()
    with torch.no_grad():
        a, b = seg(batch), loaded(batch)
    assert torch.equal(a["logits"], b["logits"]) and torch.equal(a["loss"], b["loss"])
    state, again = seg.state_dict(), loaded.state_dict()
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)


def test_model_file_round_trip_and_no_overwrite(scenes, tmp_path):
    seg = _trained(scenes)
    path = save_model(seg, tmp_path / "seg.pt")
    loaded = load_model(path)
    batch = collate_pairs([scenes[i] for i in range(3)])
    assert torch.equal(seg.predict(batch), loaded.predict(batch))
    with torch.no_grad():
        assert torch.equal(seg.logits(batch), loaded.logits(batch))
    with pytest.raises(FileExistsError):
        save_model(seg, path)


def test_bad_segmentation_configs_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown encoder"):
        SegmentationModel.from_config({"encoder": "vit_huge"})
    with pytest.raises(ValueError, match="fields"):
        SegmentationModel.from_config({"encoder": "croma", "heads": 3})
    torch.save({"name": "segmentation", "config": {"encoder": "nope"}, "state_dict": {}}, tmp_path / "x.pt")
    with pytest.raises((CheckpointError, ValueError), match="unknown encoder"):
        load_model(tmp_path / "x.pt")
