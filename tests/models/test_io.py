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


# --- safetensors with a model card -------------------------------------------------------------------------

CARD = {"data": "SimulatedWorld, seed 0, 64 pairs of 32 px", "metrics": {"recall@1": 0.75, "mrr": 0.8}}


def _state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]) for k in sa
    )


@pytest.mark.parametrize("name", ["contrastive", "scale_mae", "croma", "mmearth", "skysense"])
def test_safetensors_round_trip_is_bit_identical_with_a_card(name, tmp_path):
    import json

    from safetensors import safe_open

    torch.manual_seed(0)
    model = build(name, "tiny").eval()
    model.norm_s2.set_stats(torch.linspace(0.05, 0.3, 12), torch.full((12,), 0.1))
    path = save_model(model, tmp_path / name, card=CARD)  # no suffix: safetensors
    assert path == tmp_path / f"{name}.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}{s}" for s in (".json", ".md", ".safetensors")
    )
    with safe_open(str(path), framework="pt") as f:  # any safetensors reader opens it
        assert set(f.keys()) == set(model.state_dict()) and f.metadata()["name"] == name
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config and _state_equal(model, loaded)
    card = json.loads((tmp_path / f"{name}.json").read_text())
    import xmodal_lab

    assert card["name"] == name and card["config"]["embed_dim"] == model.config.embed_dim
    assert card["xmodal_lab_version"] == xmodal_lab.__version__ and card["data"] == CARD["data"]
    assert card["metrics"] == CARD["metrics"] and card["parameters"] == sum(
        p.numel() for p in model.parameters()
    )
    assert set(card["input"]) == {k for k in ("s1", "s2") if hasattr(model, f"norm_{k}")}
    assert card["input"].get("s1", {"bands": ["VV", "VH"]})["bands"] == ["VV", "VH"]
    assert len(card["input"]["s2"]["bands"]) == 12
    np_mean = card["input"]["s2"]["mean"]
    assert np_mean == pytest.approx(torch.linspace(0.05, 0.3, 12).tolist())
    text = (tmp_path / f"{name}.md").read_text()
    assert f"# {name} (xmodal_lab" in text and "recall@1" in text and CARD["data"] in text
    assert f'load_model("{name}.safetensors")' in text


def test_old_pt_files_still_load(tmp_path):
    torch.manual_seed(1)
    model = build("croma", "tiny").eval()
    import dataclasses

    old = tmp_path / "old.pt"  # written the way earlier kits did, without a card
    torch.save(
        {"name": "croma", "config": dataclasses.asdict(model.config), "state_dict": model.state_dict()}, old
    )
    assert _state_equal(model, load_model(old))
    new_pt = save_model(model, tmp_path / "new.pt", card=CARD)  # .pt still writes one torch file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.pt", "old.pt"]
    assert _state_equal(model, load_model(new_pt))
    from xmodal_lab.models.io import read_card

    assert read_card(new_pt)["metrics"] == CARD["metrics"] and read_card(old) is None


def test_tampered_or_foreign_safetensors_are_refused(tmp_path):
    from safetensors.torch import save_file

    from xmodal_lab.errors import CheckpointError

    model = build("contrastive", "tiny")
    path = save_model(model, tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one byte of the last tensor
    (tmp_path / "t.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(tmp_path / "t.safetensors")
    (tmp_path / "short.safetensors").write_bytes(path.read_bytes()[:-100])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "short.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_model(tmp_path / "junk.safetensors")
    save_file(dict(model.state_dict()), str(tmp_path / "foreign.safetensors"))  # no kit header
    with pytest.raises(CheckpointError, match="another tool"):
        load_model(tmp_path / "foreign.safetensors")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "none.safetensors")


def test_a_card_of_another_model_is_refused(tmp_path):
    from xmodal_lab.errors import CheckpointError

    a = save_model(build("contrastive", "tiny"), tmp_path / "a.safetensors")
    save_model(build("croma", "tiny"), tmp_path / "b.safetensors")
    (tmp_path / "a.json").unlink()
    (tmp_path / "b.json").rename(tmp_path / "a.json")  # croma's card beside the contrastive weights
    with pytest.raises(CheckpointError, match="another model"):
        load_model(a)
    (tmp_path / "a.json").unlink()
    assert load_model(a).name == "contrastive"  # weights alone still load: the header names the model
    save_model(build("contrastive", "tiny"), tmp_path / "c.safetensors")
    save_model(build("contrastive", "tiny", embed_dim=32, num_heads=2), tmp_path / "d.safetensors")
    (tmp_path / "d.json").replace(tmp_path / "c.json")  # same model, another config
    with pytest.raises(CheckpointError, match="another model"):
        load_model(tmp_path / "c.safetensors")


def test_non_finite_weights_are_refused(tmp_path):
    from xmodal_lab.errors import CheckpointError

    model = build("contrastive", "tiny")
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    path = save_model(model, tmp_path / "nan.safetensors")
    with pytest.raises(CheckpointError, match="NaN"):
        load_model(path)


def test_three_files_are_published_all_or_none(tmp_path, monkeypatch):
    from xmodal_lab.errors import OutputExistsError
    from xmodal_lab.models import io

    model = build("contrastive", "tiny")
    (tmp_path / "m.md").write_text("someone's notes")
    with pytest.raises(OutputExistsError, match="m.md"):
        save_model(model, tmp_path / "m.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.md"]
    assert (tmp_path / "m.md").read_text() == "someone's notes"

    def racing_card(info):  # the weights' name is taken while the cards are being written
        (tmp_path / "r.safetensors").write_bytes(b"another run")
        return "card"

    monkeypatch.setattr(io, "card_markdown", racing_card)
    with pytest.raises(OutputExistsError, match="appeared while writing"):
        save_model(model, tmp_path / "r.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.md", "r.safetensors"]  # no card, no temporary
    assert (tmp_path / "r.safetensors").read_bytes() == b"another run"

    def failing_card(info):
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(io, "card_markdown", failing_card)
    with pytest.raises(RuntimeError, match="disk trouble"):
        save_model(model, tmp_path / "f.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.md", "r.safetensors"]


def test_overwrite_replaces_all_three_and_names_are_checked(tmp_path):
    from xmodal_lab.errors import InputValueError

    path = save_model(build("contrastive", "tiny"), tmp_path / "m.safetensors", card={"data": "first"})
    save_model(
        build("contrastive", "tiny", embed_dim=32, num_heads=2), path, overwrite=True, card={"data": "second"}
    )
    assert load_model(path).config.embed_dim == 32 and "second" in (tmp_path / "m.md").read_text()
    with pytest.raises(InputValueError, match=".safetensors, .pt or .pth"):
        save_model(build("contrastive", "tiny"), tmp_path / "m.bin")
    with pytest.raises(InputValueError, match="metrics"):
        save_model(
            build("contrastive", "tiny"), tmp_path / "x.safetensors", card={"metrics": {"iou": "high"}}
        )


def test_stac_item_describes_the_model(tmp_path):
    import json

    from pystac import STACObjectType, STACValidationError
    from pystac.validation.stac_validator import JsonSchemaSTACValidator

    from xmodal_lab.models import model_stac_item

    model = build("croma", "tiny").eval()
    path = save_model(model, tmp_path / "croma.safetensors", card=CARD)
    item_path = model_stac_item(path)
    assert item_path == tmp_path / "croma.stac.json"
    item = json.loads(item_path.read_text())
    validator = JsonSchemaSTACValidator()  # the core item schema ships with pystac: no network
    assert validator.validate_core(item, STACObjectType.ITEM, item["stac_version"], str(item_path))
    with pytest.raises(STACValidationError):
        validator.validate_core({**item, "assets": []}, STACObjectType.ITEM, item["stac_version"])
    assert any("/mlm/" in uri for uri in item["stac_extensions"])
    props = item["properties"]
    # the required fields of the MLM schema (stac-extensions/mlm json-schema/schema.json)
    for key in ("mlm:name", "mlm:architecture", "mlm:framework", "mlm:tasks", "mlm:input", "mlm:output"):
        assert props.get(key), key
    import re

    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_.-]+[a-zA-Z0-9]", props["mlm:name"])
    inputs = {i["name"]: i for i in props["mlm:input"]}
    for entry in inputs.values():
        assert {"name", "bands", "input"} <= set(entry) and {"shape", "dim_order", "data_type"} <= set(
            entry["input"]
        )
    output = props["mlm:output"][0]
    assert {"name", "tasks", "result"} <= set(output)
    weights = [a for a in item["assets"].values() if "mlm:model" in a["roles"]]
    assert len(weights) == 1 and weights[0]["href"] == "./croma.safetensors"
    assert weights[0]["mlm:artifact_type"] == "safetensors"
    assert [b["name"] for b in weights[0]["bands"]] == inputs["s1"]["bands"] + inputs["s2"]["bands"]
    # the shapes it states are those the model takes and gives
    s1 = torch.randn([2, *inputs["s1"]["input"]["shape"][1:]])
    s2 = torch.rand([2, *inputs["s2"]["input"]["shape"][1:]])
    assert inputs["s1"]["bands"] == ["VV", "VH"] and s2.shape[1] == 12
    with torch.no_grad():
        out = model.embed(s1=s1, s2=s2)
    assert list(out["s1"].shape[1:]) == output["result"]["shape"][1:]
    with pytest.raises(FileExistsError):
        model_stac_item(path)  # never over an existing item


def test_a_full_disk_publishes_none_of_the_three(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from xmodal_lab.errors import OutputWriteError

    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.suffix == ".md":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OutputWriteError, match="disk is full"):
        save_model(build("contrastive", "tiny"), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []  # no weights, no card, no temporary file


def test_hub_folder_round_trip_offline(tmp_path):
    from xmodal_lab.models import from_pretrained, save_pretrained

    torch.manual_seed(2)
    model = build("croma", "tiny").eval()
    weights = save_pretrained(model, tmp_path / "croma-tiny", card=CARD)  # the folder is created
    assert sorted(p.name for p in weights.parent.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert (weights.parent / "README.md").read_text().startswith("---\nlibrary_name: xmodal_lab\n")
    assert _state_equal(model, from_pretrained(tmp_path / "croma-tiny"))  # a local folder: no network
