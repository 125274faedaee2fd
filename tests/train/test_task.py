"""The training task: warm-up + cosine schedule, AdamW parameter groups, loss checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from xmodal_lab.train import PretrainTask, warmup_cosine


def test_warmup_cosine_formula():
    # independent formula: linear warm-up over 10 steps, cosine from 1 to 0.01 over the remaining 90
    for step in range(0, 120):
        if step < 10:
            ref = (step + 1) / 10
        else:
            t = min(1.0, (step - 10) / 90)
            ref = 0.01 + 0.99 * (1 + math.cos(math.pi * t)) / 2
        assert warmup_cosine(step, 10, 100) == pytest.approx(ref)
    assert warmup_cosine(9, 10, 100) == 1.0 and warmup_cosine(10, 10, 100) == 1.0
    assert warmup_cosine(100, 10, 100) == pytest.approx(0.01)
    assert warmup_cosine(55, 10, 100) == pytest.approx(0.505)  # half way down the cosine


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.norm = nn.LayerNorm(2)
        self.logit_scale = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        return {"loss": self.norm(self.lin(batch["s2"])).pow(2).mean() + 0 * self.logit_scale}


def test_adamw_groups_exclude_biases_norms_and_temperature():
    task = PretrainTask(Toy(), lr=0.1, weight_decay=0.3, warmup_steps=2, total_steps=10)
    opt = task.configure_optimizers()["optimizer"]
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([2, 3])]
    assert len(no_decay["params"]) == 4  # lin.bias, norm.weight, norm.bias, logit_scale


def test_training_step_rejects_bad_outputs():
    class NoLoss(Toy):
        def forward(self, batch):
            return {"z": batch["s2"].sum()}

    class NaNLoss(Toy):
        def forward(self, batch):
            return {"loss": torch.tensor(float("nan"))}

    batch = {"s2": torch.ones(4, 3)}
    with pytest.raises(TypeError, match="'loss'"):
        PretrainTask(NoLoss()).training_step(batch, 0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        PretrainTask(NaNLoss()).training_step(batch, 0)
