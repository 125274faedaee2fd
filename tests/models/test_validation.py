"""The one input-validation helper at the model boundary, seen through every registered model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import make_pairs

from xmodal_lab.models import build, list_models
from xmodal_lab.models.losses import info_nce
from xmodal_lab.models.validation import model_input

CASES = [(name, {}) for name in list_models()] + [("contrastive", {"backbone": "resnet"})]


def _model(name: str, overrides: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(name, "tiny", **overrides).eval()


@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_numpy_float64_is_cast_and_gives_the_float32_answer(name, overrides):
    model, b = _model(name, overrides), make_pairs(2)
    with torch.no_grad():
        want = model.embed(s1=b["s1"], s2=b["s2"])
        got = model.embed(s1=b["s1"].double().numpy(), s2=b["s2"].double().numpy())
    assert set(got) == set(want)
    for k in want:
        assert got[k].dtype == torch.float32
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_bad_inputs_get_errors_that_name_the_problem(name, overrides):
    model, b = _model(name, overrides), make_pairs(2)
    s1, s2 = b["s1"], b["s2"]
    nan = s2.clone()
    nan[0, 3, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="s2: contains NaN"):
        model.embed(s1=s1, s2=nan)
    with pytest.raises(ValueError, match="s2: expected 12 channels, got 11"):
        model.embed(s1=s1, s2=s2[:, :11])
    with pytest.raises(ValueError, match=r"s2: expected \[B, C, H, W\]"):
        model.embed(s1=s1, s2=s2[0])
    with pytest.raises(TypeError, match="s2: expected floating-point physical units"):
        model.embed(s1=s1, s2=(s2 * 10000).to(torch.int16))
    if getattr(model, "input_multiple", None) != 1:
        with pytest.raises(ValueError, match="multiples of the patch size"):
            model.embed(s1=s1[..., :30, :30], s2=s2[..., :30, :30])


def test_model_input_keeps_float32_tensors_and_checks_time_series():
    x = torch.rand(2, 12, 8, 8)
    assert model_input(x, 12, 4, "s2") is x
    series = torch.rand(2, 3, 2, 8, 8).half()
    out = model_input(series, 2, 4, "s1", time_series=True)
    assert out.dtype == torch.float32 and out.shape == series.shape
    with pytest.raises(ValueError, match=r"s1: expected \[B, C, H, W\]"):
        model_input(series, 2, 4, "s1")
    with pytest.raises(TypeError, match="tensor or numpy array"):
        model_input([[1.0]], 2, 4, "s1")
    bad = np.zeros((1, 2, 8, 8))
    bad[0, 1, 0, 0] = np.inf
    with pytest.raises(ValueError, match="s1: contains NaN or infinite"):
        model_input(bad, 2, 4, "s1")


@pytest.mark.parametrize(
    ("values", "dtype", "finite"),
    [([3e38, 3e38], np.float32, True), ([1e300, -1e300], np.float64, True), ([np.inf, 1.0], np.float32, False),
     ([np.inf, -np.inf], np.float64, False), ([np.nan, 0.0], np.float32, False), ([-np.inf, 0.0], np.float64, False)],
)  # fmt: skip
def test_model_input_finiteness_matches_a_value_by_value_check(values, dtype, finite):
    """A sum that overflows on finite values is not taken for a NaN: the check agrees with np.isfinite."""
    x = np.zeros((1, 2, 8, 8), dtype=dtype)
    x[0, :, 0, 0] = values
    assert np.isfinite(x).all() == finite
    if finite:
        assert model_input(x, 2, 4, "s3").shape == (1, 2, 8, 8)
    else:
        with pytest.raises(ValueError, match="s3: contains NaN or infinite"):
            model_input(x, 2, 4, "s3")


def test_checked_upstream_skips_only_the_value_checks():
    from xmodal_lab.models.validation import checked_upstream

    bad = torch.full((1, 2, 8, 8), float("nan"))
    with checked_upstream():
        assert model_input(bad, 2, 4, "s1").isnan().all()  # a reader that checked every pixel vouches for it
        with pytest.raises(ValueError, match="expected 2 channels"):
            model_input(torch.zeros(1, 3, 8, 8), 2, 4, "s1")
    with pytest.raises(ValueError, match="s1: contains NaN or infinite"):
        model_input(bad, 2, 4, "s1")


def test_info_nce_refuses_a_single_pair():
    a = torch.nn.functional.normalize(torch.randn(1, 8), dim=-1)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        info_nce(a, a, 10.0)


@pytest.mark.parametrize("name", ["contrastive", "croma"])
def test_contrastive_models_refuse_a_batch_of_one(name):
    model = _model(name, {}).train()
    with pytest.raises(ValueError, match="at least 2 pairs"):
        model(make_pairs(1))
