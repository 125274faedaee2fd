"""Cross-modal retrieval: similarities, ranks of the true matches (row ``i``: ``i``), recall@k; 2-D maps."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xmodal_lab.errors import InputTypeError, InputValueError


def _whole(k: Any) -> bool:
    return not isinstance(k, bool) and isinstance(k, (int, np.integer))


def as_tensor(x: Any, name: str = "embeddings") -> Tensor:
    """A finite float32 ``[N, D]`` tensor (``N, D >= 1``) from a tensor or an array, else a named error."""
    t = torch.as_tensor(x if isinstance(x, Tensor) else np.ascontiguousarray(x)).detach().float().cpu()
    if t.ndim != 2:
        raise ValueError(f"{name}: expected [N, D] embeddings, got shape {tuple(t.shape)}")
    if 0 in t.shape:
        n, d = t.shape
        raise InputValueError(f"{name}: no embeddings or no width (N={n}, D={d}); expected [N, D], N, D >= 1")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return t


def cosine_similarity(query: Any, gallery: Any) -> Tensor:
    """Cosine similarity ``[N, M]`` of every query ``[N, D]`` with every gallery item ``[M, D]``."""
    q, g = as_tensor(query, "query"), as_tensor(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery widths differ: {q.shape[1]} vs {g.shape[1]}")
    return F.normalize(q, dim=1) @ F.normalize(g, dim=1).T


def match_ranks(query: Any, gallery: Any) -> np.ndarray:
    """Rank ``[N]`` (1 is best; ties count against) of each query's true match, gallery row ``i``."""
    sim = cosine_similarity(query, gallery)
    if sim.shape[0] != sim.shape[1]:
        raise ValueError(f"query and gallery must have the same number of rows, got {tuple(sim.shape)}")
    return (sim >= sim.diagonal()[:, None]).sum(dim=1).numpy().astype(np.int64)


def retrieval_metrics(query: Any, gallery: Any, ks: tuple[int, ...] | None = None) -> dict[str, float]:
    """Recall@k (chance: ``k / N``), median rank and mean reciprocal rank of cross-modal retrieval.

    ``ks`` None reports the ``k`` of (1, 5, 10) below ``N``; a given ``k >= N`` is refused (its recall is 1.0).
    """
    if ks is not None and (not ks or not all(_whole(k) and k >= 1 for k in ks)):
        raise InputValueError(f"ks: expected positive whole numbers (the k of recall@k), got {ks!r}")
    ranks = match_ranks(query, gallery)
    n = len(ranks)
    if n < 2:
        raise InputValueError("retrieval_metrics: needs at least 2 pairs; with one, recall@k is always 1.0")
    if ks is None:
        ks = tuple(k for k in (1, 5, 10) if k < n)
    elif max(ks) >= n:
        raise InputValueError(
            f"ks: recall@k with k={max(ks)} >= N={n} pairs is 1.0 whatever the embeddings; use k < {n}")
    out = {f"recall@{k}": float((ranks <= k).mean()) for k in ks}
    return {**out, "median_rank": float(np.median(ranks)), "mrr": float((1.0 / ranks).mean())}


def topk_matches(sim: Any, query: int, k: int = 4, largest: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(indices [k], similarities [k])`` of row ``query`` of ``sim``: best first, or worst first."""
    if not _whole(query):
        raise InputTypeError(f"topk_matches: query must be a row index (an integer), got {query!r}")
    if not _whole(k) or k < 1:
        raise InputValueError(f"topk_matches: k must be a positive whole number, got {k!r}")
    row = torch.as_tensor(sim if isinstance(sim, Tensor) else np.asarray(sim))[query]
    values, idx = row.topk(min(k, row.numel()), largest=largest)
    return idx.numpy(), values.numpy()


def bottomk_matches(sim: Any, query: int, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` least similar gallery items of one query (see :func:`topk_matches`)."""
    return topk_matches(sim, query, k, largest=False)


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

    Both are fitted together; ``pair_distance`` is the mean partner distance over that of random pairs (1
    unrelated, 0 together); ``segments`` ``[N, 2, 2]`` join partners for a ``LineCollection``.
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
    baseline = np.linalg.norm(pa - pb[np.random.default_rng(seed).permutation(len(a))], axis=1).mean()
    return {
        "s1": pa, "s2": pb, "segments": np.stack([pa, pb], axis=1), "method": used,
        "pair_distance": float(np.linalg.norm(pa - pb, axis=1).mean() / (baseline + 1e-12)),
    }  # fmt: skip
