"""Experiment logs of ``fit()``: a CSV file by default when a log folder is given, TensorBoard on request.

Each run writes into a new ``version_N`` folder under the log folder, so a log is never overwritten;
:func:`read_log` turns a run's ``metrics.csv`` (or its TensorBoard events file) back into the history dict
that ``plot_history`` draws.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import re
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger

LOGGERS = ("csv", "tensorboard")


def make_logger(logger: str | Logger | bool | None, log_dir: str | Path | None) -> Logger | bool:
    """The Lightning logger ``fit(logger=..., log_dir=...)`` asks for.

    Args:
        logger: ``None`` (CSV when ``log_dir`` is given, else no log), ``False`` (no log), ``"csv"``,
            ``"tensorboard"``, or any Lightning ``Logger`` (used as it is).
        log_dir: folder of the logs; each run gets its own ``version_N`` subfolder.

    Returns:
        A Lightning logger, or False for none.

    Raises:
        ValueError: an unknown logger name, or a named logger without ``log_dir``.
        ImportError: TensorBoard asked for but not installed.
    """
    if isinstance(logger, Logger):
        return logger
    if logger is False or (logger is None and log_dir is None):
        return False
    name = "csv" if logger is None or logger is True else logger
    if name not in LOGGERS:
        raise ValueError(
            f"logger: expected one of {LOGGERS}, a Lightning Logger, None or False, got {logger!r}"
        )
    if log_dir is None:
        raise ValueError(f"logger={name!r} needs log_dir=, the folder to write the logs into")
    if Path(log_dir).exists() and not Path(log_dir).is_dir():
        raise NotADirectoryError(f"log_dir: {log_dir} is a file, not a folder")
    if name == "csv":
        return CSVLogger(save_dir=str(log_dir), name="")
    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        raise ImportError(
            "logger='tensorboard' needs the tensorboard package, which is not installed: "
            "`pip install tensorboard` (or use the default CSV log, logger='csv')"
        )
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(log_dir), name="")


def _is_events(path: Path) -> bool:
    return path.is_file() and path.name.startswith("events.out.tfevents.")


def _has_log(folder: Path) -> bool:
    return (folder / "metrics.csv").is_file() or any(
        _is_events(p) for p in folder.glob("events.out.tfevents.*")
    )


def _log_source(path: str | Path) -> Path:
    """The ``metrics.csv`` file or the TensorBoard run folder that ``path`` points at (newest run)."""
    path = Path(path)
    if path.is_file():
        return path.parent if _is_events(path) else path
    if not path.is_dir():
        raise FileNotFoundError(f"read_log: no log at {path}")
    if (path / "metrics.csv").is_file():
        return path / "metrics.csv"
    if _has_log(path):
        return path
    versions = [p for p in path.glob("version_*") if re.fullmatch(r"version_\d+", p.name) and _has_log(p)]
    if not versions:
        raise FileNotFoundError(
            f"read_log: no metrics.csv or TensorBoard events file in {path} or its version_N folders"
        )
    return _log_source(max(versions, key=lambda p: int(p.name.split("_")[1])))


def _read_tensorboard(run: Path) -> tuple[list[dict[str, str]], list[str]]:
    """A TensorBoard run's scalars as CSV-like rows (one per tag and step), so both logs read alike."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as err:  # pragma: no cover - tensorboard is a dependency of the kit
        raise ImportError("read_log: reading a TensorBoard log needs `pip install tensorboard`") from err
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    tags = list(acc.Tags().get("scalars", []))
    rows = [{"step": str(e.step), tag: repr(e.value)} for tag in tags for e in acc.Scalars(tag)]
    return rows, ["step", *tags]


def read_log(path: str | Path) -> dict[str, Any]:
    """Read a CSV log written by ``fit(log_dir=...)`` into a history dict.

    Args:
        path: a ``metrics.csv`` file, a TensorBoard events file, a run's ``version_N`` folder, or the log
            folder (its newest run). CSV and TensorBoard logs give the same dict.

    Returns:
        ``{"step": [...], "loss": [...], "lr": [...], "val": [{"step", metric: value}, ...], "path": str}``,
        steps counted from 1 like ``fit``'s history.

    Raises:
        FileNotFoundError: no log there.
        ValueError: the file has no ``loss`` column.
    """
    file = _log_source(path)
    if file.is_dir():
        rows, columns = _read_tensorboard(file)
    else:
        with file.open(newline="") as f:
            rows = list(csv.DictReader(f))
        columns = list(rows[0]) if rows else []
    if "loss" not in columns:
        raise ValueError(f"read_log: {file} has no 'loss' column (columns: {columns})")
    lr_col = next((c for c in columns if c.startswith("lr")), None)
    loss: dict[int, float] = {}
    lrs: dict[int, float] = {}
    val: dict[int, dict[str, float]] = {}
    # Lightning writes the loss, the learning rate and metrics on separate rows
    for i, row in enumerate(rows):
        step = int(float(row["step"])) + 1 if row.get("step") not in (None, "") else i + 1
        if row.get("loss") not in (None, ""):
            loss[step] = float(row["loss"])
        if lr_col and row.get(lr_col) not in (None, ""):
            lrs[step] = float(row[lr_col])
        for key, value in row.items():
            if key.startswith("val/") and value not in (None, ""):
                val.setdefault(step, {"step": step})[key[4:]] = float(value)
    steps = sorted(loss)
    out: dict[str, Any] = {
        "step": steps,
        "loss": [loss[s] for s in steps],
        "lr": [lrs.get(s, math.nan) for s in steps],
        "path": str(file),
    }
    out["val"] = [val[s] for s in sorted(val)]
    return out
