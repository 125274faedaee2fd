"""Probes on synthetic embeddings whose answer is known: separable clusters, noise, rotated modalities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xmodal_lab.eval import cross_modal_transfer, knn_accuracy, label_efficiency, linear_probe


def clusters(n: int, k: int = 4, d: int = 16, spread: float = 0.3, seed: int = 0):
    """``n`` points around ``k`` random unit centres; returns ``(x [n, d], y [n])``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.arange(n) % k
    return centres[y] + spread * rng.normal(size=(n, d)) / np.sqrt(d), y


def test_linear_probe_separable_vs_shuffled_labels():
    x, y = clusters(400)
    good = linear_probe(x[:200], y[:200], x[200:], y[200:])
    bad = linear_probe(x[:200], np.random.default_rng(1).permutation(y[:200]), x[200:], y[200:])
    print(
        f"probe accuracy: clusters {good['accuracy']:.3f}, shuffled labels {bad['accuracy']:.3f} (chance 0.25)"
    )
    assert good["accuracy"] == 1.0 and good["macro_f1"] == 1.0
    assert bad["accuracy"] < 0.45


def test_multilabel_probe_reads_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0.5, np.ones(600, bool)], axis=1).astype(np.float32)
    m = linear_probe(x[:300], y[:300], x[300:], y[300:])
    print(f"multi-label probe {m}")
    assert set(m) == {"micro_f1", "mAP"}
    assert m["mAP"] > 0.97 and m["micro_f1"] > 0.9  # the always-present label is left out, not scored


def _knn_reference(xtr, ytr, xte, k):
    a = xtr / np.linalg.norm(xtr, axis=1, keepdims=True)
    b = xte / np.linalg.norm(xte, axis=1, keepdims=True)
    nearest = np.argsort(-(b @ a.T), axis=1, kind="stable")[:, :k]
    return np.array([np.bincount(ytr[row], minlength=ytr.max() + 1).argmax() for row in nearest])


def test_knn_matches_brute_force_cosine_vote():
    x, y = clusters(300, k=3, spread=1.5, seed=3)
    acc = knn_accuracy(x[:200], y[:200], x[200:], y[200:], k=5)
    ref = (_knn_reference(x[:200], y[:200], x[200:], 5) == y[200:]).mean()
    print(f"kNN accuracy {acc:.3f} (brute force {ref:.3f})")
    assert acc == pytest.approx(ref, abs=0.02)  # only exact distance ties may differ
    assert 0.5 < acc < 1.0


def test_label_efficiency_grows_with_labels():
    x, y = clusters(2000, k=5, spread=1.6, seed=4)
    curve = label_efficiency(x[:1000], y[:1000], x[1000:], y[1000:], seed=0, repeats=2)
    means = {f: float(np.mean(v)) for f, v in curve.items()}
    print("label efficiency", {f"{100 * f:g}%": round(m, 3) for f, m in means.items()})
    assert list(curve) == [0.01, 0.05, 0.1, 1.0]
    assert [len(v) for v in curve.values()] == [2, 2, 2, 1]
    assert means[1.0] > means[0.01] + 0.05
    assert means[1.0] > 0.6


def test_label_efficiency_rejects_bad_fraction():
    x, y = clusters(100)
    with pytest.raises(ValueError, match="fractions"):
        label_efficiency(x, y, x, y, fractions=(0.0,))


def test_cross_modal_transfer_shared_vs_unrelated_space():
    x, y = clusters(800, k=4, spread=0.5, seed=5)
    rng = np.random.default_rng(6)
    shared = x + 0.05 * rng.normal(size=x.shape)  # radar embedded next to its optical partner
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    unrelated = x @ rotation  # the same information, but in another space
    emb = {"s2": x, "s1": shared, "s1_rotated": unrelated, "dominant_class": y}
    train = {k: v[:400] for k, v in emb.items()}
    test = {k: v[400:] for k, v in emb.items()}
    same_space = cross_modal_transfer(train, test, source="s2", target="s1")
    other_space = cross_modal_transfer(train, test, source="s2", target="s1_rotated")
    print(f"transfer: shared space {same_space}, rotated space {other_space}")
    assert same_space["same_modality"] > 0.95 and same_space["cross_modal"] > 0.95
    assert other_space["cross_modal"] < 0.7
    with pytest.raises(KeyError, match="lack"):
        cross_modal_transfer(train, test, source="s2", target="joint")


def test_probe_errors_name_the_problem():
    x, y = clusters(20)
    with pytest.raises(ValueError, match="20 embeddings but 10 labels"):
        linear_probe(x, y[:10], x, y)
    with pytest.raises(ValueError, match="single class"):
        linear_probe(x, np.zeros(20), x, y)


def test_weighted_knn_follows_the_official_vote():
    """The official Scale-MAE / InstDisc kNN, written out per test point: the k most cosine-similar fit
    embeddings vote exp(cos / T) for their class; the largest total wins."""
    rng = np.random.default_rng(0)
    x_fit, y_fit = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    x_test, y_test = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    for k, t in ((20, 0.07), (5, 1.0), (1, 0.07)):
        correct = 0
        for q, label in zip(x_test, y_test):
            cos = [float(q @ f / (np.linalg.norm(q) * np.linalg.norm(f))) for f in x_fit]
            order = sorted(range(len(x_fit)), key=lambda j: -cos[j])[:k]
            totals = {}
            for j in order:
                totals[y_fit[j]] = totals.get(y_fit[j], 0.0) + math.exp(cos[j] / t)
            correct += max(totals, key=totals.get) == label
        assert knn_accuracy(x_fit, y_fit, x_test, y_test, k=k, temperature=t) == pytest.approx(
            correct / len(x_test)
        )


def test_weighted_knn_weights_matter_and_bad_arguments():
    # one very close neighbour of class 1 against two far ones of class 0: the weighted vote follows the close
    # one, the majority vote the two
    x_fit = np.array([[1.0, 0.0], [0.0, 1.0], [0.05, 1.0]])
    y_fit = np.array([1, 0, 0])
    x_test, y_test = np.array([[1.0, 0.02]]), np.array([1])
    assert knn_accuracy(x_fit, y_fit, x_test, y_test, k=3, temperature=0.07) == 1.0
    assert knn_accuracy(x_fit, y_fit, x_test, y_test, k=3) == 0.0
    with pytest.raises(ValueError, match="temperature"):
        knn_accuracy(x_fit, y_fit, x_test, y_test, k=3, temperature=0.0)
    with pytest.raises(ValueError, match="non-negative"):
        knn_accuracy(x_fit, -y_fit - 1, x_test, y_test, k=3)
