"""Peak memory of ``pretrained("croma_base", path=...)`` against reading the whole file and copying it in.

Usage: ``python benchmarks/bench_pretrained_memory.py [--repeats 2]``

Saves a CROMA-base-sized torchgeo model with random weights in the published file layout (no download),
then loads it in fresh processes, interleaved (A B A B ...): ``read + copy`` is the former path (the whole
state dict read into memory, then copied into a freshly initialised model), ``pretrained (mmap + assign)``
the current one. Each process samples its resident memory (psutil) while loading and reports the peak above
its memory before loading, in units of the file's size, and its memory after one forward pass.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from interleave import load_average

PARTS = ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")


def child(mode: str, file: str) -> None:
    """Load ``file`` one way in this process and print ``{peak, after_load, after_forward}`` in bytes."""
    import psutil
    import torch

    from xmodal_lab.serialization import safe_load
    from xmodal_lab.weights import croma_from_torchgeo, pretrained

    torch.set_num_threads(1)
    proc, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    before = proc.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "old":
        model = croma_from_torchgeo(safe_load(file, "weights file"), img_size=120).eval()
    else:
        model = pretrained("croma_base", path=file, check_hash=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after_load = proc.memory_info().rss
    with torch.no_grad():
        model.embed(s1=torch.zeros(1, 2, 120, 120), s2=torch.zeros(1, 12, 120, 120))
    done.set()
    sampler.join()
    result = {"peak": max(peak[0], after_load) - before, "after_load": after_load - before,
              "after_forward": proc.memory_info().rss - before, "wall": wall, "cpu": cpu}  # fmt: skip
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    import torch
    from torchgeo.models.croma import CROMA

    print(f"# bench_pretrained_memory: {load_average()} at start")
    folder = Path(tempfile.mkdtemp(prefix="bench_pretrained_memory_"))
    file = folder / "croma_base_generated.pt"
    torch.manual_seed(0)
    model = CROMA(encoder_dim=768, encoder_depth=12, num_heads=16, patch_size=8, image_size=120)
    torch.save({p: getattr(model, p).state_dict() for p in PARTS}, file)
    del model
    size = file.stat().st_size
    print(f"# generated CROMA-base file in the published layout: {size / 1e6:.0f} MB")
    modes = {"read + copy (former)": "old", "pretrained (mmap + assign)": "new"}
    runs: dict[str, list[dict]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, mode in modes.items():
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(file)], check=True,
                                 capture_output=True, text=True).stdout  # fmt: skip
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    base = runs["read + copy (former)"]
    print(f"{'':28s} {'peak / file':>12s} {'ratio to former':>22s} {'after load':>11s} {'after forward':>14s} "
          f"{'CPU s / wall s':>15s}")  # fmt: skip
    for name, rows in runs.items():
        ratios = [r["peak"] / b["peak"] for r, b in zip(rows, base)]
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        ratio = f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
        print(f"{name:28s} {med['peak'] / size:12.2f} {ratio:>22s} {med['after_load'] / size:11.2f} "
              f"{med['after_forward'] / size:14.2f} {med['cpu']:7.2f} / {med['wall']:.2f}")  # fmt: skip
    print(f"# {args.repeats} interleaved repeats, memory in units of the file size; {load_average()}")
    file.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
