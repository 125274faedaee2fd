"""Training beyond pretraining: segmentation heads on a frozen encoder, and sim-to-real co-training."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset, Subset

from xmodal_lab.config import seed_everything
from xmodal_lab.errors import InputTypeError, InputValueError
from xmodal_lab.eval.dense import evaluate_segmentation
from xmodal_lab.models.seg_head import SegmentationModel

from .fit import fit

#: Default peak learning rate per head of :func:`fit_segmentation`.
HEAD_LR: dict[str, float] = {"upernet": 1e-3, "linear": 1e-2}
#: Keys a mixed item keeps: the ones every pair source shares.
PAIR_KEYS: tuple[str, ...] = ("s1", "s2", "gsd")


def label_subset(data: Dataset, fraction: float, seed: int = 0) -> Subset:
    """A seeded random ``fraction`` in ``(0, 1]`` of the items (at least one): the labelled scenes."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected a share in (0, 1], got {fraction}")
    n = max(1, int(round(fraction * len(data))))
    order = np.random.default_rng(seed).permutation(len(data))[:n]
    return Subset(data, sorted(int(i) for i in order))


def fit_segmentation(
    encoder: nn.Module, data: Dataset, *, num_classes: int = 2, modality: str = "s1", fraction: float = 1.0,
    seed: int = 0, max_steps: int = 60, batch_size: int = 16, lr: float | None = None, head_dim: int = 16,
    freeze_encoder: bool = True, head: str = "upernet", **fit_kwargs: Any,
) -> tuple[SegmentationModel, dict[str, Any]]:
    """Train a segmentation head on ``encoder`` with ``fraction`` of the labelled scenes, through ``fit``.

    ``data`` holds pair dicts with a ``mask`` ``[H, W]``; ``modality`` is ``"s1"``, ``"s2"`` or ``"joint"``;
    ``head`` is ``"upernet"`` or ``"linear"`` (default ``lr`` in :data:`HEAD_LR`); ``seed`` draws the head's
    weights, the subset and the batches. With ``freeze_encoder=False`` the encoder is fine-tuned in place.
    """
    subset = label_subset(data, fraction, seed)
    if len(subset) < 2:
        raise ValueError(
            f"fraction: {fraction:g} of {len(data)} scenes leaves {len(subset)} labelled scene; a head needs at "
            "least 2 per step (its batch norms need a batch): raise the fraction or give more scenes")
    seed_everything(seed)
    model = SegmentationModel(encoder, num_classes, modality=modality, freeze_encoder=freeze_encoder,
                              head_dim=head_dim, head=head)  # fmt: skip
    fit_kwargs.setdefault("progress", False)
    lr = HEAD_LR.get(head, HEAD_LR["upernet"]) if lr is None else lr
    return fit(model, subset, max_steps=max_steps, batch_size=min(batch_size, len(subset)), lr=lr, seed=seed,
               normalize=False, **fit_kwargs)  # fmt: skip


def dense_label_efficiency(
    encoders: Mapping[str, nn.Module], train: Dataset, test: Dataset, *,
    fractions: Sequence[float] = (0.01, 0.05, 0.1, 1.0), seeds: Sequence[int] = (0, 1, 2), metric: str = "mIoU",
    **kwargs: Any,
) -> dict[str, dict[float, list[float]]]:
    """Segmentation scores of a head per frozen encoder, label fraction and seed, by :func:`fit_segmentation`.

    ``metric`` is ``"mIoU"``, ``"mF1"``, ``"accuracy"``, ``"iou/<class>"`` or ``"f1/<class>"``. Returns
    ``{name: {fraction: [score per seed]}}``, the curves ``xmodal_lab.viz.plot_label_efficiency`` draws.
    """
    if kwargs.get("freeze_encoder") is False:
        raise ValueError("dense_label_efficiency compares frozen encoders; fine-tune with fit_segmentation")
    kind, _, cls = metric.partition("/")
    if metric not in ("mIoU", "mF1", "accuracy") and not (kind in ("iou", "f1") and cls):
        raise ValueError(f"metric: expected 'mIoU', 'mF1', 'accuracy', 'iou/<class>' or 'f1/<class>', got {metric!r}")
    out: dict[str, dict[float, list[float]]] = {}
    for name, encoder in encoders.items():
        out[name] = {}
        for fraction in fractions:
            scores = []
            for seed in seeds:
                model, _ = fit_segmentation(encoder, train, fraction=fraction, seed=seed, **kwargs)
                result = evaluate_segmentation(model, test)
                if cls and cls not in result[kind]:
                    raise ValueError(f"metric: {metric!r} names no class of the scores ({sorted(result[kind])})")
                scores.append(float(result[kind][cls] if cls else result[metric]))
            out[name][float(fraction)] = scores
    return out


class MixedPairs(Dataset):
    """Real pairs mixed with simulated ones (``sim_fraction`` in ``[0, 1)`` of the items), for co-training.

    The items are ``n_real_repeats`` copies of the real pairs (a real share near ``1 - sim_fraction``), then
    every simulated pair; ``transform`` applies afresh to each access of a real pair.
    """

    def __init__(self, real: Sequence[dict[str, Any]] | Dataset, sim: Dataset, sim_fraction: float = 0.5,
                 transform: Callable[[dict], dict] | None = None) -> None:  # fmt: skip
        if isinstance(sim_fraction, bool) or not isinstance(sim_fraction, (int, float)):
            raise InputTypeError(f"MixedPairs: sim_fraction must be a number, got {sim_fraction!r}")
        if not 0.0 <= sim_fraction < 1.0:
            raise InputValueError(f"MixedPairs: sim_fraction must lie in [0, 1), got {sim_fraction}")
        if len(real) == 0 or len(sim) == 0:
            raise InputValueError(
                f"MixedPairs: need real and simulated pairs, got {len(real)} real and {len(sim)} simulated")
        self.real, self.sim, self.transform = real, sim, transform
        self.sim_fraction = float(sim_fraction)
        self.n_sim = len(sim) if sim_fraction > 0 else 0
        want_real = self.n_sim * (1 - sim_fraction) / sim_fraction if sim_fraction > 0 else len(real)
        self.n_real_repeats = max(1, round(want_real / len(real)))
        self.n_real = self.n_real_repeats * len(real)

    def __len__(self) -> int:
        return self.n_real + self.n_sim

    @property
    def real_share(self) -> float:
        """The share of real items (close to ``1 - sim_fraction``)."""
        return self.n_real / len(self)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"MixedPairs: index {i} out of range for {len(self)} items")
        i = i % len(self)
        if i >= self.n_real:
            return {k: v for k, v in self.sim[i - self.n_real].items() if k in PAIR_KEYS}
        item = {k: v for k, v in self.real[i % len(self.real)].items() if k in PAIR_KEYS}
        return self.transform(item) if self.transform is not None else item


def freeze_patch_embeddings(model: nn.Module) -> list[str]:
    """Freeze every ``patch_embed`` module (the pixel-level layer of each ViT); returns the frozen names."""
    frozen = []
    for name, module in model.named_modules():
        if name.split(".")[-1] == "patch_embed":
            for pname, p in module.named_parameters():
                p.requires_grad_(False)
                frozen.append(f"{name}.{pname}")
    if not frozen:
        raise InputValueError(f"freeze_patch_embeddings: {type(model).__name__} has no patch_embed module")
    return frozen
