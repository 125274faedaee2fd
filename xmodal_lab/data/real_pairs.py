"""Real S1/S2 pairs as pair dicts: BigEarthNet-MM, SSL4EO-S12 locations, torchgeo's datasets; cut into tiles.

BigEarthNet-MM optical bands are resampled (bilinear) to the radar's 10 m grid; the bundled examples
(``data/bigearthnet_mm``) are CDLA-Permissive-1.0.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal_lab.config import data_dir
from xmodal_lab.data import landcover as lc
from xmodal_lab.data.bands import S2_BAND_NAMES, S2_SCALE
from xmodal_lab.data.io import check_finite, date_in_name, geo_fields, open_raster, read_single_band
from xmodal_lab.units import check_pair


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


#: The 43 CORINE Land Cover classes of BigEarthNet, in the archive's order.
BEN_CLASSES_43: tuple[str, ...] = (
    "Continuous urban fabric", "Discontinuous urban fabric", "Industrial or commercial units",
    "Road and rail networks and associated land", "Port areas", "Airports", "Mineral extraction sites",
    "Dump sites", "Construction sites", "Green urban areas", "Sport and leisure facilities",
    "Non-irrigated arable land", "Permanently irrigated land", "Rice fields", "Vineyards",
    "Fruit trees and berry plantations", "Olive groves", "Pastures", "Annual crops associated with permanent crops",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland",
    "Moors and heathland", "Sclerophyllous vegetation", "Transitional woodland/shrub", "Beaches, dunes, sands",
    "Bare rock", "Sparsely vegetated areas", "Burnt areas", "Inland marshes", "Peatbogs", "Salt marshes",
    "Salines", "Intertidal flats", "Water courses", "Water bodies", "Coastal lagoons", "Estuaries",
    "Sea and ocean",
)  # fmt: skip

#: The 19-class nomenclature of BigEarthNet (Sumbul et al. 2021), in its usual order.
BEN_CLASSES_19: tuple[str, ...] = (
    "Urban fabric", "Industrial or commercial units", "Arable land", "Permanent crops", "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest", "Mixed forest",
    "Natural grassland and sparsely vegetated areas", "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub", "Beaches, dunes, sands", "Inland wetlands", "Coastal wetlands",
    "Inland waters", "Marine waters",
)  # fmt: skip

# 43-class index -> 19-class index; classes absent here (roads, ports, airports, mines, dumps, construction,
# green urban, sport, bare rock, burnt areas, intertidal flats) have no 19-class counterpart.
_43_TO_19 = {
    0: 0, 1: 0, 2: 1, 11: 2, 12: 2, 13: 2, 14: 3, 15: 3, 16: 3, 18: 3, 17: 4, 19: 5, 20: 6, 21: 7, 22: 8,
    23: 9, 24: 10, 25: 11, 31: 11, 26: 12, 27: 12, 28: 13, 29: 14, 33: 15, 34: 15, 35: 16, 36: 16, 38: 17,
    39: 17, 40: 18, 41: 18, 42: 18,
}  # fmt: skip

#: S2 file suffixes in the kit's band order (BigEarthNet writes B01 ... B09, B8A, B11, B12).
_S2_SUFFIXES = tuple(("B" + n[1:].zfill(2)) if n != "B8A" else "B8A" for n in S2_BAND_NAMES)


def ben_labels(names: list[str], num_classes: int = 19) -> np.ndarray:
    """Multi-hot float32 ``[num_classes]`` from BigEarthNet's 43-class CORINE label names (19 or 43 classes)."""
    if num_classes not in (19, 43):
        raise ValueError(f"num_classes: expected 19 or 43, got {num_classes}")
    out = np.zeros(num_classes, dtype=np.float32)
    for name in names:
        if name not in BEN_CLASSES_43:
            raise ValueError(f"unknown BigEarthNet label {name!r}; expected one of the 43 CORINE classes")
        i = BEN_CLASSES_43.index(name)
        j = i if num_classes == 43 else _43_TO_19.get(i)
        if j is not None:
            out[j] = 1.0
    return out


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: metadata file not found (expected <patch>_labels_metadata.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def read_ben_pair(s1_dir: Path, s2_dir: Path, num_classes: int = 19) -> dict[str, Any]:
    """One BigEarthNet-MM patch pair as :class:`BigEarthNetMM` gives it; dates from the names, else metadata."""
    vv, crs, transform = read_single_band(s1_dir / f"{s1_dir.name}_VV.tif")
    vh, crs_vh, _ = read_single_band(s1_dir / f"{s1_dir.name}_VH.tif")
    if vh.shape != vv.shape or crs_vh != crs:
        raise ValueError(f"{s1_dir}: VV {vv.shape} and VH {vh.shape} grids differ; expected one grid")
    h, w = vv.shape
    s2 = np.empty((12, h, w), dtype=np.float32)
    for i, suffix in enumerate(_S2_SUFFIXES):
        path = s2_dir / f"{s2_dir.name}_{suffix}.tif"
        s2[i], crs_b, transform_b = read_single_band(path, out_shape=(h, w))
        if crs_b != crs or not np.allclose(transform_b[2::3], transform[2::3], atol=1e-3 * abs(transform[0])):
            raise ValueError(f"{path}: grid ({crs_b}, origin {transform_b[2::3]}) does not match the radar patch "
                             f"{s1_dir.name} ({crs}, origin {transform[2::3]}); expected co-registered patches")
    s2 /= S2_SCALE
    meta = _read_json(s1_dir / f"{s1_dir.name}_labels_metadata.json")
    s2_meta_path = s2_dir / f"{s2_dir.name}_labels_metadata.json"
    s2_meta = _read_json(s2_meta_path) if s2_meta_path.is_file() else {}
    names = list(meta.get("labels", s2_meta.get("labels", [])))
    date_s1 = date_in_name(s1_dir.name) or str(meta.get("acquisition_time", ""))[:10]
    return {"s1": torch.from_numpy(np.stack([vv, vh])), "s2": torch.from_numpy(s2),
            "labels": torch.from_numpy(ben_labels(names, num_classes)), "label_names": names,
            **geo_fields(crs, transform, h, w),
            "date": date_in_name(s2_dir.name) or str(s2_meta.get("acquisition_date", date_s1))[:10],
            "date_s1": date_s1, "s1_name": s1_dir.name, "s2_name": s2_dir.name}


class BigEarthNetMM(PairDataset):
    """BigEarthNet-MM pairs, adding ``labels`` (multi-hot), ``label_names``, ``date_s1``, ``s1_name``, ``s2_name``.

    ``root`` holds the patch folders, or one level down; ``split``: a CSV of ``s2_name,s1_name`` rows to read.
    """

    def __init__(self, root: str | Path, num_classes: int = 19, split: str | Path | None = None,
                 transform: Callable[[dict], dict] | None = None) -> None:
        if num_classes not in (19, 43):
            raise ValueError(f"num_classes: expected 19 or 43, got {num_classes}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: BigEarthNet-MM folder not found")
        self.num_classes, self.transform = num_classes, transform
        s1, self._s2 = {}, {}  # patch folders S1A_... / S2B_..., here or one level down
        for folder in [self.root, *(p for p in self.root.iterdir() if p.is_dir())]:
            for p in folder.iterdir():
                if re.match(r"S[12][ABCD]_", p.name) and p.is_dir():
                    (s1 if p.name[1] == "1" else self._s2)[p.name] = p
        if not s1:
            raise FileNotFoundError(f"{self.root}: no Sentinel-1 patch folders (S1*_<tile>_<row>_<col>) found here "
                                    "or one level down; expected the BigEarthNet-MM layout (BigEarthNet-S1-v1.0/ "
                                    "and BigEarthNet-v1.0/)")
        if split is None:
            self.s1_dirs = [s1[name] for name in sorted(s1)]
        else:
            self.s1_dirs = []
            with open(split, newline="") as f:
                for row, cols in enumerate(csv.reader(f)):
                    if len(cols) < 2:
                        raise ValueError(f"{split}: line {row + 1}: expected 's2_name,s1_name', got {cols!r}")
                    if cols[1].strip() not in s1:
                        raise FileNotFoundError(f"{split}: line {row + 1}: S1 patch {cols[1]!r} not under {self.root}")
                    self.s1_dirs.append(s1[cols[1].strip()])

    def __len__(self) -> int:
        return len(self.s1_dirs)

    def load(self, index: int) -> dict[str, Any]:
        """Read pair ``index`` from disk (no transform)."""
        s1_dir = self.s1_dirs[index]
        s2_name = _read_json(s1_dir / f"{s1_dir.name}_labels_metadata.json").get("corresponding_s2_patch")
        if not s2_name:
            raise ValueError(f"{s1_dir}: metadata has no 'corresponding_s2_patch'; expected BigEarthNet-MM S1 metadata")
        if s2_name not in self._s2:
            raise FileNotFoundError(f"{s1_dir}: its Sentinel-2 twin {s2_name!r} is not under {self.root}")
        return read_ben_pair(s1_dir, self._s2[s2_name], self.num_classes)

    @property
    def classes(self) -> tuple[str, ...]:
        """Names of the label vector's entries."""
        return BEN_CLASSES_19 if self.num_classes == 19 else BEN_CLASSES_43


def bigearthnet_examples(num_classes: int = 19, transform: Callable[[dict], dict] | None = None) -> BigEarthNetMM:
    """The six BigEarthNet-MM example pairs bundled with the kit (``data/bigearthnet_mm``)."""
    root = data_dir() / "bigearthnet_mm"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: bundled BigEarthNet-MM examples not found; run 'python scripts/"
                                "extract_bigearthnet_samples.py' (needs bigearthnet-common==2.8.0) or set "
                                "XMODAL_DATA_DIR")
    return BigEarthNetMM(root, num_classes=num_classes, transform=transform)


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
        folders = self.dataset.folders[index]
        return read_ben_pair(Path(folders["s1"]), Path(folders["s2"]), self.num_classes)


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


def acquisitions(folder: Path) -> list[Path]:
    """The acquisition folders of an SSL4EO-S12 ``<sensor>/<location>/`` folder, in date order."""
    subs = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    if not subs:
        raise FileNotFoundError(f"{folder}: no acquisition folders; expected SSL4EO-S12 <location>/<acquisition>/")
    return sorted(subs, key=lambda p: (_date_of(p), p.name))


def _date_of(acq: Path) -> dt.date:
    meta = acq / "metadata.json"
    if meta.is_file():
        start = json.loads(meta.read_text()).get("system:time_start")
        if start is not None:
            return dt.datetime.fromtimestamp(start / 1000, dt.UTC).date()
    if date_in_name(acq.name):  # S1A_IW_GRDH_1SDV_20200607T010800_... or 20200604T054639_...
        return dt.date.fromisoformat(date_in_name(acq.name))
    raise ValueError(f"{acq}: no acquisition date in metadata.json or in the folder name")


def read_ssl4eo_location(s1_acquisition: str | Path, s2_acquisition: str | Path) -> dict[str, Any]:
    """One SSL4EO-S12 radar and one optical acquisition (band folders) as a pair dict on the optical 10 m grid.

    Optical bands are resampled bilinearly to ``B2``'s grid, the radar by nearest neighbour (keeping its speckle);
    the pair covers the part of that grid the radar covers.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    s1_dir, s2_dir = Path(s1_acquisition), Path(s2_acquisition)
    for d, names in ((s1_dir, ("VV", "VH")), (s2_dir, S2_BAND_NAMES)):
        if missing := [n for n in names if not (d / f"{n}.tif").is_file()]:
            raise FileNotFoundError(f"{d}: missing band file(s) {', '.join(n + '.tif' for n in missing)}")
    with rasterio.open(s2_dir / "B2.tif") as ref:
        crs, transform, shape = ref.crs, ref.transform, ref.shape

    def warp(folder: Path, names: tuple[str, ...], resampling: Resampling, **kwargs: Any) -> np.ndarray:
        out = np.full((len(names), *shape), np.nan, dtype=np.float32)  # [C, H, W] on the optical grid
        for i, name in enumerate(names):
            with rasterio.open(folder / f"{name}.tif") as src:
                reproject(src.read(1).astype(np.float32), out[i], src_transform=src.transform, src_crs=src.crs,
                          dst_transform=transform, dst_crs=crs, resampling=resampling, **kwargs)
        return out

    s2 = warp(s2_dir, S2_BAND_NAMES, Resampling.bilinear) / 10000.0
    s1 = warp(s1_dir, ("VV", "VH"), Resampling.nearest, dst_nodata=np.nan)
    # The two grids overlap but do not coincide: keep the optical window that the radar covers.
    valid = np.isfinite(s1).all(axis=0)
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        raise ValueError(f"{s1_dir}: radar does not overlap the optical grid of {s2_dir}")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if not valid[r0:r1, c0:c1].all():
        raise ValueError(f"{s1_dir}: radar holds non-finite values inside its overlap with {s2_dir}")
    s1, s2 = s1[:, r0:r1, c0:c1], s2[:, r0:r1, c0:c1]
    transform = transform @ rasterio.Affine.translation(c0, r0)
    return {"s1": torch.from_numpy(np.ascontiguousarray(s1)),
            "s2": torch.from_numpy(np.ascontiguousarray(np.maximum(s2, 1e-4))),
            **geo_fields(crs, transform, r1 - r0, c1 - c0),
            "gsd": 10.0,  # SSL4EO-S12 samples every sensor at 10 m, also on its grids in degrees
            "date": _date_of(s2_dir).isoformat(), "date_s1": _date_of(s1_dir).isoformat()}


def ssl4eo_root(root: str | Path | None = None) -> Path:
    """The SSL4EO-S12 folder: ``root``, else ``<data_dir>/ssl4eo_s12``; raises naming where to put the files."""
    path = data_dir() / "ssl4eo_s12" if root is None else Path(root).expanduser()
    if not (path / "s1").is_dir() or not (path / "s2a").is_dir():
        raise FileNotFoundError(f"{path}: SSL4EO-S12 files not found (the kit does not ship them). Put a location "
                                "in the dataset's layout there (s1/<location>/<acquisition>/VV.tif, VH.tif and "
                                "s2a/<location>/<acquisition>/B1.tif ... B12.tif), pass root= to that folder, or "
                                "set XMODAL_DATA_DIR to a folder holding ssl4eo_s12/")
    return path


def ssl4eo_pairs(root: str | Path | None = None, location: str = "0000200") -> list[dict[str, Any]]:
    """Each radar acquisition of an SSL4EO-S12 location with the optical one nearest in date, in date order."""
    root = ssl4eo_root(root)
    radar, optical = acquisitions(root / "s1" / location), acquisitions(root / "s2a" / location)
    dates = [_date_of(a) for a in optical]
    pairs = []
    for acq in radar:
        day = _date_of(acq)
        nearest = optical[int(np.argmin([abs((d - day).days) for d in dates]))]
        pairs.append(read_ssl4eo_location(acq, nearest))
    return sorted(pairs, key=lambda p: p["date_s1"])


def cut_tiles(pairs: list[dict[str, Any]], size: int = 32, columns: tuple[float, float] = (0.0, 1.0),
              source: str = "") -> list[dict[str, Any]]:
    """Non-overlapping ``size x size`` tiles (with ``source`` and ``window`` ``(row, col)``) of the pairs.

    Tiles lie wholly in ``columns``, fractions of the width (``(0, 0.5)``: the west half): halves share no pixel.
    """
    if size < 1 or not 0.0 <= columns[0] < columns[1] <= 1.0:
        raise ValueError(f"cut_tiles: expected size >= 1 and 0 <= columns[0] < columns[1] <= 1, got {size}, {columns}")
    tiles = []
    for k, p in enumerate(pairs):
        _, h, w = p["s1"].shape
        lo, hi = int(np.ceil(columns[0] * w)), int(np.floor(columns[1] * w))
        for r in range(0, h - size + 1, size):
            for c in range(lo, hi - size + 1, size):
                window = (slice(None), slice(r, r + size), slice(c, c + size))
                tile = {"s1": p["s1"][window].clone(), "s2": p["s2"][window].clone(), "gsd": float(p.get("gsd", 10.0))}
                tiles.append({**tile, "date": p.get("date", ""), "source": f"{source}[{k}]", "window": (r, c)})
    if not tiles:
        raise ValueError(f"cut_tiles: no {size} px tile fits in the given pairs and columns {columns}")
    return tiles


def real_transfer_split(size: int = 32, root: str | Path | None = None,
                        location: str = "0000200") -> dict[str, list[dict[str, Any]]]:
    """Real tiles: ``tune``, ``test`` (SSL4EO-S12 west, east half), ``test_europe`` (bundled BigEarthNet-MM)."""
    pairs, examples = ssl4eo_pairs(root, location), bigearthnet_examples()
    ben = [examples[i] for i in range(len(examples))]
    return {
        "tune": cut_tiles(pairs, size, (0.0, 0.5), "ssl4eo_s12 west"),
        "test": cut_tiles(pairs, size, (0.5, 1.0), "ssl4eo_s12 east"),
        "test_europe": cut_tiles(ben, size, (0.0, 1.0), "bigearthnet_mm"),
    }
