"""No false alarms on good data, files that plain ``torch.load(weights_only=True)`` reads, RNG-neutral checks."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch
from reliability_helpers import Ctx

from xmodal_lab.config import data_dir
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.errors import UnitsWarning
from xmodal_lab.units import first_item, s1_problems, s2_problems


def test_simulated_world_raises_no_unit_alarm():
    world = SimulatedWorld(seed=3, size=32, n_scenes=40, cloud_cover=0.5)
    for i in range(len(world)):
        pair = world[i]
        assert s2_problems(pair["s2"], offset=True) == [] and s1_problems(pair["s1"]) == [], i


@pytest.mark.skipif(
    not (data_dir() / "bigearthnet_mm").is_dir(), reason="bundled BigEarthNet-MM pairs absent"
)
def test_real_pairs_raise_no_unit_alarm():
    from xmodal_lab.data import bigearthnet_examples

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitsWarning)
        pairs = bigearthnet_examples()
        for i in range(len(pairs)):
            pair = pairs[i]
            assert s2_problems(pair["s2"], offset=True) == [] and s1_problems(pair["s1"]) == []


def test_unit_thresholds_against_hand_computed_values():
    # reflectance of 0.2 is fine; x10000 (DN, 2000) is not; 0.2 / 10000 again (2e-5) is "twice"
    assert s2_problems(np.full((12, 4, 4), 0.2)) == []
    assert "digital numbers" in s2_problems(np.full((12, 4, 4), 2000.0))[0]
    assert "twice" in s2_problems(np.full((12, 4, 4), 2e-5))[0]
    assert "multiplied" in s2_problems(np.full((12, 4, 4), 2000.0 * 10000))[0]
    # -15 dB is fine; 10 ** (-15 / 10) = 0.0316 is linear power; -1500 is dB x 100
    assert s1_problems(np.full((2, 4, 4), -15.0)) == []
    assert "linear power" in s1_problems(np.full((2, 4, 4), 10 ** (-1.5)))[0]
    assert "x 100" in s1_problems(np.full((2, 4, 4), -1500.0))[0]
    # a whole scene whose darkest pixel is 0.1 in every band: the baseline-04.00 offset
    scene = np.linspace(0.1, 0.3, 12 * 64).reshape(12, 8, 8)
    assert "s2_offset=-0.1" in s2_problems(scene, offset=True)[0]
    assert s2_problems(scene - 0.1, offset=True) == []


def test_first_item_leaves_every_generator_where_it_was():
    class Random:
        def __getitem__(self, i):
            return torch.rand(1), np.random.rand(), random.random()

    def draw():
        return float(torch.rand(1)), np.random.rand(), random.random()

    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    want = draw()
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    first_item(Random())
    assert draw() == want


def test_new_checkpoints_load_with_plain_weights_only(tmp_path):
    # no allow-list needed: the random state is stored as plain types
    path = Ctx(tmp_path).trained()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["xmodal_lab"]["name"] == "contrastive" and isinstance(ckpt["rng"]["numpy"][1], list)
    assert len(ckpt["rng"]["numpy"][1]) == 624  # MT19937 key words
