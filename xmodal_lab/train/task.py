"""The Lightning task that trains any model of the kit: ``model(batch)["loss"]``, AdamW, warm-up + cosine."""

from __future__ import annotations

import math
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from xmodal_lab.errors import InputTypeError

from .datamodule import normalization_state


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, final: float = 0.01) -> float:
    """The peak learning rate's factor at ``step``: linear warm-up to 1, cosine decay to ``final``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


class PretrainTask(L.LightningModule):
    """Train a model whose ``forward(batch)`` returns a dict with a scalar ``loss`` (AdamW, warm-up + cosine)."""

    def __init__(self, model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.05, warmup_steps: int = 20,
                 total_steps: int = 1000, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.model, self.lr, self.weight_decay = model, lr, weight_decay
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = min(max(int(warmup_steps), 0), self.total_steps)
        self.extra = extra or {}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """One optimisation step; logs ``loss`` on the progress bar."""
        try:
            out = self.model(batch)
        except (TypeError, AttributeError) as error:
            raise InputTypeError(
                f"{type(self.model).__name__}.forward(batch) failed on a pair batch ({error}); fit trains models "
                "whose forward takes the pair dict and returns a dict with a 'loss'") from error
        if not isinstance(out, dict) or "loss" not in out:
            raise TypeError(f"{type(self.model).__name__}.forward(batch) must return a dict with a 'loss'")
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {float(loss)} at step {self.global_step}; lower the learning rate")
        size = next((int(v.shape[0]) for v in batch.values() if isinstance(v, torch.Tensor) and v.ndim), 1)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, batch_size=size)
        return loss

    def lr_factor(self, step: int) -> float:
        """Warm-up then cosine decay to 1% of the peak learning rate (see :func:`warmup_cosine`)."""
        return warmup_cosine(step, self.warmup_steps, self.total_steps)

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW without weight decay on biases, norms and temperatures, and a per-step schedule."""
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                plain = p.ndim < 2 or "logit_scale" in name or "temperature" in name
                (no_decay if plain else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=self.lr, betas=(0.9, 0.95))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def run_record(self) -> dict[str, Any]:
        """The run's record: ``extra``, the input normalisation, the optimiser's and the schedule's numbers."""
        return {**self.extra, "normalization": normalization_state(self.model), "lr": self.lr,
                "weight_decay": self.weight_decay, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what a student needs to use the weights, and what a resume needs to continue exactly."""
        checkpoint["xmodal_lab"] = self.run_record()
        kind, keys, *rest = np.random.get_state()
        checkpoint["rng"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            # plain types, so that the checkpoint loads with weights_only
            "numpy": (kind, [int(k) for k in keys], *(x.item() if isinstance(x, np.generic) else x for x in rest)),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the random-number state, so masks and augmentations continue where they stopped."""
        if not (rng := checkpoint.get("rng")):
            return
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
        kind, keys, *rest = rng["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
        random.setstate(rng["python"])
