"""Flooded vegetation in SimulatedFloods: double-bounce brightening where water stands under plants."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.floods import DOUBLE_BOUNCE_DB, SHALLOW_PX, WATER_SEEN, SimulatedFloods
from xmodal_lab.eval.dense import band_threshold_baseline


@pytest.fixture(scope="module")
def both():
    # flooded vegetation is the default; open water only is the named simplification
    return SimulatedFloods(seed=3, size=32, n_scenes=24, flooded_vegetation=False), SimulatedFloods(
        seed=3, size=32, n_scenes=24
    )


def _dry(floods: SimulatedFloods, i: int) -> dict:
    world = floods.world
    return world.render(i, date=world.place(i).date)


def test_flooded_vegetation_keeps_the_water_mask_and_changes_only_flooded_plants(both):
    plain, veg = both
    seen = 0
    for i in range(len(veg)):
        a, b = plain[i], veg[i]
        fv = b["flooded_vegetation"]
        assert not a["flooded_vegetation"].any(), "open-water floods have none"
        assert fv.dtype == torch.bool and fv.shape == (32, 32)
        assert torch.equal(a["mask"], b["mask"]), "flooded vegetation is still water"
        assert not (fv & ~b["flood_mask"]).any(), "only newly flooded pixels"
        assert torch.equal(a["s1"][:, ~fv], b["s1"][:, ~fv]) and torch.equal(a["s2"][:, ~fv], b["s2"][:, ~fv])
        seen += int(fv.sum())
    assert seen > 0.1 * len(veg) * 32 * 32, f"only {seen} flooded-vegetation pixels in {len(veg)} scenes"


def test_double_bounce_and_mixed_optical_follow_the_stated_formulas(both):
    _, veg = both
    for i in range(6):
        item, dry = veg[i], _dry(veg, i)
        fv = item["flooded_vegetation"]
        if not fv.any():
            continue
        before = dry["landcover"][fv]
        assert np.isin(before.numpy(), (lc.FOREST, lc.WETLAND, lc.CROPLAND, lc.GRASSLAND)).all()
        # radar: the dry vegetation's dB plus the double-bounce increase, per polarisation
        for band, boost in enumerate(DOUBLE_BOUNCE_DB):
            assert torch.allclose(item["s1"][band][fv], dry["s1"][band][fv] + boost, atol=1e-5)
        # optical: (1 - a) dry + a flooded, a by canopy height; the flooded optical is the open-water render
        start = veg.world.place(i).date - dt.timedelta(days=veg.days_after)
        wet = veg.world.render(i, date=veg.world.place(i).date, event=("flood", start))
        tall = torch.from_numpy(np.isin(dry["landcover"].numpy(), (lc.FOREST, lc.WETLAND)))
        a = torch.where(tall, WATER_SEEN["tall"], WATER_SEEN["low"])
        expect = (1 - a) * dry["s2"] + a * wet["s2"]
        assert torch.allclose(item["s2"][:, fv], expect[:, fv], atol=1e-6)


def test_flooded_crops_and_grass_lie_near_dry_land(both):
    from scipy.ndimage import distance_transform_edt

    _, veg = both
    for i in range(8):
        item, dry = veg[i], _dry(veg, i)
        low = item["flooded_vegetation"].numpy() & np.isin(
            dry["landcover"].numpy(), (lc.CROPLAND, lc.GRASSLAND)
        )
        if low.any():
            distance = distance_transform_edt(item["flood_mask"].numpy())  # to the nearest dry pixel
            assert distance[low].max() <= SHALLOW_PX * np.sqrt(2) + 1e-9


def test_flooded_vegetation_is_bright_and_defeats_a_darkness_threshold(both):
    plain, veg = both
    items = [veg[i] for i in range(len(veg))]
    vv = torch.stack([it["s1"][0] for it in items])
    fv = torch.stack([it["flooded_vegetation"] for it in items])
    mask = torch.stack([it["mask"] for it in items])
    assert vv[fv].mean() > vv[(mask == 1) & ~fv].mean() + 10, "double bounce: far brighter than open water"
    assert vv[fv].mean() > vv[mask == 0].mean(), "and brighter than dry land"
    # the same VV threshold recipe maps open floods well and flooded vegetation badly
    open_score = band_threshold_baseline(
        torch.utils.data.Subset(plain, range(12)), torch.utils.data.Subset(plain, range(12, 24))
    )["mIoU"]
    veg_score = band_threshold_baseline(
        torch.utils.data.Subset(veg, range(12)), torch.utils.data.Subset(veg, range(12, 24))
    )["mIoU"]
    print(f"VV threshold mIoU: open floods {open_score:.3f}, with flooded vegetation {veg_score:.3f}")
    assert open_score > 0.85 and veg_score < open_score - 0.2
