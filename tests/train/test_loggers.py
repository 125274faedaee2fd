"""fit(log_dir=...) writes a CSV log per run, read_log and plot_history read it, the CLI logs beside its checkpoint."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from xmodal_lab.models import build
from xmodal_lab.train import FitConfig, fit
from xmodal_lab.train.__main__ import default_log_dir, main
from xmodal_lab.train.loggers import make_logger, read_log


def test_csv_log_matches_the_history_and_runs_never_overwrite(small_world, small_val, tmp_path):
    model = build("contrastive", preset="tiny", img_size=16)
    _, history = fit(model, small_world, max_steps=4, batch_size=8, progress=False, log_dir=tmp_path,
                     val_data=small_val, val_every=2)  # fmt: skip
    assert history["log_dir"] == str(tmp_path / "version_0")
    log = read_log(tmp_path)
    assert log["step"] == history["step"] == [1, 2, 3, 4]
    assert np.allclose(log["loss"], history["loss"]) and np.allclose(log["lr"], history["lr"])
    assert [v["step"] for v in log["val"]] == [v["step"] for v in history["val"]]
    assert log["val"][-1]["s1->s2 recall@1"] == pytest.approx(history["val"][-1]["s1->s2 recall@1"])
    _, again = fit(model, small_world, max_steps=2, batch_size=8, progress=False, log_dir=tmp_path)
    assert again["log_dir"] == str(tmp_path / "version_1")
    assert len(read_log(tmp_path / "version_0")["loss"]) == 4  # the first run's log is untouched
    assert len(read_log(tmp_path)["loss"]) == 2  # the folder means its newest run


def test_no_log_without_a_folder(small_world, tmp_path):
    _, history = fit(build("contrastive", preset="tiny", img_size=16), small_world, max_steps=1, batch_size=8,
                     progress=False)  # fmt: skip
    assert "log_dir" not in history


def test_logger_errors_are_clear(tmp_path):
    assert make_logger(None, None) is False and make_logger(False, tmp_path) is False
    with pytest.raises(ValueError, match="log_dir"):
        make_logger("csv", None)
    with pytest.raises(ValueError, match="logger"):
        make_logger("wandb", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        make_logger("csv", tmp_path / "file")
    with pytest.raises(FileNotFoundError, match="metrics.csv"):
        read_log(tmp_path)


def test_tensorboard_without_the_package_says_what_to_install(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in ("tensorboard", "tensorboardX") else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        make_logger("tensorboard", tmp_path)


def test_plot_history_reads_a_log(small_world, tmp_path):
    from xmodal_lab.viz import plot_history

    fit(build("contrastive", preset="tiny", img_size=16), small_world, max_steps=3, batch_size=8,
        progress=False, log_dir=tmp_path)  # fmt: skip
    fig = plot_history(tmp_path / "version_0" / "metrics.csv")
    assert list(fig.axes[0].lines[0].get_ydata()) == pytest.approx(read_log(tmp_path)["loss"])


def test_command_line_logs_beside_the_checkpoint(tmp_path):
    out = tmp_path / "c.ckpt"
    argv = ["--model", "contrastive", "--data", "world", "--size", "16", "--n-scenes", "16", "--val-size", "0",
            "--batch-size", "8", "--max-steps", "2", "--no-progress", "--out", str(out)]  # fmt: skip
    summary = main(argv)
    assert default_log_dir(out) == tmp_path / "c_logs"
    assert summary["log_dir"] == str(tmp_path / "c_logs" / "version_0")
    assert len(read_log(tmp_path / "c_logs")["loss"]) == 2
    summary = main([*argv[:-1], str(tmp_path / "d.ckpt"), "--logger", "none"])
    assert summary["log_dir"] is None and not (tmp_path / "d_logs").exists()


def test_tensorboard_log_holds_the_losses_fit_returned(small_world, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is a dependency of the kit (pyproject.toml)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = build("contrastive", preset="tiny", img_size=16)
    _, history = fit(model, small_world, max_steps=5, batch_size=8, progress=False, log_dir=tmp_path,
                     config=FitConfig(logger="tensorboard"))  # fmt: skip
    run = tmp_path / "version_0"
    assert history["log_dir"] == str(run)
    events = list(run.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert "loss" in acc.Tags()["scalars"], acc.Tags()["scalars"]
    scalars = acc.Scalars("loss")
    assert [e.step + 1 for e in scalars] == history["step"] == [1, 2, 3, 4, 5]
    assert np.allclose([e.value for e in scalars], history["loss"], rtol=1e-6)
    assert not list(run.glob("metrics.csv")), "TensorBoard alone was asked for"
    log = read_log(run)  # read_log reads the event file too, so plot_history draws a TensorBoard run
    assert log["step"] == history["step"] and np.allclose(log["loss"], history["loss"], rtol=1e-6)
