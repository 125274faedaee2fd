"""Downstream dense training: a segmentation head on a (frozen) encoder with a fraction of the labels.

``fit_segmentation`` trains one :class:`~xmodal_lab.models.seg_head.SegmentationModel` with ``fit()``;
``dense_label_efficiency`` repeats it over label fractions, seeds and encoders (pretrained vs random init),
which is the label-efficiency experiment of notebook 09 and ``benchmarks/bench_downstream.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset, Subset

from xmodal_lab.config import seed_everything
from xmodal_lab.eval.dense import evaluate_segmentation
from xmodal_lab.models.seg_head import SegmentationModel

from .fit import fit

#: Default peak learning rate per head of :func:`fit_segmentation`.
HEAD_LR: dict[str, float] = {"upernet": 1e-3, "linear": 1e-2}


def label_subset(data: Dataset, fraction: float, seed: int = 0) -> Subset:
    """A seeded random ``fraction`` of the items (at least one): the labelled scenes of a run.

    Args:
        data: the full labelled dataset.
        fraction: share of items in ``(0, 1]``.
        seed: which items.

    Returns:
        A :class:`torch.utils.data.Subset`.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected a share in (0, 1], got {fraction}")
    n = max(1, int(round(fraction * len(data))))
    order = np.random.default_rng(seed).permutation(len(data))[:n]
    return Subset(data, sorted(int(i) for i in order))


def fit_segmentation(
    encoder: nn.Module,
    data: Dataset,
    *,
    num_classes: int = 2,
    modality: str = "s1",
    fraction: float = 1.0,
    seed: int = 0,
    max_steps: int = 60,
    batch_size: int = 16,
    lr: float | None = None,
    head_dim: int = 16,
    freeze_encoder: bool = True,
    head: str = "upernet",
    **fit_kwargs: Any,
) -> tuple[SegmentationModel, dict[str, Any]]:
    """Train a segmentation head on ``encoder`` with ``fraction`` of the labelled scenes.

    The encoder keeps the input statistics it was built or pretrained with (``fit(normalize=False)``).
    With ``freeze_encoder=False`` the encoder is fine-tuned in place (pass a copy to keep the original).

    Args:
        encoder: any kit model with ``features``.
        data: pair dicts with ``mask`` ``[H, W]``.
        num_classes: classes of ``mask``.
        modality: ``"s1"``, ``"s2"`` or ``"joint"``.
        fraction: share of the scenes whose labels are used.
        seed: seed of the head's weights, the label subset and the batches.
        max_steps: optimisation steps.
        batch_size: scenes per step.
        lr: peak learning rate; default :data:`HEAD_LR` of the head (a single linear layer on standardised
            features needs a larger rate than the UPerNet head to converge in the same steps).
        head_dim: channels of the head.
        freeze_encoder: keep the encoder fixed.
        head: ``"upernet"`` or ``"linear"`` (the frozen-feature probe), see
            :class:`~xmodal_lab.models.seg_head.SegmentationModel`.
        **fit_kwargs: passed to :func:`~xmodal_lab.train.fit` (``log_dir``, ``progress``...).

    Returns:
        ``(model, history)`` from ``fit``.

    Raises:
        ValueError: ``fraction`` leaves fewer than 2 labelled scenes.
    """
    subset = label_subset(data, fraction, seed)
    if len(subset) < 2:
        raise ValueError(
            f"fraction: {fraction:g} of {len(data)} scenes leaves {len(subset)} labelled scene; a head needs at "
            "least 2 per step (its batch norms need a batch): raise the fraction or give more scenes"
        )
    seed_everything(seed)
    model = SegmentationModel(encoder, num_classes, modality=modality, freeze_encoder=freeze_encoder,
                              head_dim=head_dim, head=head)  # fmt: skip
    fit_kwargs.setdefault("progress", False)
    lr = HEAD_LR.get(head, HEAD_LR["upernet"]) if lr is None else lr
    return fit(model, subset, max_steps=max_steps, batch_size=min(batch_size, len(subset)), lr=lr, seed=seed,
               normalize=False, **fit_kwargs)  # fmt: skip


def dense_label_efficiency(
    encoders: Mapping[str, nn.Module],
    train: Dataset,
    test: Dataset,
    *,
    fractions: Sequence[float] = (0.01, 0.05, 0.1, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    metric: str = "mIoU",
    **kwargs: Any,
) -> dict[str, dict[float, list[float]]]:
    """Segmentation scores of a head per encoder, label fraction and seed.

    Args:
        encoders: ``{name: encoder}`` (e.g. ``{"pretrained": model, "random init": twin}``); kept frozen.
        train: labelled training scenes.
        test: held-out scenes.
        fractions: label fractions.
        seeds: one run per seed (head weights, label subset, batches).
        metric: ``"mIoU"``, ``"mF1"``, ``"accuracy"``, or ``"iou/<class>"`` / ``"f1/<class>"`` (e.g. ``"iou/1"``).
        **kwargs: passed to :func:`fit_segmentation` (``modality``, ``head``, ``max_steps``, ``head_dim``...).

    Returns:
        ``{name: {fraction: [score per seed]}}``, the curves ``xmodal_lab.viz.plot_label_efficiency`` draws.
    """
    if kwargs.get("freeze_encoder") is False:
        raise ValueError("dense_label_efficiency compares frozen encoders; fine-tune with fit_segmentation")
    out: dict[str, dict[float, list[float]]] = {}
    for name, encoder in encoders.items():
        out[name] = {}
        for fraction in fractions:
            scores = []
            for seed in seeds:
                model, _ = fit_segmentation(encoder, train, fraction=fraction, seed=seed, **kwargs)
                scores.append(_pick(evaluate_segmentation(model, test), metric))
            out[name][float(fraction)] = scores
    return out


def _pick(scores: dict[str, Any], metric: str) -> float:
    if "/" in metric:
        kind, cls = metric.split("/", 1)
        if kind not in ("iou", "f1") or cls not in scores[kind]:
            raise ValueError(
                f"metric: {metric!r} is not one of iou/<class>, f1/<class> ({sorted(scores['iou'])})"
            )
        return float(scores[kind][cls])
    if metric not in ("mIoU", "mF1", "accuracy"):
        raise ValueError(
            f"metric: expected 'mIoU', 'mF1', 'accuracy', 'iou/<class>' or 'f1/<class>', got {metric!r}"
        )
    return float(scores[metric])
