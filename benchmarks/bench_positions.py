"""Cost of the positional encodings per forward pass: built on the host in float64 vs. on the model's device.

Usage::

    .venv/bin/python benchmarks/bench_positions.py                # CPU, and the GPU too when present
    .venv/bin/python benchmarks/bench_positions.py --devices cpu --repeats 50

For a Scale-MAE-base-sized batch (64 images of 224 px, patch 16: a 14 x 14 grid; encoder width 768 and
decoder width 512, so two encodings per forward) it times, per forward pass:

- ``host float64``: what the kit did before: the GSDs copied to the host (a sync on a GPU), the encoding
  computed on the CPU in float64 for every image, then copied to the device;
- ``device, per image``: :func:`~xmodal_lab.models.positions.gsd_sincos_pos_embed` on the device, from GSDs
  already there (no host round trip), one encoding per image (a batch of mixed GSDs);
- ``cached table``: :func:`~xmodal_lab.models.positions.sincos_table` for a batch of one GSD (built once).

It prints milliseconds per forward (median of ``--repeats``) and the speed-up over ``host float64``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from xmodal_lab.models.positions import gsd_sincos_pos_embed, sincos_table


def _host_float64(dim: int, grid: tuple[int, int], res: torch.Tensor, device: torch.device) -> torch.Tensor:
    # the previous computation, restated: host copy, float64 on the CPU, copy back
    r = res.detach().reshape(-1, 1).to("cpu", torch.float64)
    gh, gw = torch.meshgrid(
        torch.arange(grid[0], dtype=torch.float64), torch.arange(grid[1], dtype=torch.float64), indexing="ij"
    )
    gh, gw = gh.reshape(-1), gw.reshape(-1)

    def one_d(d: int, pos: torch.Tensor) -> torch.Tensor:
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2.0))
        out = pos.reshape(-1)[:, None] * omega[None, :]
        return torch.cat([out.sin(), out.cos()], dim=1).float()

    emb = torch.cat([one_d(dim // 2, (r * gw).reshape(-1)), one_d(dim // 2, (r * gh).reshape(-1))], dim=1)
    return emb.reshape(r.shape[0], -1, dim).to(device)


def _time(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (and, for the cached table, the one build)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", nargs="+", default=None, help="cpu and/or cuda (default: all present)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    grid, dims = (14, 14), (768, 512)  # Scale-MAE base: encoder and decoder widths
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {args.batch}, grid {grid}"
    )
    print(f"{'device':8s} {'method':20s} {'ms / forward':>13s} {'speed-up':>9s}")
    for name in devices:
        device = torch.device(name)
        mixed = (10.0 + 10.0 * torch.rand(args.batch)).to(device) / 10.0  # one GSD ratio per image
        methods = {
            "host float64": lambda m=mixed, dev=device: [_host_float64(d, grid, m, dev) for d in dims],
            "device, per image": lambda m=mixed, dev=device: [
                gsd_sincos_pos_embed(d, grid, m, dev) for d in dims
            ],
            "cached table": lambda dev=device: [sincos_table(d, grid, dev, torch.float32, 2.0) for d in dims],
        }
        base = None
        for label, fn in methods.items():
            ms = _time(fn, device, args.repeats)
            base = base or ms
            print(f"{name:8s} {label:20s} {ms:13.3f} {base / ms:8.1f}x")


if __name__ == "__main__":
    main()
