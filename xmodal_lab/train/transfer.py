"""Sim-to-real fine-tuning: co-training on real pairs mixed with simulated ones, and freezing early layers.

A model pretrained on the simulated world and then fine-tuned on a few dozen real tiles forgets what the world
taught it within a few dozen steps: the 64 real tiles are seen hundreds of times. *Co-training* (a standard
sim-to-real remedy) keeps simulated pairs in every fine-tuning batch, so the real tiles steer the model while
the world keeps regularising it: each item of :class:`MixedPairs` is a real pair with probability
``1 - sim_fraction`` and a simulated pair otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from xmodal_lab.errors import InputTypeError, InputValueError

#: Keys a mixed item keeps: the ones every pair source shares.
PAIR_KEYS: tuple[str, ...] = ("s1", "s2", "gsd")


class MixedPairs(Dataset):
    """Real pairs mixed with simulated ones, in a fixed proportion, for co-training.

    The dataset is ``n_real_repeats`` copies of the real pairs followed by every simulated pair, where the
    number of copies makes the real share of the items ``1 - sim_fraction``; ``fit``'s shuffled batches then
    hold that share of real pairs on average. Each access to a real pair applies ``transform`` afresh (e.g.
    :class:`~xmodal_lab.data.transforms.PairedFlipRotate`), so the copies are not identical.

    Args:
        real: real pair dicts (``s1`` ``[2, H, W]``, ``s2`` ``[12, H, W]``, ``gsd``).
        sim: simulated pair dicts of the same tile size (a ``SimulatedWorld`` or a ``CachedPairs`` of one).
        sim_fraction: share of simulated items, in ``[0, 1)`` (0.5: half of each batch on average).
        transform: optional paired augmentation applied to the real items only.

    Raises:
        InputValueError: ``sim_fraction`` outside ``[0, 1)``, or an empty ``real`` or ``sim``.
        InputTypeError: ``sim_fraction`` is not a number.
    """

    def __init__(
        self,
        real: Sequence[dict[str, Any]] | Dataset,
        sim: Dataset,
        sim_fraction: float = 0.5,
        transform: Callable[[dict], dict] | None = None,
    ) -> None:
        if isinstance(sim_fraction, bool) or not isinstance(sim_fraction, (int, float)):
            raise InputTypeError(f"MixedPairs: sim_fraction must be a number, got {sim_fraction!r}")
        if not 0.0 <= sim_fraction < 1.0:
            raise InputValueError(f"MixedPairs: sim_fraction must lie in [0, 1), got {sim_fraction}")
        if len(real) == 0 or len(sim) == 0:
            raise InputValueError(
                f"MixedPairs: need real and simulated pairs, got {len(real)} real and {len(sim)} simulated"
            )
        self.real, self.sim, self.transform = real, sim, transform
        self.sim_fraction = float(sim_fraction)
        n_sim = len(sim) if sim_fraction > 0 else 0
        want_real = n_sim * (1 - sim_fraction) / sim_fraction if sim_fraction > 0 else len(real)
        self.n_real_repeats = max(1, round(want_real / len(real)))
        self.n_real, self.n_sim = self.n_real_repeats * len(real), n_sim

    def __len__(self) -> int:
        return self.n_real + self.n_sim

    @property
    def real_share(self) -> float:
        """The share of real items, ``n_real / len(self)`` (close to ``1 - sim_fraction``)."""
        return self.n_real / len(self)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"MixedPairs: index {i} out of range for {len(self)} items")
        i = i % len(self)
        if i < self.n_real:
            item = {k: v for k, v in self.real[i % len(self.real)].items() if k in PAIR_KEYS}
            return self.transform(item) if self.transform is not None else item
        item = self.sim[i - self.n_real]
        return {k: v for k, v in item.items() if k in PAIR_KEYS}


def freeze_patch_embeddings(model: nn.Module) -> list[str]:
    """Freeze every ``patch_embed`` module of a model (the first, pixel-level layer of each ViT encoder).

    Args:
        model: any model of the kit.

    Returns:
        The names of the frozen parameters (``fit``'s optimiser skips parameters without gradients).

    Raises:
        InputValueError: the model has no ``patch_embed`` module.
    """
    frozen = []
    for name, module in model.named_modules():
        if name.split(".")[-1] == "patch_embed":
            for pname, p in module.named_parameters():
                p.requires_grad_(False)
                frozen.append(f"{name}.{pname}")
    if not frozen:
        raise InputValueError(f"freeze_patch_embeddings: {type(model).__name__} has no patch_embed module")
    return frozen


__all__ = ["PAIR_KEYS", "MixedPairs", "freeze_patch_embeddings"]
