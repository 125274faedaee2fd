from __future__ import annotations

import numpy as np
import pytest

from xmodal_lab.viz import _common


def test_pair_list_keeps_lists_and_names_what_is_not_a_pair(pairs):
    assert _common.pair_list(pairs, 3) == pairs[:3]
    assert _common.pair_list(pairs[0])[0]["lat"] == pairs[0]["lat"]
    with pytest.raises(TypeError, match=r"pairs\[0\]: expected a pair dict"):
        _common.pair_list([np.zeros(3)])


def test_image_size_from_images(pairs):
    assert _common.image_size(pairs[0]) == (32, 32)
    assert _common.image_size({"s1": np.zeros((2, 5, 7))}) == (5, 7)
    with pytest.raises(KeyError, match="'s1' or 's2' images"):
        _common.image_size({"lat": 1.0})
