"""fit(): repeatable on a CPU, exact resumes, checkpoints that rebuild the model, time budgets, errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from train_helpers import SIZE, tiny

from xmodal_lab.data import SimulatedWorld
from xmodal_lab.eval import embed_dataset
from xmodal_lab.models import load_model, save_model
from xmodal_lab.models.io import read_card
from xmodal_lab.train import (
    FitConfig,
    checkpoint_info,
    export_checkpoint,
    fit,
    load_checkpoint,
    warmup_cosine,
)

ARGS = {"batch_size": 16, "lr": 2e-3, "seed": 0, "progress": False}


def test_two_runs_give_identical_losses_and_the_loss_falls(small_world):
    _, a = fit(tiny("croma"), small_world, max_steps=8, **ARGS)
    _, b = fit(tiny("croma"), small_world, max_steps=8, **ARGS)
    print("losses", np.round(a["loss"], 3))
    assert a["loss"] == b["loss"]
    assert a["step"] == list(range(1, 9)) and a["steps"] == 8
    assert len(a["time"]) == 8 and np.all(np.diff(a["time"]) > 0) and a["time"][-1] <= a["seconds"]
    _, c = fit(tiny("croma"), small_world, max_steps=8, **{**ARGS, "seed": 1})
    assert c["loss"] != a["loss"]  # the seed drives batches and masks


def test_learning_rate_follows_warmup_and_cosine(small_world):
    _, h = fit(tiny(), small_world, max_steps=10, config=FitConfig(warmup_steps=3), **ARGS)
    expected = [2e-3 * warmup_cosine(s, 3, 10) for s in range(10)]
    np.testing.assert_allclose(h["lr"], expected, rtol=1e-6)


def test_resume_continues_schedule_batches_and_masks(small_world, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    _, full = fit(
        tiny("croma"),
        small_world,
        max_steps=10,
        checkpoint=ckpt,
        config=FitConfig(checkpoint_every=4),
        **ARGS,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-step4.ckpt", "run-step8.ckpt", "run.ckpt"]
    # a fresh model with other weights: everything must come from the checkpoint
    _, rest = fit(
        tiny("croma", seed=5), small_world, max_steps=10, resume=tmp_path / "run-step4.ckpt", **ARGS
    )
    print("uninterrupted", np.round(full["loss"][4:], 4), "resumed", np.round(rest["loss"], 4))
    assert rest["step"] == list(range(5, 11))
    assert rest["lr"] == full["lr"][4:]
    assert rest["loss"] == full["loss"][4:]


def test_schedule_steps_lets_a_run_stop_early_and_resume(small_world, tmp_path):
    _, first = fit(
        tiny(),
        small_world,
        max_steps=4,
        config=FitConfig(schedule_steps=8),
        checkpoint=tmp_path / "a.ckpt",
        **ARGS,
    )
    _, second = fit(tiny(), small_world, max_steps=8, resume=tmp_path / "a.ckpt", **ARGS)
    _, whole = fit(tiny(), small_world, max_steps=8, **ARGS)
    assert first["loss"] + second["loss"] == whole["loss"]
    assert checkpoint_info(tmp_path / "a.ckpt")["total_steps"] == 8


def test_checkpoint_rebuilds_the_trained_model(small_world, small_val, tmp_path):
    model, history = fit(tiny("croma"), small_world, max_steps=3, checkpoint=tmp_path / "c.ckpt", **ARGS)
    info = checkpoint_info(tmp_path / "c.ckpt")
    assert info["name"] == "croma" and info["config"]["img_size"] == 16 and info["step"] == 3
    assert info["data"]["type"] == "SimulatedWorld" and info["data"]["config"]["seed"] == 0
    assert len(info["data_statistics"]["s2_mean"]) == 12
    np.testing.assert_allclose(info["normalization"]["norm_s1"]["mean"], info["data_statistics"]["s1_mean"])
    loaded, _ = load_checkpoint(tmp_path / "c.ckpt")
    a, b = embed_dataset(model, small_val), embed_dataset(loaded, small_val)
    np.testing.assert_allclose(a["joint"], b["joint"], atol=1e-6)
    export_checkpoint(tmp_path / "c.ckpt", tmp_path / "c.pt")
    np.testing.assert_allclose(
        embed_dataset(load_model(tmp_path / "c.pt"), small_val)["s1"], a["s1"], atol=1e-6
    )
    run = model.fit_record  # the run's settings: in the card of the model and of the exported checkpoint
    assert run["fit"]["batch_size"] == 16 and run["fit"]["grad_clip"] == 1.0 and run["lr"] == 2e-3
    assert run["step"] == 3 and run["data"]["type"] == "SimulatedWorld" and "repr" not in run["data"]
    assert read_card(tmp_path / "c.pt")["training"] == run
    card = save_model(model, tmp_path / "m.safetensors")
    assert json.loads(card.with_suffix(".json").read_text())["training"] == run
    assert "| fit.batch_size | 16 |" in card.with_suffix(".md").read_text()
    with pytest.raises(FileExistsError):
        fit(tiny(), small_world, max_steps=1, checkpoint=tmp_path / "c.ckpt", **ARGS)
    with pytest.raises(FileExistsError):
        export_checkpoint(tmp_path / "c.ckpt", tmp_path / "c.pt")


def test_validation_metrics_and_callbacks(small_world, small_val):
    seen = []

    class Count(Callback):
        def on_train_batch_end(self, trainer, *args):
            seen.append(trainer.global_step)

    model, h = fit(
        tiny(),
        small_world,
        max_steps=4,
        val_data=small_val,
        val_every=2,
        config=FitConfig(callbacks=[Count()]),
        **ARGS,
    )
    assert seen == [1, 2, 3, 4]
    assert [v["step"] for v in h["val"]] == [2, 4]
    last = h["val"][-1]
    assert {"s1->s2 recall@1", "s1->s2 mrr", "s2->s1 recall@1", "s1 std", "s2 std"} <= set(last)
    assert 0 <= last["s1->s2 recall@1"] <= 1
    assert not model.training and next(model.parameters()).device.type == "cpu"
    _, h = fit(tiny("scale_mae"), small_world, max_steps=2, val_data=small_val, **ARGS)
    # an optical-only model reports the spread of its embeddings
    assert set(h["val"][-1]) == {"step", "time", "s2 std"}


def test_time_budget_stops_training(small_world):
    _, h = fit(tiny(), small_world, max_minutes=0.03, **ARGS)
    print(f"{h['steps']} steps in {h['seconds']:.1f} s for a 1.8 s budget")
    assert 1 <= h["steps"] == len(h["loss"])
    assert h["seconds"] < 1.8 + 15  # start-up and the last step may overrun, not minutes


def test_normalize_false_keeps_the_model_statistics(small_world):
    model = tiny()
    before = model.norm_s1.mean.clone()
    fit(model, small_world, max_steps=1, normalize=False, **ARGS)
    assert torch.equal(model.norm_s1.mean, before)


def test_errors(small_world, tmp_path):
    with pytest.raises(ValueError, match="max_steps, max_minutes"):
        fit(tiny(), small_world)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        fit(tiny(), small_world, max_steps=1, batch_size=0)
    with pytest.raises(FileNotFoundError, match="resume"):
        fit(tiny(), small_world, max_steps=1, resume=tmp_path / "none.ckpt")
    with pytest.raises(ValueError, match="checkpoint_every needs"):
        fit(tiny(), small_world, max_steps=1, config=FitConfig(checkpoint_every=2))
    with pytest.raises(ValueError, match="empty"):
        fit(tiny(), torch.utils.data.Subset(small_world, []), max_steps=1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_trains_under_bf16_autocast(small_world, small_val):
    model = tiny("croma")
    dtypes = set()
    linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda mod, inp, out: dtypes.add(out.dtype) if mod.training else None)
    model, h = fit(
        model,
        small_world,
        max_steps=5,
        config=FitConfig(accelerator="gpu", devices=1),
        val_data=small_val,
        **ARGS,
    )
    assert dtypes == {torch.bfloat16}
    assert np.isfinite(h["loss"]).all() and len(h["val"]) == 1
    assert next(model.parameters()).device.type == "cpu" and next(model.parameters()).dtype == torch.float32


def test_quiet_in_notebooks(small_world, capsys):
    fit(tiny(), small_world, max_steps=2, **ARGS)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # no banners, tips or model summaries
    fit(tiny(), small_world, max_steps=2, **{**ARGS, "progress": True})
    out = capsys.readouterr()
    assert "training" in out.out and "loss=" in out.out and "GPU available" not in out.out + out.err


def test_rendering_up_front_changes_no_loss():
    world = SimulatedWorld(seed=0, size=SIZE, n_scenes=48)
    _, fast = fit(tiny("croma"), world, max_steps=6, **ARGS)
    _, slow = fit(tiny("croma"), world, max_steps=6, config=FitConfig(cache=False), **ARGS)
    assert fast["loss"] == slow["loss"]  # CROMA draws masks: the global random stream is untouched too
    assert fast["steps"] == slow["steps"] == fast["steps_asked"] == 6 and not fast["cut_short"]


def test_a_run_cut_short_by_the_cap_says_so(small_world):
    with pytest.warns(UserWarning, match=r"CUT SHORT: (\d+) of 100000 steps") as caught:
        _, h = fit(tiny(), small_world, max_steps=100_000, max_minutes=0.01, **ARGS)
    assert h["cut_short"] and h["steps"] < h["steps_asked"] == 100_000
    assert f"{h['steps']} of 100000" in str(caught[0].message)
    assert "results will differ from the text" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that does all its steps says nothing
        _, h = fit(tiny(), small_world, max_steps=3, max_minutes=5.0, **ARGS)
    assert not h["cut_short"] and h["steps"] == 3
