"""embed_raster against the model alone on the same tiles, interleaved, and the sizes of what it writes.

Usage: ``python benchmarks/bench_embed_raster.py [--size 2048] [--tile 32] [--threads 2] [--repeats 3]``

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
"""

from __future__ import annotations

import argparse
import inspect
import tempfile
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

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
    print(f"# {load_average()} at the end")


if __name__ == "__main__":
    main()
