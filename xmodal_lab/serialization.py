"""Loading the kit's files without executing code: ``torch.load(weights_only=True)`` with clear errors.

A pickle can run any code when it is read, and checkpoints are shared in a course.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmodal_lab.errors import CheckpointError
from xmodal_lab.files import as_path


def _numpy_globals() -> list[Any]:
    """What pickled NumPy arrays reference (older checkpoints hold them in their random state)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    dtypes = [type(np.dtype(t)) for t in ("uint8", "uint32", "int64", "float32", "float64", "bool")]
    return [_reconstruct, np.ndarray, np.dtype, *dtypes]


#: Types allowed besides torch's defaults (tensors, containers, numbers, strings).
SAFE_GLOBALS = _numpy_globals()


def _reason(error: BaseException) -> str:
    """The useful part of torch's error (never its advice to load with ``weights_only=False``)."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    text = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return re.split(r"(?<=\.) ", text)[0][:200]


def safe_load(path: str | Path, what: str = "checkpoint", map_location: str | torch.device = "cpu",
              mmap: bool = False) -> Any:  # fmt: skip
    """``torch.load`` that never runs code from the file; ``what`` names the file in messages.

    ``mmap`` maps the tensors from the file (read on first use, copied on write) instead of reading them all
    now; files in torch's old, non-zip format are read as usual.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: an empty, corrupt or foreign file, or one asking to import more than plain types.
    """
    path = as_path(path, f"{what} path")
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty; expected a {what} of xmodal_lab (an interrupted copy?)")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            mmap = mmap and zipfile.is_zipfile(path)
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        reason = _reason(error)
        if "global" in reason.lower():
            raise CheckpointError(
                f"{path}: refused to load: the file asks for {reason.split('GLOBAL')[-1].split()[0]!s}, which no "
                f"{what} of xmodal_lab holds; unpickling it could run code (unsafe; only open files you trust "
                "with tools you trust)"
            ) from None
        raise CheckpointError(f"{path}: not a {what} of xmodal_lab (unreadable: {reason})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, UnicodeDecodeError, AttributeError) as error:
        raise CheckpointError(
            f"{path}: not a {what} of xmodal_lab, or a truncated or corrupt copy of one ({_reason(error)})"
        ) from None


def load_weights(model: torch.nn.Module, state: dict, path: Path | str, fix: str) -> None:
    """``model.load_state_dict(state)``; a tampered or foreign ``state`` gets a CheckpointError naming ``path``.

    The message lists the first missing, unexpected and misshapen keys and ends with ``fix``.
    """
    problems = state_problems(model.state_dict(), state)
    if problems:
        raise CheckpointError(
            f"{path}: the weights do not fit the {getattr(model, 'name', type(model).__name__)!r} model its record "
            f"describes ({problems}); the file was edited, or written by another version of the model: {fix}"
        )
    model.load_state_dict(state)


def state_problems(own: dict, state: dict) -> str:
    """The first keys missing from ``state``, not in ``own`` or of another shape, or ``""`` when it fits."""
    found = {
        "missing": [k for k in own if k not in state],
        "unexpected": [k for k in state if k not in own],
        "of another shape": [
            f"{k} {tuple(state[k].shape)} for {tuple(own[k].shape)}" for k in own
            if k in state and getattr(state[k], "shape", None) != own[k].shape
        ],
    }  # fmt: skip
    return "; ".join(
        f"{len(keys)} {what} key(s): {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
        for what, keys in found.items() if keys
    )  # fmt: skip
