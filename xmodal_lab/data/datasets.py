"""Adapters from torchgeo's real-data datasets (which check, or download, the folder) to the kit's pair dict."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.bands import S2_SCALE
from xmodal_lab.data.io import check_finite, geo_fields, open_raster
from xmodal_lab.data.real_pairs import acquisitions, read_ssl4eo_location
from xmodal_lab.units import check_pair

#: IGBP class (SEN12MS land-cover band 1, values 1..17) -> kit land-cover class; -1 marks unknown values.
IGBP_TO_LANDCOVER = {
    1: lc.FOREST, 2: lc.FOREST, 3: lc.FOREST, 4: lc.FOREST, 5: lc.FOREST,  # needleleaf, broadleaf, deciduous, mixed forests
    6: lc.GRASSLAND, 7: lc.GRASSLAND,  # closed and open shrublands
    8: lc.FOREST, 9: lc.GRASSLAND, 10: lc.GRASSLAND,  # woody savannas, savannas, grasslands
    11: lc.WETLAND, 12: lc.CROPLAND, 13: lc.URBAN, 14: lc.CROPLAND, 15: lc.SNOW, 16: lc.BARE, 17: lc.WATER,
}  # fmt: skip
_IGBP_LUT = np.full(256, -1, dtype=np.int64)
_IGBP_LUT[list(IGBP_TO_LANDCOVER)] = list(IGBP_TO_LANDCOVER.values())

#: SEN12MS seasons: the files carry no acquisition date, so items get the middle of their season.
SEN12MS_SEASON_DATES = {"spring": "2017-04-15", "summer": "2017-07-15", "fall": "2017-10-15", "winter": "2017-01-15"}


class PairDataset(Dataset):
    """Base of the real-data readers: ``load(index)`` reads a pair dict; the first one read is checked for units."""

    transform: Callable[[dict], dict] | None = None
    _units_checked: bool = False

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.load(index)
        if not self._units_checked:
            self._units_checked = True
            check_pair(pair, where=f"{type(self).__name__}[{index}]")
        return self.transform(pair) if self.transform is not None else pair


class TorchGeoBigEarthNet(PairDataset):
    """BigEarthNet-MM through ``torchgeo.datasets.BigEarthNet(bands="all")`` (``download``: about 120 GB).

    torchgeo lists the split's patch pairs; they are read as :class:`BigEarthNetMM` reads them, since torchgeo's
    samples hold the radar as integers (truncating dB) with VH first.
    """

    def __init__(self, root: str | Path, split: str = "train", num_classes: int = 19,
                 transform: Callable[[dict], dict] | None = None, download: bool = False,
                 checksum: bool = False) -> None:
        from torchgeo.datasets import BigEarthNet
        self.dataset = BigEarthNet(root=str(root), split=split, bands="all", num_classes=num_classes,
                                   download=download, checksum=checksum)
        self.num_classes, self.transform = num_classes, transform

    def load(self, index: int) -> dict[str, Any]:
        """Read pair ``index`` (no transform)."""
        from xmodal_lab.data.samples import read_ben_pair
        folders = self.dataset.folders[index]
        return read_ben_pair(Path(folders["s1"]), Path(folders["s2"]), self.num_classes)


class TorchGeoSEN12MS(PairDataset):
    """SEN12MS through ``torchgeo.datasets.SEN12MS`` as pair dicts (256 x 256 px at 10 m, B10 dropped).

    IGBP land cover becomes ``landcover`` in the kit's classes (-1 where unknown) and ``labels``; ``igbp``
    keeps the original map. The files carry no date: ``date`` is the middle of the patch's ``season``.
    """

    def __init__(self, root: str | Path, split: str = "train", transform: Callable[[dict], dict] | None = None,
                 checksum: bool = False) -> None:
        from torchgeo.datasets import SEN12MS
        self.root, self.transform = Path(root), transform
        self.dataset = SEN12MS(root=str(root), split=split, bands=SEN12MS.BAND_SETS["all"], checksum=checksum)

    def load(self, index: int) -> dict[str, Any]:
        """Read pair ``index`` (no transform)."""
        # torchgeo's layout: ROIs1158_spring_lc_1_p30.tif -> ROIs1158_spring/s2_1/ROIs1158_spring_s2_1_p30.tif
        parts = self.dataset.ids[index].split("_")
        parts[2] = "s2"
        path = self.root / f"{parts[0]}_{parts[1]}" / f"{parts[2]}_{parts[3]}" / "_".join(parts[:5])
        sample = self.dataset[index]
        image = sample["image"].float()
        if image.shape[0] != 15:
            raise ValueError(f"{path}: expected 2 radar + 13 optical bands, got {image.shape[0]} channels")
        check_finite(image.numpy(), path.parent, "radar and optical bands")
        s2 = torch.cat([image[2:12], image[13:15]]) / S2_SCALE  # drop B10 (channel 12 of the stack)
        igbp = sample["mask"].numpy().astype(np.int64)
        landcover = _IGBP_LUT[np.clip(igbp, 0, 255)]
        with open_raster(path) as src:
            crs, transform = src.crs, tuple(src.transform)[:6]
        return {"s1": image[:2].contiguous(), "s2": s2.contiguous(), "landcover": torch.from_numpy(landcover),
                "labels": torch.from_numpy(lc.landcover_labels(landcover)), "igbp": torch.from_numpy(igbp),
                **geo_fields(crs, transform, image.shape[1], image.shape[2]),
                "date": SEN12MS_SEASON_DATES.get(parts[1], ""), "season": parts[1], "name": self.dataset.ids[index]}


class TorchGeoSSL4EOS12(PairDataset):
    """SSL4EO-S12 radar and optical patches paired by location and season (264 x 264 px, 10 m).

    Season ``k`` is each sensor's ``k``-th acquisition by date (torchgeo draws them at random per sensor).
    ``optical`` is ``"s2a"`` (L2A) or ``"s2c"`` (L1C, B10 dropped); ``season`` is 0-3 or ``"all"``.
    """

    def __init__(self, root: str | Path, optical: str = "s2a", season: int | str = 0,
                 transform: Callable[[dict], dict] | None = None) -> None:
        from torchgeo.datasets import SSL4EOS12
        if optical not in ("s2a", "s2c"):
            raise ValueError(f"optical: expected 's2a' (L2A) or 's2c' (L1C), got {optical!r}")
        if season != "all" and season not in (0, 1, 2, 3):
            raise ValueError(f"season: expected 0, 1, 2, 3 or 'all', got {season!r}")
        self.root, self.optical, self.season = Path(root), optical, season
        self._n_seasons = 4 if season == "all" else 1
        # torchgeo checks that each sensor's folder holds patches (and says how to get them if not)
        self.radar_dataset = SSL4EOS12(root=str(root), split="s1")
        self.optical_dataset = SSL4EOS12(root=str(root), split=optical)
        s1_ids = set(os.listdir(self.root / "s1"))
        self.locations = sorted(i for i in os.listdir(self.root / optical) if i in s1_ids and i.isdigit())
        if not self.locations:
            raise FileNotFoundError(f"{self.root}: no location folder is present in both s1/ and {optical}/")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.locations) * self._n_seasons

    def _acquisition(self, sensor: str, location: str, season: int) -> Path:
        folder = self.root / sensor / location
        found = acquisitions(folder)
        if season >= len(found):
            raise FileNotFoundError(f"{folder}: {len(found)} acquisition folders; expected at least {season + 1}")
        return found[season]

    def load(self, index: int) -> dict[str, Any]:
        """Read pair ``index`` (no transform)."""
        location = self.locations[index // self._n_seasons]
        season = index % 4 if self.season == "all" else int(self.season)
        pair = read_ssl4eo_location(self._acquisition("s1", location, season),
                                    self._acquisition(self.optical, location, season))
        return {**pair, "location": location, "season": season}
