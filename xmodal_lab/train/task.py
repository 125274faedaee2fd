"""The Lightning task that trains any model of the kit: ``model(batch)["loss"]``, AdamW, warmup + cosine."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn


class PretrainTask(L.LightningModule):
    """Wrap a model whose ``forward(batch)`` returns a dict with a scalar ``loss``.

    Args:
        model: the model to train.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        total_steps: length of the cosine schedule (the schedule continues across resumes).
        extra: saved in checkpoints next to the weights (config, normalisation, data description).
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        warmup_steps: int = 20,
        total_steps: int = 1000,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay = lr, weight_decay
        self.warmup_steps, self.total_steps = warmup_steps, max(total_steps, 1)
        self.extra = extra or {}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """One optimisation step; logs ``loss`` (on the progress bar) and the model's other scalar losses."""
        out = self.model(batch)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {float(loss)} at step {self.global_step}; lower the lr")
        self.log("loss", loss, prog_bar=True, on_step=True, batch_size=len(batch["s2"] if "s2" in batch else batch["s1"]))
        return loss

    def lr_factor(self, step: int) -> float:
        """Warm-up then cosine decay to 1% of the peak learning rate."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW without weight decay on biases, norms and temperatures, and a per-step schedule."""
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr, betas=(0.9, 0.95),
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what a student needs to use the weights: model name, config, normalisation, data."""
        checkpoint["xmodal_lab"] = {**self.extra, "total_steps": self.total_steps}
