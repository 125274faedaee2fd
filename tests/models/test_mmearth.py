"""MMEarth-style multi-pretext MAE: shapes, gradients, loss formulas, learning, and the linear-probe result."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld
from xmodal_lab.eval import linear_probe
from xmodal_lab.models.masking import patchify
from xmodal_lab.models.mmearth import PRESETS, TASKS, MMEarth, MMEarthConfig, UncertaintyWeighting

N_CLASSES = len(LANDCOVER_CLASSES)


def fake_batch(b: int = 4, size: int = 32, seed: int = 0) -> dict:
    """Blocky scenes: each land-cover class has its own spectrum and backscatter; labels = classes present."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, N_CLASSES, (b, size // 8, size // 8), generator=g)
    lc = classes.repeat_interleave(8, 1).repeat_interleave(8, 2)
    spectra = torch.rand(N_CLASSES, 12, generator=g) * 0.4
    backscatter = -25 + 20 * torch.rand(N_CLASSES, 2, generator=g)
    return {
        "s2": spectra[lc].permute(0, 3, 1, 2) + 0.01 * torch.randn(b, 12, size, size, generator=g),
        "s1": backscatter[lc].permute(0, 3, 1, 2) + torch.randn(b, 2, size, size, generator=g),
        "landcover": lc,
        "labels": torch.stack([torch.bincount(x.flatten(), minlength=N_CLASSES) > 0 for x in lc]).float(),
    }


# ------------------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("tasks", [TASKS, ("s2",), ("s2", "landcover")])
@pytest.mark.parametrize("b", [1, 3])
def test_forward_shapes(tasks, b):
    torch.manual_seed(0)
    m = MMEarth(replace(PRESETS["tiny"], tasks=tasks))
    out = m(fake_batch(b))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert {k for k in out if k.startswith("loss_")} == {f"loss_{t}" for t in tasks}
    assert out["mask"].shape == (b, 64) and torch.all(out["mask"].sum(1) == 64 - int(64 * 0.4))  # 25 kept, as int()
    assert out["pred_s2"].shape == (b, 64, 4 * 4 * 12)
    # initial losses: standardised regression near 1 or more, cross-entropy near log(classes)
    if "landcover" in tasks:
        assert abs(float(out["loss_landcover"]) - np.log(N_CLASSES)) < 1.0


def test_embed_and_features_read_optical_only():
    m = MMEarth(PRESETS["tiny"]).eval()
    batch = fake_batch(2)
    emb = m.embed(s1=batch["s1"], s2=batch["s2"])
    assert set(emb) == {"s2"} and emb["s2"].shape == (2, 64)
    assert m.features(s2=batch["s2"])["s2"].shape == (2, 64, 8, 8)
    with pytest.raises(ValueError, match="optical"):
        m.embed(s1=batch["s1"])


def test_input_errors():
    m = MMEarth(PRESETS["tiny"])
    batch = fake_batch(2)
    with pytest.raises(KeyError, match="landcover"):
        m({k: v for k, v in batch.items() if k != "landcover"})
    with pytest.raises(ValueError, match="n_landcover"):
        m({**batch, "landcover": batch["landcover"] + N_CLASSES})
    with pytest.raises(ValueError, match="tasks"):
        MMEarth(replace(PRESETS["tiny"], tasks=("s1",)))


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    m = MMEarth(PRESETS["tiny"])
    m(fake_batch(3))["loss"].backward()
    assert [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_baseline_has_the_same_encoder():
    full, optical = MMEarth(PRESETS["tiny"]), MMEarth(replace(PRESETS["tiny"], tasks=("s2",)))
    size = lambda m: sum(p.numel() for p in m.encoder.parameters())  # noqa: E731
    assert size(full) == size(optical) > 0
    assert set(full.heads) == set(TASKS) and set(optical.heads) == {"s2"}


# ------------------------------------------------------------------------------------------ formulas
def test_uncertainty_weighting_equals_formula():
    w = UncertaintyWeighting(("a", "b", "c"))
    with torch.no_grad():
        w.log_vars.copy_(torch.tensor([0.5, -1.0, 2.0]))
    losses = {"a": torch.tensor(2.0), "b": torch.tensor(0.3), "c": torch.tensor(5.0)}
    total, terms = w(losses)
    expected = [np.exp(-0.5) * 2.0 + 0.5, np.exp(1.0) * 0.3 - 1.0, np.exp(-2.0) * 5.0 + 2.0]
    assert np.allclose([float(terms[k].detach()) for k in "abc"], expected, atol=1e-6)
    assert np.isclose(float(total.detach()), sum(expected), atol=1e-6)
    # the optimum of exp(-s) L + s is s = log L: the weight 1/L balances the tasks
    assert np.isclose(
        float(
            torch.autograd.functional.jacobian(lambda s: torch.exp(-s) * 2.0 + s, torch.tensor(np.log(2.0)))
        ),
        0.0,
        atol=1e-6,
    )


def test_model_loss_is_uncertainty_weighted_sum():
    torch.manual_seed(0)
    m = MMEarth(PRESETS["tiny"])
    with torch.no_grad():
        m.weighting.log_vars.copy_(torch.tensor([0.2, -0.3, 0.7, 1.1]))
    out = m(fake_batch(2))
    s = m.weighting.log_vars.detach()
    expected = sum(torch.exp(-s[i]) * out[f"loss_{t}"] + s[i] for i, t in enumerate(TASKS))
    assert torch.allclose(out["loss"].detach(), expected, atol=1e-5)
    summed = MMEarth(replace(PRESETS["tiny"], weighting="sum"))
    out = summed(fake_batch(2))
    assert torch.allclose(out["loss"].detach(), sum(out[f"loss_{t}"] for t in TASKS), atol=1e-5)


def test_pixel_losses_count_masked_patches_only():
    torch.manual_seed(0)
    m = MMEarth(replace(PRESETS["tiny"], tasks=("s2", "s1", "landcover"), norm_pix_loss=True))
    batch = fake_batch(2)
    x2 = m.norm_s2(batch["s2"])
    mask = torch.zeros(2, 64)
    mask[:, ::3] = 1.0
    t2 = patchify(x2, 4)
    t2 = (t2 - t2.mean(-1, keepdim=True)) / (t2.var(-1, keepdim=True) + 1e-6) ** 0.5
    t1 = patchify(m.norm_s1(batch["s1"]), 4)
    onehot = torch.nn.functional.one_hot(patchify(batch["landcover"][:, None].float(), 4).long(), N_CLASSES)
    garbage = 100.0 * (1 - mask)[..., None]  # wrong only where the encoder could see
    pred = {"s2": t2 + garbage, "s1": t1 + garbage, "landcover": 50.0 * onehot.flatten(2).float() - garbage}
    losses = m.forward_loss(pred, batch, x2, mask)
    assert float(losses["s2"]) < 1e-10 and float(losses["s1"]) < 1e-10 and float(losses["landcover"]) < 1e-10


# ------------------------------------------------------------------------------------------ learning
def test_loss_falls(one_thread):
    torch.manual_seed(0)
    m = MMEarth(PRESETS["tiny"])
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3)
    batch = fake_batch(16)
    parts = []
    for _ in range(30):
        torch.manual_seed(1)  # the same mask every step: the loss of one fixed problem
        out = m(batch)
        parts.append({t: float(out[f"loss_{t}"]) for t in TASKS} | {"total": float(out["loss"].detach())})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    print("MMEarth task losses", parts[0], "->", parts[-1])
    assert parts[-1]["total"] < 0.6 * parts[0]["total"]
    assert all(parts[-1][t] < 0.9 * parts[0][t] for t in TASKS)


def _majority(lc: torch.Tensor) -> np.ndarray:
    return torch.stack([torch.bincount(x.flatten(), minlength=N_CLASSES) for x in lc]).argmax(1).numpy()


def _stack(world: SimulatedWorld, indices: range) -> dict:
    pairs = [world[i] for i in indices]
    return {k: torch.stack([p[k] for p in pairs]) for k in ("s1", "s2", "landcover", "labels")}


def test_multi_pretext_embeddings_beat_optical_only_mae_on_labels_that_are_not_pretext_targets(one_thread):
    """The measured result: same encoder, same data, same steps; only the pretext tasks differ.

    The probed labels must not be pretext targets, or the probe measures label leakage (pretrained on
    ``landcover`` and ``labels``, the same probes reach 0.90 accuracy and 0.87 F1). So the multi-pretext model
    here predicts the optical tile and the radar image (``tasks=("s2", "s1")``), and the probes read land cover
    and scene labels it never saw. Pretraining tiles and probe tiles are disjoint; the probes are logistic
    regressions on frozen mean-pooled embeddings, fitted on 100 labelled tiles (the label-scarce regime where
    MMEarth reports its largest gains) and scored on 400 others: the majority land-cover class of a tile
    (accuracy) and the land-cover classes present (multi-hot scene labels, micro-F1).

    Measured for pretraining seeds 0, 1, 2 (shared, loaded CPU): scene-label micro-F1 optical-only
    0.757 / 0.784 / 0.769 vs multi-pretext 0.810 / 0.832 / 0.811 (gain 0.042 to 0.053); land-cover accuracy
    0.787 / 0.815 / 0.810 vs 0.797 / 0.845 / 0.810 (gain 0.00 to 0.03, within the seed spread: not asserted).
    """
    world = SimulatedWorld(seed=0, size=32, n_scenes=1300)
    pre, probe_train, probe_test = (_stack(world, r) for r in (range(800), range(800, 900), range(900, 1300)))
    steps, batch_size = 150, 32

    def pretrain(tasks: tuple[str, ...]) -> MMEarth:
        torch.manual_seed(0)
        model = MMEarth(replace(PRESETS["tiny"], tasks=tasks))
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
        g = torch.Generator().manual_seed(0)
        for _ in range(steps):
            idx = torch.randint(0, 800, (batch_size,), generator=g)
            loss = model({k: v[idx] for k, v in pre.items()})["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model.eval()

    def probe(model: MMEarth) -> tuple[float, float]:
        with torch.no_grad():
            train, test = (model.embed(s2=d["s2"])["s2"] for d in (probe_train, probe_test))
        y_train, y_test = _majority(probe_train["landcover"]), _majority(probe_test["landcover"])
        acc = linear_probe(train, y_train, test, y_test)["accuracy"]
        f1 = linear_probe(train, probe_train["labels"], test, probe_test["labels"])["micro_f1"]
        return acc, f1

    pretext = ("s2", "s1")
    assert not {"landcover", "labels"} & set(pretext)  # the probed labels are held out of pretraining
    t0 = time.perf_counter()
    acc_mae, f1_mae = probe(pretrain(("s2",)))
    t1 = time.perf_counter()
    acc_mp, f1_mp = probe(pretrain(pretext))
    t2 = time.perf_counter()
    print(
        f"linear probes (100 labelled tiles, 400 test tiles; {steps} steps x {batch_size}): "
        f"land-cover accuracy optical-only MAE {acc_mae:.3f} vs optical+radar pretext {acc_mp:.3f}; "
        f"scene-label micro-F1 {f1_mae:.3f} vs {f1_mp:.3f} ({t1 - t0:.0f} s, {t2 - t1:.0f} s)"
    )
    chance = np.bincount(_majority(probe_test["landcover"])).max() / len(probe_test["landcover"])
    assert acc_mae > chance + 0.3 and acc_mp > chance + 0.3  # both are working MAEs, not strawmen
    assert f1_mp > f1_mae + 0.02


def test_config_defaults_match_the_simulated_world():
    assert MMEarthConfig().n_landcover == N_CLASSES
    assert MMEarthConfig().n_labels == SimulatedWorld(size=8, n_scenes=1)[0]["labels"].shape[0]
