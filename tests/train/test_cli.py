"""``python -m xmodal_lab.train``: a few steps on the simulated world and the bundled BigEarthNet-MM pairs."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import numpy as np
import pytest
import yaml

from xmodal_lab import data as xdata
from xmodal_lab.config import REPO_ROOT, data_dir
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.models import load_model
from xmodal_lab.models.io import read_card
from xmodal_lab.train import checkpoint_info, load_checkpoint
from xmodal_lab.train.__main__ import FOLDER_DATASETS, main

WORLD = ["--data", "world", "--size", "16", "--n-scenes", "48", "--val-size", "16", "--batch-size", "8"]


def test_world_run_writes_checkpoint_and_model_file(tmp_path, capsys):
    out, export = tmp_path / "c.ckpt", tmp_path / "c.pt"
    argv = ["--model", "croma", "--set", "mask_ratio=0.5", *WORLD, "--max-steps", "3", "--no-progress"]
    summary = main([*argv, "--out", str(out), "--export", str(export), "--cache"])
    print(summary)
    assert summary["steps"] == 3 and np.isfinite(summary["last_loss"])
    assert '"steps": 3' in capsys.readouterr().out
    info = checkpoint_info(out)
    assert (
        info["name"] == "croma" and info["config"]["img_size"] == 16 and info["config"]["mask_ratio"] == 0.5
    )
    assert info["data"]["type"] == "SimulatedWorld" and info["data"]["length"] == 48
    saved = yaml.safe_load((tmp_path / "c.yaml").read_text())  # the run's config, beside its checkpoint
    assert summary["config"] == str(tmp_path / "c.yaml") and saved == info["run_config"]
    assert saved["set"] == {"mask_ratio": 0.5, "img_size": 16} and saved["data"]["cache"] is True
    assert 0 <= summary["val"]["s1->s2 recall@1"] <= 1
    model, _ = load_checkpoint(out)
    assert load_model(export).config == model.config
    assert read_card(export)["training"]["run_config"] == saved  # the model card records the run's config
    again = main([*argv, "--out", str(tmp_path / "d.ckpt")])
    assert again["first_loss"] == summary["first_loss"]  # same seed, same weights, batches and masks
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(out)])  # never overwrites
    assert "already exists" in capsys.readouterr().err


def test_resume_from_a_periodic_checkpoint(tmp_path):
    common = ["--model", "contrastive", *WORLD, "--max-steps", "4", "--no-progress", "--val-size", "0"]
    full = main([*common, "--out", str(tmp_path / "a.ckpt"), "--checkpoint-every", "2"])
    rest = main([*common, "--out", str(tmp_path / "b.ckpt"), "--resume", str(tmp_path / "a-step2.ckpt")])
    assert rest["steps"] == 4 and rest["last_loss"] == full["last_loss"]


@pytest.mark.skipif(
    not (data_dir() / "bigearthnet_mm").is_dir(), reason="bundled BigEarthNet-MM pairs absent"
)
def test_bigearthnet_mm_folder(tmp_path):
    summary = main(
        ["--model", "contrastive", "--data", "bigearthnet-mm", "--root", str(data_dir() / "bigearthnet_mm"),
         "--max-steps", "1", "--batch-size", "4", "--val-size", "0", "--no-progress", "--out", str(tmp_path / "b.ckpt")]
    )  # fmt: skip
    info = checkpoint_info(tmp_path / "b.ckpt")
    assert summary["steps"] == 1 and info["config"]["img_size"] == 120  # the model follows the 120 px tiles
    assert info["data"]["type"] == "BigEarthNetMM" and info["data"]["length"] == 6


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "croma", "--max-steps", "1"], "--out"),
        (["--max-steps", "1", "--out", "x.ckpt"], "give --model"),
        (["--model", "croma", "--max-steps", "1", "--out", "x.yaml"], "name the checkpoint *.ckpt"),
        (["--model", "croma", "--out", "x.ckpt"], "--max-steps, --max-minutes"),
        (["--model", "croma", "--max-steps", "1", "--out", "x.ckpt", "--set", "depth"], "FIELD=VALUE"),
        (["--model", "croma", "--max-steps", "1", "--out", "x.ckpt", "--set", "colour=1"], "no field"),
        (["--model", "nope", "--max-steps", "1", "--out", "x.ckpt"], "invalid choice"),
    ],
)
def test_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_missing_root_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(
            ["--model", "croma", "--data", "bigearthnet-mm", "--max-steps", "1", "--out", str(tmp_path / "x")]
        )
    assert "needs --root" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", "croma", "--data", "sen12ms", "--root", str(tmp_path / "missing"), "--max-steps", "1",
              "--out", str(tmp_path / "x")])  # fmt: skip
    assert "no such folder" in capsys.readouterr().err


def test_module_entry_point(monkeypatch, capsys):
    # runs ``python -m xmodal_lab.train --help`` in this process (a subprocess would spend seconds importing)
    monkeypatch.setattr(sys, "argv", ["python -m xmodal_lab.train", "--help"])
    monkeypatch.delitem(sys.modules, "xmodal_lab.train.__main__", raising=False)
    with pytest.raises(SystemExit) as stop:
        runpy.run_module("xmodal_lab.train", run_name="__main__")
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--preset",
        "--data",
        "--root",
        "--devices",
        "--max-steps",
        "--out",
        "--config",
        "--print-config",
        "bigearthnet-mm",
    ):
        assert option in text


def test_two_process_ddp_on_cpu(tmp_path):
    # the cluster path (--devices N, DDP) on two CPU processes: each rank takes half of every global batch
    out = tmp_path / "ddp.ckpt"
    argv = ["--model", "contrastive", *WORLD, "--max-steps", "3", "--accelerator", "cpu", "--devices", "2"]
    argv += ["--strategy", "ddp", "--no-progress", "--out", str(out), "--export", str(tmp_path / "ddp.pt")]
    run = subprocess.run(
        [sys.executable, "-m", "xmodal_lab.train", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summaries = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["steps"] == 3  # only rank 0 reports
    assert checkpoint_info(out)["step"] == 3
    assert yaml.safe_load((tmp_path / "ddp.yaml").read_text())["fit"]["fit_config"]["devices"] == 2
    assert load_model(tmp_path / "ddp.pt").config.img_size == 16


def test_geotiff_pair(tmp_path):
    paths = SimulatedWorld(seed=4, size=48).to_geotiff(0, tmp_path / "tif")
    summary = main(
        ["--model", "contrastive", "--data", "geotiff", "--s1", str(paths["s1"]), "--s2", str(paths["s2"]),
         "--size", "16", "--val-size", "0", "--max-steps", "2", "--batch-size", "4", "--no-progress",
         "--out", str(tmp_path / "g.ckpt")]
    )  # fmt: skip
    info = checkpoint_info(tmp_path / "g.ckpt")
    assert summary["steps"] == 2 and info["data"]["type"] == "PairedRasterDataset"
    assert (
        info["data"]["length"] == 9 and info["config"]["img_size"] == 16
    )  # 48 px cut into 3 x 3 tiles of 16


@pytest.mark.parametrize("kind", ["bigearthnet", "sen12ms", "ssl4eo"])
def test_torchgeo_choices_use_the_data_adapters(kind, tmp_path, monkeypatch):
    opened = []

    def fake_adapter(root):
        opened.append(root)
        return [SimulatedWorld(seed=0, size=16, n_scenes=8)[i] for i in range(8)]

    monkeypatch.setattr(xdata, FOLDER_DATASETS[kind], fake_adapter)
    summary = main(
        ["--model", "contrastive", "--data", kind, "--root", str(tmp_path), "--val-size", "0", "--max-steps", "1",
         "--batch-size", "4", "--no-progress", "--out", str(tmp_path / "t.ckpt")]
    )  # fmt: skip
    assert opened == [tmp_path] and summary["steps"] == 1
