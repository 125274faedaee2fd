from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.viz import _common


def test_pair_list_splits_batches_and_keeps_lists(pairs):
    batch = {"s1": torch.stack([p["s1"] for p in pairs]), "crs": [p["crs"] for p in pairs], "gsd": 10.0}
    items = _common.pair_list(batch, max_pairs=2)
    assert len(items) == 2 and items[1]["crs"] == pairs[1]["crs"] and items[1]["gsd"] == 10.0
    torch.testing.assert_close(items[1]["s1"], pairs[1]["s1"])
    assert _common.pair_list(pairs, 3) == pairs[:3]
    assert _common.pair_list(pairs[0])[0]["lat"] == pairs[0]["lat"]
    with pytest.raises(TypeError, match=r"pairs\[0\]: expected a pair dict"):
        _common.pair_list([np.zeros(3)])
    with pytest.raises(ValueError, match="batch key 'crs' has 1 entries but the batch has 6"):
        _common.pair_list({**batch, "crs": ["EPSG:32632"]})


def test_image_size_from_images_or_metadata(pairs):
    assert _common.image_size(pairs[0]) == (32, 32)
    assert _common.image_size({"height": 5, "width": 7}) == (5, 7)
    assert _common.image_size({"size": 9}) == (9, 9)
    with pytest.raises(KeyError, match="height"):
        _common.image_size({"lat": 1.0})
