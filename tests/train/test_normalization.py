"""Band statistics against numpy over the whole dataset, and where set_normalization writes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.data import BandStats
from xmodal_lab.models import build
from xmodal_lab.train import band_statistics, normalization_state, set_normalization


def test_statistics_match_numpy_when_covering_all_items(small_world):
    stats = band_statistics(small_world, n_batches=10, batch_size=16)  # 4 batches hold all 64 items
    for key, channels in (("s1", 2), ("s2", 12)):
        x = np.stack([small_world[i][key].numpy() for i in range(len(small_world))]).astype(np.float64)
        x = x.transpose(1, 0, 2, 3).reshape(channels, -1)
        np.testing.assert_allclose(stats[f"{key}_mean"], x.mean(axis=1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats[f"{key}_std"], x.std(axis=1, ddof=1), rtol=1e-4)
    print("radar mean dB", np.round(stats["s1_mean"], 2), "std", np.round(stats["s1_std"], 2))


def test_models_standardise_with_the_training_statistics(small_world):
    stats = band_statistics(small_world, n_batches=10, batch_size=64)
    for name in ("contrastive", "croma", "scale_mae"):
        model = build(name, "tiny", img_size=16)
        updated = set_normalization(model, stats)
        assert "norm_s2" in updated, (name, updated)
        batch = torch.stack([small_world[i]["s2"] for i in range(64)])
        z = model.norm_s2(batch)  # [64, 12, 16, 16]
        assert z.mean(dim=(0, 2, 3)).abs().max() < 1e-4
        assert (z.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
        saved = normalization_state(model)
        np.testing.assert_allclose(saved["norm_s2"]["mean"], stats["s2_mean"], rtol=1e-6)


def test_band_subset_and_mismatch(small_world):
    stats = band_statistics(small_world, n_batches=1, batch_size=16)
    model = build("scale_mae", "tiny", img_size=16, s2_bands=(3, 2, 1))
    assert set_normalization(model, stats) == ["norm_s2"]
    np.testing.assert_allclose(
        model.norm_s2.mean.flatten(), [stats["s2_mean"][i] for i in (3, 2, 1)], rtol=1e-6
    )
    wrong = {"s2_mean": [0.1] * 5, "s2_std": [1.0] * 5}
    with pytest.warns(UserWarning, match="kept its statistics"):
        assert set_normalization(build("contrastive", "tiny", img_size=16), wrong) == []


def test_band_stats_of_the_data_layer_are_accepted(small_world):
    stats = BandStats.compute(small_world, n=64)
    model = build("croma", "tiny", img_size=16)
    assert sorted(set_normalization(model, stats)) == ["norm_s1", "norm_s2"]
    np.testing.assert_allclose(model.norm_s1.std.flatten(), stats.s1_std, rtol=1e-6)


def test_non_finite_data_is_refused():
    bad = [{"s1": torch.full((2, 4, 4), float("nan")), "s2": torch.zeros(12, 4, 4)}] * 4
    with pytest.raises(ValueError, match="'s1' holds NaN"):
        band_statistics(bad, batch_size=2)
