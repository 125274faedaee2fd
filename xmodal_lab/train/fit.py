"""``fit()``: the one training call of the notebooks, on a CPU, one GPU or many (Lightning underneath).

It reads as four steps: check, prepare, train, save.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import logging
import math
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from lightning.pytorch.strategies import Strategy, StrategyRegistry
from lightning.pytorch.utilities import rank_zero_only
from torch import nn
from torch.utils.data import Dataset

from xmodal_lab.config import release_memory, seed_everything
from xmodal_lab.errors import InputTypeError, InputValueError, OutputExistsError, SmallDataWarning
from xmodal_lab.files import as_path, claim
from xmodal_lab.serialization import SAFE_GLOBALS
from xmodal_lab.units import check_pair, first_item

from .checkpoint import PeriodicCheckpoint, check_resume, check_writable, save_checkpoint, training_record
from .datamodule import (
    PairDataModule,
    band_statistics,
    describe_data,
    prepare_training_data,
    set_normalization,
)
from .loggers import History, StepProgressBar, make_logger
from .task import PretrainTask

#: Fewest validation pairs without a warning: below this recall@k is near 1 by chance.
MIN_VAL_PAIRS = 20
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
#: The numbers :func:`fit` takes besides its config, in the order of :func:`check_numbers`.
NUMBERS = ("max_steps", "max_minutes", "batch_size", "lr", "seed", "val_every")
#: The numbers :func:`check_numbers` checks: name, whole, positive (True), at least 0 (False) or any (None).
RULES = (
    ("max_steps", True, True), ("batch_size", True, True), ("warmup_steps", True, False),
    ("schedule_steps", True, True), ("val_every", True, False), ("seed", True, None),
    ("checkpoint_every", True, False), ("num_workers", True, False), ("num_nodes", True, True),
    ("max_minutes", False, True), ("lr", False, True), ("weight_decay", False, False),
    ("grad_clip", False, True),
)  # fmt: skip
#: Numbers that may be None.
OPTIONAL = ("max_steps", "max_minutes", "warmup_steps", "schedule_steps", "grad_clip")
#: Lightning's precision names.
PRECISIONS = ("16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true", "64", "32", "16")
PRECISIONS += ("bf16", "transformer-engine", "transformer-engine-float16")
#: Environment variables that say the process was started by a launcher for several machines.
CLUSTER_VARIABLES = ("SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "LSB_JOBID", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
#: Lightning's start-up hints that say nothing to a student.
QUIET = (
    ".*does not have many workers.*", ".*GPU available but not used.*", ".*resuming from a checkpoint.*",
    ".*smaller than the logging interval.*", ".*treat it as an infinite.*", ".*litlogger.*",
    ".*`isinstance\\(treespec, LeafSpec\\)` is deprecated.*",
    ".*module\\(s\\) in eval mode at the start of training.*",  # a frozen encoder, on purpose
)


@dataclasses.dataclass
class FitConfig:
    """The knobs of :func:`fit` that lessons rarely change."""

    weight_decay: float = 0.05  # AdamW weight decay
    warmup_steps: int | None = None  # linear warm-up (None: a twentieth of the schedule, 1 to 500 steps)
    schedule_steps: int | None = None  # cosine schedule length beyond max_steps (to stop early, resume)
    grad_clip: float | None = 1.0  # clip the gradient norm to this value (None: no clipping)
    checkpoint_every: int = 0  # also write <checkpoint stem>-step<N>.ckpt every so many steps
    logger: Any = None  # None (CSV when log_dir is given), "csv", "tensorboard", False, or a Lightning logger
    cache: bool | str = "auto"  # render the data into memory first (see prepare_training_data)
    num_workers: int = 0  # DataLoader workers
    callbacks: list[Callback] = dataclasses.field(default_factory=list)  # extra Lightning callbacks
    accelerator: str = "auto"  # this and the next four: Lightning's Trainer arguments
    devices: int | str | list[int] = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None  # None: "bf16-mixed" on CUDA, "32-true" elsewhere
    record: dict[str, Any] = dataclasses.field(default_factory=dict)  # more entries for the checkpoint

    def on_gpu(self) -> bool:
        """Whether training runs on CUDA (bf16 autocast, non-deterministic kernels)."""
        if self.accelerator == "auto":
            return torch.cuda.is_available()
        return self.accelerator in ("gpu", "cuda")


def fit(
    model: nn.Module, data: Dataset, *, max_steps: int | None = None, max_minutes: float | None = None,
    batch_size: int = 64, lr: float = 1e-3, seed: int = 0, val_data: Dataset | None = None, val_every: int = 0,
    normalize: bool = True, checkpoint: str | Path | None = None, resume: str | Path | None = None,
    log_dir: str | Path | None = None, progress: bool = True, config: FitConfig | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train any model of the kit on a pair dataset, on a CPU, one GPU (bf16) or many (DDP).

    On a CPU, a fixed seed and ``max_steps`` give identical losses run after run, and a resumed run continues
    the uninterrupted one exactly. Under DDP the per-step history stays in the workers.

    Args:
        model: a model whose ``forward(batch)`` returns a dict with a scalar ``loss``.
        data: a dataset of pair dicts (``s1`` ``[2, H, W]``, ``s2`` ``[12, H, W]``, ...).
        max_steps: optimisation steps (also the length of the cosine schedule).
        max_minutes: wall-clock cap; alone, it sizes the schedule from two timed steps.
        batch_size: pairs per step and per device.
        lr: peak learning rate (AdamW, warm-up then cosine).
        seed: seed of the batches, masks and augmentations (not of the initial weights).
        val_data: held-out pairs for :func:`~xmodal_lab.train.validation_metrics`.
        val_every: validate every so many steps (0: at the end only).
        normalize: write per-band statistics of ``data`` into the model's input norms (not on resume).
        checkpoint: the checkpoint to write at the end; its name is claimed before training, never replaced.
        resume: continue from this checkpoint (weights, optimiser, schedule, step, random state).
        log_dir: write a log into a new ``version_N`` folder there.
        progress: show a progress bar with the loss.
        config: the rarely changed knobs.

    Returns:
        ``(model, history)``: the model (CPU, eval mode, ``model.fit_record`` for its card) and per step
        ``"step"``, ``"loss"``, ``"lr"``, ``"time"``; ``"val"`` records; ``"seconds"``, ``"steps"``,
        ``"steps_asked"``, ``"cut_short"``, ``"rank"`` and ``"log_dir"`` when logged.
    """
    # Check everything before the first step, and hold the checkpoint's name until it is published.
    config = config or FitConfig()
    if max_steps is None and max_minutes is None:
        raise InputValueError("fit: give max_steps, max_minutes or both (--max-steps, --max-minutes)")
    check_numbers(max_steps, max_minutes, batch_size, lr, seed, val_every, config)
    resumed = _check_inputs(model, data, val_data, batch_size, checkpoint, resume, log_dir, config)
    holds_name = checkpoint is not None and rank_zero_only.rank == 0
    logger = make_logger(config.logger, log_dir, claim=rank_zero_only.rank == 0)  # the run's own log folder
    with claim(checkpoint) if holds_name else contextlib.nullcontext():
        # Prepare the data, the run's record, the model's input statistics and the schedule.
        seed_everything(seed)
        data = prepare_training_data(data, config.cache, config.num_workers)
        settings = {"max_steps": max_steps, "max_minutes": max_minutes, "batch_size": batch_size,
                    "seed": seed, "val_every": val_every, "normalize": normalize}  # fmt: skip
        task = _prepare(model, data, lr, settings, resumed, config)
        # Train.
        history = History(val_data, val_every, batch_size=min(256, max(batch_size, 64)))
        start = time.perf_counter()
        datamodule = PairDataModule(data, batch_size, seed, config.num_workers)
        trainer = _train(task, datamodule, history, resume, checkpoint, logger, progress, max_steps,
                         max_minutes, config)  # fmt: skip
        # Save the final checkpoint, and the run on the model (for its card).
        if checkpoint is not None:
            with quiet_lightning():
                save_checkpoint(trainer, checkpoint)
        model.fit_record = training_record({**task.run_record(), "step": trainer.global_step})
    record = _report(trainer, history.record, start, task.total_steps, max_steps, max_minutes)
    model = model.cpu().eval()
    del trainer, task, datamodule, data, history, logger
    release_memory()  # the run's freed batches and buffers go back to the system, not kept by the allocator
    return model, record


def _prepare(model: nn.Module, data: Dataset, lr: float, settings: dict, resumed: dict, config: FitConfig):
    """The task: the run's record, the model's input statistics and the learning-rate schedule."""
    extra = {**config.record, "name": getattr(model, "name", type(model).__name__), "data": describe_data(data)}
    if dataclasses.is_dataclass(getattr(model, "config", None)):
        extra["config"] = dataclasses.asdict(model.config)
    knobs = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
             if f.name not in ("logger", "callbacks", "record")}
    extra["fit"] = {**settings, **knobs}
    batch_size, seed = settings["batch_size"], settings["seed"]
    if settings["normalize"] and not resumed:
        extra["data_statistics"] = band_statistics(data, batch_size=min(batch_size, 64), seed=seed)
        set_normalization(model, extra["data_statistics"])
    elif "data_statistics" in resumed:
        extra["data_statistics"] = resumed["data_statistics"]
    if resumed:  # the schedule of the first run continues, whatever this call asks for
        total, warmup = resumed["total_steps"], resumed["warmup_steps"]
    else:
        total = config.schedule_steps or settings["max_steps"]
        minutes = settings["max_minutes"]
        total = total or _steps_for_budget(model, data, batch_size, minutes, seed, config.on_gpu())
        warmup = config.warmup_steps if config.warmup_steps is not None else min(500, max(1, total // 20))
    return PretrainTask(model, lr, config.weight_decay, warmup, total, extra=extra)


def _report(trainer: L.Trainer, record: dict, start: float, total_steps: int, max_steps, max_minutes) -> dict:
    """The history: validation metrics joined to the log, the steps done, a warning when cut short."""
    if trainer.logger:
        for item in record["val"]:  # validation runs in a callback: its numbers join the log here
            values = {f"val/{k}": float(v) for k, v in item.items() if k not in ("step", "time")}
            trainer.logger.log_metrics(values, step=max(int(item["step"]) - 1, 0))
        trainer.logger.save()
        record["log_dir"] = trainer.logger.log_dir
    steps_asked = max_steps if max_steps is not None else total_steps
    cut_short = max_minutes is not None and trainer.global_step < steps_asked
    record.update(seconds=time.perf_counter() - start, steps=trainer.global_step, rank=trainer.global_rank,
                  steps_asked=steps_asked, cut_short=cut_short)
    if cut_short:
        warnings.warn(
            f"fit: TRAINING WAS CUT SHORT: {trainer.global_step} of {steps_asked} steps done before the "
            f"max_minutes={max_minutes:g} cap. The model is less trained than the lesson's text assumes, so its "
            "results will differ from the text. Raise max_minutes (or lower max_steps) and run the cell again.",
            stacklevel=3,
        )
    return record


def check_numbers(max_steps, max_minutes, batch_size, lr, seed, val_every, config: FitConfig) -> None:
    """Check every number and device setting before training, so that a mistake costs seconds, not a run."""
    values = {**vars(config), **dict(zip(NUMBERS, (max_steps, max_minutes, batch_size, lr, seed, val_every)))}
    for name, whole, positive in RULES:
        value = values[name]
        if value is None and name in OPTIONAL:
            continue
        if isinstance(value, bool) or not isinstance(value, Integral if whole else Real):
            kind = "a whole number" if whole else "a number"
            raise InputTypeError(f"fit: {name} must be {kind}, got {value!r} ({type(value).__name__})")
        if not math.isfinite(value) or (positive is not None and (value <= 0 if positive else value < 0)):
            bound = "positive" if positive else "at least 0"
            raise InputValueError(f"fit: {name} must be {bound} and finite, got {value}")
    if config.schedule_steps is not None and max_steps is not None and config.schedule_steps < max_steps:
        raise InputValueError(f"fit: schedule_steps={config.schedule_steps} is shorter than "
                              f"max_steps={max_steps}: the last steps would run at the final learning rate; "
                              "use schedule_steps >= max_steps (or leave it out)")  # fmt: skip
    if config.precision is not None and str(config.precision) not in PRECISIONS:
        raise InputValueError(f"fit: precision must be one of {PRECISIONS} or None, got {config.precision!r}")
    check_devices(config.devices, config.accelerator)
    known = ("auto", *StrategyRegistry.available_strategies())
    if not isinstance(config.strategy, Strategy) and config.strategy not in known:
        raise InputValueError(
            f"fit: strategy (--strategy) {config.strategy!r} is not a Lightning strategy; use 'auto' (DDP for "
            f"several devices) or one of {', '.join(known[:8])}, ...")
    manual = all(name in os.environ for name in ("MASTER_ADDR", "NODE_RANK"))
    if config.num_nodes > 1 and not manual and not any(name in os.environ for name in CLUSTER_VARIABLES):
        raise InputValueError(  # several machines need a launcher connecting them
            f"fit: num_nodes={config.num_nodes} (--num-nodes) but no cluster launcher started this process (no "
            "SLURM, torchrun, LSF or MPI variables, nor MASTER_ADDR and NODE_RANK): it would wait forever for the "
            f"other machines. Launch on each machine with `srun` or `torchrun --nnodes {config.num_nodes} ...`, or "
            "use num_nodes=1")


def check_devices(devices: Any, accelerator: Any) -> None:
    """Check ``devices`` ("auto", a count, -1 for all, or indices) and that the accelerator is here."""
    if isinstance(devices, str) and devices != "auto":
        parts = [p.strip() for p in devices.split(",") if p.strip()]
        ok = bool(parts) and all(p.isdigit() for p in parts) and (len(parts) > 1 or int(parts[0]) >= 1)
    elif isinstance(devices, (list, tuple)):
        ok = len(devices) > 0 and all(isinstance(d, Integral) and d >= 0 for d in devices)
    else:
        whole = isinstance(devices, Integral) and not isinstance(devices, bool)
        ok = devices == "auto" or (whole and (devices >= 1 or devices == -1))
    if not ok:
        raise InputValueError(
            f"fit: devices (--devices) must be 'auto', a positive number, -1 (all) or a list of device indices, "
            f"got {devices!r}")  # fmt: skip
    if accelerator not in ACCELERATORS:
        raise InputValueError(f"fit: accelerator must be one of {ACCELERATORS}, got {accelerator!r}")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise InputValueError(
            f"fit: accelerator={accelerator!r} (--accelerator {accelerator}) but no CUDA GPU is visible; use "
            "'cpu' or 'auto'")  # fmt: skip
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise InputValueError("fit: accelerator='mps' but no Apple GPU is available; use 'cpu' or 'auto'")


def _check_inputs(model, data, val_data, batch_size, checkpoint, resume, log_dir, config: FitConfig) -> dict:
    """Check the data and the files before training; returns the record of the run to resume, or ``{}``."""
    min_batch = int(getattr(model, "min_batch_size", 2))
    if batch_size < min_batch:
        raise InputValueError(
            f"fit: batch_size must be at least {min_batch}, got {batch_size}: with one pair per step a "
            "contrastive loss has no negative and is exactly 0, and batch statistics are undefined")
    _check_pairs(data, "data", min_items=min_batch)
    if val_data is not None:
        _check_pairs(val_data, "val_data", min_items=2)
    for path_name, path in (("checkpoint", checkpoint), ("resume", resume), ("log_dir", log_dir)):
        if path is not None:
            as_path(path, f"fit: {path_name}")
    if config.checkpoint_every and checkpoint is None:
        raise InputValueError("fit: checkpoint_every needs a checkpoint path to name the files after")
    if checkpoint is not None:
        if Path(checkpoint).exists():
            raise OutputExistsError(f"fit: {checkpoint} already exists; choose another checkpoint path")
        check_writable(checkpoint)
    if resume is None:
        return {}
    if not Path(resume).is_file():
        raise FileNotFoundError(f"fit: no checkpoint to resume from at {resume}")
    return check_resume(resume, model)


def _check_pairs(data: Any, name: str, min_items: int) -> None:
    """A dataset of at least ``min_items`` pair dicts in plausible units; few validation pairs warn."""
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise InputTypeError(f"fit: {name} must be a dataset of pair dicts, got {type(data).__name__}")
    n = len(data)
    if n == 0:
        raise InputValueError(f"fit: {name} is empty; pass a dataset of pairs")
    if n < min_items:
        why = ": retrieval among one pair gives recall 1.0 whatever the model" if name == "val_data" else ""
        raise InputValueError(f"fit: {name} holds {n} pair(s); at least {min_items} are needed{why}")
    first = first_item(data)
    if not (isinstance(first, Mapping) and any(isinstance(first.get(k), torch.Tensor) for k in ("s1", "s2"))):
        raise InputTypeError(
            f"fit: {name} items must be pair dicts of 's1' and/or 's2' tensors, got {type(first)}")
    check_pair(first, where=f"fit({name}[0])")
    if name == "val_data" and n < MIN_VAL_PAIRS:
        warnings.warn(f"fit: val_data holds only {n} pairs: chance recall@1 is {1 / n:.2f} and recall@10 "
                      f"{min(1.0, 10 / n):.2f}, so validation numbers say little; hold out at least "
                      f"{MIN_VAL_PAIRS}",
                      SmallDataWarning, stacklevel=4)  # fmt: skip


def _steps_for_budget(model, data, batch_size: int, minutes: float, seed: int, gpu: bool) -> int:
    """Length of a cosine schedule that fits a time budget, from two timed steps on a copy of the model."""
    device = torch.device("cuda" if gpu else "cpu")
    model = copy.deepcopy(model).train().to(device)
    batches = iter(PairDataModule(data, batch_size, seed).train_dataloader())
    rng = torch.get_rng_state()  # the probe must not shift the masks of the real run
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in next(batches).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
            model(batch)["loss"].backward()
        if gpu:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    torch.set_rng_state(rng)
    per_step = min(times) * 1.2  # the optimiser step, logging and the progress bar
    return max(10, int(minutes * 60 / per_step))


def _train(task, datamodule, history, resume, checkpoint, logger, progress, max_steps, max_minutes,
           config: FitConfig) -> L.Trainer:  # fmt: skip
    """Train with Lightning until ``max_steps`` or ``max_minutes``; returns the trainer."""
    gpu = config.on_gpu()
    callbacks: list[Callback] = [history]
    if logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if progress:
        callbacks.append(StepProgressBar())
    if config.checkpoint_every:
        callbacks.append(PeriodicCheckpoint(checkpoint, config.checkpoint_every))
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    try:  # the trainer turns deterministic kernels on for a CPU run; the notebook gets its setting back
        with quiet_lightning():
            trainer = L.Trainer(
                accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes,
                strategy=config.strategy, precision=config.precision or ("bf16-mixed" if gpu else "32-true"),
                max_steps=max_steps if max_steps is not None else -1, max_epochs=-1,
                max_time=dt.timedelta(minutes=max_minutes) if max_minutes is not None else None,
                callbacks=[*callbacks, *config.callbacks], logger=logger, enable_checkpointing=False,
                enable_model_summary=False, enable_progress_bar=progress, num_sanity_val_steps=0,
                deterministic=not gpu, gradient_clip_val=config.grad_clip, use_distributed_sampler=False,
                log_every_n_steps=1, limit_val_batches=0,
            )  # fmt: skip
        with quiet_lightning(), torch.serialization.safe_globals(SAFE_GLOBALS):  # old checkpoints hold NumPy
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
    return trainer


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up banners and hints in notebook output."""
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        for pattern in QUIET:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
