"""Callbacks of ``fit()``: the history it returns, a step-counting progress bar, periodic checkpoints."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from torch.utils.data import Dataset

from xmodal_lab.eval.embeddings import embed_dataset
from xmodal_lab.eval.retrieval import retrieval_metrics

from .checks import verify_written


def validation_metrics(model: torch.nn.Module, data: Dataset, batch_size: int = 256) -> dict[str, float]:
    """What ``fit`` reports on held-out pairs, for any model of the kit.

    Args:
        model: a model with ``embed``.
        data: held-out pair dataset.
        batch_size: items per forward pass.

    Returns:
        With radar and optical embeddings: ``"s1->s2 recall@1"`` (and ``@5``, ``@10``, ``median_rank``,
        ``mrr``) and ``"s2->s1 recall@1"``. Always: ``"<key> std"``, the mean per-dimension spread of each
        L2-normalised embedding (near 0 means the embeddings collapsed to one point).
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
    """Record the loss, learning rate and training time of every step, and validation metrics now and then.

    ``time`` counts seconds of training since the start, without the time spent validating.

    Args:
        val_data: held-out pairs, or None.
        val_every: steps between validations (0: only at the end).
        batch_size: items per forward pass when embedding ``val_data``.
    """

    def __init__(self, val_data: Dataset | None = None, val_every: int = 0, batch_size: int = 256) -> None:
        self.val_data, self.val_every, self.batch_size = val_data, val_every, batch_size
        self.record: dict[str, Any] = {"step": [], "loss": [], "lr": [], "time": [], "val": []}
        self._last_val_step = -1
        self._lr = float("nan")
        self._start = time.perf_counter()
        self._paused = 0.0  # seconds spent validating, not training

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning hook: start the training clock."""
        self._start, self._paused = time.perf_counter(), 0.0

    def training_seconds(self) -> float:
        """Seconds spent training so far, validation excluded."""
        return time.perf_counter() - self._start - self._paused

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Lightning hook: the learning rate this step uses (the scheduler moves it on after the step)."""
        self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Lightning hook: after each optimisation step."""
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.record["step"].append(trainer.global_step)
        self.record["loss"].append(float(loss))
        self.record["lr"].append(self._lr)
        self.record["time"].append(self.training_seconds())
        if self.val_every and trainer.global_step % self.val_every == 0:
            self.validate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning hook: when training stops."""
        if self._last_val_step != trainer.global_step:
            self.validate(trainer, pl_module)

    def validate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Append ``{"step": s, metric: value}`` for the current weights (on the main process only)."""
        if self.val_data is None or not trainer.is_global_zero:
            return
        self._last_val_step = trainer.global_step
        started = time.perf_counter()
        seconds = self.training_seconds()
        model = pl_module.model
        was_training = model.training
        with torch.autocast(
            pl_module.device.type, dtype=torch.bfloat16, enabled=pl_module.device.type == "cuda"
        ):
            metrics = validation_metrics(model, self.val_data, self.batch_size)
        model.train(was_training)
        self.record["val"].append({"step": trainer.global_step, "time": seconds, **metrics})
        self._paused += time.perf_counter() - started


class StepProgressBar(TQDMProgressBar):
    """A progress bar over optimisation steps (not epochs), showing the loss."""

    def init_train_tqdm(self) -> Tqdm:
        """One bar from the current step to ``max_steps`` (open-ended under a time budget)."""
        trainer = self.trainer
        return Tqdm(
            desc="training", total=trainer.max_steps if trainer.max_steps > 0 else None,
            initial=trainer.global_step, disable=self.is_disabled, leave=True, dynamic_ncols=True,
            file=sys.stdout, smoothing=0, bar_format=self.BAR_FORMAT,
        )  # fmt: skip

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        """Lightning hook: keep the one bar (epochs of an endless loader mean nothing here)."""

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Lightning hook: after each optimisation step."""
        bar = self.train_progress_bar
        if bar is not None and self._should_update(trainer.global_step, bar.total):
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning hook: show the final step and loss, then close."""
        bar = self.train_progress_bar
        if bar is not None:
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module))
            bar.close()


class PeriodicCheckpoint(Callback):
    """Write ``<stem>-step<N>.ckpt`` next to ``path`` every ``every`` steps; never overwrite a file.

    Args:
        path: the final checkpoint path of the run (names the periodic files).
        every: steps between checkpoints.
    """

    def __init__(self, path: Path, every: int) -> None:
        if every < 1:
            raise ValueError(f"checkpoint_every: expected a positive number of steps, got {every}")
        self.path, self.every = Path(path), every

    def file_for(self, step: int) -> Path:
        """The checkpoint file of ``step``."""
        return self.path.with_name(f"{self.path.stem}-step{step}.ckpt")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning hook: refuse to overwrite periodic checkpoints of another run."""
        existing = sorted(self.path.parent.glob(f"{self.path.stem}-step*.ckpt"))
        later = [p for p in existing if _step_of(p) > trainer.global_step]
        if later:
            raise FileExistsError(
                f"periodic checkpoints already exist ({later[0]} ...); choose another checkpoint path"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Lightning hook: after each optimisation step."""
        if trainer.global_step % self.every == 0:
            path = self.file_for(trainer.global_step)
            trainer.save_checkpoint(str(path))
            if trainer.is_global_zero:  # Lightning's atomic save can fail without a word
                verify_written(path, "periodic checkpoint")


def _step_of(path: Path) -> int:
    try:
        return int(path.stem.rsplit("-step", 1)[1])
    except (IndexError, ValueError):
        return -1
