"""Time and peak memory of every curriculum notebook in fast mode (the Binder budget: 3 min, 2 GB each).

Usage: ``XMODAL_FAST=1 .venv/bin/python benchmarks/bench_notebooks.py [notebooks/02_*.ipynb ...]``

Each notebook runs in its own kernel through nbclient; the peak resident memory of the kernel process is
sampled every 0.2 s with psutil. Prints one row per notebook (seconds, peak memory, the figures its executed
copy keeps, and the machine's load average when it started: a loaded machine runs the same steps, slower)
and the total.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S, LIMIT_MB = 180, 2048


def run(path: Path) -> tuple[float, float, int]:
    """Execute one notebook; return (seconds, peak kernel RSS in MiB, PNG images in its outputs)."""
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            km = client.km
            pid = getattr(getattr(km, "provisioner", None), "pid", None) if km else None
            if pid:
                try:
                    proc = psutil.Process(pid)
                    rss = proc.memory_info().rss + sum(
                        c.memory_info().rss for c in proc.children(recursive=True)
                    )
                    peak[0] = max(peak[0], rss / 2**20)
                except psutil.Error:
                    pass
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        done.set()
        thread.join()
    images = sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))
    return time.perf_counter() - start, peak[0], images


def main() -> int:
    os.environ.setdefault("XMODAL_FAST", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"fast mode: {os.environ['XMODAL_FAST']}"
    )
    print(f"{'notebook':34s} {'seconds':>8s} {'peak MiB':>9s} {'figures':>7s} {'load':>5s}  within budget")
    total, ok = 0.0, True
    for path in paths:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        seconds, mib, images = run(path)
        total += seconds
        fits = seconds <= LIMIT_S and mib <= LIMIT_MB
        ok &= fits
        print(f"{path.name:34s} {seconds:8.1f} {mib:9.0f} {images:7d} {load:5.1f}  {'yes' if fits else 'NO'}")
    print(f"{'total':34s} {total:8.1f}            {'yes' if total <= 900 else 'NO'} (15 min budget)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
