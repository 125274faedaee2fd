"""project_2d: both modalities in one map, pair segments, PCA against numpy, UMAP loaded lazily."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from xmodal_lab.eval import project_2d


def _pairs(n: int = 60, d: int = 16, noise: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    s2 = rng.normal(size=(n, d))
    return s2 + noise * rng.normal(size=(n, d)), s2


def test_pca_projection_matches_numpy_and_pairs_sit_together():
    s1, s2 = _pairs()
    out = project_2d(s1, s2, method="pca")
    x = np.concatenate([s1, s2])
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    centred = x - x.mean(axis=0)
    ref = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    got = np.concatenate([out["s1"], out["s2"]])
    np.testing.assert_allclose(np.abs(got), np.abs(ref), atol=1e-4)  # components are defined up to sign
    assert out["method"] == "pca" and out["segments"].shape == (60, 2, 2)
    np.testing.assert_array_equal(out["segments"][:, 0], out["s1"])
    np.testing.assert_array_equal(out["segments"][:, 1], out["s2"])
    unrelated = project_2d(s1, np.random.default_rng(9).normal(size=s2.shape), method="pca")
    print(f"pair distance: paired {out['pair_distance']:.3f}, unrelated {unrelated['pair_distance']:.3f}")
    assert out["pair_distance"] < 0.2 < 0.7 < unrelated["pair_distance"]


def test_umap_is_imported_lazily_and_fitted_on_both_modalities(monkeypatch):
    fitted = {}

    class FakeUMAP:
        def __init__(self, n_components, n_neighbors, random_state, **_):
            fitted["args"] = (n_components, n_neighbors, random_state)

        def fit_transform(self, x):
            fitted["rows"] = len(x)
            return x[:, :2] * 10

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    s1, s2 = _pairs(n=12)
    out = project_2d(s1, s2, seed=3)
    assert out["method"] == "umap" and fitted == {"args": (2, 15, 3), "rows": 24}


def test_umap_failure_falls_back_to_pca(monkeypatch):
    class Failing:
        def __init__(self, **_):
            raise RuntimeError("numba is unavailable")

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=Failing))
    s1, s2 = _pairs(n=10)
    with pytest.warns(UserWarning, match="PCA"):
        out = project_2d(s1, s2)
    assert out["method"] == "pca" and out["s1"].shape == (10, 2)


def test_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        project_2d(np.ones((4, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="method"):
        project_2d(np.ones((4, 3)), np.ones((4, 3)), method="tsne")
