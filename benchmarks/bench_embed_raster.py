"""embed_raster against the model alone on the same tiles, interleaved, and the sizes of what it writes.

Usage: ``python benchmarks/bench_embed_raster.py [--size 2048] [--tile 32] [--threads 2] [--repeats 3]
[--memory 1024 10980]``

Renders (or reuses from the cache) a simulated region of ``size x size`` pixels at 10 m and a
contrastive model (``--preset``, default tiny; random weights: the cost does not depend on them).
Interleaved (A B C D A B C D ...):

- ``model only``: ``model.embed`` on the raster's tiles already batched in memory (the ceiling), with the
  input checks every call makes, and again without its value checks (``checked_upstream``, as embed_raster
  runs it: its reader checks every pixel);
- ``embed_raster + COG``: the whole call, reading the GeoTIFF pair and writing the embedding COG;
- ``reading only``: the tile reader embed_raster uses (``tile_batches`` in a thread), with no model.

Then writes the PCA RGB COG and the GeoParquet once, and prints the file sizes. Rates, their ratio to the
model alone (median, [min-max] over the repeats), CPU next to wall seconds and the load average: the numbers
depend on the machine and on what else runs on it.

``--memory SIDE ...`` then writes a tiled pair of ``SIDE x SIDE`` px for each side (the region repeated; a
Sentinel-2 tile is 10980 px, 2.8 GB here) and runs embed_raster on each in a fresh process, sides interleaved:
the peak rise of resident memory over the process with its model built, next to the vectors it returns.
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from interleave import interleaved, load_average, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="region side in pixels (10 m)")
    parser.add_argument("--tile", type=int, default=32, help="tile side in pixels")
    parser.add_argument("--preset", default="tiny", help="contrastive model preset (tiny, small, base)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each measurement")
    parser.add_argument("--memory", type=int, nargs="*", default=[], metavar="SIDE",
                        help="also measure peak memory on pairs of these sides (px)")  # fmt: skip
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)  # one memory run: S1 and S2 paths
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe:
        return probe(args)

    import xmodal_lab as xl
    from xmodal_lab.data import PairedRasterDataset
    from xmodal_lab.data.rasters import background
    from xmodal_lab.eval import embed_raster, embeddings_to_geoparquet
    from xmodal_lab.eval.embed_raster import tile_batches
    from xmodal_lab.eval.embeddings import CONTEXT
    from xmodal_lab.models.validation import checked_upstream

    print(f"# bench_embed_raster: {load_average()} at start")
    t0 = time.perf_counter()
    paths = xl.data.region_geotiffs(size=args.size)
    print(f"# region render + write (or reuse): {time.perf_counter() - t0:.1f} s")
    torch.manual_seed(0)
    model = xl.models.build("contrastive", preset=args.preset).eval()
    context = [k for k in CONTEXT if k in inspect.signature(model.embed).parameters]
    out = Path(tempfile.mkdtemp(prefix="bench_embed_raster_"))

    def loader():
        ds = PairedRasterDataset(paths["s1"], paths["s2"], size=args.tile, max_nodata=0.1, scan="later")
        return background(tile_batches(ds, args.batch_size, tuple(context), check=True))

    batches = list(loader())
    n_tiles = sum(len(b["s2"]) for b in batches)

    def model_only() -> int:
        with torch.no_grad():
            for b in batches:
                model.embed(s1=b["s1"], s2=b["s2"], **{k: b[k] for k in context}, gsd=b["gsd"])
        return n_tiles

    def model_trusted() -> int:
        with checked_upstream():
            return model_only()

    calls = iter(range(10**6))

    def end_to_end() -> int:
        tiles = embed_raster(model, paths["s1"], paths["s2"], out / f"emb{next(calls)}.tif", tile=args.tile,
                             batch_size=args.batch_size, progress=False)  # fmt: skip
        return len(tiles)

    def reading_only() -> int:
        return sum(len(b["s2"]) for b in loader())

    model_only()  # warm-up, not timed
    runs = interleaved(
        {
            "model only (tiles in memory)": model_only,
            "model only, value checks skipped": model_trusted,
            "embed_raster + COG": end_to_end,
            "reading only": reading_only,
        },
        repeats=args.repeats,
    )
    print(f"\npair {args.size} x {args.size} px (10 m), contrastive {args.preset}, tile {args.tile}, {n_tiles} tiles, "
          f"batch {args.batch_size}, torch threads {args.threads}")  # fmt: skip
    report(runs, baseline="model only (tiles in memory)", unit="tiles/s")

    tiles = embed_raster(model, paths["s1"], paths["s2"], None, tile=args.tile, batch_size=args.batch_size,
                         progress=False)  # fmt: skip
    t0 = time.perf_counter()
    rgb = embed_raster(model, paths["s1"], paths["s2"], out / "pca.tif", tile=args.tile, pca=3,
                       batch_size=args.batch_size, progress=False)  # fmt: skip
    t_pca = time.perf_counter() - t0
    t0 = time.perf_counter()
    parquet = embeddings_to_geoparquet(tiles, out / "emb.parquet")
    print(f"\nembed_raster pca=3: {t_pca:.1f} s; GeoParquet: {time.perf_counter() - t0:.1f} s")
    files = {**paths, "embedding COG": out / "emb0.tif", "PCA RGB COG": rgb.path, "GeoParquet": parquet}
    for name, path in files.items():
        print(f"  {name}: {path.stat().st_size / 1e6:.2f} MB")
    if args.memory:
        memory(args, paths, out)
    print(f"# {load_average()} at the end")


def probe(args: argparse.Namespace) -> None:
    """One embed_raster call in this process; prints its peak RSS rise, vectors and seconds as JSON."""
    import psutil

    import xmodal_lab as xl
    from xmodal_lab.eval import embed_raster

    torch.manual_seed(0)
    model = xl.models.build("contrastive", preset=args.preset).eval()
    proc, peak, done = psutil.Process(), [0], threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    threading.Thread(target=poll, daemon=True).start()
    time.sleep(0.05)
    base, t0 = proc.memory_info().rss, time.perf_counter()
    tiles = embed_raster(model, *args.probe, None, tile=args.tile, batch_size=args.batch_size, progress=False)
    seconds = time.perf_counter() - t0
    done.set()
    vectors = sum(v.nbytes for v in tiles.vectors.values())
    print(json.dumps({"rise": (peak[0] - base) / 2**20, "vectors": vectors / 2**20, "tiles": len(tiles),
                      "seconds": seconds}))  # fmt: skip


def tiled_pair(paths: dict, side: int, out: Path) -> tuple[Path, Path]:
    """The pair ``paths`` repeated to ``side`` x ``side`` px, written block by block as tiled GeoTIFFs."""
    import rasterio
    from rasterio.windows import Window

    made = []
    for key in ("s1", "s2"):
        with rasterio.open(paths[key]) as src:
            profile, tags, data = src.profile, src.tags(), src.read()
            band_tags, names = [src.tags(i + 1) for i in range(src.count)], src.descriptions
        profile.update(width=side, height=side, tiled=True, blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER")
        path = out / f"{key}_{side}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.update_tags(**tags)
            for band, extra in enumerate(band_tags, start=1):
                dst.update_tags(band, **extra)
            dst.descriptions = names
            step = min(data.shape[1], data.shape[2])
            for row in range(0, side, step):
                for col in range(0, side, step):
                    h, w = min(step, side - row), min(step, side - col)
                    dst.write(data[:, :h, :w], window=Window(col, row, w, h))
        made.append(path)
    return made[0], made[1]


def memory(args: argparse.Namespace, paths: dict, out: Path) -> None:
    """Peak memory of embed_raster per pair side, each run in a fresh process, the sides interleaved."""
    pairs = {side: tiled_pair(paths, side, out) for side in args.memory}
    results: dict[int, list[dict]] = {side: [] for side in pairs}
    flags = ["--tile", str(args.tile), "--preset", args.preset, "--threads", str(args.threads),
             "--batch-size", str(args.batch_size)]  # fmt: skip
    print(f"\npeak memory, {load_average()}")
    for _ in range(args.repeats):
        for side, (s1, s2) in pairs.items():
            line = subprocess.run([sys.executable, __file__, *flags, "--probe", str(s1), str(s2)], check=True,
                                  capture_output=True, text=True).stdout.strip().splitlines()[-1]  # fmt: skip
            results[side].append(json.loads(line))
    for side, runs in results.items():
        rise = sorted(r["rise"] for r in runs)
        print(f"  {side} x {side} px, {runs[0]['tiles']} tiles: peak RSS +{rise[len(rise) // 2]:.0f} MiB "
              f"[{rise[0]:.0f}-{rise[-1]:.0f}], of which the vectors returned {runs[0]['vectors']:.0f} MiB; "
              f"{sorted(r['seconds'] for r in runs)[len(runs) // 2]:.1f} s")
    for path in (path for pair in pairs.values() for path in pair):
        path.unlink()


if __name__ == "__main__":
    main()
