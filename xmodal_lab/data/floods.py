"""Flood mapping data: simulated floods and the Sen1Floods11 layout, with ``mask`` ``[H, W]`` (1 water, 0 land, -1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.biomes import BIOMES, FLOOD_DAYS
from xmodal_lab.data.io import check_index, geo_fields, open_raster, read_window
from xmodal_lab.data.world import SimulatedWorld
from xmodal_lab.units import check_s1, check_s2

NODATA = -1  # the label of unlabelled pixels (Sen1Floods11 convention): losses and metrics skip them
#: Radar change of flooded vegetation in dB, ``(VV, VH)`` (double bounce brightens VV strongly, VH a little).
DOUBLE_BOUNCE_DB: tuple[float, float] = (4.0, 1.0)
#: Share of the water's optical signature seen through flooded forest and wetland (tall) or crops and grass (low).
WATER_SEEN: dict[str, float] = {"tall": 0.2, "low": 0.4}
SHALLOW_PX = 3  # crops and grass are flooded vegetation where the water is shallow: this near dry land
FLOOD_BIOMES: tuple[str, ...] = tuple(name for name, b in BIOMES.items() if "flood" in b.events)


class SimulatedFloods(Dataset):
    """Scene ``i`` of a :class:`SimulatedWorld` over flood biomes, ``days_after`` days into a flood.

    Items add ``mask``, ``flood_mask`` (newly flooded), ``flooded_vegetation`` ``[H, W]`` and ``event_date``. Flooded
    forest, wetland and shallow crops or grass double-bounce (VV brightens, no darkness threshold maps them).
    """

    def __init__(self, seed: int = 0, size: int = 32, n_scenes: int = 256, cloud_cover: float = 0.0,
                 days_after: int = 5, transform: Callable[[dict], dict] | None = None, flooded_vegetation: bool = True,
                 **world_kwargs: Any) -> None:
        if not 0 <= days_after <= FLOOD_DAYS:
            raise ValueError(f"days_after: expected 0..{FLOOD_DAYS} days (the flood then recedes), got {days_after}")
        if bad := set(world_kwargs.setdefault("biomes", FLOOD_BIOMES)) - set(FLOOD_BIOMES):
            raise ValueError(f"biomes {sorted(bad)} have no floods; choose from {list(FLOOD_BIOMES)}")
        self.world = SimulatedWorld(seed=seed, size=size, n_scenes=n_scenes, cloud_cover=cloud_cover, **world_kwargs)
        self.days_after, self.flooded_vegetation = int(days_after), bool(flooded_vegetation)
        self.transform, self.config = transform, self.world.config

    def __len__(self) -> int:
        return len(self.world)

    def __repr__(self) -> str:
        c = self.world.config
        return (f"SimulatedFloods(seed={c.seed}, size={c.size}, n_scenes={c.n_scenes}, cloud_cover={c.cloud_cover}, "
                f"flooded_vegetation={self.flooded_vegetation})")

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_index(index, len(self), "SimulatedFloods")
        date = self.world.place(index).date
        start = date - dt.timedelta(days=self.days_after)
        pair = self.world.render(index, date=date, event=("flood", start))
        pair["mask"] = (pair["landcover"] == lc.WATER).long()
        pair["flood_mask"] = pair.pop("change_mask")
        pair["event_date"] = start.isoformat()
        if self.flooded_vegetation:
            _flood_the_vegetation(pair, self.world.render(index, date=date))
        else:
            pair["flooded_vegetation"] = torch.zeros_like(pair["flood_mask"])
        return self.transform(pair) if self.transform is not None else pair


def _flood_the_vegetation(pair: dict[str, Any], dry: dict[str, Any]) -> None:
    """Turn flooded pixels under vegetation into bright flooded vegetation, in place; ``dry``: no-flood rendering."""
    from scipy.ndimage import binary_dilation
    flood, before = pair["flood_mask"].numpy(), dry["landcover"].numpy()
    under_tall = flood & np.isin(before, (lc.FOREST, lc.WETLAND))
    under_low = flood & np.isin(before, (lc.CROPLAND, lc.GRASSLAND)) & binary_dilation(~flood, iterations=SHALLOW_PX)
    veg = torch.from_numpy(under_tall | under_low)
    boost = torch.tensor(DOUBLE_BOUNCE_DB, dtype=pair["s1"].dtype)[:, None, None]
    pair["s1"] = torch.where(veg, dry["s1"] + boost, pair["s1"])
    seen = torch.from_numpy(np.where(under_tall, WATER_SEEN["tall"], WATER_SEEN["low"]).astype(np.float32))
    mixed = (1 - seen) * dry["s2"] + seen * pair["s2"]
    pair["s2"] = torch.where(veg, mixed, pair["s2"])
    pair["landcover"] = torch.where(veg, dry["landcover"], pair["landcover"])  # the canopy is what is seen
    pair["flooded_vegetation"] = veg


class Sen1Floods11(Dataset):
    """The hand-labelled part of Sen1Floods11 (Bonafilia et al. 2020) as pair dicts.

    ``root`` (``v1.1/data/flood_events/HandLabeled``) holds ``S1Hand/``, ``S2Hand/`` and ``LabelHand/`` GeoTIFFs.
    """

    SUBFOLDERS = ("S1Hand", "S2Hand", "LabelHand")

    def __init__(self, root: str | Path, chips: list[str] | None = None, fill_db: float = -30.0,
                 transform: Callable[[dict], dict] | None = None) -> None:
        self.root = Path(root)
        for sub in self.SUBFOLDERS:
            if not (self.root / sub).is_dir():
                raise FileNotFoundError(
                    f"Sen1Floods11: no {sub}/ folder under {self.root}; expected {', '.join(self.SUBFOLDERS)} "
                    "(the dataset's v1.1/data/flood_events/HandLabeled folder)")
        found = sorted(p.name[: -len("_LabelHand.tif")] for p in (self.root / "LabelHand").glob("*_LabelHand.tif"))
        self.chips = list(chips) if chips is not None else found
        if not self.chips:
            raise FileNotFoundError(f"Sen1Floods11: no *_LabelHand.tif files under {self.root / 'LabelHand'}")
        for chip in self.chips:
            for sub in self.SUBFOLDERS:
                if not (path := self._path(chip, sub)).is_file():
                    raise FileNotFoundError(f"Sen1Floods11: chip {chip!r} has no {sub} file ({path})")
        self.fill_db, self.transform = float(fill_db), transform

    def _path(self, chip: str, sub: str) -> Path:
        return self.root / sub / f"{chip}_{sub}.tif"

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        chip = self.chips[index]
        with open_raster(self._path(chip, "S1Hand")) as src:
            s1 = read_window(src, src.name).astype(np.float32)
            crs, transform = src.crs, src.transform
        with open_raster(self._path(chip, "S2Hand")) as src:
            s2 = read_window(src, src.name).astype(np.float32)
        with open_raster(self._path(chip, "LabelHand")) as src:
            label = read_window(src, src.name, 1).astype(np.int64)
        if s1.shape[0] != 2:
            raise ValueError(f"Sen1Floods11 {chip}: S1Hand has {s1.shape[0]} bands, expected 2 (VV, VH)")
        if s2.shape[0] not in (12, 13):
            raise ValueError(f"Sen1Floods11 {chip}: S2Hand has {s2.shape[0]} bands, expected 13 (B1..B12)")
        if not s1.shape[1:] == s2.shape[1:] == label.shape:
            raise ValueError(f"Sen1Floods11 {chip}: S1 {s1.shape[1:]}, S2 {s2.shape[1:]}, label {label.shape} differ")
        if bad := set(np.unique(label).tolist()) - {NODATA, 0, 1}:
            raise ValueError(f"Sen1Floods11 {chip}: label values {sorted(bad)}; expected -1, 0 or 1")
        if s2.shape[0] == 13:
            s2 = np.delete(s2, 10, axis=0)  # B10 (cirrus) is not in the kit's band order
        invalid = ~np.isfinite(s1).all(axis=0) | ~np.isfinite(s2).all(axis=0)
        s1 = np.where(np.isfinite(s1), s1, self.fill_db).astype(np.float32)
        finite = s2[np.isfinite(s2)]
        scale = 1e-4 if finite.size and np.percentile(finite, 99) > 2.0 else 1.0  # a copy already in reflectance
        s2 = np.where(np.isfinite(s2), s2, 0.0).astype(np.float32) * np.float32(scale)
        check_s1(s1[:, ~invalid], where=f"Sen1Floods11 {chip} S1Hand")
        check_s2(s2[:, ~invalid], where=f"Sen1Floods11 {chip} S2Hand")
        label[invalid] = NODATA
        nan = float("nan")
        centre = geo_fields(crs, tuple(transform), *label.shape) if crs is not None else {"lon": nan, "lat": nan}
        pair: dict[str, Any] = {
            "s1": torch.from_numpy(s1), "s2": torch.from_numpy(np.maximum(s2, 1e-4)), "mask": torch.from_numpy(label),
            "gsd": float(abs(transform.a)) if crs is not None and crs.is_projected else 10.0,
            "lat": centre["lat"], "lon": centre["lon"],
            "crs": str(crs) if crs is not None else "", "transform": tuple(transform)[:6], "date": "", "name": chip,
            "index": index,
        }
        return self.transform(pair) if self.transform is not None else pair

