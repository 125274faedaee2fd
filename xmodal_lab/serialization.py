"""Loading the kit's files without running code from them (``torch.load(weights_only=True)``), with clear errors."""

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

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

#: Types allowed besides torch's defaults: those of pickled NumPy arrays (older checkpoints' random state).
SAFE_GLOBALS = [_reconstruct, np.ndarray, np.dtype] + [
    type(np.dtype(t)) for t in ("uint8", "uint32", "int64", "float32", "float64", "bool")
]


def _reason(error: BaseException) -> str:
    """The useful part of torch's error (never its advice to load with ``weights_only=False``)."""
    text = str(error).split("WeightsUnpickler error:", 1)[-1]
    text = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return re.split(r"(?<=\.) ", text)[0][:200]


def safe_load(path: str | Path, what: str = "checkpoint", map_location: str | torch.device = "cpu",
              mmap: bool = False) -> Any:  # fmt: skip
    """``torch.load`` that never runs code from the file (CheckpointError); ``what`` names it in messages.

    ``mmap`` maps the tensors of a zip-format file (read on first use) instead of reading them all now.
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
            asked = reason.split("GLOBAL")[-1].split()[0]
            raise CheckpointError(f"{path}: refused to load: the file asks for {asked}, which no {what} of "
                                  "xmodal_lab holds; unpickling it could run code (unsafe; only open files you trust "
                                  "with tools you trust)") from None
        raise CheckpointError(f"{path}: not a {what} of xmodal_lab (unreadable: {reason})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, UnicodeDecodeError, AttributeError) as error:
        raise CheckpointError(f"{path}: not a {what} of xmodal_lab, or a truncated or corrupt copy of one "
                              f"({_reason(error)})") from None


def load_weights(model: torch.nn.Module, state: dict, path: Path | str, fix: str) -> None:
    """``model.load_state_dict(state)``; a foreign ``state`` gets a CheckpointError naming ``path`` and ``fix``."""
    problems = state_problems(model.state_dict(), state)
    if problems:
        name = getattr(model, "name", type(model).__name__)
        raise CheckpointError(f"{path}: the weights do not fit the {name!r} model its record describes ({problems}); "
                              f"the file was edited, or written by another version of the model: {fix}")
    model.load_state_dict(state)


def state_problems(own: dict, state: dict) -> str:
    """The first keys missing from ``state``, not in ``own`` or of another shape, or ``""`` when it fits."""
    found = {
        "missing": [k for k in own if k not in state],
        "unexpected": [k for k in state if k not in own],
        "of another shape": [f"{k} {tuple(state[k].shape)} for {tuple(own[k].shape)}" for k in own
                             if k in state and getattr(state[k], "shape", None) != own[k].shape],
    }  # fmt: skip
    return "; ".join(f"{len(keys)} {what} key(s): {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
                     for what, keys in found.items() if keys)
