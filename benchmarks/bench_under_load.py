"""Load does not change the lesson: notebook 02 in fast mode, on a quiet machine and beside a CPU hog.

Runs ``02_contrastive_sar_optical.ipynb`` twice through nbclient (as nbmake does): once as it is, once with
busy-looping processes on every core beside it and torch limited to one thread in the kernel (a loaded
Binder session or an old laptop). Training is sized by ``max_steps``, so both runs must do the same steps
and reach the same retrieval numbers (up to float rounding between thread counts); only the seconds differ.
Prints the numbers side by side and exits 1 when they disagree beyond the tolerance.

    XMODAL_FAST=1 python benchmarks/bench_under_load.py
    XMODAL_FAST=1 python benchmarks/bench_under_load.py --hogs 4 --tolerance 0.02
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_seed_spread import run_once  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_contrastive_sar_optical.ipynb"
COMPARED = (
    "steps",
    "SAR->opt recall@1 x chance",
    "opt->SAR recall@1 x chance",
    "median rank",
    "pair distance after",
)


def _hog() -> None:  # pragma: no cover - a busy loop in a child process
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2**31


def main() -> int:
    """Run the notebook quiet and loaded; print both runs' numbers and whether they agree."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--hogs", type=int, default=os.cpu_count() or 2, help="busy processes beside the loaded run"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=0.02, help="relative difference allowed per number")
    p.add_argument(
        "--quiet-threads", type=int, help="torch threads of the quiet run (default: torch's choice; on a shared "
        "VM 1 avoids oversubscription, which can slow a 2-thread run past the notebook's safety cap)",
    )  # fmt: skip
    args = p.parse_args()
    os.environ.setdefault("XMODAL_FAST", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    print(
        f"# bench_under_load: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
        flush=True,
    )
    prelude = f"torch.set_num_threads({args.quiet_threads})" if args.quiet_threads else ""
    quiet, failed_quiet, s_quiet = run_once(NOTEBOOK, args.seed, prelude=prelude)
    print(f"# quiet run ({args.quiet_threads or 'default'} torch threads): {s_quiet:.0f} s", flush=True)
    hogs = [mp.Process(target=_hog, daemon=True) for _ in range(args.hogs)]
    for h in hogs:
        h.start()
    try:
        loaded, failed_loaded, s_loaded = run_once(NOTEBOOK, args.seed, prelude="torch.set_num_threads(1)")
    finally:
        for h in hogs:
            h.terminate()
            h.join()
    print(f"# loaded run ({args.hogs} CPU hogs, 1 torch thread): {s_loaded:.0f} s", flush=True)
    print(f"\n{'number':32s} {'quiet':>9s} {'loaded':>9s}  same")
    same = True
    for name in COMPARED:
        a, b = quiet.get(name), loaded.get(name)
        ok = a is not None and b is not None and abs(a - b) <= args.tolerance * max(abs(a), abs(b), 1e-9)
        same &= ok
        print(f"{name:32s} {a!s:>9.9s} {b!s:>9.9s}  {'yes' if ok else 'NO'}")
    print(f"{'seconds':32s} {s_quiet:9.0f} {s_loaded:9.0f}")
    for tag, failed in (("quiet", failed_quiet), ("loaded", failed_loaded)):
        for line in failed:
            print(f"FAILED ({tag}) {line}")
    print("same lesson under load:", "yes" if same and not failed_quiet and not failed_loaded else "NO")
    return 0 if same and not failed_quiet and not failed_loaded else 1


if __name__ == "__main__":
    sys.exit(main())
