"""Input recipes of published weights: band mapping, gain, clip and the two normalisation modes against
formulas written here, and clear errors on bad input."""

from __future__ import annotations

import pytest
import torch

from xmodal_lab.weights.recipes import InputRecipe, rgb8_imagenet_recipe, ssl4eo_s2_recipe


def test_croma_mode_is_the_clipped_four_sigma_stretch():
    mean, std = torch.tensor([1.0, -3.0]), torch.tensor([2.0, 0.5])
    recipe = InputRecipe(mean, std, mode="croma")
    x = torch.randn(2, 2, 5, 5) * 4
    want = ((x - (mean - 2 * std).view(1, 2, 1, 1)) / (4 * std).view(1, 2, 1, 1)).clamp(0, 1)
    assert torch.allclose(recipe(x), want)
    # mean - 2 std -> 0, mean + 2 std -> 1, the mean -> 1/2
    edges = torch.stack([mean - 2 * std, mean, mean + 2 * std, mean + 9 * std], -1).view(1, 2, 1, 4)
    assert torch.allclose(recipe(edges), torch.tensor([0.0, 0.5, 1.0, 1.0]).expand(1, 2, 1, 4))


def test_band_insertion_gain_and_standardisation():
    recipe = InputRecipe([10.0, 0.0, 20.0], [2.0, 1.0, 4.0], bands=(1, None, 0), fill=[7.0], gain=10.0)
    x = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    # channel 0 <- input 1, channel 1 <- the fill, channel 2 <- input 0; then x 10, then standardise
    assert torch.allclose(recipe(x).flatten(), torch.tensor([(20 - 10) / 2, 70.0, (10 - 20) / 4]))
    assert recipe.in_channels == 2 and recipe.out_channels == 3


def test_ssl4eo_s2_10k_inserts_b10_and_keeps_reflectance():
    recipe = ssl4eo_s2_recipe("10k")
    s2 = torch.rand(2, 12, 4, 4)
    out = recipe(s2)
    assert out.shape == (2, 13, 4, 4)
    assert torch.equal(out[:, :10], s2[:, :10]) and torch.equal(out[:, 11:], s2[:, 10:])
    assert torch.allclose(out[:, 10], torch.full((2, 4, 4), 0.0022))


def test_rgb8_recipe_clips_at_white():
    recipe = rgb8_imagenet_recipe(white=0.3)
    x = torch.tensor([0.0, 0.15, 0.3, 0.9]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    v = torch.tensor([0.0, 0.5, 1.0, 1.0])  # on the /255 scale
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    want = (v.view(1, 1, 1, 4) - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert torch.allclose(recipe(x), want, atol=1e-5)


def test_bad_input_is_named():
    recipe = ssl4eo_s2_recipe("croma")
    with pytest.raises(ValueError, match=r"reads \[B, 12, H, W\]"):
        recipe(torch.zeros(1, 13, 4, 4))
    with pytest.raises(ValueError, match="12 output channels"):
        recipe.set_stats([0.0] * 13, [1.0] * 13)
    with pytest.raises(ValueError, match="positive"):
        recipe.set_stats([0.0] * 12, [0.0] * 12)
    with pytest.raises(ValueError, match="mode must be"):
        InputRecipe([0.0], [1.0], mode="minmax")
    with pytest.raises(ValueError, match="fill gives 0"):
        InputRecipe([0.0, 0.0], [1.0, 1.0], bands=(0, None))
