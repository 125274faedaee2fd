"""Learning tests: tiny models trained for seconds on the simulated world must learn, by wide margins.

Each run trains for a fixed step budget (``max_steps``), so its numbers do not depend on the machine's speed or
load; ``max_minutes`` is only a generous safety cap. The thresholds hold over several seeds with margin.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal_lab.config import seed_everything
from xmodal_lab.data import SimulatedWorld
from xmodal_lab.eval import embed_dataset, linear_probe, retrieval_metrics
from xmodal_lab.models import build
from xmodal_lab.train import CachedPairs, band_statistics, fit, set_normalization

SIZE, N_TRAIN, N_TEST = 32, 1024, 256
BUDGET = {"max_minutes": 10.0, "progress": False, "seed": 0}  # a safety cap only: runs end at max_steps


@pytest.fixture(scope="module")
def train_world() -> CachedPairs:
    return CachedPairs(SimulatedWorld(seed=0, size=SIZE, n_scenes=N_TRAIN))


@pytest.fixture(scope="module")
def test_world() -> CachedPairs:
    return CachedPairs(SimulatedWorld(seed=1, size=SIZE, n_scenes=N_TEST))


def first_last(losses: list[float], k: int = 5) -> tuple[float, float, float]:
    """Mean of the first and last ``k`` losses and the relative fall between them."""
    first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    return first, last, 1 - last / first


def test_contrastive_retrieves_radar_to_optical(train_world, test_world):
    seed_everything(0)
    model, h = fit(build("contrastive", "tiny"), train_world, max_steps=100, batch_size=64, lr=3e-3, **BUDGET)
    emb = embed_dataset(model, test_world)
    m = retrieval_metrics(emb["s1"], emb["s2"])
    chance = 1 / N_TEST
    print(
        f"contrastive: {h['steps']} steps in {h['seconds']:.1f} s; SAR->optical on {N_TEST} held-out pairs: "
        f"recall@1 {m['recall@1']:.3f} ({m['recall@1'] / chance:.0f}x chance), recall@10 {m['recall@10']:.3f}, "
        f"median rank {m['median_rank']:.0f}"
    )
    assert h["steps"] == 100, "the step budget, not the safety cap, must end the run"
    assert m["recall@1"] >= 10 * chance


def test_croma_loss_falls_and_its_embeddings_beat_random_init(train_world, test_world):
    # one test for both claims: CROMA is trained once even when pytest-xdist splits the module
    seed_everything(0)
    model, h = fit(build("croma", "tiny"), train_world, max_steps=200, batch_size=64, lr=2e-3, **BUDGET)
    first, last, fall = first_last(h["loss"])
    print(
        f"CROMA: {h['steps']} steps in {h['seconds']:.1f} s; loss {first:.3f} -> {last:.3f} ({100 * fall:.0f}% lower)"
    )
    assert h["steps"] == 200, "the step budget, not the safety cap, must end the run"
    assert fall >= 0.30

    seed_everything(0)
    random_model = build("croma", "tiny")  # the trained model's initial weights
    set_normalization(
        random_model, band_statistics(train_world)
    )  # the same input statistics: a fair baseline
    probe_train = torch.utils.data.Subset(train_world, range(512))
    scores = {}
    for tag, m in (("trained", model), ("random", random_model)):
        a, b = embed_dataset(m, probe_train), embed_dataset(m, test_world)
        for key in ("joint", "s1"):
            scores[tag, key] = linear_probe(a[key], a["labels"], b[key], b["labels"])["mAP"]
    print(
        "land-cover label probe (mAP on held-out tiles): "
        + ", ".join(f"{tag} {key} {v:.3f}" for (tag, key), v in scores.items())
    )
    assert scores["trained", "joint"] > scores["random", "joint"] + 0.02
    assert scores["trained", "s1"] > scores["random", "s1"] + 0.05


def test_scale_mae_loss_falls(train_world):
    seed_everything(0)
    _, h = fit(build("scale_mae", "tiny"), train_world, max_steps=60, batch_size=64, lr=2e-3, **BUDGET)
    first, last, fall = first_last(h["loss"])
    print(
        f"Scale-MAE: {h['steps']} steps in {h['seconds']:.1f} s; loss {first:.3f} -> {last:.3f} ({100 * fall:.0f}% lower)"
    )
    assert h["steps"] == 60, "the step budget, not the safety cap, must end the run"
    assert fall >= 0.15  # 0.22-0.29 over seeds 0-2 with the official heads and squared-error loss
