"""``fit()``: the one training call of the notebooks, on a CPU, one GPU or many GPUs (Lightning underneath)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import Dataset

from xmodal_lab.config import seed_everything

from .callbacks import History, PeriodicCheckpoint, StepProgressBar
from .datamodule import PairDataModule, describe_data, prepare_training_data
from .normalization import band_statistics, set_normalization
from .task import PretrainTask


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up banners and hints (GPU/TPU availability, tips) for notebook output."""
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        for pattern in (
            ".*does not have many workers.*", ".*GPU available but not used.*", ".*resuming from a checkpoint.*",
            ".*smaller than the logging interval.*", ".*treat it as an infinite.*", ".*litlogger.*",
            ".*`isinstance\\(treespec, LeafSpec\\)` is deprecated.*",
        ):  # fmt: skip
            warnings.filterwarnings("ignore", message=pattern)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _on_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def _steps_for_budget(
    task: PretrainTask, data: Dataset, batch_size: int, minutes: float, seed: int, gpu: bool
) -> int:
    """Length of a cosine schedule that fits a time budget, from two timed steps on a copy of the model."""
    import copy

    model = copy.deepcopy(task.model).train()
    device = torch.device("cuda" if gpu else "cpu")
    model.to(device)
    loader = PairDataModule(data, batch_size, seed).train_dataloader()
    rng = torch.get_rng_state()  # the probe must not shift the masks of the real run
    times = []
    batches = iter(loader)
    for _ in range(2):
        t0 = time.perf_counter()
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in next(batches).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
            loss = model(batch)["loss"]
        loss.backward()
        if gpu:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    torch.set_rng_state(rng)
    per_step = min(times) * 1.2  # the optimiser step, logging and the progress bar
    return max(10, int(minutes * 60 / per_step))


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
    schedule_steps: int | None = None,
    grad_clip: float | None = 1.0,
    val_data: Dataset | None = None,
    val_every: int = 0,
    callbacks: list[Callback] | None = None,
    accelerator: str = "auto",
    devices: int | str = "auto",
    num_nodes: int = 1,
    strategy: str = "auto",
    precision: str | None = None,
    num_workers: int = 0,
    seed: int = 0,
    normalize: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: str | Path | None = None,
    progress: bool = True,
    cache: bool | str = "auto",
) -> tuple[nn.Module, dict[str, Any]]:
    """Train any model of the kit on a pair dataset.

    The same call trains on a CPU, one GPU (bf16 autocast) or many GPUs (``devices=N``, DDP). On a CPU with a
    fixed seed and ``max_steps``, two runs give identical losses, and a run resumed from a checkpoint
    continues with exactly the learning rates, batches and masks of the uninterrupted run.

    Several GPUs from a notebook run under fork-based DDP: the trained weights come back, the per-step
    history does not (it lives in the worker processes). For multi-GPU pretraining use the command line,
    ``python -m xmodal_lab.train``.

    Args:
        model: a model whose ``forward(batch)`` returns a dict with a scalar ``loss``.
        data: a dataset of pair dicts (wrap it in :class:`~xmodal_lab.train.CachedPairs` to render once).
        max_steps: optimisation steps (also the length of the cosine schedule).
        max_minutes: wall-clock safety cap; training stops when it runs out (whichever limit comes first), and
            ``fit`` then warns that fewer steps than asked were done. Without ``max_steps`` the schedule is
            sized from two timed steps, so results depend on the machine's speed: lessons give ``max_steps``.
        batch_size: pairs per step and per device.
        lr: peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up (default: 5% of the schedule, at least 1 and at most 500 steps).
        schedule_steps: length of the cosine schedule when it differs from ``max_steps`` (to stop early
            and resume later).
        grad_clip: clip the gradient norm to this value (None: no clipping).
        val_data: held-out pairs for validation metrics (retrieval both ways when the model embeds both
            modalities, else the spread of its embeddings).
        val_every: validate every so many steps (0: at the end only).
        callbacks: extra Lightning callbacks.
        accelerator: ``"auto"``, ``"cpu"``, ``"gpu"``.
        devices: number of devices or ``"auto"``.
        num_nodes: number of machines (DDP across nodes, on a cluster).
        strategy: Lightning strategy (``"ddp"`` for many GPUs from a script; ``"auto"`` picks one).
        precision: Lightning precision; default ``"bf16-mixed"`` on CUDA, ``"32-true"`` elsewhere.
        num_workers: DataLoader workers.
        seed: seed of the batches, masks and augmentations (build the model after ``seed_everything``
            for repeatable initial weights).
        normalize: compute per-band statistics of ``data`` and write them into the model's input norms
            first (skipped when resuming: the checkpoint holds them).
        checkpoint: write a checkpoint here at the end (an existing file is never overwritten).
        checkpoint_every: also write ``<checkpoint stem>-step<N>.ckpt`` every so many steps.
        resume: continue from this checkpoint (weights, optimiser, schedule, step, random state).
        progress: show a progress bar with the loss.
        cache: render a simulated world once before training (``"auto"``: when it renders on access and fits
            in memory; see :func:`~xmodal_lab.train.datamodule.prepare_training_data`). The same items, so the
            same losses, at about 1.6 times the steps per second of the tiny models on a CPU.

    Returns:
        ``(model, history)``: the trained model (on the CPU, in eval mode) and ``{"step", "loss", "lr",
        "time", "val", "seconds", "steps", "rank"}``: per step its number, loss, learning rate and training
        seconds so far (validation excluded); ``val`` a list of ``{"step", "time", metric: value}`` records;
        the total wall-clock seconds, the steps done and this process's rank (0 outside DDP); ``steps_asked``
        (``max_steps``, else the length of the schedule) and ``cut_short`` (True when the ``max_minutes``
        cap stopped training before that).

    Raises:
        ValueError: neither ``max_steps`` nor ``max_minutes`` given, or bad numbers.
        FileExistsError: ``checkpoint`` (or a periodic checkpoint) already exists.
        FileNotFoundError: ``resume`` does not exist.
    """
    if max_steps is None and max_minutes is None:
        raise ValueError("fit: give max_steps, max_minutes or both")
    for name, value in (
        ("max_steps", max_steps),
        ("max_minutes", max_minutes),
        ("batch_size", batch_size),
        ("lr", lr),
    ):
        if value is not None and value <= 0:
            raise ValueError(f"fit: {name} must be positive, got {value}")
    if len(data) == 0:
        raise ValueError("fit: the training dataset is empty")
    if checkpoint is not None and Path(checkpoint).exists():
        raise FileExistsError(f"fit: {checkpoint} already exists; choose another checkpoint path")
    if checkpoint_every and checkpoint is None:
        raise ValueError("fit: checkpoint_every needs a checkpoint path to name the files after")
    resumed: dict[str, Any] = {}
    if resume is not None:
        if not Path(resume).is_file():
            raise FileNotFoundError(f"fit: no checkpoint to resume from at {resume}")
        resumed = torch.load(resume, map_location="cpu", weights_only=False).get("xmodal_lab") or {}
        if not resumed:
            raise ValueError(f"fit: {resume} is not a training checkpoint written by xmodal_lab.train.fit")

    seed_everything(seed)
    data = prepare_training_data(data, cache, num_workers)
    gpu = _on_gpu(accelerator)
    extra: dict[str, Any] = {
        "name": getattr(model, "name", type(model).__name__),
        "data": describe_data(data),
    }
    if dataclasses.is_dataclass(getattr(model, "config", None)):
        extra["config"] = dataclasses.asdict(model.config)
    if normalize and resume is None:
        extra["data_statistics"] = band_statistics(data, batch_size=min(batch_size, 64), seed=seed)
        set_normalization(model, extra["data_statistics"])
    elif "data_statistics" in resumed:
        extra["data_statistics"] = resumed["data_statistics"]

    task = PretrainTask(model, lr=lr, weight_decay=weight_decay, extra=extra)
    if resumed:  # the schedule of the first run continues, whatever this call asks for
        total, warmup = resumed["total_steps"], resumed["warmup_steps"]
    else:
        total = (
            schedule_steps or max_steps or _steps_for_budget(task, data, batch_size, max_minutes, seed, gpu)
        )
        warmup = warmup_steps if warmup_steps is not None else min(500, max(1, total // 20))
    task.total_steps, task.warmup_steps = max(1, int(total)), min(int(warmup), max(1, int(total)))

    history = History(val_data, val_every, batch_size=min(256, max(batch_size, 64)))
    extra_callbacks: list[Callback] = [history]
    if progress:
        extra_callbacks.append(StepProgressBar())
    if checkpoint_every:
        extra_callbacks.append(PeriodicCheckpoint(Path(checkpoint), checkpoint_every))
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    start = time.perf_counter()
    try:
        with quiet_lightning():
            trainer = L.Trainer(
                accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
                precision=precision or ("bf16-mixed" if gpu else "32-true"),
                max_steps=max_steps if max_steps is not None else -1, max_epochs=-1,
                max_time=dt.timedelta(minutes=max_minutes) if max_minutes is not None else None,
                callbacks=[*extra_callbacks, *(callbacks or [])], logger=False, enable_checkpointing=False,
                enable_model_summary=False, enable_progress_bar=progress, num_sanity_val_steps=0,
                deterministic=not gpu, gradient_clip_val=grad_clip, use_distributed_sampler=False,
                log_every_n_steps=1, limit_val_batches=0,
            )  # fmt: skip
            trainer.fit(
                task, datamodule=PairDataModule(data, batch_size, seed, num_workers),
                ckpt_path=str(resume) if resume is not None else None, weights_only=False,
            )  # fmt: skip
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
    if checkpoint is not None:
        with quiet_lightning():  # every process must call it (only rank 0 writes)
            trainer.save_checkpoint(str(checkpoint))
    record = history.record
    record["seconds"] = time.perf_counter() - start
    record["steps"] = trainer.global_step
    record["rank"] = trainer.global_rank
    record["steps_asked"] = max_steps if max_steps is not None else task.total_steps
    record["cut_short"] = max_minutes is not None and trainer.global_step < record["steps_asked"]
    if record["cut_short"]:
        warnings.warn(
            _cut_short_message(trainer.global_step, record["steps_asked"], max_minutes), stacklevel=2
        )
    return model.cpu().eval(), record


def _cut_short_message(done: int, asked: int, minutes: float | None) -> str:
    return (
        f"fit: TRAINING WAS CUT SHORT: {done} of {asked} steps done before the max_minutes={minutes:g} cap. "
        "The model is less trained than the lesson's text assumes, so its results will differ from the text. "
        "Raise max_minutes (or lower max_steps) and run the cell again."
    )
