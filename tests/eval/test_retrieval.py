"""Retrieval metrics against hand-computed ranks: identity, known permutations, ties, top-k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.eval import bottomk_matches, cosine_similarity, match_ranks, retrieval_metrics, topk_matches


def _reference_ranks(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Ranks by sorting each row of a float64 cosine matrix (independent of the library's formula)."""
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    sim = qn @ gn.T
    order = np.argsort(-sim, axis=1, kind="stable")
    return np.array([int(np.flatnonzero(order[i] == i)[0]) + 1 for i in range(len(q))])


def test_identity_embeddings_are_perfect():
    x = np.random.default_rng(0).normal(size=(50, 32))
    m = retrieval_metrics(x, x)
    assert m == {"recall@1": 1.0, "recall@5": 1.0, "recall@10": 1.0, "median_rank": 1.0, "mrr": 1.0}


def test_known_permutation_gives_known_ranks():
    n = 6
    q = np.eye(n)
    g = np.eye(n)[[1, 2, 3, 4, 5, 0]]  # partner of query i is basis i+1: similarity 0, ties with all others
    ranks = match_ranks(q, g)
    np.testing.assert_array_equal(ranks, np.full(n, n))  # ties count against the query: worst rank
    rng = np.random.default_rng(1)
    q = rng.normal(size=(40, 8))
    g = q[rng.permutation(40)] + 0.01 * rng.normal(size=(40, 8))
    np.testing.assert_array_equal(match_ranks(q, g), _reference_ranks(q, g))
    m = retrieval_metrics(q, g)
    ref = _reference_ranks(q, g)
    assert m["recall@5"] == pytest.approx((ref <= 5).mean())
    assert m["median_rank"] == pytest.approx(np.median(ref))
    assert m["mrr"] == pytest.approx((1 / ref).mean())


def test_reversed_similarity_gives_last_rank():
    q = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    g = np.array([[-1.0, 0.0], [0.5, 0.5], [1.0, 0.1]])
    # row 0: sims (-1, .71, .99) -> true match last (3); row 1: (0, .71, .1) -> first; row 2: (1, -.71, -.99) -> 3
    np.testing.assert_array_equal(match_ranks(q, g), [3, 1, 3])
    m = retrieval_metrics(q, g, ks=(1, 2))
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@2"] == pytest.approx(1 / 3)
    assert m["mrr"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)


def test_random_embeddings_sit_near_chance():
    rng = np.random.default_rng(0)
    n = 400
    m = retrieval_metrics(rng.normal(size=(n, 32)), rng.normal(size=(n, 32)))
    print(f"random recall@10 {m['recall@10']:.3f} (chance {10 / n:.3f})")
    assert m["recall@10"] < 5 * 10 / n
    assert 0.3 * n < m["median_rank"] < 0.7 * n


def test_cosine_similarity_matches_formula_and_accepts_tensors():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(3, 7))
    ref = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
    sim = cosine_similarity(torch.tensor(a), b)
    assert sim.shape == (5, 3)
    np.testing.assert_allclose(sim.numpy(), ref, atol=1e-6)


def test_topk_and_bottomk_of_one_query():
    sim = torch.tensor([[0.1, 0.9, -0.5, 0.3, 0.7], [0.0, 0.0, 0.0, 0.0, 1.0]])
    idx, val = topk_matches(sim, query=0, k=4)
    np.testing.assert_array_equal(idx, [1, 4, 3, 0])
    np.testing.assert_allclose(val, [0.9, 0.7, 0.3, 0.1])
    idx, val = bottomk_matches(sim, query=0, k=1)
    assert idx.tolist() == [2] and val.tolist() == pytest.approx([-0.5])
    assert topk_matches(sim, query=1, k=10)[0].shape == (5,)  # k larger than the gallery


@pytest.mark.parametrize(
    "q, g, match",
    [
        (np.zeros((3, 4, 1)), np.zeros((3, 4)), r"\[N, D\]"),
        (np.ones((3, 4)), np.ones((3, 5)), "widths differ"),
        (np.ones((3, 4)), np.ones((2, 4)), "same number of rows"),
        (np.full((2, 2), np.nan), np.ones((2, 2)), "NaN"),
    ],
)
def test_bad_inputs_are_named(q, g, match):
    with pytest.raises(ValueError, match=match):
        retrieval_metrics(q, g)


def test_recall_and_mrr_match_torchmetrics():
    from torchmetrics.retrieval import RetrievalMRR, RetrievalRecall

    rng = np.random.default_rng(3)
    n = 30
    q = rng.normal(size=(n, 8))
    g = q + 0.8 * rng.normal(size=(n, 8))  # noisy partners: ranks spread over 1..n, no ties
    m = retrieval_metrics(q, g, ks=(1, 5, 10))
    sim = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    preds = torch.from_numpy(sim).flatten()
    target = torch.eye(n, dtype=torch.bool).flatten()  # gallery item i is query i's only match
    indexes = torch.arange(n).repeat_interleave(n)  # one retrieval query per row
    print({k: round(v, 3) for k, v in m.items()})
    assert 0.0 < m["recall@1"] < m["recall@10"] < 1.0
    for k in (1, 5, 10):
        assert m[f"recall@{k}"] == pytest.approx(float(RetrievalRecall(top_k=k)(preds, target, indexes=indexes)))
    assert m["mrr"] == pytest.approx(float(RetrievalMRR()(preds, target, indexes=indexes)))
