"""Frozen-embedding probes: linear probe, kNN, label-efficiency curves and cross-modal transfer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xmodal_lab.errors import InputValueError

from .retrieval import as_tensor


def _xy(x: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_tensor(x, name).numpy(), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{name}: {len(x)} embeddings but {len(y)} labels")
    return x, y


def linear_probe(x_train: Any, y_train: Any, x_test: Any, y_test: Any) -> dict[str, float]:
    """Logistic-regression probe on frozen, standardised embeddings ``[N, D]``.

    Labels are class ids ``[N]`` (returns ``accuracy``, ``macro_f1``) or multi-hot ``[N, K]``, one binary
    probe per label (returns ``micro_f1``, ``mAP``).
    """
    from sklearn.linear_model import LogisticRegression  # scikit-learn is imported on first use: it is large
    from sklearn.metrics import average_precision_score, f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    (x_train, y_train), (x_test, y_test) = _xy(x_train, y_train, "train"), _xy(x_test, y_test, "test")
    if y_train.ndim == 2:
        # a label present in no tile or in every tile teaches nothing
        keep = (y_train.sum(axis=0) > 0) & (y_train.sum(axis=0) < len(y_train))
        clf = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=2000)))
        scores = clf.fit(x_train, y_train[:, keep]).predict_proba(x_test)
        truth = y_test[:, keep]
        present = truth.sum(axis=0) > 0
        return {
            "micro_f1": float(f1_score(truth, scores > 0.5, average="micro", zero_division=0)),
            "mAP": float(average_precision_score(truth[:, present], scores[:, present], average="macro")),
        }
    if len(np.unique(y_train)) < 2:
        raise ValueError("linear_probe: the training labels hold a single class; use more data")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, y_train)
    pred = clf.predict(x_test)
    return {"accuracy": float((pred == y_test).mean()),
            "macro_f1": float(f1_score(y_test, pred, average="macro", zero_division=0))}


def knn_accuracy(x_train: Any, y_train: Any, x_test: Any, y_test: Any, k: int = 5,
                 temperature: float | None = None) -> float:
    """Cosine kNN accuracy on ``[N, D]`` / ``[M, D]``; votes weigh ``exp(cos / temperature)`` (None: 1)."""
    if temperature is not None and not temperature > 0:
        raise InputValueError(f"knn_accuracy: temperature must be > 0 or None, got {temperature}")
    (x_train, y_train), (x_test, y_test) = _xy(x_train, y_train, "train"), _xy(x_test, y_test, "test")
    y_train = y_train.astype(np.int64)
    if y_train.min() < 0:
        raise ValueError("knn_accuracy: class ids must be non-negative integers")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputValueError(f"knn_accuracy: k must be a positive whole number of neighbours, got {k!r}")
    if k > (n := len(x_train)):
        raise InputValueError(
            f"knn_accuracy: k={k} neighbours but only {n} training items: every test item would get the same "
            f"vote; use k <= {n} or more training data")
    a, b = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12) for x in (x_train, x_test))
    cos = b @ a.T  # [M, N] test against training embeddings
    top = np.argsort(-cos, axis=1, kind="stable")[:, :k]  # [M, k] the k most similar
    near = np.take_along_axis(cos, top, axis=1)
    weights = np.ones_like(near) if temperature is None else np.exp(near / temperature)  # [M, k]
    votes = np.zeros((len(b), int(y_train.max()) + 1))  # [M, classes]
    np.add.at(votes, (np.arange(len(b))[:, None], y_train[top]), weights)
    return float((votes.argmax(axis=1) == y_test).mean())


def _subsample(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-stratified subset with at least one example of every class."""
    labels = y.argmax(axis=1) if y.ndim == 2 else y
    picked = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        picked.append(rng.choice(idx, size=max(1, int(round(fraction * len(idx)))), replace=False))
    return np.sort(np.concatenate(picked))


def label_efficiency(x_train: Any, y_train: Any, x_test: Any, y_test: Any,
                     fractions: Sequence[float] = (0.01, 0.05, 0.1, 1.0), seed: int = 0,
                     repeats: int = 1) -> dict[float, list[float]]:
    """Linear-probe score per fraction of training labels: ``{fraction: [score per repeat]}``."""
    x_train, y_train = _xy(x_train, y_train, "train")
    rng = np.random.default_rng(seed)
    key = "mAP" if y_train.ndim == 2 else "accuracy"
    curve: dict[float, list[float]] = {}
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"label fractions must be in (0, 1], got {fraction}")
        scores = []
        for _ in range(repeats if fraction < 1 else 1):
            idx = _subsample(y_train, fraction, rng) if fraction < 1 else np.arange(len(y_train))
            if y_train.ndim == 1 and len(np.unique(y_train[idx])) < 2:
                scores.append(float(np.mean(y_test == y_train[idx][0])))  # one class: always predict it
                continue
            scores.append(linear_probe(x_train[idx], y_train[idx], x_test, y_test)[key])
        curve[float(fraction)] = scores
    return curve


def cross_modal_transfer(train: dict[str, Any], test: dict[str, Any], source: str = "s2",
                         target: str = "s1") -> dict[str, float]:
    """A linear probe fitted on one modality's ``embed_dataset`` outputs, applied unchanged to the other's."""
    for part, name in ((train, "train"), (test, "test")):
        if missing := {source, target, "dominant_class"} - set(part):
            raise KeyError(f"cross_modal_transfer: {name} embeddings lack {sorted(missing)}")
    y_train, y_test = train["dominant_class"], test["dominant_class"]
    same = linear_probe(train[source], y_train, test[source], y_test)
    cross = linear_probe(train[source], y_train, test[target], y_test)
    key = "accuracy" if "accuracy" in same else "mAP"
    return {"same_modality": same[key], "cross_modal": cross[key]}
