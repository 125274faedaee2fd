"""Time embed_raster on a large co-registered pair and print the sizes of what it writes.

Usage: ``python benchmarks/bench_embed_raster.py [--size 2048] [--tile 32] [--threads 2]``

Renders (or reuses from the cache) a simulated region of ``size x size`` pixels at 10 m, embeds it with the
tiny contrastive model (random weights: the cost does not depend on them) and writes the embedding COG,
the PCA RGB COG and the GeoParquet into a temporary folder. Prints wall-clock seconds for each step, tiles
per second, file sizes and the machine's load average (the numbers depend on both).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="region side in pixels (10 m)")
    parser.add_argument("--tile", type=int, default=32, help="tile side in pixels")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import xmodal_lab as xl
    from xmodal_lab.eval import embed_raster, embeddings_to_geoparquet

    t0 = time.perf_counter()
    paths = xl.data.region_geotiffs(size=args.size)
    t_region = time.perf_counter() - t0
    model = xl.models.build("contrastive", preset="tiny")
    out = Path(tempfile.mkdtemp(prefix="bench_embed_raster_"))
    t0 = time.perf_counter()
    tiles = embed_raster(model, paths["s1"], paths["s2"], out / "emb.tif", tile=args.tile,
                         batch_size=args.batch_size, progress=False)  # fmt: skip
    t_embed = time.perf_counter() - t0
    t0 = time.perf_counter()
    rgb = embed_raster(model, paths["s1"], paths["s2"], out / "pca.tif", tile=args.tile, pca=3,
                       batch_size=args.batch_size, progress=False)  # fmt: skip
    t_pca = time.perf_counter() - t0
    t0 = time.perf_counter()
    parquet = embeddings_to_geoparquet(tiles, out / "emb.parquet")
    t_parquet = time.perf_counter() - t0

    mb = {name: p.stat().st_size / 1e6 for name, p in {**paths, "embedding COG": tiles.path,
                                                         "PCA RGB COG": rgb.path, "GeoParquet": parquet}.items()}  # fmt: skip
    print(f"pair {args.size} x {args.size} px (10 m), tile {args.tile}, {len(tiles)} tiles, "
          f"{tiles.vectors['s2'].shape[1]}-d, torch threads {args.threads}, load average {os.getloadavg()}")  # fmt: skip
    print(f"region render + write (or reuse): {t_region:.1f} s")
    print(f"embed_raster (both modalities) + COG: {t_embed:.1f} s = {len(tiles) / t_embed:.0f} tiles/s")
    print(f"embed_raster pca=3: {t_pca:.1f} s; GeoParquet: {t_parquet:.1f} s")
    for name, size in mb.items():
        print(f"  {name}: {size:.2f} MB")


if __name__ == "__main__":
    main()
