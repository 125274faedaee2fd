"""What ``fit`` records: its history, a progress bar, CSV or TensorBoard logs (one new ``version_N`` per run)."""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from torch.utils.data import Dataset

from xmodal_lab.errors import OutputExistsError
from xmodal_lab.eval.embeddings import embed_dataset
from xmodal_lab.eval.retrieval import retrieval_metrics
from xmodal_lab.files import new_folder

LOGGERS = {"csv": CSVLogger, "tensorboard": TensorBoardLogger}


def validation_metrics(model: torch.nn.Module, data: Dataset, batch_size: int = 256) -> dict[str, float]:
    """What ``fit`` reports on held-out pairs: ``"s1->s2 <metric>"``, ``"s2->s1 recall@1"``, ``"<key> std"``.

    ``"<key> std"`` is the mean per-dimension spread of each L2-normalised embedding (near 0: collapsed).
    """
    emb = embed_dataset(model, data, batch_size=batch_size)
    out: dict[str, float] = {}
    if "s1" in emb and "s2" in emb:
        out.update({f"s1->s2 {k}": v for k, v in retrieval_metrics(emb["s1"], emb["s2"]).items()})
        out["s2->s1 recall@1"] = retrieval_metrics(emb["s2"], emb["s1"])["recall@1"]
    for key in ("s1", "s2", "joint"):
        if key in emb:
            x = emb[key] / (np.linalg.norm(emb[key], axis=1, keepdims=True) + 1e-12)
            out[f"{key} std"] = float(x.std(axis=0).mean())
    return out


class History(Callback):
    """Record each step's loss, learning rate and training time, and validation metrics."""

    def __init__(self, val_data: Dataset | None = None, val_every: int = 0, batch_size: int = 256) -> None:
        self.val_data, self.val_every, self.batch_size = val_data, val_every, batch_size
        self.record: dict[str, Any] = {"step": [], "loss": [], "lr": [], "time": [], "val": []}
        self._last_val_step, self._lr = -1, float("nan")
        self._start, self._paused = time.perf_counter(), 0.0  # seconds spent validating, not training

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the training clock."""
        self._start, self._paused = time.perf_counter(), 0.0

    def training_seconds(self) -> float:
        """Seconds spent training so far, validation excluded."""
        return time.perf_counter() - self._start - self._paused

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        """Note the learning rate this step uses (the scheduler moves it on after the step)."""
        self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *_) -> None:
        """Record the step; validate every ``val_every`` steps."""
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.record["step"].append(trainer.global_step)
        self.record["loss"].append(float(loss))
        self.record["lr"].append(self._lr)
        self.record["time"].append(self.training_seconds())
        if self.val_every and trainer.global_step % self.val_every == 0:
            self.validate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Validate the final weights."""
        if self._last_val_step != trainer.global_step:
            self.validate(trainer, pl_module)

    def validate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Append ``{"step", "time", metric: value}`` for the current weights (on the main process only)."""
        if self.val_data is None or not trainer.is_global_zero:
            return
        self._last_val_step = trainer.global_step
        started, seconds = time.perf_counter(), self.training_seconds()
        model, was_training, device = pl_module.model, pl_module.model.training, pl_module.device.type
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            metrics = validation_metrics(model, self.val_data, self.batch_size)
        model.train(was_training)
        self.record["val"].append({"step": trainer.global_step, "time": seconds, **metrics})
        self._paused += time.perf_counter() - started


class StepProgressBar(TQDMProgressBar):
    """One progress bar over optimisation steps (not epochs), showing the loss."""

    def init_train_tqdm(self) -> Tqdm:
        """A bar from the current step to ``max_steps`` (open-ended under a time budget)."""
        total = self.trainer.max_steps if self.trainer.max_steps > 0 else None
        return Tqdm(desc="training", total=total, initial=self.trainer.global_step, disable=self.is_disabled,
                    leave=True, dynamic_ncols=True, file=sys.stdout, smoothing=0, bar_format=self.BAR_FORMAT)

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        """Keep the one bar (epochs of an endless loader mean nothing here)."""

    def _show(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar.n = trainer.global_step
        self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        """Update the bar after an optimisation step."""
        bar = self.train_progress_bar
        if bar is not None and self._should_update(trainer.global_step, bar.total):
            self._show(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Show the final step and loss, then close."""
        if self.train_progress_bar is not None:
            self._show(trainer, pl_module)
            self.train_progress_bar.close()


def make_logger(logger: str | Logger | bool | None, log_dir: str | Path | None, claim: bool = True) -> Logger | bool:
    """The Lightning logger ``fit`` asks for (None: CSV with a ``log_dir``), or False; ``claim`` its new folder.

    A Lightning ``Logger`` must come with a new run folder (else ``OutputExistsError``); DDP processes but the
    first claim nothing.
    """
    if isinstance(logger, Logger):
        folder = getattr(logger, "log_dir", None)
        if claim and isinstance(folder, str) and Path(folder).is_dir() and any(Path(folder).iterdir()):
            raise OutputExistsError(
                f"logger: its run folder {folder} already holds another run's logs, which Lightning would "
                "delete or mix with this run's; give the logger a new version= or save_dir=")
        return logger
    if logger is False or (logger is None and log_dir is None):
        return False
    name = "csv" if logger is None or logger is True else logger
    if name not in LOGGERS:
        raise ValueError(f"logger: expected one of {tuple(LOGGERS)}, a Lightning Logger, None or False, got {logger!r}")
    if log_dir is None:
        raise ValueError(f"logger={name!r} needs log_dir=, the folder to write the logs into")
    if Path(log_dir).exists() and not Path(log_dir).is_dir():
        raise NotADirectoryError(f"log_dir: {log_dir} is a file, not a folder")
    if name == "tensorboard" and not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise ImportError(
            "logger='tensorboard' needs the tensorboard package, which is not installed: "
            "`pip install tensorboard` (or use the default CSV log, logger='csv')")
    version = claim_version(log_dir) if claim else None
    return LOGGERS[name](save_dir=str(log_dir), name="", version=version)


def claim_version(log_dir: str | Path) -> int:
    """Create ``log_dir/version_N`` for this run only (N one above the highest there) and return N."""
    log_dir = Path(log_dir)
    taken = [int(p.name[8:]) for p in log_dir.glob("version_*") if p.name[8:].isdigit()]
    version = max(taken, default=-1) + 1
    while True:
        try:
            new_folder(log_dir / f"version_{version}", "log folder")
            return version
        except OutputExistsError:  # another run took it between the listing and the claim
            version += 1


def _log_source(path: str | Path) -> Path:
    """The ``metrics.csv`` file or the TensorBoard run folder that ``path`` points at (its newest run)."""
    path = Path(path)
    if path.is_file():
        return path.parent if path.name.startswith("events.out.tfevents.") else path
    versions = sorted((p for p in path.glob("version_*") if p.name[8:].isdigit()), key=lambda p: int(p.name[8:]))
    for run in (path, *reversed(versions)):
        if (run / "metrics.csv").is_file():
            return run / "metrics.csv"
        if any(run.glob("events.out.tfevents.*")):
            return run
    raise FileNotFoundError(f"read_log: no metrics.csv or TensorBoard events file in {path} or its version_N folders")


def read_log(path: str | Path) -> dict[str, Any]:
    """Read a log of ``fit(log_dir=...)`` into a history dict.

    ``path`` is a ``metrics.csv`` or events file, a ``version_N`` folder or the log folder (its newest run).
    Returns ``{"step", "loss", "lr", "val": [{"step", metric: value}, ...], "path"}``, steps counted from 1.
    """
    source = _log_source(path)
    if source.is_file():
        with source.open(newline="") as f:
            rows = list(csv.DictReader(f))
    else:  # a TensorBoard run's scalars as CSV-like rows, one per tag and step (size 0: keep every point)
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(source), size_guidance={"scalars": 0})
        acc.Reload()
        rows = [{"step": str(e.step), tag: repr(e.value)} for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
    by_step: dict[int, dict[str, float]] = {}
    for i, row in enumerate(rows):  # Lightning logs loss, lr and metrics on separate rows
        step = int(float(row["step"])) + 1 if row.get("step") else i + 1
        by_step.setdefault(step, {}).update({k: float(v) for k, v in row.items() if v and k != "step"})
    columns = {key for values in by_step.values() for key in values}
    if "loss" not in columns:
        raise ValueError(f"read_log: {source} has no 'loss' column (columns: {sorted(columns)})")
    lr = next((c for c in columns if c.startswith("lr")), None)
    steps = [s for s in sorted(by_step) if "loss" in by_step[s]]
    val = [{"step": s, **{k[4:]: v for k, v in by_step[s].items() if k.startswith("val/")}}
           for s in sorted(by_step)]
    return {"step": steps, "loss": [by_step[s]["loss"] for s in steps],
            "lr": [by_step[s].get(lr, math.nan) for s in steps], "val": [v for v in val if len(v) > 1],
            "path": str(source)}  # fmt: skip
