"""The GPU path, measured in one command: gpu tests, bf16 training speed and MFU, our CROMA vs torchgeo's, notebook 02.

On a lent GPU machine (one modern GPU, under 8 minutes by design: fixed step counts, warm-up steps excluded
from timing, every part bounded by a timeout and by ``--budget-s``)::

    python benchmarks/gpu_check.py --out artifacts/gpu_check --compile croma

or ``bash benchmarks/gpu_check.sh`` (the same, with the repository on ``PYTHONPATH``). It

1. runs the ``gpu``-marked tests (``pytest -m gpu``);
2. trains each model's ``base`` preset for a fixed number of bf16-autocast AdamW steps on a realistic batch of
   synthetic pairs already on the device (CROMA-B at 120 px, Scale-MAE at 224 px, the contrastive ResNet at
   64 px) and prints samples/s, peak GPU memory and the model FLOPs utilisation: FLOPs of one training step
   (forward + backward) counted with ``torch.utils.flop_counter.FlopCounterMode``, times steps per second,
   divided by the device's published dense bf16 peak (looked up by device name, or ``--peak-tflops``);
3. times our CROMA against torchgeo's ``CROMA`` at the same configuration (unmasked encoders, forward +
   backward, bf16): the ratio ours / torchgeo (<= 1: ours is no slower);
4. counts host syncs and host-device copies in one forward + backward of each model (``torch.profiler``:
   scalar reads such as ``.item()`` / ``bool(tensor)``, synchronisations, pageable copies), and times the
   kit's own ``fit()`` (Lightning, DataLoader workers, bf16) on cached simulated pairs against the on-device
   loop: a small fraction means the data path starves the GPU;
5. optionally (``--compile croma ...``) times ``torch.compile``d models the same way (compile time reported
   apart), to say whether compiling pays;
6. runs notebook 02 in full mode (``XMODAL_FAST`` unset, its own step budget, ``--nb-param NAME=VALUE``
   overrides injected after its parameters cell as papermill does) and records the numbers its check cells
   assert (every numeric top-level variable after the run);
7. writes ``gpu_check.json`` and ``gpu_check.md`` under ``--out`` (refuses to overwrite them without
   ``--overwrite``).

Time budget of the GPU run (one H100/H200-class GPU): gpu tests <= 120 s (``--tests-timeout``); training 3 x
(build on the device + 1 + 5 + 30 steps + one counted and one profiled step), with per-step FLOPs of
17 TFLOP (CROMA-B, 120 px, batch 256: 67.5 GFLOP per pair, forward + backward, counted on the CPU), 13 TFLOP
(Scale-MAE-B, 224 px, batch 256) and 0.95 TFLOP (contrastive ResNet-18, 64 px, batch 512): well under a
minute; CROMA vs torchgeo < 20 s; ``fit()`` data path about 30 s (4096 pairs rendered with 8 workers, 40
steps); ``torch.compile`` of CROMA 1-2 min; notebook 02 gets what is left of ``--budget-s`` (450 s), at most
``--nb-timeout`` (240 s), and its numbers so far are recorded even when it stops early.

On a CPU, ``--dry`` runs the same code at tiny sizes for a few steps (tiny presets, 32 px, batch 4), still
counting FLOPs; MFU is reported against ``--peak-tflops`` or skipped (``null``, with the reason); the gpu
tests and the notebook are skipped unless asked (``--gpu-tests``, ``--notebook``). CI runs the dry mode
(``tests/benchmarks/test_gpu_check.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from xmodal_lab.files import publish_text  # noqa: E402
from xmodal_lab.models import build  # noqa: E402

#: Published dense (no sparsity) bf16 tensor-core peaks, TFLOPS, matched in order against the device name.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
)

#: Per model: tile side and batch of the real run (``base`` preset).
GPU_RUNS: dict[str, tuple[int, int]] = {
    "croma": (120, 256),
    "scale_mae": (224, 256),
    "contrastive": (64, 512),
}
DRY_SIZE, DRY_BATCH = 32, 4
NOTEBOOK = "notebooks/02_contrastive_sar_optical.ipynb"


def peak_tflops(device_name: str, given: float | None) -> tuple[float | None, str]:
    """The bf16 dense peak to divide by, and where it came from.

    Args:
        device_name: ``torch.cuda.get_device_name()`` or a CPU description.
        given: ``--peak-tflops`` (wins when set).

    Returns:
        ``(TFLOPS or None, source)``.
    """
    if given is not None:
        if given <= 0:
            raise ValueError(f"--peak-tflops must be positive, got {given}")
        return given, "--peak-tflops"
    for key, value in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return value, f"published bf16 dense peak of {key}"
    return None, f"unknown device {device_name!r}: pass --peak-tflops"


def synthetic_batch(n: int, size: int, device: torch.device, seed: int = 0) -> dict:
    """Pairs in physical units on the device: Sentinel-1 dB ``[n, 2, size, size]``, Sentinel-2 reflectance
    ``[n, 12, size, size]``, GSD ``[n]`` metres."""
    g = torch.Generator().manual_seed(seed)
    s1 = torch.stack([-12 + 5 * torch.randn(n, size, size, generator=g), -19 + 5 * torch.randn(n, size, size, generator=g)], 1)  # fmt: skip
    s2 = 0.02 + 0.4 * torch.rand(n, 12, size, size, generator=g)
    return {"s1": s1.to(device), "s2": s2.to(device), "gsd": torch.full((n,), 10.0, device=device)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def count_flops(step: Callable[[], None]) -> int:
    """FLOPs of one call of ``step`` (matmuls, convolutions, attention), by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())


def time_steps(step: Callable[[], None], device: torch.device, warmup: int, steps: int) -> float:
    """Seconds for ``steps`` calls after ``warmup`` untimed calls (synchronised at both ends only)."""
    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return time.perf_counter() - t0


def _rates(row: dict, flops: int, seconds: float, batch: int, steps: int, peak: float | None) -> dict:
    row.update(
        seconds=float(f"{seconds:.6g}"),
        step_ms=round(1000 * seconds / steps, 3),
        samples_per_s=round(batch * steps / seconds, 2),
        flops_per_step=flops,
        achieved_tflops=round(flops * steps / seconds / 1e12, 4),
    )
    row["mfu"] = None if peak is None else float(f"{flops * steps / seconds / (peak * 1e12):.6g}")
    return row


def bench_training(
    name: str,
    preset: str,
    size: int,
    batch_size: int,
    device: torch.device,
    bf16: bool,
    warmup: int,
    steps: int,
    peak: float | None,
    compile_model: bool = False,
) -> dict:
    """Train one model for fixed steps and measure speed, memory and MFU.

    Returns:
        One result row (see the module docstring for the fields).
    """
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the device: a base model's CPU init alone takes seconds
        model = build(name, preset, img_size=size).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    batch = synthetic_batch(batch_size, size, device)
    run = torch.compile(model) if compile_model else model
    losses: list[torch.Tensor] = []

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with _autocast(device, bf16):
            loss = run(batch)["loss"]
        loss.backward()
        opt.step()
        losses.append(loss.detach())

    row = {
        "model": name,
        "preset": preset,
        "img_size": size,
        "batch_size": batch_size,
        "dtype": "bf16-autocast" if bf16 else "fp32",
        "compiled": compile_model,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "warmup_steps": warmup,
        "steps": steps,
    }
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    step()  # first step: compilation, cudnn autotuning, allocator growth
    _sync(device)
    row["first_step_s"] = round(time.perf_counter() - t0, 3)
    flops = count_flops(step) if not compile_model else count_flops_eager(model, batch, device, bf16)
    seconds = time_steps(step, device, max(0, warmup - 1), steps)
    _rates(row, flops, seconds, batch_size, steps, peak)
    row["peak_mem_gib"] = (
        round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None
    )

    def forward_backward() -> None:  # the optimiser's own bookkeeping is not the model's
        with _autocast(device, bf16):
            loss = run(batch)["loss"]
        loss.backward()
        opt.zero_grad(set_to_none=True)

    row["host_syncs"] = profile_syncs(forward_backward, device)
    row["loss_first"], row["loss_last"] = float(losses[0]), float(losses[-1])
    if not all(torch.isfinite(x) for x in losses):
        raise FloatingPointError(f"{name}: non-finite training loss")
    return row


#: Profiler events that stall the host or copy from it during a step: reading a device scalar on the host
#: (``.item()``, ``bool(tensor)``, ``.cpu()`` of a number), explicit synchronisations, and host-to-device copies
#: (e.g. positional encodings computed on the CPU every step).
SYNC_EVENTS = {
    "aten::_local_scalar_dense": "scalar_reads",
    "cudaStreamSynchronize": "stream_syncs",
    "cudaDeviceSynchronize": "device_syncs",
    "cudaMemcpy": "blocking_memcpy",
    "Memcpy HtoD (Pageable -> Device)": "h2d_pageable",
    "Memcpy HtoD (Pinned -> Device)": "h2d_pinned",
    "Memcpy DtoH (Device -> Pageable)": "d2h_pageable",
}


def profile_syncs(step: Callable[[], None], device: torch.device) -> dict[str, int]:
    """Count host syncs and host-device copies in one call of ``step`` (``torch.profiler``).

    Returns:
        ``{kind: count}`` for the kinds of :data:`SYNC_EVENTS` (zeros included), for one step.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    try:
        with profile(activities=activities) as prof:
            step()
            _sync(device)
    except Exception as err:  # e.g. no CUPTI: report, do not abort the check
        return {"error": f"{type(err).__name__}: {err}"[:300]}
    counts = dict.fromkeys(SYNC_EVENTS.values(), 0)
    for event in prof.events():
        kind = SYNC_EVENTS.get(event.name)
        if kind is None and event.name.startswith("Memcpy HtoD"):
            kind = "h2d_pageable" if "Pageable" in event.name else "h2d_pinned"
        if kind is not None:
            counts[kind] += 1
    return counts


def bench_fit_path(dry: bool, device: torch.device, steps: int, num_workers: int) -> dict:
    """Samples/s of the kit's own ``fit()`` (Lightning, DataLoader, bf16) on cached simulated pairs, to set
    against the on-device loop: a large gap means the data path starves the GPU.

    Returns:
        ``samples_per_s`` (steps after the first two), configuration, ``status`` and ``error`` if it failed.
    """
    from xmodal_lab.data import SimulatedWorld
    from xmodal_lab.train import CachedPairs, FitConfig, fit

    preset, size, batch, n = ("tiny", DRY_SIZE, DRY_BATCH, 16) if dry else ("base", 64, 512, 4096)
    row = {"model": "contrastive", "preset": preset, "img_size": size, "batch_size": batch, "steps": steps}
    row["num_workers"] = num_workers
    t0 = time.perf_counter()
    try:
        data = CachedPairs(SimulatedWorld(seed=0, size=size, n_scenes=n), num_workers=num_workers)
        row["render_s"] = round(time.perf_counter() - t0, 1)
        torch.manual_seed(0)
        _, h = fit(
            build("contrastive", preset, img_size=size), data, max_steps=steps, batch_size=batch,
            normalize=False, progress=False, config=FitConfig(
                accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, num_workers=num_workers),
        )  # fmt: skip
    except Exception as err:  # report, do not abort the whole check
        return {**row, "status": "failed", "error": f"{type(err).__name__}: {err}"[:500]}
    times, skip = h["time"], min(2, len(h["time"]) - 1)
    timed = len(times) - 1 - skip
    row["status"] = "passed"
    row["samples_per_s"] = round(batch * timed / (times[-1] - times[skip]), 2) if timed > 0 else None
    return row


def count_flops_eager(model: torch.nn.Module, batch: dict, device: torch.device, bf16: bool) -> int:
    """FLOPs of one forward + backward of the eager model (a compiled graph hides them from the counter)."""

    def step() -> None:
        with _autocast(device, bf16):
            loss = model(batch)["loss"]
        loss.backward()
        model.zero_grad(set_to_none=True)

    return count_flops(step)


def bench_croma_vs_torchgeo(
    dry: bool, size: int, batch_size: int, device: torch.device, bf16: bool, warmup: int, steps: int
) -> dict:
    """Forward + backward of the unmasked encoders, ours vs torchgeo's ``CROMA``, same configuration.

    Returns:
        ``ours_step_ms``, ``torchgeo_step_ms``, ``ratio`` (ours / torchgeo) and the configuration.
    """
    from torchgeo.models.croma import CROMA as TorchgeoCROMA

    # torchgeo's unimodal ViTs always use 16 heads
    dim, depth, heads = (64, 2, 16) if dry else (768, 12, 16)
    torch.manual_seed(0)
    with torch.device(device):
        ours = build(
            "croma", "tiny" if dry else "base", img_size=size, embed_dim=dim, optical_depth=depth,
            radar_depth=depth // 2, cross_depth=depth // 2, num_heads=heads,
        ).train()  # fmt: skip
        tg = TorchgeoCROMA(
            encoder_dim=dim, encoder_depth=depth, num_heads=heads, patch_size=8, image_size=size
        )
    tg = tg.to(device).train()  # its ALiBi buffer is built on the CPU
    batch = synthetic_batch(batch_size, size, device)
    # the same standardised inputs for both (our InputNorm is part of our step, as in use)
    x1, x2 = ours.norm_s1(batch["s1"]).detach(), ours.norm_s2(batch["s2"]).detach()

    def loss_of(out: dict) -> torch.Tensor:
        return (
            out["sar_GAP"].float().mean()
            + out["optical_GAP"].float().mean()
            + out["joint_GAP"].float().mean()
        )

    def step_ours() -> None:
        with _autocast(device, bf16):
            loss = loss_of(ours.encode(s1=batch["s1"], s2=batch["s2"]))
        loss.backward()
        ours.zero_grad(set_to_none=True)

    def step_tg() -> None:
        with _autocast(device, bf16):
            loss = loss_of(tg(x1, x2))
        loss.backward()
        tg.zero_grad(set_to_none=True)

    t_ours = time_steps(step_ours, device, warmup, steps)
    t_tg = time_steps(step_tg, device, warmup, steps)
    return {
        "config": {"embed_dim": dim, "optical_depth": depth, "num_heads": heads, "img_size": size, "batch_size": batch_size},
        "dtype": "bf16-autocast" if bf16 else "fp32",
        "steps": steps,
        "ours_step_ms": round(1000 * t_ours / steps, 3),
        "torchgeo_step_ms": round(1000 * t_tg / steps, 3),
        "ratio": round(t_ours / t_tg, 4),
    }  # fmt: skip


def run_gpu_tests(timeout_s: float) -> dict:
    """``pytest -m gpu`` on the repository's tests; returns status, exit code and pytest's summary line."""
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-n", "0", "-q", "-p", "no:cacheprovider", "tests"]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "timeout_s": timeout_s, "command": " ".join(cmd[1:])}
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    summary = next(
        (ln for ln in reversed(lines) if re.search(r"\d+ (passed|failed|skipped|error|deselected)", ln)), ""
    )
    return {
        "status": "passed" if done.returncode == 0 else "failed",
        "rc": done.returncode,
        "summary": summary.strip("= "),
        "seconds": round(time.perf_counter() - t0, 1),
        "command": " ".join(cmd[1:]),
        "tail": lines[-15:] if done.returncode else [],
    }  # fmt: skip


_DUMP = """
import json as _json, numbers as _numbers
def _plain(v):
    if isinstance(v, bool) or not isinstance(v, _numbers.Number):
        return None
    return float(v) if isinstance(v, _numbers.Real) else None
_out = {}
for _k, _v in list(globals().items()):
    if _k.startswith("_"):
        continue
    if _plain(_v) is not None:
        _out[_k] = _plain(_v)
    elif isinstance(_v, dict) and 0 < len(_v) <= 40 and all(_plain(x) is not None for x in _v.values()):
        _out[_k] = {str(a): _plain(b) for a, b in _v.items()}
print("XMODAL_NUMBERS " + _json.dumps(_out))
"""


def run_notebook(path: Path, timeout_s: float, params: dict[str, str], fast: bool = False) -> dict:
    """Execute a notebook (full mode unless ``fast``) and collect its numeric top-level variables.

    Args:
        path: the notebook.
        timeout_s: limit for the whole run.
        params: ``NAME -> Python expression`` injected after the ``parameters`` cell.
        fast: keep ``XMODAL_FAST=1`` (only for testing this function).

    Returns:
        ``status`` (``passed``, ``failed``, ``timeout``), ``seconds``, ``numbers`` (name -> value), ``error``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    if params:
        at = next(
            (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])),
            0,
        )
        src = "# injected by gpu_check.py\n" + "\n".join(f"{k} = {v}" for k, v in params.items())
        nb.cells.insert(at, nbformat.v4.new_code_cell(src))
    nb.cells.append(nbformat.v4.new_code_cell(_DUMP))
    saved = os.environ.get("XMODAL_FAST")
    if fast:
        os.environ["XMODAL_FAST"] = "1"
    else:
        os.environ.pop("XMODAL_FAST", None)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env_path) if p)
    t0, status, error = time.perf_counter(), "passed", None
    deadline = t0 + timeout_s
    client = NotebookClient(nb, timeout=max(1, int(timeout_s)), kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    try:
        with client.setup_kernel():
            dump = len(nb.cells) - 1
            for index, cell in enumerate(nb.cells[:dump]):
                if time.perf_counter() > deadline:
                    status, error = "timeout", f"budget of {timeout_s:.0f} s spent before cell {index}"
                    break
                client.timeout = max(1, int(deadline - time.perf_counter()))
                try:
                    client.execute_cell(cell, index)
                except (CellTimeoutError, TimeoutError):
                    status, error = "timeout", f"over {timeout_s:.0f} s in cell {index}"
                    client.km.interrupt_kernel()  # stop the cell, keep the kernel for the numbers so far
                    time.sleep(2)
                    break
                except CellExecutionError as err:
                    status, error = "failed", f"cell {index}: " + str(err).strip().splitlines()[-1][:500]
                    break
            client.timeout = 60
            # the numbers so far, also after a failure or a timeout
            with contextlib.suppress(CellTimeoutError, CellExecutionError, TimeoutError):
                client.execute_cell(nb.cells[dump], dump)
    except DeadKernelError as err:
        status, error = "failed", f"kernel died: {err}"
    finally:
        if saved is None:
            os.environ.pop("XMODAL_FAST", None)
        else:
            os.environ["XMODAL_FAST"] = saved
        os.environ["PYTHONPATH"] = env_path
        if not env_path:
            os.environ.pop("PYTHONPATH")
    numbers: dict = {}
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "")
        if "XMODAL_NUMBERS " in text:
            numbers = json.loads(text.split("XMODAL_NUMBERS ", 1)[1].splitlines()[0])
    return {
        "status": status,
        "path": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "mode": "fast" if fast else "full",
        "params": params,
        "seconds": round(time.perf_counter() - t0, 1),
        "numbers": numbers,
        "error": error,
    }


def _fmt(v, nd: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.{nd}f}".rstrip("0").rstrip(".")
    return str(v)


def to_markdown(report: dict) -> str:
    """The report as Markdown tables."""
    d = report["device"]
    lines = [
        f"# gpu_check ({'dry run' if report['dry'] else 'full run'})",
        "",
        f"Device: **{d['name']}** ({d['type']}); peak {_fmt(d['peak_tflops'])} TFLOPS bf16 ({d['peak_source']}); "
        f"torch {report['torch']}; {report['started']}; total {report['total_s']:.0f} s.",
        "",
        "## Training, fixed steps (warm-up excluded)",
        "",
        "| model | preset | px | batch | dtype | compiled | steps | samples/s | step ms | TFLOP/step | achieved TFLOPS | MFU | peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in report["training"] + report.get("compiled", []):
        mfu = "n/a" if r["mfu"] is None else f"{100 * r['mfu']:.1f} %"
        lines.append(
            f"| {r['model']} | {r['preset']} | {r['img_size']} | {r['batch_size']} | {r['dtype']} | {r['compiled']} | "
            f"{r['steps']} | {_fmt(r['samples_per_s'])} | {_fmt(r['step_ms'])} | {_fmt(r['flops_per_step'] / 1e12, 4)} | "
            f"{_fmt(r['achieved_tflops'])} | {mfu} | {_fmt(r['peak_mem_gib'])} |"
        )  # fmt: skip
    if report.get("mfu_note"):
        lines += ["", report["mfu_note"]]
    c = report.get("croma_vs_torchgeo")
    if c:
        lines += [
            "",
            "## CROMA: ours vs torchgeo (unmasked encoders, forward + backward)",
            "",
            "| config | dtype | ours ms/step | torchgeo ms/step | ratio ours/torchgeo |",
            "|---|---|---|---|---|",
            f"| {c['config']} | {c['dtype']} | {_fmt(c['ours_step_ms'])} | {_fmt(c['torchgeo_step_ms'])} | {_fmt(c['ratio'])} |",
        ]  # fmt: skip
    syncs = [(r["model"], r.get("host_syncs", {})) for r in report["training"]]
    if syncs:
        kinds = list(SYNC_EVENTS.values())
        lines += [
            "",
            "## Host syncs and host-device copies in one forward + backward",
            "",
            "| model | " + " | ".join(kinds) + " |",
            "|---" * (len(kinds) + 1) + "|",
        ]
        lines += [
            f"| {m} | " + " | ".join(str(c.get(k, c.get("error", 0))) for k in kinds) + " |" for m, c in syncs
        ]
    f = report.get("fit_path")
    if f:
        lines += [
            "",
            "## fit() data path (Lightning + DataLoader on cached simulated pairs)",
            "",
            f"{f['status']}: {f.get('model')} {f.get('preset')} {f.get('img_size')} px, batch {f.get('batch_size')}, "
            f"{f.get('num_workers')} workers: {_fmt(f.get('samples_per_s'))} samples/s"
            + (f" = {_fmt(f['fraction_of_loop'])} of the on-device loop" if f.get("fraction_of_loop") else "")
            + (f" ({f['error']})" if f.get("error") else ""),
        ]
    if report.get("failures"):
        lines += ["", "## Failures", ""] + [f"- {f['part']}: {f['error']}" for f in report["failures"]]
    t = report["gpu_tests"]
    lines += ["", "## gpu tests", "", f"{t['status']}: {t.get('summary') or t.get('reason', '')}"]
    n = report["notebook"]
    how = f" ({n['mode']} mode, {_fmt(n['seconds'])} s)" if "mode" in n else ""
    lines += ["", "## Notebook 02", "", f"{n['status']}{how}: {n.get('error') or n.get('reason') or 'ok'}"]
    if n.get("numbers"):
        lines += ["", "| name | value |", "|---|---|"]
        lines += [
            f"| {k} | {_fmt(v) if not isinstance(v, dict) else v} |" for k, v in sorted(n["numbers"].items())
        ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and gpu_check.md")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files in --out")
    p.add_argument("--dry", action="store_true", help="CPU-sized: tiny presets, 32 px, batch 4, a few steps")
    p.add_argument("--models", nargs="+", default=list(GPU_RUNS), help="models to train (registry names)")
    p.add_argument("--size", nargs="*", default=[], metavar="MODEL=PX", help="tile side per model")
    p.add_argument("--batch", nargs="*", default=[], metavar="MODEL=N", help="batch per model")
    p.add_argument("--warmup", type=int, help="untimed steps per measurement (default 5; dry 1)")
    p.add_argument("--steps", type=int, help="timed steps per measurement (default 30; dry 2)")
    p.add_argument("--peak-tflops", type=float, help="bf16 dense peak of the device (default: by name)")
    p.add_argument(
        "--compile", nargs="*", default=[], metavar="MODEL", help="also time torch.compile'd models"
    )
    p.add_argument(
        "--gpu-tests", action=argparse.BooleanOptionalAction, default=None, help="default: on unless --dry"
    )
    p.add_argument(
        "--notebook", action=argparse.BooleanOptionalAction, default=None, help="default: on unless --dry"
    )
    p.add_argument(
        "--nb-param", nargs="*", default=[], metavar="NAME=VALUE", help="notebook parameter overrides"
    )
    p.add_argument("--nb-timeout", type=float, default=240.0, help="seconds for notebook 02")
    p.add_argument("--tests-timeout", type=float, default=120.0, help="seconds for the gpu tests")
    p.add_argument("--budget-s", type=float, default=450.0, help="the notebook gets what is left of this")
    p.add_argument(
        "--fit-path", action=argparse.BooleanOptionalAction, default=True, help="time fit()'s data path"
    )
    p.add_argument("--fit-workers", type=int, help="DataLoader workers of the fit() data-path check")
    p.add_argument("--device", default="auto", help="auto, cuda or cpu")
    return p.parse_args(argv)  # fmt: skip


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} takes NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def main(argv: list[str] | None = None) -> dict:
    """Run the check; returns the report (also written as JSON and Markdown under ``--out``)."""
    args = parse_args(argv)
    t_start = time.perf_counter()
    out = args.out
    files = {"json": out / "gpu_check.json", "md": out / "gpu_check.md"}
    existing = [str(f) for f in files.values() if f.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{existing} already exist; pass --overwrite or choose another --out")
    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda but torch sees no CUDA GPU")
    if not cuda and not args.dry:
        raise RuntimeError("no CUDA GPU: run with --dry for the CPU check, or on a GPU machine")
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name(0) if cuda else f"{platform.processor() or platform.machine()} CPU"
    peak, peak_source = peak_tflops(name, args.peak_tflops)
    if not cuda and args.peak_tflops is None:
        peak, peak_source = None, "CPU: MFU skipped (pass --peak-tflops to report it)"
    bf16 = cuda
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    warmup = args.warmup if args.warmup is not None else (1 if args.dry else 5)
    steps = args.steps if args.steps is not None else (2 if args.dry else 30)
    if steps < 1 or warmup < 0:
        raise ValueError(f"--steps must be >= 1 and --warmup >= 0, got {steps}, {warmup}")
    sizes = {k: int(v) for k, v in _pairs(args.size, "--size").items()}
    batches = {k: int(v) for k, v in _pairs(args.batch, "--batch").items()}
    preset = "tiny" if args.dry else "base"

    def size_batch(model: str) -> tuple[int, int]:
        s, b = (DRY_SIZE, DRY_BATCH) if args.dry else GPU_RUNS.get(model, (64, 256))
        return sizes.get(model, s), batches.get(model, b)

    report: dict = {
        "script": "benchmarks/gpu_check.py",
        "dry": args.dry,
        "argv": sys.argv[1:] if argv is None else argv,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "device": {"name": name, "type": device.type, "peak_tflops": peak, "peak_source": peak_source},
    }
    print(
        f"# gpu_check: {name}; peak {peak} TFLOPS ({peak_source}); {preset} presets; {warmup}+{steps} steps"
    )

    run_tests = args.gpu_tests if args.gpu_tests is not None else not args.dry
    if run_tests:
        report["gpu_tests"] = run_gpu_tests(args.tests_timeout)
    else:
        report["gpu_tests"] = {"status": "skipped", "reason": "dry run (pass --gpu-tests to run them)"}
    print(f"gpu tests: {report['gpu_tests']['status']} {report['gpu_tests'].get('summary', '')}", flush=True)

    report["training"] = []
    failures = report["failures"] = []
    for model in args.models:
        size, batch = size_batch(model)
        try:
            row = bench_training(model, preset, size, batch, device, bf16, warmup, steps, peak)
        except Exception as err:  # one model's failure must not spend the machine's budget on nothing
            failures.append({"part": f"training {model}", "error": f"{type(err).__name__}: {err}"[:500]})
            print(f"training {model} FAILED: {failures[-1]['error']}", flush=True)
            if args.dry:
                raise
            continue
        report["training"].append(row)
        print(json.dumps(row), flush=True)
    if peak is None:
        report["mfu_note"] = f"MFU not reported: {peak_source}."

    croma_size, croma_batch = size_batch("croma")
    try:
        report["croma_vs_torchgeo"] = bench_croma_vs_torchgeo(
            args.dry, croma_size, min(croma_batch, 128), device, bf16, warmup, steps
        )
    except Exception as err:
        if args.dry:
            raise
        report["croma_vs_torchgeo"] = None
        failures.append({"part": "croma vs torchgeo", "error": f"{type(err).__name__}: {err}"[:500]})
    print("croma vs torchgeo:", json.dumps(report["croma_vs_torchgeo"]), flush=True)

    fit_workers = (
        args.fit_workers if args.fit_workers is not None else (0 if args.dry else min(8, os.cpu_count() or 1))
    )
    if args.fit_path:
        report["fit_path"] = bench_fit_path(args.dry, device, 4 if args.dry else 40, fit_workers)
    else:
        report["fit_path"] = {"status": "skipped", "reason": "--no-fit-path"}
    loop = next((r for r in report["training"] if r["model"] == "contrastive"), None)
    if loop and report["fit_path"].get("samples_per_s") and not args.dry:
        report["fit_path"]["fraction_of_loop"] = round(
            report["fit_path"]["samples_per_s"] / loop["samples_per_s"], 3
        )
    print("fit() data path:", json.dumps(report["fit_path"]), flush=True)

    report["compiled"] = []
    for model in args.compile:
        size, batch = size_batch(model)
        t0 = time.perf_counter()
        try:
            row = bench_training(
                model, preset, size, batch, device, bf16, warmup, steps, peak, compile_model=True
            )
        except Exception as err:
            if args.dry:
                raise
            failures.append({"part": f"compile {model}", "error": f"{type(err).__name__}: {err}"[:500]})
            continue
        row["total_s_incl_compile"] = round(time.perf_counter() - t0, 1)
        eager = next((r for r in report["training"] if r["model"] == model), None)
        row["speedup_vs_eager"] = round(eager["step_ms"] / row["step_ms"], 3) if eager else None
        report["compiled"].append(row)
        print(json.dumps(row), flush=True)

    run_nb = args.notebook if args.notebook is not None else not args.dry
    if run_nb:
        left = args.budget_s - (time.perf_counter() - t_start)
        timeout = min(args.nb_timeout, left)
        if timeout < 30:
            report["notebook"] = {"status": "skipped", "reason": f"only {left:.0f} s of --budget-s left"}
        else:
            report["notebook"] = run_notebook(ROOT / NOTEBOOK, timeout, _pairs(args.nb_param, "--nb-param"))
    else:
        report["notebook"] = {"status": "skipped", "reason": "dry run (pass --notebook to run it)"}
    print(f"notebook 02: {report['notebook']['status']}", flush=True)

    report["total_s"] = round(time.perf_counter() - t_start, 1)
    publish_text(files["json"], json.dumps(report, indent=2) + "\n", "report", replace=args.overwrite)
    publish_text(files["md"], to_markdown(report), "report", replace=args.overwrite)
    for f in files.values():
        if not f.is_file() or f.stat().st_size == 0:
            raise OSError(f"could not write {f}")
    print(f"wrote {files['json']} and {files['md']} ({report['total_s']:.0f} s)")
    return report


if __name__ == "__main__":
    main()
