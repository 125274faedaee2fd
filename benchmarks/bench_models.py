"""Training throughput and peak memory of every model and preset, plus our CROMA against torchgeo's.

Usage::

    .venv/bin/python benchmarks/bench_models.py                       # CPU, and the GPU too when present
    .venv/bin/python benchmarks/bench_models.py --devices cpu --steps 3 --presets tiny small
    .venv/bin/python benchmarks/bench_models.py --devices cuda --steps 20

One training step = ``model(batch)["loss"]``, backward, AdamW step, on random pairs in physical units at the
preset's tile size (``img_size``). On a GPU the step runs under bf16 autocast. Each (model, preset, device)
runs in a fresh subprocess so that peak memory is its own: peak resident memory (CPU, minus the process's
resident memory before the model was built) or ``torch.cuda.max_memory_allocated`` (GPU).

The last table times one forward+backward of the published CROMA computation (unmasked encoders with the full
2D-ALiBi bias, as in ``torchgeo.models.CROMA.forward``) for torchgeo's implementation and ours at the same
configuration, with the same weights, alternating the two and keeping medians, and prints
ours / torchgeo (below 1 = ours faster).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

# tile size and batch per preset: base uses a small batch so it fits a laptop
BATCH = {"tiny": 32, "small": 16, "base": 4}


def _pairs(batch: int, size: int, device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    s1 = -15 + 5 * torch.randn(batch, 2, size, size, generator=g)
    s2 = 0.15 + 0.1 * torch.rand(batch, 12, size, size, generator=g)
    return {"s1": s1.to(device), "s2": s2.to(device), "gsd": torch.full((batch,), 10.0, device=device)}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(name: str, preset: str, device: str, steps: int, batch: int | None) -> dict:
    """Time ``steps`` training steps of one model in this process; returns a result row."""
    from xmodal_lab.models import build

    torch.manual_seed(0)
    base_rss = _rss_mib()
    model = build(name, preset).to(device).train()
    size = model.config.img_size
    batch = batch or BATCH[preset]
    data = _pairs(batch, size, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))

    def step() -> None:
        with autocast:
            loss = model(data)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up: allocator, kernels, ALiBi caches
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - t0
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:  # ru_maxrss is KiB on Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_rss
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "model": name, "preset": preset, "device": device, "size": size, "batch": batch,
        "params_M": n_params / 1e6, "samples_per_s": batch * steps / seconds, "peak_MiB": peak,
    }  # fmt: skip


def croma_vs_torchgeo(device: str, dim: int, depth: int, size: int, batch: int, steps: int) -> dict:
    """Forward+backward time of torchgeo's CROMA and ours (converted from it) at one configuration."""
    from torchgeo.models.croma import CROMA as TorchgeoCROMA

    from xmodal_lab.weights import croma_from_torchgeo

    torch.manual_seed(0)
    ref = TorchgeoCROMA(encoder_dim=dim, encoder_depth=depth, num_heads=16, patch_size=8, image_size=size)
    ours = croma_from_torchgeo(ref, img_size=size)
    for norm in (ours.norm_s1, ours.norm_s2):  # torchgeo takes normalised input: compare the same work
        norm.set_stats(torch.zeros(norm.mean.numel()), torch.ones(norm.mean.numel()))
    ref, ours = ref.to(device).train(), ours.to(device).train()
    data = _pairs(batch, size, device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))

    def once(fn) -> float:
        _sync(device)
        t0 = time.perf_counter()
        with autocast:
            out = fn()
            loss = sum(v.float().mean() for v in out.values())
        loss.backward()
        _sync(device)
        return time.perf_counter() - t0

    def run_ref() -> dict:
        return ref(data["s1"], data["s2"])

    def run_ours() -> dict:
        return ours.encode(data["s1"], data["s2"])

    once(run_ref), once(run_ours)  # warm-up
    # alternate the two and keep medians, so that a busy machine slows both alike
    times = [(once(run_ref), once(run_ours)) for _ in range(max(steps, 3))]
    t_ref = statistics.median(t for t, _ in times)
    t_ours = statistics.median(t for _, t in times)
    return {
        "device": device, "dim": dim, "depth": depth, "size": size, "batch": batch,
        "torchgeo_ms": 1000 * t_ref, "ours_ms": 1000 * t_ours, "ratio": t_ours / t_ref,
    }  # fmt: skip


def _child(args: list[str], threads: list[str]) -> dict:
    """Run one measurement in a fresh interpreter (its own peak memory); returns its JSON row."""
    cmd = [sys.executable, __file__, *threads, "--child", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["contrastive", "scale_mae", "croma"])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model (after one warm-up)")
    parser.add_argument("--batch", type=int, default=None, help="override the batch size of every preset")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--croma", default="256,4,64,8", help="dim,depth,size,batch of the CPU CROMA comparison"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        kind, *rest = args.child
        if kind == "train":
            name, preset, device, steps, batch = rest
            row = run_one(name, preset, device, int(steps), int(batch) or None)
        else:
            device, dim, depth, size, batch, steps = rest
            row = croma_vs_torchgeo(device, int(dim), int(depth), int(size), int(batch), int(steps))
        print(json.dumps(row))
        return

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    threads = ["--threads", str(args.threads)] if args.threads else []
    print(
        f"torch {torch.__version__}, CPU threads {args.threads or torch.get_num_threads()}, devices {devices}"
    )
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    print(
        f"\n{'model':12} {'preset':6} {'device':6} {'px':>4} {'batch':>5} {'params':>8} {'samples/s':>10} {'peak MiB':>9}"
    )
    for device in devices:
        for name in args.models:
            for preset in args.presets:
                row = _child(["train", name, preset, device, str(args.steps), str(args.batch or 0)], threads)
                if "error" in row:
                    print(f"{name:12} {preset:6} {device:6}  failed: {row['error']}")
                    continue
                print(
                    f"{name:12} {preset:6} {device:6} {row['size']:>4} {row['batch']:>5} {row['params_M']:>7.1f}M "
                    f"{row['samples_per_s']:>10.1f} {row['peak_MiB']:>9.0f}"
                )

    print("\nCROMA forward+backward, unmasked (the published computation): ours vs torchgeo, same weights")
    print(
        f"{'device':6} {'dim':>4} {'depth':>5} {'px':>4} {'batch':>5} {'torchgeo ms':>12} {'ours ms':>9} {'ours/tg':>8}"
    )
    for device in devices:
        dim, depth, size, batch = (int(v) for v in args.croma.split(","))
        if device.startswith("cuda"):
            dim, depth, size, batch = 768, 12, 120, 32  # CROMA-B at its pretraining size
        row = _child(["croma", device, str(dim), str(depth), str(size), str(batch), str(args.steps)], threads)
        if "error" in row:
            print(f"{device:6} failed: {row['error']}")
            continue
        print(
            f"{device:6} {dim:>4} {depth:>5} {size:>4} {batch:>5} {row['torchgeo_ms']:>12.1f} {row['ours_ms']:>9.1f} "
            f"{row['ratio']:>8.2f}"
        )


if __name__ == "__main__":
    main()
