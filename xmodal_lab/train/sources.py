"""The datasets the command line trains on, built from a name and a folder.

``world`` is the simulated world (no files needed); ``bigearthnet-mm`` reads BigEarthNet-MM folders;
``geotiff`` tiles one co-registered Sentinel-1/Sentinel-2 GeoTIFF pair; ``bigearthnet``, ``sen12ms`` and
``ssl4eo`` go through the torchgeo adapters of :mod:`xmodal_lab.data`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from xmodal_lab import data as xdata

DATA_CHOICES = ("world", "bigearthnet-mm", "geotiff", "bigearthnet", "sen12ms", "ssl4eo")

#: The torchgeo adapter of :mod:`xmodal_lab.data` behind each ``--data`` choice.
TORCHGEO_ADAPTERS = {
    "bigearthnet": "TorchGeoBigEarthNet",
    "sen12ms": "TorchGeoSEN12MS",
    "ssl4eo": "TorchGeoSSL4EOS12",
}


@dataclass
class DataSpec:
    """What to train on.

    Attributes:
        kind: one of :data:`DATA_CHOICES`.
        root: dataset folder (not needed for ``world``).
        s1: Sentinel-1 GeoTIFF (``geotiff``; default: the file under ``root`` whose name holds ``s1``).
        s2: Sentinel-2 GeoTIFF (``geotiff``).
        size: tile side in pixels for the world and GeoTIFF tiles.
        n_scenes: number of world scenes.
        seed: world seed and split seed.
        val_size: held-out pairs (world: a second world; other data: a random part of the files).
    """

    kind: str = "world"
    root: str | None = None
    s1: str | None = None
    s2: str | None = None
    size: int = 64
    n_scenes: int = 4096
    seed: int = 0
    val_size: int = 256


def _need_root(spec: DataSpec) -> Path:
    if spec.root is None:
        raise ValueError(f"--data {spec.kind} needs --root PATH (the dataset folder)")
    root = Path(spec.root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"--root {root}: no such folder; expected the {spec.kind} dataset there")
    return root


def _find_tif(root: Path, tag: str) -> Path:
    hits = sorted(p for p in root.glob("*.tif*") if tag in p.name.lower())
    if len(hits) != 1:
        raise FileNotFoundError(
            f"--root {root}: expected exactly one GeoTIFF whose name contains '{tag}', found "
            f"{[p.name for p in hits]}; pass --s1 and --s2 explicitly"
        )
    return hits[0]


def _torchgeo_adapter(kind: str, root: Path) -> Dataset:
    adapter = getattr(xdata, TORCHGEO_ADAPTERS[kind])
    return adapter(root)  # the training split, as torchgeo defines it


def split(dataset: Dataset, val_size: int, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """Hold out ``val_size`` random items (never more than a fifth of the data).

    Returns:
        ``(train, val)``; ``val`` is None when nothing is held out (also, with a warning, when a fifth of the
        data is a single pair).
    """
    n = len(dataset)
    k = min(val_size, n // 5)
    if k == 1:  # recall among one pair is 1.0 whatever the model: no validation rather than a meaningless one
        warnings.warn(
            f"--val-size: {n} pairs are too few to hold out a validation set (a fifth is 1 pair); training "
            "without validation",
            stacklevel=2,
        )
        return dataset, None
    if k <= 0:
        return dataset, None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, sorted(order[k:])), Subset(dataset, sorted(order[:k]))


def build_data(spec: DataSpec) -> tuple[Dataset, Dataset | None]:
    """The training and validation datasets of a :class:`DataSpec`.

    Returns:
        ``(train, val)`` datasets of pair dicts (``val`` may be None).

    Raises:
        ValueError: unknown kind or a missing argument.
        FileNotFoundError: a missing folder or file, named.
    """
    if spec.kind not in DATA_CHOICES:
        raise ValueError(f"--data: expected one of {DATA_CHOICES}, got {spec.kind!r}")
    if spec.kind == "world":
        train = xdata.SimulatedWorld(seed=spec.seed, size=spec.size, n_scenes=spec.n_scenes)
        if spec.val_size <= 0:
            return train, None
        return train, xdata.SimulatedWorld(seed=spec.seed + 1, size=spec.size, n_scenes=spec.val_size)
    if spec.kind == "bigearthnet-mm":
        dataset: Dataset = xdata.BigEarthNetMM(_need_root(spec))
    elif spec.kind == "geotiff":
        root = Path(spec.root).expanduser() if spec.root else None
        s1 = Path(spec.s1) if spec.s1 else (_find_tif(root, "s1") if root else None)
        s2 = Path(spec.s2) if spec.s2 else (_find_tif(root, "s2") if root else None)
        if s1 is None or s2 is None:
            raise ValueError("--data geotiff needs --s1 FILE and --s2 FILE, or --root holding both")
        dataset = xdata.PairedRasterDataset(s1, s2, size=spec.size)
    else:
        dataset = _torchgeo_adapter(spec.kind, _need_root(spec))
    if len(dataset) == 0:
        raise ValueError(f"--data {spec.kind}: the dataset at {spec.root or spec.s1} holds no pairs")
    return split(dataset, spec.val_size, spec.seed)


def tile_size(dataset: Dataset) -> int | None:
    """Side in pixels of the dataset's first optical (or radar) tile, or None."""
    item = dataset[0]
    for key in ("s2", "s1"):
        if isinstance(item.get(key), torch.Tensor):
            return int(item[key].shape[-1])
    return None
