"""Time and peak memory of every curriculum notebook in fast mode (the Binder budget: 3 min, 2 GB each).

Usage: ``XMODAL_FAST=1 .venv/bin/python benchmarks/bench_notebooks.py [notebooks/02_*.ipynb ...]``

Each notebook runs in its own kernel through nbclient; the kernel's memory is sampled every 0.2 s with psutil:
resident memory (RSS, which counts the shared libraries' mapped pages) and anonymous memory (the process's
own heap and tensors: ``RssAnon`` on Linux, else the unique set size). Prints one row per notebook (seconds,
peak RSS, peak anonymous memory, the figures its executed copy keeps, and the machine's load average when it
started: a loaded machine runs the same steps, slower) and the total.
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
LIMIT_S, LIMIT_MB = 180, 1536


def anonymous_bytes(proc: psutil.Process) -> int:
    """Anonymous resident memory of ``proc`` in bytes (``RssAnon`` on Linux, else the unique set size)."""
    try:
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return proc.memory_full_info().uss


def run(path: Path) -> tuple[float, float, float, int]:
    """Execute one notebook; return (seconds, peak RSS MiB, peak anonymous MiB, PNG images in its outputs)."""
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    peak = [0.0, 0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            km = client.km
            pid = getattr(getattr(km, "provisioner", None), "pid", None) if km else None
            if pid:
                try:
                    procs = [psutil.Process(pid)]
                    procs += procs[0].children(recursive=True)
                    peak[0] = max(peak[0], sum(p.memory_info().rss for p in procs) / 2**20)
                    peak[1] = max(peak[1], sum(anonymous_bytes(p) for p in procs) / 2**20)
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
    return time.perf_counter() - start, peak[0], peak[1], images


def main() -> int:
    os.environ.setdefault("XMODAL_FAST", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"fast mode: {os.environ['XMODAL_FAST']}; budget: {LIMIT_S} s and {LIMIT_MB} MiB RSS per notebook"
    )
    print(f"{'notebook':34s} {'seconds':>8s} {'RSS MiB':>8s} {'anon MiB':>9s} {'figures':>7s} {'load':>5s}  fits")
    total, ok = 0.0, True
    for path in paths:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        seconds, rss, anon, images = run(path)
        total += seconds
        fits = seconds <= LIMIT_S and rss <= LIMIT_MB
        ok &= fits
        print(
            f"{path.name:34s} {seconds:8.1f} {rss:8.0f} {anon:9.0f} {images:7d} {load:5.1f}  "
            f"{'yes' if fits else 'NO'}",
            flush=True,
        )
    print(f"{'total':34s} {total:8.1f}  {'yes' if total <= 900 else 'NO'} (15 min budget)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
