"""benchmarks/gpu_check.py keeps working without a GPU: its dry mode writes the report's fields, counts FLOPs
like the closed-form formula, looks peaks up by device name, and records a notebook's checked numbers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_dry_run_writes_json_and_markdown(gpu_check, tmp_path):
    out = tmp_path / "out"
    argv = ["--dry", "--out", str(out), "--peak-tflops", "0.5", "--models", "croma", "--no-fit-path"]
    report = gpu_check.main(argv)
    saved = json.loads((out / "gpu_check.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["dry"] is True and saved["device"]["type"] == "cpu" and saved["device"]["peak_tflops"] == 0.5
    assert [r["model"] for r in saved["training"]] == ["croma"]
    for row in saved["training"]:
        assert row["preset"] == "tiny" and row["img_size"] == 32 and row["steps"] == 2
        assert row["samples_per_s"] > 0 and row["flops_per_step"] > 1e6
        # MFU is achieved FLOP/s over the given peak
        achieved = row["flops_per_step"] * row["steps"] / row["seconds"]
        assert row["mfu"] == pytest.approx(achieved / 0.5e12, rel=1e-3)
        assert row["peak_mem_gib"] is None  # no GPU
        # the profiler ran: on a CPU there are no device copies, but host reads of scalars are counted
        assert set(row["host_syncs"]) >= {"scalar_reads", "h2d_pageable", "stream_syncs"}
        assert row["host_syncs"]["h2d_pageable"] == 0 and row["host_syncs"]["scalar_reads"] >= 0
    c = saved["croma_vs_torchgeo"]
    assert c["ours_step_ms"] > 0 and c["torchgeo_step_ms"] > 0
    assert c["ratio"] == pytest.approx(c["ours_step_ms"] / c["torchgeo_step_ms"], rel=1e-2)
    assert saved["fit_path"]["status"] == "skipped"
    assert saved["gpu_tests"]["status"] == "skipped" and saved["notebook"]["status"] == "skipped"
    md = (out / "gpu_check.md").read_text()
    assert "| croma | tiny | 32 | 4 |" in md and "ours/torchgeo" in md
    with pytest.raises(FileExistsError, match="--overwrite"):
        gpu_check.main(argv)


def test_fit_path_dry(gpu_check):
    row = gpu_check.bench_fit_path(True, torch.device("cpu"), steps=4, num_workers=0)
    assert row["status"] == "passed" and row["samples_per_s"] > 0 and row["batch_size"] == 4, row


def test_dry_run_without_peak_skips_mfu(gpu_check, tmp_path):
    argv = ["--dry", "--out", str(tmp_path), "--models", "scale_mae", "--steps", "1", "--no-fit-path"]
    report = gpu_check.main(argv)
    assert report["training"][0]["mfu"] is None and "MFU not reported" in report["mfu_note"]
    assert report["training"][0]["flops_per_step"] > 0  # FLOPs are still counted


def test_flop_count_matches_closed_form(gpu_check):
    layer = torch.nn.Linear(32, 16)
    x = torch.randn(8, 32, requires_grad=True)

    def step():
        layer(x).sum().backward()

    # forward 2*B*in*out; backward: input grad and weight grad, 2*B*in*out each
    assert gpu_check.count_flops(step) == 3 * 2 * 8 * 32 * 16


@pytest.mark.parametrize(
    ("name", "peak"),
    [("NVIDIA H200", 989.0), ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0),
     ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA L4", 121.0), ("NVIDIA L40S", 362.0), ("Some GPU", None)],
)  # fmt: skip
def test_peak_lookup(gpu_check, name, peak):
    assert gpu_check.peak_tflops(name, None)[0] == peak
    assert gpu_check.peak_tflops(name, 100.0) == (100.0, "--peak-tflops")


def test_no_gpu_without_dry_is_a_clear_error(gpu_check, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="--dry"):
        gpu_check.main(["--out", str(tmp_path)])


def test_notebook_numbers_are_recorded(gpu_check, tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("STEPS = 2")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell("import os\nrecall = 0.25 * STEPS\nmetrics = {'r@1': recall, 'mrr': 0.1}"),
        nbformat.v4.new_code_cell("assert recall > 0.4\nfast = os.environ.get('XMODAL_FAST')"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    done = gpu_check.run_notebook(path, 120, {"STEPS": "4"}, fast=True)
    assert done["status"] == "passed", done
    assert done["numbers"]["STEPS"] == 4 and done["numbers"]["recall"] == 1.0
    assert done["numbers"]["metrics"] == {"r@1": 1.0, "mrr": 0.1}
    failed = gpu_check.run_notebook(path, 120, {"STEPS": "1"}, fast=True)
    assert failed["status"] == "failed" and "AssertionError" in failed["error"]
    assert failed["numbers"]["recall"] == 0.25  # the numbers up to the failing check are still recorded


def test_eager_flop_count_of_compiled_runs_matches_the_training_step(gpu_check):
    # compiled runs count FLOPs on the eager model (forward + backward); an optimiser step adds none
    from xmodal_lab.models import build

    cpu = torch.device("cpu")
    row = gpu_check.bench_training("contrastive", "tiny", 32, 4, cpu, False, 0, 1, None)
    torch.manual_seed(0)
    model = build("contrastive", "tiny", img_size=32).train()
    eager = gpu_check.count_flops_eager(model, gpu_check.synthetic_batch(4, 32, cpu), cpu, False)
    assert eager == row["flops_per_step"] > 0
