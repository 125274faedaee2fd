"""The calibrated realism preset: what its knobs do, and that it matches the tuning split of the real pairs.

The tuning split is the west half of an SSL4EO-S12 location, read from the shared development samples at
``../shared/real_samples/ssl4eo_s12`` (or under ``$XMODAL_REAL_SAMPLES``); that test skips without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal_lab.config import REPO_ROOT
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.data import realism as R
from xmodal_lab.data.real_pairs import real_transfer_split
from xmodal_lab.data.world import REALISM

SSL4EO = Path(os.environ.get("XMODAL_REAL_SAMPLES", REPO_ROOT.parent / "shared/real_samples")) / "ssl4eo_s12"


def test_realism_presets_set_defaults_that_keywords_override():
    w = SimulatedWorld(seed=0, size=16, n_scenes=4, realism="calibrated")
    assert w.config.radar_blur == REALISM["calibrated"]["radar_blur"] > 0
    assert 0 < w.config.radar_contrast == REALISM["calibrated"]["radar_contrast"] < 1
    assert "realism='calibrated'" in repr(w)
    assert (
        SimulatedWorld(seed=0, size=16, n_scenes=4, realism="calibrated", radar_blur=0.0).config.radar_blur
        == 0
    )
    plain, default = (
        SimulatedWorld(seed=3, size=16, n_scenes=4),
        SimulatedWorld(seed=3, size=16, n_scenes=4, realism="default"),
    )
    assert torch.equal(plain[1]["s1"], default[1]["s1"]) and torch.equal(plain[1]["s2"], default[1]["s2"])


def test_bad_realism_settings_raise_with_the_name():
    with pytest.raises(ValueError, match="realism.*'calibrated'"):
        SimulatedWorld(realism="photoreal")
    with pytest.raises(ValueError, match="radar_contrast"):
        SimulatedWorld(radar_contrast=-0.5)


@pytest.mark.parametrize("contrast", [0.25, 0.5])
def test_radar_contrast_scales_deviations_from_the_tile_mean_and_keeps_the_mean(contrast):
    kw = {"seed": 1, "size": 32, "n_scenes": 6, "biomes": ("cropland",), "noise": False}
    full, soft = SimulatedWorld(**kw), SimulatedWorld(**kw, radar_contrast=contrast)
    for i in range(6):
        a, b = full[i]["s1"].double().numpy(), soft[i]["s1"].double().numpy()
        for band in range(2):
            da, db = a[band] - a[band].mean(), b[band] - b[band].mean()
            # dB deviations shrink by the factor (the additive noise floor bends it by a few per cent)
            assert db.std() == pytest.approx(contrast * da.std(), rel=0.06)
            assert np.corrcoef(da.ravel(), db.ravel())[0, 1] > 0.99
            assert b[band].mean() == pytest.approx(a[band].mean(), abs=0.5)
        assert torch.equal(full[i]["s2"], soft[i]["s2"])  # the optical image is untouched


@pytest.mark.skipif(
    not (SSL4EO / "s1" / "0000200").is_dir(),
    reason=f"SSL4EO-S12 samples not found at {SSL4EO} (shared development data, not part of the project)",
)
def test_calibrated_world_matches_the_radar_statistics_of_the_tuning_split():
    tune = real_transfer_split(32, root=SSL4EO)["tune"]
    real = R.stack_tiles(tune, "s1")
    sims = {}
    for name in ("default", "calibrated"):
        w = SimulatedWorld(seed=0, size=32, n_scenes=96, realism=name)
        sims[name] = R.stack_tiles([w[i] for i in range(96)], "s1")

    def stats(s1):
        return {
            "sd in tile": s1[:, 0].std(axis=(1, 2)).mean(),
            "|dVV/dy|": R.mean_abs_gradient(s1)[0],
            "ENL": R.equivalent_number_of_looks(s1)[0],
        }

    r, d, c = stats(real), stats(sims["default"]), stats(sims["calibrated"])
    for k in r:  # within 15 % of the real value, and closer than the default world
        assert abs(c[k] - r[k]) < 0.15 * r[k], (k, r[k], c[k])
        assert abs(c[k] - r[k]) < abs(d[k] - r[k]), (k, r[k], d[k], c[k])
