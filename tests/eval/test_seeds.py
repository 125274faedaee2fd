"""over_seeds: mean and sample sd across seeds, against formulas written out here."""

from __future__ import annotations

import math

import pytest
import torch

from xmodal_lab.eval import SeedSpread, over_seeds


def test_mean_and_sample_sd_of_a_number():
    seen = []

    def experiment(seed):
        seen.append(seed)
        return 0.1 * seed + 0.3

    spread = over_seeds(experiment, seeds=(0, 1, 2, 5), name="recall@1")
    assert seen == [0, 1, 2, 5]
    values = [0.3, 0.4, 0.5, 0.8]
    mean = sum(values) / 4
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)  # n - 1
    assert spread.values == pytest.approx(values)
    assert spread.mean == pytest.approx(mean) and spread.sd == pytest.approx(sd)
    assert repr(spread) == f"recall@1: {mean:.3f} +/- {sd:.3f} over 4 seeds (0.300, 0.400, 0.500, 0.800)"


def test_a_mapping_gives_one_spread_per_key():
    spreads = over_seeds(lambda s: {"a": torch.tensor(float(s)), "gap": 2.0 * s}, seeds=[3, 4])
    assert set(spreads) == {"a", "gap"}
    assert spreads["gap"].values == (6.0, 8.0) and spreads["gap"].sd == pytest.approx(math.sqrt(2.0))
    assert repr(spreads).splitlines()[0].startswith("a: 3.500 +/- 0.707 over 2 seeds")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        over_seeds(lambda s: 1.0, seeds=[0])
    with pytest.raises(ValueError, match="repeat"):
        over_seeds(lambda s: 1.0, seeds=[0, 0])
    with pytest.raises(ValueError, match="non-finite"):
        over_seeds(lambda s: float("nan") if s else 1.0, seeds=[0, 1])
    with pytest.raises(ValueError, match="keys"):
        over_seeds(lambda s: {"a": 1.0} if s else {"b": 1.0}, seeds=[0, 1])
    with pytest.raises(TypeError, match="number"):
        over_seeds(lambda s: "high", seeds=[0, 1])
    with pytest.raises(ValueError, match="2 values for 3 seeds"):
        SeedSpread("x", (0, 1, 2), (1.0, 2.0))
