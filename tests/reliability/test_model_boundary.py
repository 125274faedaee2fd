"""Bad inputs at the model boundary: float64 arrays, digital numbers, linear power, into each of the five models.

The checks live in the models' input-validation helper (``xmodal_lab.models.validation.model_input``), which
calls :mod:`xmodal_lab.units` for every image a model takes.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from reliability_helpers import SIZE, s1_db, s2_reflectance

from xmodal_lab.config import seed_everything
from xmodal_lab.errors import UnitsWarning
from xmodal_lab.models import build

MODELS = ("contrastive", "scale_mae", "croma", "skysense", "mmearth")
READS_RADAR = ("contrastive", "croma", "skysense")


def _model(name: str) -> torch.nn.Module:
    seed_everything(0)
    return build(name, "tiny", img_size=SIZE).eval()


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    s1 = torch.from_numpy(s1_db(SIZE, SIZE))[None].repeat(batch, 1, 1, 1)
    s2 = torch.from_numpy(s2_reflectance(SIZE, SIZE))[None].repeat(batch, 1, 1, 1)
    return s1, s2


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", MODELS)
def test_float64_inputs_are_cast(name):
    model = _model(name)
    s1, s2 = _inputs()
    with torch.no_grad():
        want = model.embed(s1=s1, s2=s2)
        got = model.embed(s1=s1.double(), s2=s2.double())
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == torch.float32
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_float64_batch_trains(name):
    from xmodal_lab.data import SimulatedWorld, collate_pairs

    batch = collate_pairs([SimulatedWorld(seed=0, size=SIZE, n_scenes=4)[i] for i in range(4)])
    batch["s1"], batch["s2"] = batch["s1"].double(), batch["s2"].double()  # numpy's default dtype
    loss = _model(name).train()(batch)["loss"]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


@pytest.mark.parametrize("name", MODELS)
def test_digital_numbers_warn(name):
    s1, s2 = _inputs()
    with pytest.warns(UnitsWarning, match="digital numbers"), torch.no_grad():
        _model(name).embed(s1=s1, s2=s2 * 10000)


@pytest.mark.parametrize("name", MODELS)
def test_integer_digital_numbers_are_named(name):
    s1, s2 = _inputs()
    error = None
    with warnings.catch_warnings(record=True) as seen, torch.no_grad():
        warnings.simplefilter("always")
        try:
            _model(name).embed(s1=s1, s2=(s2 * 10000).to(torch.int32))
        except TypeError as raised:  # refusing integers is as good as warning, when the message says why
            error = raised
    warned = any(issubclass(w.category, UnitsWarning) and "digital numbers" in str(w.message) for w in seen)
    assert warned or (error is not None and re.search("digital numbers|DN / 10000", str(error)))


@pytest.mark.parametrize("name", READS_RADAR)
def test_linear_power_warns(name):
    s1, s2 = _inputs()
    with pytest.warns(UnitsWarning, match="linear power"), torch.no_grad():
        _model(name).embed(s1=10 ** (s1 / 10), s2=s2)


@pytest.mark.parametrize("name", READS_RADAR)
def test_db_times_100_warns(name):
    s1, s2 = _inputs()
    with pytest.warns(UnitsWarning, match="x 100"), torch.no_grad():
        _model(name).embed(s1=s1 * 100, s2=s2)
