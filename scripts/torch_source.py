"""Choose where `make install` takes torch from: PyTorch's CPU index on a machine without an NVIDIA GPU.

Prints the extra pip options on stdout (nothing: the registry's default build) and one line saying why on
stderr. A machine with an NVIDIA GPU (``nvidia-smi`` on PATH or ``/proc/driver/nvidia``) keeps the registry's
CUDA build; without one, the CPU build comes from PyTorch's CPU index (a few hundred MB instead of several GB)
when that index answers within a few seconds, else the registry's build is installed and the line says so.
Standard library only: it runs before anything is installed.

Usage: ``python scripts/torch_source.py`` (the Makefile calls it). ``XMODAL_TORCH=cpu|cuda|default`` forces a
choice; ``XMODAL_TORCH_INDEX`` names another CPU index (a mirror); ``XMODAL_TORCH_PROBE_S`` is the probe's
timeout in seconds (default 3).
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def has_nvidia_gpu(path: str | None = None, proc: Path = Path("/proc/driver/nvidia")) -> bool:
    """Whether this machine has an NVIDIA driver: ``nvidia-smi`` on ``path`` or the driver's ``proc`` folder."""
    return shutil.which("nvidia-smi", path=path) is not None or proc.exists()


def reachable(url: str, timeout: float) -> bool:
    """Whether ``url`` answers an HTTP request within ``timeout`` seconds (any status below 400)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status < 400
    except (OSError, ValueError):
        return False


def choose(env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """Return the pip options for torch and a one-line reason.

    Args:
        env: the environment to read (``os.environ`` by default).

    Returns:
        ``(options, reason)``: ``options`` is empty for the registry's default build, else
        ``["--extra-index-url", <cpu index>]`` (its ``+cpu`` wheels satisfy the ``torch==`` pin and win over
        the registry's build of the same version).
    """
    env = os.environ if env is None else env
    index = env.get("XMODAL_TORCH_INDEX", CPU_INDEX).rstrip("/")
    forced = env.get("XMODAL_TORCH", "").strip().lower()
    if forced not in ("", "cpu", "cuda", "default"):
        raise SystemExit(
            f"torch_source: XMODAL_TORCH={forced!r}; use cpu, cuda or default (or leave it unset)"
        )
    if forced in ("cuda", "default"):
        return [], f"torch: the registry's build (XMODAL_TORCH={forced})"
    if not forced and has_nvidia_gpu(env.get("PATH")):
        return [], "torch: NVIDIA GPU found, installing the registry's CUDA build"
    timeout = float(env.get("XMODAL_TORCH_PROBE_S", "3"))
    if reachable(index + "/", timeout):
        return ["--extra-index-url", index], f"torch: no NVIDIA GPU, installing the CPU build from {index}"
    return [], (
        f"torch: no NVIDIA GPU, but {index} did not answer within {timeout:g} s: "
        "installing the registry's build instead (larger; it runs on the CPU all the same)"
    )


def main() -> int:
    options, reason = choose()
    print(reason, file=sys.stderr)
    print(" ".join(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
