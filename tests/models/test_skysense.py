"""SkySense-style model: shapes, gradients, Sinkhorn marginals, EMA formulas, geo-context, dates, learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_helpers import sinkhorn_plan

from xmodal_lab.models.sinkhorn import sinkhorn, sinkhorn_kmeans
from xmodal_lab.models.skysense import PRESETS, SkySense, SkySenseConfig
from xmodal_lab.models.skysense_inputs import day_of_year, dihedral, dihedral_inverse, geo_region


def fake_batch(b: int = 4, size: int = 32, seed: int = 0, t: int | None = None) -> dict:
    """Blocky scenes of 4 classes: each class has its own optical spectrum and radar backscatter."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, 4, (b, size // 8, size // 8), generator=g)
    lc = classes.repeat_interleave(8, 1).repeat_interleave(8, 2)  # [B, H, W]
    spectra = torch.rand(4, 12, generator=g) * 0.4
    backscatter = torch.tensor([[-20.0, -27.0], [-8.0, -14.0], [-11.0, -18.0], [-5.0, -11.0]])
    s2 = spectra[lc].permute(0, 3, 1, 2) + 0.01 * torch.randn(b, 12, size, size, generator=g)
    s1 = backscatter[lc].permute(0, 3, 1, 2) + 1.0 * torch.randn(b, 2, size, size, generator=g)
    batch = {
        "s1": s1,
        "s2": s2,
        "lat": torch.tensor([48.0, -33.9, 5.0, 60.0] * b)[:b],
        "lon": torch.tensor([11.0, 18.4, -60.0, 25.0] * b)[:b],
        "date": [f"2021-{1 + i % 12:02d}-15" for i in range(b)],
        "landcover": lc,
    }
    if t is not None:
        batch["s1"] = torch.stack([s1 + 0.5 * k for k in range(t)], dim=1)
        batch["s2"] = torch.stack([s2 * (1 + 0.1 * k) for k in range(t)], dim=1)
        batch["date"] = [[f"2021-{1 + 3 * k:02d}-01" for k in range(t)] for _ in range(b)]
    return batch


@pytest.fixture(scope="module")
def model() -> SkySense:
    torch.manual_seed(0)
    return SkySense(PRESETS["tiny"])


# ------------------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("b", [2, 5])
def test_forward_loss_is_sum_of_granularities_and_streams(model, b):
    out = model(fake_batch(b))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    streams = out["loss_s1"] + out["loss_s2"] + out["loss_joint"]
    levels = out["loss_pixel"] + out["loss_object"] + out["loss_image"]
    assert torch.allclose(out["loss_mgcl"], streams, rtol=1e-5)
    assert torch.allclose(out["loss_mgcl"], levels, rtol=1e-5)
    # plus the cross-modal alignment term (see test_official_skysense)
    assert torch.allclose(out["loss"].detach(), streams + out["loss_align"], rtol=1e-5)
    # InfoNCE starts near log(number of candidates): far from zero before training
    assert out["loss_image"] > 3 * 0.5 * math.log(b)
    assert out["joint"].shape == (b, 64, 64)  # [B, N, D], N = (32/4)^2
    assert out["region"].shape == (b,) and (out["region"] >= 0).all()


def test_embed_and_features_shapes(model):
    batch = fake_batch(3)
    emb = model.embed(s1=batch["s1"], s2=batch["s2"], lat=batch["lat"], lon=batch["lon"], date=batch["date"])
    assert {k: tuple(v.shape) for k, v in emb.items()} == {"s1": (3, 64), "s2": (3, 64), "joint": (3, 64)}
    feats = model.features(s1=batch["s1"], s2=batch["s2"])  # no place, no date: all prototypes, no date code
    assert {k: tuple(v.shape) for k, v in feats.items()} == {k: (3, 64, 8, 8) for k in ("s1", "s2", "joint")}
    assert set(model.embed(s1=batch["s1"])) == {"s1"}
    assert set(model.embed(s2=batch["s2"])) == {"s2"}


def test_time_series_input(model):
    batch = fake_batch(2, t=3)
    assert batch["s2"].shape == (2, 3, 12, 32, 32)
    out = model(batch)
    assert torch.isfinite(out["loss"])
    feats = model.features(
        s1=batch["s1"], s2=batch["s2"], date=batch["date"], lat=batch["lat"], lon=batch["lon"]
    )
    assert feats["joint"].shape == (2, 64, 8, 8) and feats["s2"].shape == (2, 64, 8, 8)


def test_gradients_reach_every_student_parameter_and_none_the_teacher():
    torch.manual_seed(1)
    m = SkySense(PRESETS["tiny"])
    m(fake_batch(4))["loss"].backward()
    missing = [n for n, p in m.student.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert all(not p.requires_grad and p.grad is None for p in m.teacher.parameters())


def test_input_errors(model):
    b = fake_batch(2)
    with pytest.raises(KeyError, match="s2"):
        model({"s1": b["s1"]})
    with pytest.raises(ValueError, match="12 channels"):
        model.embed(s2=b["s2"][:, :3])
    with pytest.raises(ValueError, match="co-registered"):
        model.embed(s1=b["s1"], s2=b["s2"][..., :16, :16])
    with pytest.raises(ValueError, match="ISO"):
        model.embed(s1=b["s1"], s2=b["s2"], date=["June", "July"])


# ------------------------------------------------------------------------------------------ Sinkhorn
def test_sinkhorn_marginals_and_reference():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(3, 50, 7, generator=g) * 2 - 1
    q = sinkhorn(scores, eps=0.1, n_iters=200)
    assert (q >= 0).all()
    assert torch.allclose(q.sum(-1), torch.full((3, 50), 1 / 50), atol=1e-7)  # rows exact after the last step
    assert torch.allclose(q.sum(-2), torch.full((3, 7), 1 / 7), atol=1e-5)  # columns converged
    ref = sinkhorn_plan(scores[1].double().numpy(), 0.1, 3)
    assert np.allclose(sinkhorn(scores[1], eps=0.1, n_iters=3).numpy(), ref, atol=1e-6)


def test_sinkhorn_kmeans_finds_separated_groups():
    g = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(4, 16, generator=g), dim=-1) * 5
    labels = torch.arange(64) % 4  # 16 items per group, interleaved
    x = centres[labels] + 0.1 * torch.randn(64, 16, generator=g)
    assign, found = sinkhorn_kmeans(x[None], 4, n_steps=5)
    assert assign.shape == (1, 64, 4) and found.shape == (1, 4, 16)
    assert torch.allclose(assign.sum(-1), torch.ones(1, 64), atol=1e-5)
    hard = assign[0].argmax(-1)
    # every true group maps onto exactly one cluster, and the clusters are distinct
    mapping = {int(hard[labels == c].mode().values) for c in range(4)}
    assert len(mapping) == 4
    assert all((hard[labels == c] == hard[labels == c][0]).all() for c in range(4))


# ------------------------------------------------------------------------------------------ EMA
def test_teacher_ema_equals_formula():
    torch.manual_seed(0)
    m = SkySense(PRESETS["tiny"])
    with torch.no_grad():
        for p in m.student.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in m.teacher.parameters()]
    student = [p.clone() for p in m.student.parameters()]
    m.update_teacher(0.9)
    for b, s, t in zip(before, student, m.teacher.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-6)


def test_prototype_update_equals_formula():
    torch.manual_seed(0)
    c = PRESETS["tiny"]
    m = SkySense(c)
    feats = torch.randn(3, 64, c.embed_dim)
    regions = torch.tensor([5, 5, 9])
    before = m.prototypes.clone()
    m.update_prototypes(feats, regions, momentum=0.8)
    for r, rows in ((5, [0, 1]), (9, [2])):
        f = feats[rows].flatten(0, 1)
        sim = F.normalize(f, dim=-1) @ F.normalize(before[r], dim=-1).t()
        plan = sinkhorn(sim, c.sinkhorn_eps, c.sinkhorn_iters)
        assert torch.allclose(plan.sum(0) * c.n_prototypes, torch.ones(c.n_prototypes), atol=0.15)  # balanced
        s = plan / plan.sum(0)
        assert torch.allclose(m.prototypes[r], 0.8 * before[r] + 0.2 * s.t() @ f, atol=1e-5)
    untouched = [r for r in range(m.prototypes.shape[0]) if r not in (5, 9)]
    assert torch.equal(m.prototypes[untouched], before[untouched])


def test_training_forward_updates_the_batch_regions_only():
    torch.manual_seed(0)
    m = SkySense(PRESETS["tiny"])
    batch = fake_batch(4)
    before = m.prototypes.clone()
    regions = m(batch)["region"]
    changed = (m.prototypes != before).flatten(1).any(1).nonzero().flatten()
    assert sorted(changed.tolist()) == sorted(set(regions.tolist()))
    m.eval()
    after = m.prototypes.clone()
    m(batch)
    assert torch.equal(m.prototypes, after)  # evaluation leaves the prototypes alone


# ------------------------------------------------------------------------------------------ geo-context
def test_geo_context_is_attention_over_region_prototypes(model):
    mm, protos = torch.randn(2, 64, 64), torch.randn(2, 8, 64)
    attn = torch.softmax(mm @ protos.transpose(1, 2) / math.sqrt(64), dim=-1) @ protos
    expected = model.student.geo_proj(torch.cat([mm, attn], dim=-1))
    assert torch.allclose(model.student.geo_context(mm, protos), expected, atol=1e-5)


def test_geo_region_grid():
    grid = (6, 12)
    lat = torch.tensor([-90.0, 89.99, 0.0, 48.1, 48.1])
    lon = torch.tensor([-180.0, 179.99, 0.0, 11.5, 371.5])  # 371.5 wraps to 11.5
    r = geo_region(lat, lon, grid)
    assert r.tolist()[:3] == [0, 71, 3 * 12 + 6]
    assert r[3] == 4 * 12 + 6 and r[4] == r[3]


def test_location_changes_joint_embedding_only():
    torch.manual_seed(0)
    m = SkySense(PRESETS["tiny"]).eval()
    b = fake_batch(2)
    here = m.embed(s1=b["s1"], s2=b["s2"], lat=[48.0, 48.0], lon=[11.0, 11.0])
    there = m.embed(s1=b["s1"], s2=b["s2"], lat=[-33.0, -33.0], lon=[18.0, 18.0])
    assert torch.equal(here["s2"], there["s2"])
    assert (here["joint"] - there["joint"]).abs().max() > 1e-4


# ------------------------------------------------------------------------------------------ dates
def test_day_of_year():
    assert day_of_year("2021-01-01", 2).tolist() == [0, 0]
    assert day_of_year(["2021-12-31", "2020-12-31", "2021-06-15T10:30:00"]).tolist() == [364, 365, 165]
    assert day_of_year([["2021-01-02", "2021-02-01"]]).tolist() == [[1, 31]]
    with pytest.raises(ValueError, match="ISO"):
        day_of_year(["15/06/2021"])


def test_date_encoding_is_a_learned_table_lookup():
    torch.manual_seed(0)
    m = SkySense(PRESETS["tiny"]).eval()
    b = fake_batch(2)
    winter = m.embed(s1=b["s1"], s2=b["s2"], date=["2021-01-10"] * 2)["joint"]
    summer = m.embed(s1=b["s1"], s2=b["s2"], date=["2021-07-10"] * 2)["joint"]
    assert (winter - summer).abs().max() > 1e-4
    with torch.no_grad():
        m.student.date_embed[[9, 190]] = 0.0  # 10 January and 10 July: same code -> same embedding
    winter = m.embed(s1=b["s1"], s2=b["s2"], date=["2021-01-10"] * 2)["joint"]
    summer = m.embed(s1=b["s1"], s2=b["s2"], date=["2021-07-10"] * 2)["joint"]
    assert torch.allclose(winter, summer, atol=1e-6)
    # in training, only the rows of the dates seen receive gradient
    m.train()
    m(fake_batch(2, t=2))["loss"].backward()
    rows = m.student.date_embed.grad.abs().sum(-1).nonzero().flatten().tolist()
    assert rows == [0, 90]  # 1 January and 1 April


# ------------------------------------------------------------------------------------------ views
def test_dihedral_round_trip_and_distinct():
    x = torch.arange(2 * 16.0).reshape(2, 4, 4)
    outs = [dihedral(x, k) for k in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    assert all(torch.equal(dihedral_inverse(o, k), x) for k, o in enumerate(outs))


# ------------------------------------------------------------------------------------------ learning
def test_loss_falls(one_thread):
    torch.manual_seed(0)
    m = SkySense(SkySenseConfig(ema_momentum=0.9))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    batches = [fake_batch(16, seed=s) for s in range(4)]

    def eval_loss() -> float:
        torch.manual_seed(123)  # same views and pixel samples at both evaluations
        m.eval()
        with torch.no_grad():
            value = float(np.mean([float(m(b)["loss"]) for b in batches]))
        m.train()
        return value

    start = eval_loss()
    for step in range(24):
        loss = m(batches[step % 4])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = eval_loss()
    print(f"SkySense loss (L_MGCL + L_align) {start:.2f} -> {end:.2f}")
    assert end < 0.85 * start
