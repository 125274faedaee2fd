"""The first lessons' measurements against hand-computed values and the textbook speckle statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xmodal_lab.data import bands
from xmodal_lab.data.landcover import LANDCOVER_CLASSES
from xmodal_lab.errors import InputValueError


def test_db_to_linear_known_values():
    db = torch.tensor([-20.0, -10.0, -3.0103, 0.0, 10.0])
    lin = bands.db_to_linear(db)
    assert torch.allclose(lin, torch.tensor([0.01, 0.1, 0.5, 1.0, 10.0]), rtol=1e-4)
    assert isinstance(bands.db_to_linear(np.array([0.0])), np.ndarray)


def _uniform_pair(looks: float, n: int = 256, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    sigma0 = 0.05  # -13 dB, one uniform surface
    power = sigma0 * rng.gamma(shape=looks, scale=1.0 / looks, size=(2, n, n))
    lc = np.zeros((n, n), dtype=np.int64)
    lc[: n // 8] = 1  # a minority class whose pixels are left out
    power[:, : n // 8] *= 20.0
    return {"s1": torch.tensor(10 * np.log10(power), dtype=torch.float32), "landcover": torch.tensor(lc)}


@pytest.mark.parametrize("looks", [1.0, 4.4, 16.0])
def test_speckle_cv_is_one_over_sqrt_looks_on_gamma_speckle(looks):
    cv = bands.speckle_cv(_uniform_pair(looks))
    assert cv == pytest.approx(1 / math.sqrt(looks), rel=0.03)
    assert 1 / cv**2 == pytest.approx(looks, rel=0.06)  # ENL = mean^2 / var


def test_speckle_cv_needs_landcover():
    with pytest.raises(InputValueError, match="landcover"):
        bands.speckle_cv({"s1": torch.zeros(2, 8, 8)})


def test_ndwi_from_green_and_nir():
    s2 = torch.full((12, 2, 2), 0.1)
    s2[2] = torch.tensor([[0.08, 0.05], [0.30, 0.0]])  # B3 green
    s2[7] = torch.tensor([[0.02, 0.40], [0.10, 0.0]])  # B8 near infrared
    want = torch.tensor([[0.06 / 0.10, -0.35 / 0.45], [0.20 / 0.40, 0.0]])
    assert torch.allclose(bands.ndwi(s2), want, atol=1e-4)
    assert bands.ndwi(np.zeros((3, 12, 4, 4))).shape == (3, 4, 4)


def test_class_fraction_counts_pixels_of_one_class():
    lc = torch.zeros(4, 4, dtype=torch.long)
    lc[0, :3] = LANDCOVER_CLASSES.index("water")
    lc[1:, :] = LANDCOVER_CLASSES.index("forest")
    water_id = LANDCOVER_CLASSES.index("water")
    want = float((lc == water_id).sum()) / 16
    assert bands.class_fraction({"landcover": lc}, "water") == pytest.approx(want)
    with pytest.raises(InputValueError, match="unknown class"):
        bands.class_fraction({"landcover": lc}, "lava")
