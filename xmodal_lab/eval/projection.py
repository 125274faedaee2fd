from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from xmodal_lab.errors import InputValueError


def _reduce(x: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, str]:
    """``([2N, 2] coordinates, method used)``; UMAP falls back to PCA with a warning."""
    if method == "umap":
        try:
            import umap

            reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed, n_jobs=1)
            return reducer.fit_transform(x), "umap"
        except Exception as error:  # numba or a tiny N can fail: the lesson must go on
            warnings.warn(f"UMAP failed ({error}); using PCA instead", stacklevel=3)
    from sklearn.decomposition import PCA

    return PCA(n_components=2, svd_solver="full").fit_transform(x), "pca"


def project_2d(s1: Any, s2: Any, method: str = "umap", seed: int = 0) -> dict[str, Any]:
    """Project radar and optical embeddings ``[N, D]`` into one 2-D map (UMAP, or PCA as a fallback).

    Both are fitted together, so a radar point's distance to its optical partner means something.
    ``pair_distance`` is the mean partner distance over that of random pairs (1 unrelated, 0 together);
    ``segments`` ``[N, 2, 2]`` join partners for a ``LineCollection``.
    """
    a, b = np.asarray(s1, dtype=np.float32), np.asarray(s2, dtype=np.float32)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"s1 and s2 must both be [N, D] with the same shape, got {a.shape} and {b.shape}")
    if min(a.shape) < 2:
        raise InputValueError(f"project_2d: needs at least 2 pairs of width D >= 2, got [N, D] = {a.shape}")
    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap' or 'pca', got {method!r}")
    x = np.concatenate([a, b])
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    coords, used = _reduce(x, method, seed)
    pa, pb = coords[: len(a)], coords[len(a) :]
    shuffled = pb[np.random.default_rng(seed).permutation(len(a))]
    baseline = np.linalg.norm(pa - shuffled, axis=1).mean()
    return {
        "s1": pa, "s2": pb, "segments": np.stack([pa, pb], axis=1), "method": used,
        "pair_distance": float(np.linalg.norm(pa - pb, axis=1).mean() / (baseline + 1e-12)),
    }  # fmt: skip
