from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.data import composites as data_composites
from xmodal_lab.viz import composites


def test_renderings_are_the_segment_anything_composites(pairs):
    s1, s2 = pairs[0]["s1"], pairs[0]["s2"]
    np.testing.assert_array_equal(composites.s2_true_colour(s2), data_composites.s2_true_color(s2))
    np.testing.assert_array_equal(composites.s2_false_colour(s2), data_composites.s2_false_color(s2))
    np.testing.assert_array_equal(composites.s1_composite(s1), data_composites.s1_composite(s1))
    np.testing.assert_array_equal(composites.render(s1, "s1_vh"), data_composites.s1_vh(s1))


def test_render_takes_the_first_image_of_a_batch_and_passes_pictures_through(pairs):
    batch = torch.stack([p["s2"] for p in pairs[:3]])
    rgb = composites.render(batch, "s2")
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, data_composites.s2_true_color(pairs[0]["s2"]))
    assert composites.render(rgb, "s1") is rgb
    with pytest.raises(ValueError, match="modality: expected one of"):
        composites.render(pairs[0]["s2"], "ndvi")
    with pytest.raises(ValueError, match="s1: expected 2 channels"):
        composites.render(pairs[0]["s2"], "s1")
