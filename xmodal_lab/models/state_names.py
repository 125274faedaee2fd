"""Keep a model's checkpoint layout when its modules are reorganised.

A model that composes the shared :class:`~xmodal_lab.models.blocks.ViTEncoder` / ``MAEDecoder`` may hold
their parameters under other names than its published checkpoints (Scale-MAE's encoder is stored at the top
level, as in timm, so that ``patch_embed.proj.weight`` loads straight from torchgeo). :func:`keep_state_names`
translates between the two: ``state_dict()`` writes the checkpoint names, ``load_state_dict()`` reads them
(and the module names too), so saved models, Lightning checkpoints and :mod:`.convert` keep working.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from torch import nn


def _rename(key: str, pairs: Sequence[tuple[str, str]]) -> str:
    for src, dst in pairs:
        if key.startswith(src):
            return dst + key[len(src) :]
    return key


class _SaveNames:
    """``state_dict`` hook: module names -> checkpoint names (a class, so that models stay picklable)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __call__(self, mod: nn.Module, state: OrderedDict, prefix: str, local_metadata: Any) -> None:
        items = list(state.items())
        state.clear()
        for key, value in items:
            if key.startswith(prefix):
                key = prefix + _rename(key[len(prefix) :], self.pairs)
            state[key] = value


class _LoadNames:
    """``load_state_dict`` pre-hook: checkpoint names -> module names (module names pass unchanged)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = [(dst, src) for src, dst in pairs]
        self.module_prefixes = tuple(src for src, _ in pairs)

    def __call__(self, state: dict, prefix: str, *args: Any) -> None:
        for key in list(state):
            if not key.startswith(prefix):
                continue
            local = key[len(prefix) :]
            if local.startswith(self.module_prefixes):
                continue
            new = _rename(local, self.pairs)
            if new != local:
                state[prefix + new] = state.pop(key)


def keep_state_names(module: nn.Module, names: Sequence[tuple[str, str]]) -> None:
    """Make ``module`` save and load its parameters under checkpoint names.

    Args:
        module: the model.
        names: ``(module prefix, checkpoint prefix)`` pairs, such as ``("encoder.blocks.", "blocks.")``;
            prefixes are matched at the start of a key (relative to ``module``), the first match wins.
    """
    pairs = [(str(a), str(b)) for a, b in names]
    module._register_state_dict_hook(_SaveNames(pairs))
    module._register_load_state_dict_pre_hook(_LoadNames(pairs))


__all__ = ["keep_state_names"]
