"""predict_raster: peak memory against the scene's size, tiles per second, and the seam left by stitching.

Usage: ``python benchmarks/bench_predict.py [--size 512] [--tile 32] [--overlap 8] [--threads 1] [--repeats 2]``

A simulated ``size`` px pair and two with 4x its area (the same scene repeated 2 x 2, and 4 x 1: as wide,
4 times as tall) are predicted by a tiny CROMA with a UPerNet head (random weights: the cost does not depend on them), each run in
its own process, interleaved (small, big, tall, small, ...). Each prints its tiles per second, its peak resident
memory above the process's start (sampled every 5 ms) and its peak of Python/NumPy allocations (tracemalloc),
for the whole call, and for comparison the peak of opening the pair with ``PairedRasterDataset``'s full scan
(which reads every pixel once; ``predict_raster`` opens it with ``scan=False``).

The seam: the mean absolute difference between neighbouring pixels of the water probability across the
middle of each overlap (where centre crops cut), divided by the same away from it: 1 means no seam.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
from interleave import load_average


def _model(tile: int):
    import torch

    from xmodal_lab.models import SegmentationModel, build

    torch.manual_seed(0)
    return SegmentationModel(
        build("croma", preset="tiny", img_size=tile), num_classes=2, modality="s1", head_dim=16
    )


def child(args: argparse.Namespace) -> None:
    """One measurement in a fresh process: prints a JSON line."""
    import psutil
    import torch

    from xmodal_lab.data.rasters import PairedRasterDataset
    from xmodal_lab.eval.predict import predict_raster, tile_starts

    torch.set_num_threads(args.threads)
    model = _model(args.tile)
    folder = Path(args.folder)
    s1, s2 = folder / f"{args.child}_S1.tif", folder / f"{args.child}_S2.tif"
    proc, peak, stop = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    import rasterio.shutil  # noqa: F401 (imported before measuring: modules are not the scene's memory)

    import xmodal_lab.data.collate  # noqa: F401
    import xmodal_lab.eval.embed_raster  # noqa: F401

    PairedRasterDataset(s1, s2, size=args.tile, scan=False)  # warm-up: first-use imports and caches
    base = proc.memory_info().rss
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    tracemalloc.start()
    start = time.perf_counter()
    out = folder / f"{args.child}_{os.getpid()}.tif"
    predict_raster(model, s1, s2, out, tile=args.tile, overlap=args.overlap, batch_size=64)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stop.set()
    thread.join()
    with __import__("rasterio").open(out) as src:
        height, width = src.shape
    out.unlink()
    tracemalloc.start()  # what opening the pair with its full scan would add (predict_raster does not scan)
    PairedRasterDataset(s1, s2, size=args.tile, max_nodata=1.0)
    opening = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    step = args.tile - args.overlap
    tiles = len(tile_starts(height, args.tile, step)) * len(tile_starts(width, args.tile, step))
    print(json.dumps({"tiles": tiles, "seconds": seconds, "rss_mb": (peak[0] - base) / 2**20,
                      "traced_mb": traced / 2**20, "opening_mb": opening / 2**20, "shape": f"{height} x {width}"}))  # fmt: skip


def seams(folder: Path, tile: int, overlap: int) -> dict[str, float]:
    """Seam ratio of the water probability for each blend, on the small scene."""
    import rasterio

    from xmodal_lab.eval.predict import predict_raster, tile_starts

    model, out = _model(tile), {}
    for blend in ("cosine", "none"):
        path = folder / f"seam_{blend}.tif"
        predict_raster(model, folder / "small_S1.tif", folder / "small_S2.tif", path, tile=tile, overlap=overlap,
                       blend=blend)  # fmt: skip
        with rasterio.open(path) as src:
            p = src.read(2).astype(np.float64)
        starts = tile_starts(p.shape[1], tile, tile - overlap)
        cuts = np.zeros(p.shape[1] - 1, bool)  # column differences p[:, c + 1] - p[:, c]
        for a, b in zip(starts, starts[1:]):
            cuts[(a + tile + b) // 2 - 1] = True
        steps = np.abs(np.diff(p, axis=1))
        out[blend] = float(steps[:, cuts].mean() / steps[:, ~cuts].mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="side of the small scene in pixels (10 m)")
    parser.add_argument("--tile", type=int, default=32)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of each size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    import warnings

    from xmodal_lab.data.region import render_region, write_pair_geotiffs

    folder = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    pair = render_region(seed=0, size=args.size, gsd=10.0)
    pair.pop("landcover")
    write_pair_geotiffs(pair, folder, "small")
    big = {
        **pair,
        "s1": np.tile(np.asarray(pair["s1"]), (1, 2, 2)),
        "s2": np.tile(np.asarray(pair["s2"]), (1, 2, 2)),
    }
    write_pair_geotiffs(big, folder, "big")
    tall = {
        **pair,
        "s1": np.tile(np.asarray(pair["s1"]), (1, 4, 1)),
        "s2": np.tile(np.asarray(pair["s2"]), (1, 4, 1)),
    }
    write_pair_geotiffs(tall, folder, "tall")
    runs: dict[str, list[dict]] = {"small": [], "big": [], "tall": []}
    for _ in range(args.repeats):
        for name in runs:
            cmd = [sys.executable, __file__, "--child", name, "--folder", str(folder), "--tile", str(args.tile),
                   "--overlap", str(args.overlap), "--threads", str(args.threads)]  # fmt: skip
            line = (
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            runs[name].append(json.loads(line))
    print(f"tile {args.tile}, overlap {args.overlap}, {args.threads} torch thread(s), tiny CROMA + UPerNet head; "
          f"medians of {args.repeats} interleaved runs, each in its own process")  # fmt: skip
    print(
        f"{'scene':>14s} {'tiles':>6s} {'tiles/s':>8s} {'RSS peak MB':>12s} {'traced MB':>10s} {'full scan MB':>12s}"
    )
    for rows in runs.values():
        med = {
            k: statistics.median(r[k] for r in rows) for k in ("seconds", "rss_mb", "traced_mb", "opening_mb")
        }
        print(f"{rows[0]['shape']:>14s} {rows[0]['tiles']:6d} {rows[0]['tiles'] / med['seconds']:8.1f} "
              f"{med['rss_mb']:12.1f} {med['traced_mb']:10.1f} {med['opening_mb']:12.1f}")  # fmt: skip
    for name in ("big", "tall"):
        for key in ("rss_mb", "traced_mb", "opening_mb"):
            ratios = [b[key] / s[key] for s, b in zip(runs["small"], runs[name])]
            low, high, mid = min(ratios), max(ratios), statistics.median(ratios)
            print(f"{name} / small {key}: {mid:.2f} [{low:.2f}-{high:.2f}] (area x4)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ratio = seams(folder, args.tile, args.overlap)
    print(f"seam ratio (step across overlap middles / elsewhere; 1 = none): cosine {ratio['cosine']:.3f}, "
          f"centre crops {ratio['none']:.3f}")  # fmt: skip
    print(f"# {load_average()}")


if __name__ == "__main__":
    main()
