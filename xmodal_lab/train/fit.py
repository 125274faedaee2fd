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
from xmodal_lab.serialization import SAFE_GLOBALS

from .callbacks import History, PeriodicCheckpoint, StepProgressBar
from .checkpoint import read_checkpoint
from .checks import (
    check_data,
    check_fit_args,
    check_resume,
    check_val_data,
    check_writable,
    verify_written,
)
from .datamodule import PairDataModule, describe_data, prepare_training_data
from .loggers import make_logger
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
            ".*module\\(s\\) in eval mode at the start of training.*",  # a frozen encoder, on purpose
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


def _check_inputs(
    model: nn.Module,
    data: Dataset,
    val_data: Dataset | None,
    checkpoint: str | Path | None,
    checkpoint_every: int,
    resume: str | Path | None,
    numbers: dict[str, Any],
) -> dict[str, Any]:
    """Everything ``fit`` can check before training; returns the resumed run's record (or ``{}``)."""
    check_fit_args(**numbers, min_batch_size=int(getattr(model, "min_batch_size", 2)))
    check_data(data, "data", min_items=int(getattr(model, "min_batch_size", 2)))
    check_val_data(val_data)
    if checkpoint is not None and Path(checkpoint).exists():
        raise FileExistsError(f"fit: {checkpoint} already exists; choose another checkpoint path")
    if checkpoint_every and checkpoint is None:
        raise ValueError("fit: checkpoint_every needs a checkpoint path to name the files after")
    if checkpoint is not None:
        check_writable(checkpoint)
    if resume is None:
        return {}
    if not Path(resume).is_file():
        raise FileNotFoundError(f"fit: no checkpoint to resume from at {resume}")
    resumed = read_checkpoint(resume)["xmodal_lab"]
    check_resume(resumed, model, resume)
    return resumed


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
    logger: str | Any | None = None,
    log_dir: str | Path | None = None,
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
        logger: ``None`` (a CSV log when ``log_dir`` is given, else none), ``"csv"``, ``"tensorboard"`` (needs
            the tensorboard package), ``False``, or any Lightning logger. Logs hold the loss and learning
            rate per step and the validation metrics (``val/<metric>``).
        log_dir: folder of the logs; each run writes a new ``version_N`` subfolder (never overwritten);
            ``xmodal_lab.viz.plot_history(history["log_dir"])`` draws it.
        cache: render a simulated world once before training (``"auto"``: when it renders on access and fits
            in memory; see :func:`~xmodal_lab.train.datamodule.prepare_training_data`). The same items, so the
            same losses, at about 1.6 times the steps per second of the tiny models on a CPU.

    Returns:
        ``(model, history)``: the trained model (on the CPU, in eval mode) and ``{"step", "loss", "lr",
        "time", "val", "seconds", "steps", "rank"}``: per step its number, loss, learning rate and training
        seconds so far (validation excluded); ``val`` a list of ``{"step", "time", metric: value}`` records;
        the total wall-clock seconds, the steps done and this process's rank (0 outside DDP); with a
        logger also ``"log_dir"``, the run's log folder.

    Everything is checked before the first step (:mod:`xmodal_lab.train.checks`): the numbers, the data
    (pair dicts, units, at least 2 pairs), the validation set (empty or one pair: error; fewer than 20: a
    :class:`~xmodal_lab.errors.SmallDataWarning`), that the checkpoint folder accepts files, and that a
    resumed checkpoint records this model's name and config. Checkpoints are loaded with
    ``weights_only=True`` (no code from the file runs), and each written checkpoint is verified on disk.
        the total wall-clock seconds, the steps done and this process's rank (0 outside DDP); ``steps_asked``
        (``max_steps``, else the length of the schedule) and ``cut_short`` (True when the ``max_minutes``
        cap stopped training before that).

    Raises:
        ValueError: neither ``max_steps`` nor ``max_minutes`` given, bad numbers, empty or tiny data
            (:class:`~xmodal_lab.errors.InputValueError`).
        TypeError: a count that is not a whole number, data that are not pair dicts.
        FileExistsError: ``checkpoint`` (or a periodic checkpoint) already exists.
        FileNotFoundError: ``resume`` does not exist.
        CheckpointError: ``resume`` is not a training checkpoint of this kit, or of another model or config.
        OutputWriteError: (an ``OSError``) the checkpoint folder is not writable, or a checkpoint did not
            appear after saving.
    """
    resumed = _check_inputs(
        model, data, val_data, checkpoint, checkpoint_every, resume,
        dict(max_steps=max_steps, max_minutes=max_minutes, batch_size=batch_size, lr=lr,
             weight_decay=weight_decay, warmup_steps=warmup_steps, schedule_steps=schedule_steps,
             grad_clip=grad_clip, val_every=val_every, checkpoint_every=checkpoint_every,
             num_workers=num_workers, seed=seed, num_nodes=num_nodes, devices=devices, accelerator=accelerator,
             precision=precision),
    )  # fmt: skip

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
    run_logger = make_logger(logger, log_dir)
    if run_logger:
        from lightning.pytorch.callbacks import LearningRateMonitor

        extra_callbacks.append(LearningRateMonitor(logging_interval="step"))
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
                callbacks=[*extra_callbacks, *(callbacks or [])], logger=run_logger, enable_checkpointing=False,
                enable_model_summary=False, enable_progress_bar=progress, num_sanity_val_steps=0,
                deterministic=not gpu, gradient_clip_val=grad_clip, use_distributed_sampler=False,
                log_every_n_steps=1, limit_val_batches=0,
            )  # fmt: skip
            with torch.serialization.safe_globals(SAFE_GLOBALS):  # older checkpoints hold NumPy arrays
                trainer.fit(
                    task, datamodule=PairDataModule(data, batch_size, seed, num_workers),
                    ckpt_path=str(resume) if resume is not None else None, weights_only=True,
                )  # fmt: skip
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
    if checkpoint is not None:
        with quiet_lightning():  # every process must call it (only rank 0 writes)
            trainer.save_checkpoint(str(checkpoint))
        if trainer.is_global_zero:
            verify_written(checkpoint)
    record = history.record
    if run_logger:
        for item in record["val"]:  # validation runs in a callback: its numbers join the log here
            values = {f"val/{k}": float(v) for k, v in item.items() if k not in ("step", "time")}
            run_logger.log_metrics(values, step=max(int(item["step"]) - 1, 0))
        run_logger.save()
        record["log_dir"] = run_logger.log_dir
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
