"""The checks ``fit()`` runs before and after training: arguments, data, resume and written files.

Each check raises the kit's error (:mod:`xmodal_lab.errors`, subclasses of ``ValueError``, ``TypeError``
and ``OSError``) with a message that names the argument or file and what to do, so that a mistake costs
seconds, not a training run, and nothing reports success without its file.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import torch

from xmodal_lab.errors import (
    CheckpointError,
    InputTypeError,
    InputValueError,
    OutputWriteError,
    SmallDataWarning,
)
from xmodal_lab.units import check_pair, first_item

#: Fewest validation pairs without a warning: below this recall@k is near 1 by chance (recall@10 of 10 is 1).
MIN_VAL_PAIRS = 20
#: Smallest batch: contrastive losses on a batch of 1 are exactly 0 (no negative), batch norms break.
MIN_BATCH_SIZE = 2
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
#: Lightning's precision names.
PRECISIONS = (
    "transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
    "32-true", "64-true", "64", "32", "16", "bf16",
)  # fmt: skip


def _int(name: str, value: Any, low: int | None, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputTypeError(f"fit: {name} must be a whole number, got {value!r} ({type(value).__name__})")
    if low is not None and value < low:
        bound = "positive (at least 1)" if low == 1 else f"at least {low}"
        raise InputValueError(f"fit: {name} must be {bound}, got {value}")


def _real(name: str, value: Any, positive: bool, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputTypeError(f"fit: {name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise InputValueError(f"fit: {name} must be finite, got {value}")
    if value < 0 or (positive and value == 0):
        raise InputValueError(
            f"fit: {name} must be {'positive' if positive else 'zero or positive'}, got {value}"
        )


def check_fit_args(
    *,
    max_steps: Any,
    max_minutes: Any,
    batch_size: Any,
    lr: Any,
    weight_decay: Any,
    warmup_steps: Any,
    schedule_steps: Any,
    grad_clip: Any,
    val_every: Any,
    checkpoint_every: Any,
    num_workers: Any,
    seed: Any,
    num_nodes: Any,
    devices: Any,
    accelerator: Any,
    precision: Any = None,
    min_batch_size: int = MIN_BATCH_SIZE,
) -> None:
    """Refuse numbers ``fit`` would silently misread (``max_steps=2.5`` ran 3 steps, ``weight_decay=-1``...).

    Raises:
        InputTypeError: a count that is not a whole number (or a bool), a rate that is not a number.
        InputValueError: a value out of range, or an accelerator that is not there.
    """
    if max_steps is None and max_minutes is None:
        raise InputValueError("fit: give max_steps, max_minutes or both")
    _int("max_steps", max_steps, 1, optional=True)
    _real("max_minutes", max_minutes, positive=True, optional=True)
    _int("batch_size", batch_size, 1)
    if batch_size < min_batch_size:
        raise InputValueError(
            f"fit: batch_size must be at least {min_batch_size}, got {batch_size}: with one pair per step a "
            "contrastive loss has no negative and is exactly 0, and batch statistics are undefined"
        )
    _real("lr", lr, positive=True)
    _real("weight_decay", weight_decay, positive=False)
    _int("warmup_steps", warmup_steps, 0, optional=True)
    _int("schedule_steps", schedule_steps, 1, optional=True)
    if schedule_steps is not None and max_steps is not None and schedule_steps < max_steps:
        raise InputValueError(
            f"fit: schedule_steps={schedule_steps} is shorter than max_steps={max_steps}: the last "
            f"{max_steps - schedule_steps} steps would run at the final 1% learning rate; use schedule_steps >= "
            "max_steps (or leave it out)"
        )
    _real("grad_clip", grad_clip, positive=True, optional=True)
    for name, value in (
        ("val_every", val_every),
        ("checkpoint_every", checkpoint_every),
        ("num_workers", num_workers),
    ):
        _int(name, value, 0)
    _int("seed", seed, None)
    _int("num_nodes", num_nodes, 1)
    if precision is not None and str(precision) not in PRECISIONS:
        raise InputValueError(
            f"fit: precision must be one of {PRECISIONS} (or None for the default), got {precision!r}"
        )
    check_devices(devices, accelerator)


def check_devices(devices: Any, accelerator: Any) -> None:
    """``devices``: ``"auto"``, a positive count, -1 (all), or device indices; ``accelerator`` present.

    Raises:
        InputValueError: anything else, or a GPU asked for where none is visible.
    """
    ok = devices == "auto" or (
        isinstance(devices, Integral) and not isinstance(devices, bool) and (devices >= 1 or devices == -1)
    )
    if isinstance(devices, (list, tuple)):
        ok = len(devices) > 0 and all(isinstance(d, Integral) and d >= 0 for d in devices)
    if isinstance(devices, str) and devices != "auto":
        parts = [p.strip() for p in devices.split(",") if p.strip()]
        ok = bool(parts) and all(p.isdigit() for p in parts) and (len(parts) > 1 or int(parts[0]) >= 1)
    if not ok:
        raise InputValueError(
            f"fit: devices must be 'auto', a positive number of devices, -1 (all) or a list of device indices, "
            f"got {devices!r}"
        )
    if isinstance(accelerator, str):
        if accelerator not in ACCELERATORS:
            raise InputValueError(f"fit: accelerator must be one of {ACCELERATORS}, got {accelerator!r}")
        if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise InputValueError(
                f"fit: accelerator={accelerator!r} but no CUDA GPU is visible (torch.cuda.is_available() is "
                "False); use accelerator='cpu' or 'auto'"
            )
        mps = getattr(torch.backends, "mps", None)
        if accelerator == "mps" and not (mps is not None and mps.is_available()):
            raise InputValueError("fit: accelerator='mps' but no Apple GPU is available; use 'cpu' or 'auto'")


def check_data(data: Any, name: str = "data", min_items: int = 1) -> dict[str, Any]:
    """A non-empty dataset of pair dicts in plausible units; returns its first item.

    Args:
        data: the dataset.
        name: its argument name, for the messages.
        min_items: fewest items accepted.

    Raises:
        InputTypeError: not a dataset, or items that are not pair dicts.
        InputValueError: fewer than ``min_items`` items.
    """
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise InputTypeError(f"fit: {name} must be a dataset of pair dicts, got {type(data).__name__}")
    n = len(data)
    if n == 0:
        raise InputValueError(
            f"fit: {name} is empty" + ("; the training dataset holds no pairs" if name == "data" else "")
        )
    if n < min_items:
        raise InputValueError(f"fit: {name} holds {n} pair(s); at least {min_items} are needed")
    first = first_item(data)
    if not isinstance(first, Mapping) or not any(
        isinstance(first.get(k), torch.Tensor) for k in ("s1", "s2")
    ):
        raise InputTypeError(
            f"fit: {name} items must be pair dicts with 's1' and/or 's2' tensors, got {type(first).__name__}"
        )
    check_pair(first, where=f"fit({name}[0])")
    return first


def check_val_data(val_data: Any) -> None:
    """Validation pairs: none, or enough for retrieval metrics to mean something.

    Raises:
        InputTypeError: not a dataset of pair dicts.
        InputValueError: empty, or a single pair (recall would be 1.0 whatever the model).

    Warns:
        SmallDataWarning: fewer than :data:`MIN_VAL_PAIRS` pairs (recall@k near 1 by chance).
    """
    if val_data is None:
        return
    if not (hasattr(val_data, "__len__") and hasattr(val_data, "__getitem__")):
        raise InputTypeError(f"fit: val_data must be a dataset of pair dicts, got {type(val_data).__name__}")
    n = len(val_data)
    if n == 0:
        raise InputValueError("fit: val_data is empty; pass held-out pairs or val_data=None")
    if n == 1:
        raise InputValueError(
            "fit: val_data holds 1 pair: retrieval among one item gives recall 1.0 whatever the model; "
            f"hold out at least {MIN_VAL_PAIRS} pairs"
        )
    check_data(val_data, "val_data")
    if n < MIN_VAL_PAIRS:
        warnings.warn(
            f"fit: val_data holds only {n} pairs: chance recall@1 is {1 / n:.2f} and recall@10 "
            f"{min(1.0, 10 / n):.2f}, so validation numbers say little; hold out at least {MIN_VAL_PAIRS}",
            SmallDataWarning,
            stacklevel=3,
        )


def _write_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (None when a test file can be created there)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the folder {folder} ({error.strerror or error})"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".xmodal_write_test_"):
            pass
    except OSError as error:
        return f"cannot write in {folder} ({error.strerror or error})"
    return None


def check_writable(path: str | Path, what: str = "checkpoint") -> None:
    """Before training: the folder of ``path`` exists (or can be created) and accepts a file.

    Raises:
        OutputWriteError: with the path and the reason.
    """
    path = Path(path)
    problem = _write_problem(path.parent)
    if problem is not None:
        raise OutputWriteError(f"{what} {path} cannot be written: {problem}; choose another path")


def verify_written(path: str | Path, what: str = "checkpoint") -> None:
    """After saving: the file exists and is not empty (Lightning's atomic save can fail without a word).

    Raises:
        OutputWriteError: with the path and the reason found.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size > 0:
        return
    problem = _write_problem(path.parent)
    if problem is None:
        usage = _free_space(path.parent)
        problem = "no error was reported" + (f"; {usage}" if usage else "")
    raise OutputWriteError(f"{what} {path} was not written (the file did not appear after saving): {problem}")


def _free_space(folder: Path) -> str:
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        return ""
    return f"{stat.f_bavail * stat.f_frsize / 1e9:.2f} GB free on its disk"


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def check_resume(info: Mapping[str, Any], model: torch.nn.Module, path: str | Path) -> None:
    """The checkpoint records this model's name and config (else a clear message, not a key dump).

    Raises:
        CheckpointError: another model or another config, naming the differences.
    """
    name = getattr(model, "name", type(model).__name__)
    if info.get("name") is not None and info["name"] != name:
        raise CheckpointError(
            f"fit: {path} was trained as a {info['name']!r} model, not {name!r}; resume with the model it records "
            "(xmodal_lab.train.load_checkpoint rebuilds it) or start without resume"
        )
    config = getattr(model, "config", None)
    saved = info.get("config")
    if dataclasses.is_dataclass(config) and isinstance(saved, Mapping):
        mine = dataclasses.asdict(config)
        diff = [
            f"{k}: checkpoint {saved.get(k)!r}, this model {mine.get(k)!r}"
            for k in sorted(set(mine) | set(saved))
            if _plain(saved.get(k)) != _plain(mine.get(k))
        ]
        if diff:
            raise CheckpointError(
                f"fit: {path} holds a {name!r} model of another config ({'; '.join(diff)}); build the model "
                "with the checkpoint's config (checkpoint_info(path)['config']) to resume"
            )


__all__ = [
    "check_data",
    "check_devices",
    "check_fit_args",
    "check_resume",
    "check_val_data",
    "check_writable",
    "verify_written",
]
