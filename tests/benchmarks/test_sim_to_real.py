"""benchmarks/bench_sim_to_real.py: the west-half recipe choice never touches held-out tiles, paired gains
are differences seed by seed, and one tiny transfer run returns every row for every evaluation set."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_sim_to_real", ROOT / "benchmarks" / "bench_sim_to_real.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sim_to_real"] = module
    spec.loader.exec_module(module)
    return module


def _tiles(rows: int, cols: int, size: int = 16) -> list[dict]:
    return [
        {"s1": torch.full((2, size, size), -12.0) + torch.randn(2, size, size),
         "s2": torch.rand(12, size, size) * 0.3, "gsd": 10.0, "window": (r * size, c * size)}
        for r in range(rows) for c in range(cols)
    ]  # fmt: skip


def test_west_folds_split_by_row_into_disjoint_halves(bench):
    tune = _tiles(8, 4)
    (north, val_s), (south, val_n) = bench.west_folds(tune)
    assert list(val_s) == ["val south"] and list(val_n) == ["val north"]
    assert val_s["val south"] is south and val_n["val north"] is north
    assert len(north) == len(south) == 16
    assert max(t["window"][0] for t in north) < min(t["window"][0] for t in south)
    assert {id(t) for t in north} | {id(t) for t in south} == {id(t) for t in tune}


def test_paired_gain_is_the_per_seed_difference_to_scratch(bench):
    results = {
        "scratch (real only)": [{"test": {"recall@10": 0.25}}, {"test": {"recall@10": 0.30}}],
        "sim + real": [{"test": {"recall@10": 0.40}}, {"test": {"recall@10": 0.28}}],
    }
    np.testing.assert_allclose(bench.paired_gain(results, "sim + real", "test"), [0.15, -0.02])


def test_the_chosen_recipe_is_one_the_benchmark_runs(bench):
    assert bench.CHOSEN in dict(bench.RECIPES)
    assert dict(bench.RECIPES)[bench.CHOSEN]["sim_fraction"] == 0.5


def test_a_tiny_transfer_run_fills_every_row_and_eval_set(bench):
    torch.set_num_threads(1)
    real = _tiles(4, 4, size=32)
    folds = bench.west_folds(real)
    recipes = (("co", {"lr": 3e-4, "normalize": False, "sim_fraction": 0.5}), ("frozen", {"freeze": True}))
    res = bench.transfer(folds, [0], pretrain_steps=3, finetune_steps=2, n_scenes=16, world_kwargs={},
                         recipes=recipes)  # fmt: skip
    assert list(res) == ["scratch (real only)", "sim only", "co", "frozen"]
    for runs in res.values():
        assert len(runs) == 1 and set(runs[0]) == {"val south", "val north"}
        for metrics in runs[0].values():
            assert 0.0 <= metrics["recall@1"] <= 1.0 and 0.0 < metrics["mrr"] <= 1.0  # recall@10 needs > 10 pairs


def test_without_the_ssl4eo_files_the_benchmark_stops_naming_where_to_put_them(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_sim_to_real.py", "--gap-only", "--ssl4eo-root", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"SSL4EO-S12 files not found.*s1/<location>"):
        bench.main()
    if "XMODAL_REAL_SAMPLES" not in os.environ:  # the default: the shared samples beside the repository
        assert bench.SSL4EO_ROOT == ROOT.parent / "shared" / "real_samples" / "ssl4eo_s12"
