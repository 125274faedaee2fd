"""Shared training fixtures: a small cached world and tiny models at 16 px, with one torch thread."""

from __future__ import annotations

import pytest
import torch
from train_helpers import SIZE

from xmodal_lab.data import SimulatedWorld
from xmodal_lab.train import CachedPairs


@pytest.fixture(scope="session")
def small_world() -> CachedPairs:
    """64 simulated pairs of 16 px, rendered once."""
    return CachedPairs(SimulatedWorld(seed=0, size=SIZE, n_scenes=64))


@pytest.fixture(scope="session")
def small_val() -> CachedPairs:
    """32 held-out pairs of 16 px from another world."""
    return CachedPairs(SimulatedWorld(seed=1, size=SIZE, n_scenes=32))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """CI runs two test processes on two cores: one thread each avoids oversubscription.

    Module-scoped (autouse fixtures come first in their scope) so that it also covers module fixtures.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
