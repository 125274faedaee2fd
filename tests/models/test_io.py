"""save_model / load_model: identical outputs after a round trip, normalisation saved, no silent overwrite."""

from __future__ import annotations

import pytest
import torch
from model_helpers import make_pairs

from xmodal_lab.models import build, load_model, save_model
from xmodal_lab.models.io import read_card


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


RUN = {"lr": 0.002, "total_steps": 8, "step": 8, "fit": {"batch_size": 16, "seed": 0, "grad_clip": 1.0},
       "run_config": {"model": "croma", "set": {"img_size": 16}, "fit": {"fit_config": {"precision": None}}}}  # fmt: skip


def test_the_card_records_the_training_run_and_keeps_it_through_a_reload(tmp_path):
    import json

    model = build("croma", "tiny").eval()
    plain = json.loads(save_model(model, tmp_path / "plain.safetensors").with_suffix(".json").read_text())
    assert plain["training"] is None and "not recorded" in (tmp_path / "plain.md").read_text()
    model.fit_record = RUN  # as fit or load_checkpoint leave it
    path = save_model(model, tmp_path / "run.safetensors", card=CARD)
    assert json.loads(path.with_suffix(".json").read_text())["training"] == RUN
    text = path.with_suffix(".md").read_text()
    assert "## Training run" in text and "| fit.batch_size | 16 |" in text
    assert "| run_config.set.img_size | 16 |" in text and "| run_config.fit.fit_config.precision | null |" in text
    again = save_model(load_model(path), tmp_path / "again.pt")  # the reloaded model keeps its run
    assert read_card(again)["training"] == RUN and read_card(again)["data"] is None
    torch.save({**torch.load(again, weights_only=True), "card": "written by hand"}, tmp_path / "odd.pt")
    assert load_model(tmp_path / "odd.pt").fit_record is None  # a card that is not a dict is no run


class _Hub:
    """HfApi's two network calls, recorded: the repository made and the folder uploaded (files and contents)."""

    def __init__(self, monkeypatch, fail: Exception | None = None) -> None:
        import huggingface_hub

        self.calls, self.files, self.fail = [], {}, fail
        monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda api, *args, **kw: self.create_repo(*args, **kw))
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda api, **kw: self.upload_folder(**kw))

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        from pathlib import Path

        from xmodal_lab.models import from_pretrained

        self.calls.append(("upload_folder", repo_id, kwargs))
        if self.fail is not None:
            raise self.fail
        self.folder = Path(folder_path)
        self.files = {p.name: p.read_bytes() for p in self.folder.iterdir()}
        self.loaded = from_pretrained(folder_path)
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()


def test_push_to_hub_uploads_the_hub_folder_offline(tmp_path, monkeypatch):
    import dataclasses
    import json

    from xmodal_lab.models import push_to_hub

    hub = _Hub(monkeypatch)
    torch.manual_seed(3)
    model = build("croma", "tiny").eval()
    model.fit_record = RUN
    url = push_to_hub(model, "someone/croma-tiny", card=CARD, private=True, token="hf_not_a_real_token")
    assert url == "https://huggingface.co/someone/croma-tiny/commit/abc"
    assert [c[0] for c in hub.calls] == ["create_repo", "upload_folder"] and hub.calls[0][2]["private"] is True
    assert sorted(hub.files) == ["README.md", "config.json", "model.safetensors"]
    card = json.loads(hub.files["config.json"])
    assert card["name"] == "croma" and card["config"] == json.loads(json.dumps(dataclasses.asdict(model.config)))
    assert card["training"] == RUN and card["metrics"] == CARD["metrics"]
    readme = hub.files["README.md"].decode()
    assert readme.startswith("---\nlibrary_name: xmodal_lab\n") and "## Training run" in readme
    assert _state_equal(model, hub.loaded)
    assert not hub.folder.exists(), "the temporary folder goes after the upload"


def test_push_to_hub_offline_without_a_token_or_refused_fails_naming_the_fix(monkeypatch):
    import huggingface_hub

    from xmodal_lab.errors import OutputWriteError
    from xmodal_lab.models import push_to_hub

    model = build("contrastive", "tiny")
    hub = _Hub(monkeypatch, fail=ConnectionError("Failed to resolve 'huggingface.co'"))
    with pytest.raises(ValueError, match="repo_id: expected 'user/name'"):
        push_to_hub(model, "no-owner", token="hf_x")
    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: True)
    with pytest.raises(OutputWriteError, match="offline mode.*HF_HUB_OFFLINE.*save_pretrained"):
        push_to_hub(model, "someone/m", token="hf_x")
    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(OutputWriteError, match="no Hugging Face token; log in with `hf auth login`"):
        push_to_hub(model, "someone/m")
    assert hub.calls == [], "nothing reaches the network before those checks"
    with pytest.raises(OutputWriteError, match="did not take the upload .ConnectionError: Failed to resolve"):
        push_to_hub(model, "someone/m", token="hf_x")
    assert [c[0] for c in hub.calls] == ["create_repo", "upload_folder"]
