"""``fit()``: the one training call of the notebooks, on a CPU, one GPU or many GPUs (Lightning underneath)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, Dataset

from xmodal_lab.config import seed_everything
from xmodal_lab.data import collate_pairs
from xmodal_lab.eval import embed_dataset, retrieval_metrics

from .normalization import band_statistics, set_normalization
from .task import PretrainTask


class History(Callback):
    """Record the loss of every step, and validation metrics every ``val_every`` steps and at the end.

    Args:
        val_data: held-out pairs, or None.
        val_every: steps between validations (0 = only at the end).
    """

    def __init__(self, val_data: Dataset | None = None, val_every: int = 0) -> None:
        self.val_data, self.val_every = val_data, val_every
        self.record: dict[str, Any] = {"step": [], "loss": [], "lr": [], "val": []}
        self._last_val_step = -1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.record["step"].append(trainer.global_step)
        self.record["loss"].append(float(loss))
        self.record["lr"].append(trainer.optimizers[0].param_groups[0]["lr"])
        if self.val_every and trainer.global_step % self.val_every == 0:
            self.validate(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:  # noqa: D102
        if self._last_val_step != trainer.global_step:
            self.validate(trainer, pl_module)

    def validate(self, trainer, pl_module) -> None:
        """Retrieval metrics (both directions) when the model embeds both modalities."""
        if self.val_data is None:
            return
        emb = embed_dataset(pl_module.model, self.val_data, device=pl_module.device)
        self._last_val_step = trainer.global_step
        entry: dict[str, float] = {"step": trainer.global_step}
        if "s1" in emb and "s2" in emb:
            entry.update({f"s1->s2 {k}": v for k, v in retrieval_metrics(emb["s1"], emb["s2"]).items()})
            entry["s2->s1 recall@1"] = retrieval_metrics(emb["s2"], emb["s1"])["recall@1"]
        self.record["val"].append(entry)
        pl_module.train()


def _describe(data: Dataset) -> dict[str, Any]:
    """A small description of the training data, saved with checkpoints."""
    desc: dict[str, Any] = {"type": type(data).__name__, "length": len(data)}
    config = getattr(data, "config", None)
    if dataclasses.is_dataclass(config):
        desc["config"] = {k: v for k, v in dataclasses.asdict(config).items() if isinstance(v, (int, float, str, bool, tuple, type(None)))}
    return desc


def fit(
    model: nn.Module,
    data: Dataset,
    *,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    warmup_steps: int | None = None,
    val_data: Dataset | None = None,
    val_every: int = 0,
    callbacks: list[Callback] | None = None,
    accelerator: str = "auto",
    devices: int | str = "auto",
    strategy: str = "auto",
    precision: str | None = None,
    num_workers: int = 0,
    seed: int = 0,
    normalize: bool = True,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train any model of the kit on a pair dataset.

    The same call trains on a CPU, one GPU (bf16 autocast) or many GPUs (``devices=N``, DDP). On a CPU with a
    fixed seed two runs give identical losses.

    Args:
        model: a model whose ``forward(batch)`` returns a dict with ``loss``.
        data: a dataset of pair dicts.
        max_steps: optimisation steps (also the length of the cosine schedule).
        max_minutes: wall-clock budget; training stops when it runs out (whichever limit comes first).
        batch_size: pairs per step (per device).
        lr: peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up (default: 5% of the schedule, at least 10 steps).
        val_data: held-out pairs for retrieval metrics in the history.
        val_every: validate every so many steps (0 = at the end only).
        callbacks: extra Lightning callbacks.
        accelerator: ``"auto"``, ``"cpu"``, ``"gpu"``.
        devices: number of devices or ``"auto"``.
        strategy: Lightning strategy (``"ddp"`` for many GPUs).
        precision: Lightning precision; default ``"bf16-mixed"`` on CUDA, ``"32-true"`` elsewhere.
        num_workers: DataLoader workers.
        seed: seed of weights' shuffling and masks.
        normalize: compute per-band statistics from ``data`` and write them into the model first.
        checkpoint: write a checkpoint here at the end (refuses to overwrite an existing file).
        resume: continue from this checkpoint (weights, optimiser, schedule and step count).
        progress: show a progress bar with the loss.

    Returns:
        ``(model, history)``: the trained model (on the CPU, in eval mode) and ``{"step", "loss", "lr", "val",
        "seconds", "steps"}``.
    """
    if max_steps is None and max_minutes is None:
        raise ValueError("fit: give max_steps, max_minutes or both")
    if checkpoint is not None and Path(checkpoint).exists():
        raise FileExistsError(f"fit: {checkpoint} already exists; choose another checkpoint path")
    seed_everything(seed)
    extra: dict[str, Any] = {"name": getattr(model, "name", type(model).__name__), "data": _describe(data)}
    if dataclasses.is_dataclass(getattr(model, "config", None)):
        extra["config"] = dataclasses.asdict(model.config)
    if normalize and resume is None:
        stats = band_statistics(data, batch_size=min(batch_size, 64), seed=seed)
        set_normalization(model, stats)
        extra["normalization"] = stats
    if max_steps is not None:
        total = max_steps
    else:  # a time budget: estimate the schedule length from a couple of timed steps
        total = _estimate_steps(model, data, batch_size, max_minutes, seed)
    if resume is not None:
        total = torch.load(resume, map_location="cpu", weights_only=False)["xmodal_lab"]["total_steps"]
    warmup = warmup_steps if warmup_steps is not None else max(10, total // 20)
    task = PretrainTask(model, lr=lr, weight_decay=weight_decay, warmup_steps=min(warmup, total), total_steps=total, extra=extra)
    history = History(val_data, val_every)
    if precision is None:
        on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
        precision = "bf16-mixed" if on_gpu else "32-true"
    trainer = L.Trainer(
        accelerator=accelerator, devices=devices, strategy=strategy, precision=precision,
        max_steps=max_steps if max_steps is not None else -1, max_epochs=-1,
        max_time=dt.timedelta(minutes=max_minutes) if max_minutes is not None else None,
        callbacks=[history, *(callbacks or [])], logger=False, enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=progress, deterministic=True,
        num_sanity_val_steps=0, log_every_n_steps=1,
    )
    loader = DataLoader(
        data, batch_size=batch_size, shuffle=True, drop_last=len(data) >= 2 * batch_size,
        collate_fn=collate_pairs, num_workers=num_workers, generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        trainer.fit(task, loader, ckpt_path=str(resume) if resume is not None else None)
    if checkpoint is not None:
        trainer.save_checkpoint(str(checkpoint))
    record = history.record
    record["seconds"] = time.perf_counter() - start
    record["steps"] = trainer.global_step
    return model.cpu().eval(), record


def _estimate_steps(model: nn.Module, data: Dataset, batch_size: int, minutes: float, seed: int) -> int:
    """Time two training steps on a copy of the model to size a cosine schedule for a time budget."""
    import copy

    probe = copy.deepcopy(model).train()
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate_pairs,
                        generator=torch.Generator().manual_seed(seed))
    batches = iter(loader)
    opt = torch.optim.SGD(probe.parameters(), lr=0.0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    probe.to(device)
    times = []
    for _ in range(2):
        batch = next(batches)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        t = time.perf_counter()
        loss = probe(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        times.append(time.perf_counter() - t)
    per_step = min(times) * 1.15 + 0.01  # data loading and logging overhead
    return max(20, int(minutes * 60 / per_step))
