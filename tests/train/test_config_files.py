"""``python -m xmodal_lab.train --config``: the example configs run, flags override them, and every run's
config is saved in its checkpoint and beside it, ready to repeat the run."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from xmodal_lab.config import REPO_ROOT
from xmodal_lab.models.registry import MODELS
from xmodal_lab.train import FitConfig, checkpoint_info
from xmodal_lab.train.__main__ import CONFIG_SECTIONS, main, parser, write_config

CONFIGS = sorted((REPO_ROOT / "configs").glob("*.yaml"))
#: A tiny simulated world and two steps, whatever the config asks for (flags override the file).
TINY = ["--max-steps", "2", "--n-scenes", "16", "--size", "16", "--val-size", "0", "--batch-size", "4"]


def test_one_example_config_per_model():
    assert sorted(path.stem for path in CONFIGS) == sorted(MODELS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_example_config_runs_and_its_saved_config_round_trips(path, tmp_path, capsys):
    out = tmp_path / "run.ckpt"
    summary = main(["--config", str(path), *TINY, "--no-progress", "--out", str(out)])
    assert summary["steps"] == 2 and summary["config"] == str(tmp_path / "run.yaml")
    saved = yaml.safe_load((tmp_path / "run.yaml").read_text())
    info = checkpoint_info(out)
    assert info["run_config"] == saved  # the checkpoint's record and the file beside it agree
    example = yaml.safe_load(path.read_text())
    assert saved["model"] == info["name"] == example["model"] == path.stem
    assert saved["fit"]["lr"] == float(example["fit"]["lr"])  # the file's value ...
    assert saved["fit"]["max_steps"] == 2 != example["fit"]["max_steps"]  # ... a flag's override
    assert saved["set"]["img_size"] == info["config"]["img_size"] == 16  # the tiles decided the model's size
    for field, value in example["set"].items():
        assert saved["set"][field] == info["config"][field] == value
    capsys.readouterr()
    again = main(["--config", str(tmp_path / "run.yaml"), "--print-config"])
    assert again == saved and yaml.safe_load(capsys.readouterr().out) == saved


def test_a_run_repeats_from_its_checkpoint_folder(tmp_path):
    first = main(["--config", str(REPO_ROOT / "configs/contrastive.yaml"), *TINY, "--no-progress",
                  "--out", str(tmp_path / "a.ckpt")])  # fmt: skip
    again = main(["--config", str(tmp_path / "a.yaml"), "--out", str(tmp_path / "b.ckpt")])
    assert (again["first_loss"], again["last_loss"]) == (first["first_loss"], first["last_loss"])
    a, b = (yaml.safe_load((tmp_path / f"{x}.yaml").read_text()) for x in "ab")
    assert a["output"]["out"] != b["output"]["out"] and {**a, "output": 0} == {**b, "output": 0}


def test_flags_override_the_file_and_print_config_trains_nothing(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(
        "model: croma\nset: {mask_ratio: 0.5, qkv_bias: true}\ndata: {size: 16}\n"
        "fit: {lr: 0.01, fit_config: {grad_clip: null, devices: 1}}\noutput: {out: x.ckpt}\n"
    )
    argv = ["--config", str(config), "--lr", "0.002", "--set", "mask_ratio=0.6", "--print-config"]
    resolved = main(argv)
    assert yaml.safe_load(capsys.readouterr().out) == resolved
    assert resolved["fit"]["lr"] == 0.002 and resolved["data"]["size"] == 16
    assert resolved["set"] == {"mask_ratio": 0.6, "qkv_bias": True}
    knobs = resolved["fit"]["fit_config"]
    assert knobs["grad_clip"] is None and knobs["devices"] == 1
    assert resolved["fit"]["batch_size"] == 64 and resolved["output"]["out"] == "x.ckpt"  # defaults kept
    assert not (tmp_path / "x.ckpt").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("modle: croma", "unknown key 'modle'; the valid keys are model, preset, set, data, fit, output"),
        ("fit: {max_step: 3}", "unknown key 'fit.max_step'; the valid keys of 'fit' are max_steps,"),
        ("fit: {fit_config: {callbacks: []}}", "unknown key 'fit.fit_config.callbacks'; the valid keys"),
        ("data: {nme: world}", "unknown key 'data.nme'; the valid keys of 'data' are name, root"),
        ("fit: {max_steps: abc}", "fit.max_steps: expected a whole number, got 'abc'"),
        ("fit: {lr: null}", "fit.lr: null is not allowed"),
        ("data: {name: nowhere}", "data.name: 'nowhere' is not one of world, bigearthnet-mm"),
        ("data: {cache: 1}", "data.cache: expected true or false"),
        ("set: [mask_ratio]", "'set' must be a mapping"),
        ("set: {colour: 1}", "no field(s) ['colour']; fields are"),
        ("set: {mask_ratio: high}", "set.mask_ratio=high: CROMAConfig.mask_ratio expects float"),
        ("fit: [", "not valid YAML"),
        ("- croma", "the file must be a mapping"),
    ],
)
def test_bad_config_files_name_the_key(text, message, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(f"model: croma\n{text}\n" if not text.startswith("-") else text)
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(config), "--max-steps", "1", "--out", str(tmp_path / "x.ckpt")])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_missing_config_file_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--config", str(tmp_path / "none.yaml")])
    assert "none.yaml: cannot be read" in capsys.readouterr().err
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00model")
    with pytest.raises(SystemExit):
        main(["--config", str(tmp_path / "binary.yaml")])
    assert "binary.yaml: cannot be read" in capsys.readouterr().err


def test_an_existing_config_beside_the_checkpoint_stops_the_run_before_training(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text("mine\n")
    with pytest.raises(SystemExit):
        main(["--model", "contrastive", *TINY, "--out", str(tmp_path / "run.ckpt")])
    assert "run.yaml already exists" in capsys.readouterr().err
    assert (tmp_path / "run.yaml").read_text() == "mine\n" and not (tmp_path / "run.ckpt").exists()


def test_write_config_never_overwrites_and_leaves_no_temporary_file(tmp_path):
    config = {"model": "croma", "set": {"region_grid": [6, 12]}, "fit": {"lr": 1e-6}}
    path = write_config(config, tmp_path / "a.yaml")
    assert yaml.safe_load(path.read_text()) == config
    with pytest.raises(FileExistsError):
        write_config({"model": "mmearth"}, path)
    assert yaml.safe_load(path.read_text()) == config and [p.name for p in tmp_path.iterdir()] == ["a.yaml"]


def test_every_fit_config_field_has_a_key_and_a_flag():
    dests = {action.dest for action in parser()._actions}
    fields = {f.name for f in dataclasses.fields(FitConfig)} - {"cache", "callbacks", "record"}
    assert set(CONFIG_SECTIONS["fit_config"]) == fields and fields <= dests
