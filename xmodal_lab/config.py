"""Run-time settings of the whole kit: fast mode, folders, seeding and device (torch is imported only when used)."""

from __future__ import annotations

import ctypes
import gc
import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal_lab.errors import InputTypeError, InputValueError

if TYPE_CHECKING:
    import torch

#: Repository root when the package runs from a checkout (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent


def fast_mode() -> bool:
    """Whether fast mode is on (``XMODAL_FAST=1``: CI and Binder shrink data, steps and presets)."""
    return os.environ.get("XMODAL_FAST", "0").strip().lower() in {"1", "true", "yes", "on"}


def pick(fast, full):
    """``fast`` in fast mode, else ``full``: ``pick(fast=200, full=20_000)``."""
    return fast if fast_mode() else full


def data_dir() -> Path:
    """Folder of the bundled real sample patches: ``$XMODAL_DATA_DIR``, else the repository's ``data/``."""
    env = os.environ.get("XMODAL_DATA_DIR")
    return Path(env).expanduser() if env else REPO_ROOT / "data"


def cache_dir() -> Path:
    """Folder for generated data and checkpoints (created): ``$XMODAL_CACHE_DIR``, ``~/.cache/xmodal_lab``."""
    env = os.environ.get("XMODAL_CACHE_DIR")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "xmodal_lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) for a repeatable run; returns ``seed``."""
    import numpy as np
    import torch

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def get_device(prefer: str | None = None, verbose: bool = True) -> torch.device:
    """The ``prefer``-red device, else CUDA, then Apple MPS, then CPU; ``verbose`` prints which and why."""
    import torch

    if prefer is not None:
        device, reason = requested_device(prefer), "as requested"
    elif torch.cuda.is_available():
        device, reason = torch.device("cuda"), f"CUDA GPU found: {torch.cuda.get_device_name(0)}"
    elif torch.backends.mps.is_available():
        device, reason = torch.device("mps"), "Apple GPU (MPS) found"
    else:
        device, reason = torch.device("cpu"), "no GPU found; fast mode keeps every lesson quick on a CPU"
    if verbose:
        print(f"xmodal_lab: using device '{device}' ({reason})")
    return device


def requested_device(prefer: object) -> torch.device:
    """The device ``prefer`` names, refused (with the fix) when it is no device or not on this machine."""
    import torch

    if not isinstance(prefer, (str, torch.device)):
        raise InputTypeError(f"device: expected a name like 'cpu' or 'cuda', got {prefer!r}")
    try:
        device = torch.device(prefer)
    except RuntimeError:
        raise InputValueError(f"device: {prefer!r} is not a device; use 'cpu', 'cuda', 'cuda:0' or 'mps'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputValueError(f"device={str(prefer)!r} but no CUDA GPU is visible to PyTorch; use device='cpu' "
                              "or leave it out (get_device() picks the best device there is)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputValueError(f"device={str(prefer)!r}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputValueError("device='mps' but no Apple GPU is available; use device='cpu' or leave it out")
    return device


def release_memory() -> None:
    """Collect garbage and hand the freed memory back to the system (glibc's ``malloc_trim``; else it stays)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # absent from musl and other C libraries
        if trim is not None:
            trim(0)
