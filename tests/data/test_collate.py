"""collate_pairs: the batch layout every DataLoader of the kit relies on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.data import SimulatedWorld, collate_pairs


def test_batches_tensors_numbers_strings_and_tuples():
    w = SimulatedWorld(seed=0, size=8, n_scenes=4)
    items = [w[i] for i in range(3)]
    b = collate_pairs(items)
    assert b["s1"].shape == (3, 2, 8, 8) and b["s2"].shape == (3, 12, 8, 8)
    assert b["landcover"].shape == (3, 8, 8) and b["landcover"].dtype == torch.int64
    assert b["labels"].shape == (3, 8) and b["cloud_mask"].dtype == torch.bool
    assert b["gsd"].dtype == torch.float32 and b["gsd"].tolist() == [10.0] * 3
    assert b["lat"].dtype == torch.float64 and b["lat"].tolist() == [p["lat"] for p in items]
    assert b["index"].tolist() == [0, 1, 2]
    assert b["date"] == [p["date"] for p in items] and b["crs"] == [p["crs"] for p in items]
    assert b["transform"] == [p["transform"] for p in items] and isinstance(b["transform"][0], tuple)


def test_numpy_arrays_mixed_numbers_and_partial_keys():
    items = [
        {"x": np.ones((2, 2)), "n": 1, "m": 2.5, "extra": "a"},
        {"x": np.zeros((2, 2)), "n": 2.0, "m": 1},
    ]
    b = collate_pairs(items)
    assert torch.equal(b["x"], torch.from_numpy(np.stack([np.ones((2, 2)), np.zeros((2, 2))])))
    assert b["n"].dtype == torch.float32 and b["n"].tolist() == [1.0, 2.0] and b["m"].tolist() == [2.5, 1.0]
    assert "extra" not in b  # a key only some items carry is left out


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        collate_pairs([])
    with pytest.raises(ValueError, match="'s1' has different shapes"):
        collate_pairs([{"s1": torch.zeros(2, 4, 4)}, {"s1": torch.zeros(2, 8, 8)}])
