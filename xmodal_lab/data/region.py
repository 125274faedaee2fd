"""One large contiguous simulated region (a world scene over 10 x 10 km), and pair dicts written as GeoTIFFs."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_lab.config import cache_dir, pick
from xmodal_lab.data.bands import S1_BANDS, S2_BANDS
from xmodal_lab.data.io import check_finite, write_geotiff
from xmodal_lab.errors import OutputExistsError, OutputWriteError
from xmodal_lab.files import publishing

#: Default region side in pixels: 1000 px at 10 m = 10 x 10 km (512 px = 5.12 km in fast mode).
FULL_SIZE, FAST_SIZE = 1000, 512


def region_scene(seed: int = 0, biome: str = "coast") -> int:
    """Index of the first scene of ``biome`` in the world of ``seed`` (the region's place and date)."""
    from xmodal_lab.data.biomes import biome_name
    from xmodal_lab.data.world import SimulatedWorld
    biome = biome_name(biome)
    world = SimulatedWorld(seed=seed, n_scenes=10_000, cache_mb=0)
    for i in range(len(world)):
        if world.place(i).biome == biome:
            return i
    raise ValueError(f"no {biome!r} scene among the first 10000 scenes of seed {seed}")


def render_region(seed: int = 0, size: int | None = None, gsd: float = 10.0, biome: str = "coast",
                  index: int | None = None) -> dict[str, Any]:
    """Render one contiguous region as the world's pair dict (scene ``index``, default the first of ``biome``)."""
    from xmodal_lab.data.world import SimulatedWorld
    size = pick(FAST_SIZE, FULL_SIZE) if size is None else int(size)
    if size < 8 or size > 4096:
        raise ValueError(f"size: expected 8..4096 pixels per side, got {size}")
    index = region_scene(seed, biome) if index is None else int(index)
    world = SimulatedWorld(seed=seed, size=size, gsd=float(gsd), n_scenes=max(index + 1, 1), cache_mb=0)
    return world.render(index, gsd=float(gsd), size=size)


def write_pair_geotiffs(pair: dict[str, Any], folder: str | Path, stem: str,
                        tags: dict[str, str] | None = None) -> dict[str, Path]:
    """A pair dict as GeoTIFFs ``{stem}_S1.tif`` (float32 dB), ``_S2`` (uint16 L2A DN, nodata 0), ``_landcover``.

    Band names and a ``date`` tag for :class:`~xmodal_lab.data.rasters.PairedRasterDataset`; never overwrites.
    """
    import rasterio
    for key in ("s1", "s2", "crs", "transform"):
        if pair.get(key) is None:
            raise ValueError(f"write_pair_geotiffs: the pair has no {key!r}")
    s1, s2 = np.asarray(pair["s1"], dtype=np.float32), np.asarray(pair["s2"], dtype=np.float32)
    if s1.ndim != 3 or s1.shape[0] != 2 or s2.ndim != 3 or s2.shape[0] != 12 or s1.shape[1:] != s2.shape[1:]:
        raise ValueError(f"expected s1 [2, H, W] and s2 [12, H, W] on one grid, got {s1.shape} and {s2.shape}")
    check_finite(s1, "write_pair_geotiffs", "s1")
    check_finite(s2, "write_pair_geotiffs", "s2")
    layers: dict[str, tuple[np.ndarray, tuple[str, ...], float | None]] = {
        "s1": (s1, tuple(b.name for b in S1_BANDS), None),
        # reflectance 0 would read as nodata: the darkest valid value is 1 DN
        "s2": (np.clip(np.round(s2 * 10000.0), 1, 65535).astype(np.uint16), tuple(b.name for b in S2_BANDS), 0),
    }
    if pair.get("landcover") is not None:
        layers["landcover"] = (np.asarray(pair["landcover"]).astype(np.uint8)[None], ("landcover",), None)
    paths = _paths(Path(folder), stem, layers)
    if existing := [str(p) for p in paths.values() if p.exists()]:
        raise OutputExistsError(f"write_pair_geotiffs: refusing to overwrite {', '.join(existing)}")
    height, width = s2.shape[1:]
    file_tags = {"date": str(pair.get("date", "")), "source": "xmodal_lab", "gsd": str(pair.get("gsd", "")),
                 **(tags or {})}
    with contextlib.ExitStack() as files:  # all published at the end, or none if one fails
        for key, (array, names, nodata) in layers.items():
            tmp = files.enter_context(publishing(paths[key], "GeoTIFF", parents=True))
            write_geotiff(tmp, array, pair["crs"], pair["transform"], nodata, names, file_tags)
            with rasterio.open(tmp) as src:  # nothing reports success without its file
                if (src.count, src.height, src.width) != (array.shape[0], height, width):
                    raise OutputWriteError(f"{paths[key]}: written file does not hold the expected {array.shape}")
    return paths


def region_geotiffs(folder: str | Path | None = None, seed: int = 0, size: int | None = None, gsd: float = 10.0,
                    biome: str = "coast", index: int | None = None) -> dict[str, Path]:
    """The region of :func:`render_region` as GeoTIFF files, rendered once into a subfolder named by its settings."""
    size = pick(FAST_SIZE, FULL_SIZE) if size is None else int(size)
    label = biome if index is None else "scene"
    index = region_scene(seed, biome) if index is None else int(index)
    root = Path(folder) if folder is not None else cache_dir() / "regions"
    name = f"{label}_seed{seed}_scene{index}_{size}px_{gsd:g}m"
    target, stem = root / name, "region"
    expected = _paths(target, stem, ("s1", "s2", "landcover"))
    if all(p.is_file() for p in expected.values()):
        return expected
    if target.exists():
        raise FileExistsError(f"{target}: exists but lacks some of {[p.name for p in expected.values()]}; remove it")
    root.mkdir(parents=True, exist_ok=True)
    pair = render_region(seed=seed, size=size, gsd=gsd, index=index)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        write_pair_geotiffs(pair, tmp, stem)
        try:
            tmp.rename(target)  # atomic: a second process never sees half a region
        except OSError:
            if not all(p.is_file() for p in expected.values()):  # not a concurrent writer: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return expected


def _paths(folder: Path, stem: str, keys: Any) -> dict[str, Path]:
    return {k: folder / f"{stem}_{k.upper() if k != 'landcover' else k}.tif" for k in keys}
