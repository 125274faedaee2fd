"""MMEarth against the official pretraining code (vishalned/MMEarth-train).

``custom_loss.UncertaintyWeightingStrategy``: with one learnable log variance ``s_t`` per task, the weighted
loss of task t is ``exp(-s_t) * L_t + s_t``, multiplied by ``[L_t != 0]`` (a task dropped in a step, loss 0,
adds nothing); ``fcmae.FCMAE.forward_loss`` sums them. ``main_pretrain.py`` defaults: ``mask_ratio=0.6``,
``norm_pix_loss=False``, ``decoder_depth=1``, ``loss_aggr="uncertainty"``; the Sentinel-2 target is then the
(band-standardised) image itself, scored by the mean squared error over the masked patches only.
"""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import make_pairs as fake_batch

from xmodal_lab.models import build
from xmodal_lab.models.mmearth import PRESETS, TASKS

LOG_VARS = [0.2, -0.3, 0.7, 1.1]


def official_total(losses: dict[str, float], log_vars: list[float]) -> float:
    return sum(
        (math.exp(-s) * losses[t] + s) * (losses[t] != 0.0) for t, s in zip(TASKS, log_vars, strict=True)
    )


def _model():
    torch.manual_seed(0)
    m = build("mmearth", "tiny")
    with torch.no_grad():
        m.weighting.log_vars.copy_(torch.tensor(LOG_VARS))
    return m


def test_total_loss_is_the_official_uncertainty_weighting():
    m = _model()
    out = m(fake_batch(2))
    losses = {t: float(out[f"loss_{t}"]) for t in TASKS}
    assert all(v > 0 for v in losses.values())
    assert out["loss"].item() == pytest.approx(official_total(losses, LOG_VARS), rel=1e-5)


def test_a_dropped_task_adds_nothing():
    """No valid land-cover pixel (all ids -1): that task's loss is 0 and, as in the official code, so is its
    weighted term (not s_t = 0.7)."""
    m = _model()
    batch = fake_batch(2)
    batch["landcover"] = torch.full_like(batch["landcover"], -1)
    out = m(batch)
    losses = {t: float(out[f"loss_{t}"]) for t in TASKS}
    assert losses["landcover"] == 0.0
    assert out["loss"].item() == pytest.approx(official_total(losses, LOG_VARS), rel=1e-5)
    with_s = official_total(losses, LOG_VARS) + LOG_VARS[2]
    assert abs(out["loss"].item() - with_s) > 0.5


def test_defaults_are_the_official_ones():
    tiny, base = PRESETS["tiny"], PRESETS["base"]
    assert (tiny.mask_ratio, tiny.norm_pix_loss, tiny.weighting) == (0.6, False, "uncertainty")
    assert (base.decoder_depth, base.norm_pix_loss, base.img_size, base.patch_size) == (1, False, 112, 16)


def test_optical_target_without_norm_pix_is_the_band_standardised_image():
    torch.manual_seed(0)
    m = build("mmearth", "tiny", tasks=("s2",))
    batch = fake_batch(2)
    out = m(batch)
    # per-band standardisation (the model's stored statistics), then the squared error per masked 4x4 patch
    x = (batch["s2"] - m.norm_s2.mean) / m.norm_s2.std  # [B, 12, 32, 32]
    pred = out["pred_s2"].reshape(2, 8, 8, 4, 4, 12).permute(0, 5, 1, 3, 2, 4).reshape(2, 12, 32, 32)
    err = ((pred - x) ** 2).reshape(2, 12, 8, 4, 8, 4).mean(dim=(1, 3, 5)).reshape(2, 64)  # [B, N]
    expected = ((err * out["mask"]).sum() / out["mask"].sum()).detach()
    assert out["loss_s2"].item() == pytest.approx(expected.item(), rel=1e-5)
