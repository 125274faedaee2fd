"""The numbers each lesson checks, over several seeds: where the check cells' thresholds come from.

Runs a curriculum notebook in fast mode once per seed (a cell ``SEED = s`` after its parameters cell), keeps
going past failing check cells, and after the last cell reads the numbers that the notebook's check cells
assert (listed per notebook in :data:`CHECKED`). Prints, per notebook and number, mean +/- sd over the
seeds and each seed's value, the check cells that failed, and each run's seconds; ``--json`` keeps them.

    XMODAL_FAST=1 python benchmarks/bench_seed_spread.py notebooks/02_contrastive_sar_optical.ipynb
    XMODAL_FAST=1 python benchmarks/bench_seed_spread.py --seeds 0 1 2 3 --json spread.json notebooks/0[2-4]*

The spread depends on the seeds only (training is deterministic on a CPU); the seconds depend on the machine
and its load: say which when you quote them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from xmodal_lab.files import publish_text

#: Per notebook (file stem), the numbers its check cells assert: name -> Python expression in its namespace.
CHECKED: dict[str, dict[str, str]] = {
    "01_sar_and_optical": {
        "water VV dB": "water_vv",
        "speckle CV / theory (worst)": "worst_cv_ratio",
        "forest NDVI": "class_ndvi.get('forest')",
        "water NDVI": "class_ndvi.get('water')",
    },
    "02_contrastive_sar_optical": {
        "steps": "history['steps']",
        "loss end / start": "loss_end / loss_start",
        "before: recall@1 hits": "metrics_before['recall@1'] * N_TEST",
        "SAR->opt recall@1 x chance": "metrics_after['recall@1'] * N_TEST",
        "opt->SAR recall@1 x chance": "metrics_back['recall@1'] * N_TEST",
        "median rank": "metrics_after['median_rank']",
        "pair distance before": "proj_before['pair_distance']",
        "pair distance after": "proj_after['pair_distance']",
        "open water median rank / chance's": "kinds['open water']['relative']",
        "cropland median rank / chance's": "kinds['cropland']['relative']",
        "urban median rank / chance's": "kinds['urban']['relative']",
        "cropland median - chance low": "kinds['cropland']['median'] - kinds['cropland']['low']",
        "urban median - chance low": "kinds['urban']['median'] - kinds['urban']['low']",
    },
    "03_scale_mae": {
        "loss end / start": "loss_end / loss_start",
        "Scale-MAE kNN at 40 m": "table['Scale-MAE'][40.0]",
        "plain MAE kNN at 40 m": "table['plain MAE'][40.0]",
        "gap at 20 m": "gap[20.0]",
        "gap at 40 m": "gap[40.0]",
        "raw-pixel kNN at 40 m": "table['raw pixels'][40.0]",
        "majority class at 40 m": "table['majority'][40.0]",
        "super-resolution RMS / bicubic": "rms_sr / rms_bicubic",
    },
    "04_croma": {
        "steps": "history['steps']",
        "s1 mAP trained - random": "probe['s1'][0] - probe['s1'][1]",
        "s2 mAP trained - random": "probe['s2'][0] - probe['s2'][1]",
        "joint mAP trained - random": "probe['joint'][0] - probe['joint'][1]",
        "s1 mAP": "probe['s1'][0]",
        "s2 mAP": "probe['s2'][0]",
        "joint mAP": "probe['joint'][0]",
        "R@5 trained": "r_trained",
        "R@5 random": "r_rand",
        "radar accuracy 100% cloud - clear": "acc['s1', 1.0] - acc['s1', 0.0]",
        "optical accuracy 100% cloud - clear": "acc['s2', 1.0] - acc['s2', 0.0]",
        "joint accuracy 100% cloud": "acc['joint', 1.0]",
        "joint + cloud masking accuracy 100% cloud": "acc['joint+mask', 1.0]",
        "opt->radar transfer trained - random": "transfer_trained - transfer_random",
    },
    "06_segment_anything": {
        "water s2 IoU": "results[('water', 's2')][0]",
        "water s1 IoU": "results[('water', 's1')][0]",
        "forest s2 IoU": "results[('forest', 's2')][0]",
        "forest s1 IoU": "results[('forest', 's1')][0]",
        "water VV-threshold IoU": "baselines['water']",
        "forest VH-threshold IoU": "baselines['forest']",
        "water NDWI-threshold IoU": "expects['water_ndwi']",
        "forest NDVI-threshold IoU": "expects['forest_ndvi']",
        "radar one-shot - threshold": "radar_gap",
        "optical one-shot - threshold": "optical_gap",
        "positive point on water": "on_water",
        "negative point off water": "off_water",
        "forest s1 one-shot area ratio": "encoder_ratio",
    },
    "07_group_projects": {
        "contrastive s2 probe": "table['contrastive']['s2']",
        "contrastive s1 probe": "table['contrastive']['s1']",
        "skysense joint probe": "table['skysense'].get('joint')",
        "majority class": "majority",
        "mmearth s2 only": "list(ablation.values())[0]",
        "mmearth all tasks": "list(ablation.values())[-1]",
    },
}

READ = """
import json as _json, math as _math
_out = {}
for _name, _expr in {exprs!r}.items():
    try:
        _v = float(eval(_expr))
        _out[_name] = _v if _math.isfinite(_v) else None
    except Exception:
        _out[_name] = None
print("SEED_SPREAD " + _json.dumps(_out))
"""


def run_once(path: Path, seed: int, prelude: str = "") -> tuple[dict, list[str], float]:
    """Execute one notebook with ``SEED = seed``; return (checked numbers, failed check cells, seconds).

    ``prelude`` is more code for the cell after the parameters cell (``torch.set_num_threads(1)`` ...).
    """
    book = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    book.cells.insert(at + 1, nbformat.v4.new_code_cell(f"SEED = {seed}\n{prelude}"))
    book.cells.append(nbformat.v4.new_code_cell(READ.replace("{exprs!r}", repr(CHECKED.get(path.stem, {})))))
    client = NotebookClient(
        book, timeout=1200, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": path.parent}},
    )  # fmt: skip
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    failed, numbers = [], {}
    for i, cell in enumerate(book.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                failed.append(f"cell {i} ({'check' if 'check' in cell.metadata.get('tags', []) else 'code'}): "
                              f"{out.get('ename')}: {str(out.get('evalue'))[:160]}")  # fmt: skip
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if line.startswith("SEED_SPREAD "):
                    numbers = json.loads(line[len("SEED_SPREAD ") :])
    return numbers, failed, seconds


def main() -> int:
    """Run each notebook over the seeds and print the spread of its checked numbers."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--json", type=Path, help="also write the results here (an existing file is kept)")
    args = p.parse_args()
    os.environ.setdefault("XMODAL_FAST", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.json is not None and args.json.exists():
        p.error(f"--json {args.json} exists; choose a new file")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# bench_seed_spread: {os.cpu_count()} cores, load average {load:.1f}; seeds {args.seeds}",
        flush=True,
    )
    results = {}
    for path in args.notebooks:
        runs = []
        for seed in args.seeds:
            numbers, failed, seconds = run_once(path, seed)
            runs.append({"seed": seed, "numbers": numbers, "failed": failed, "seconds": round(seconds, 1)})
            print(f"{path.stem} seed {seed}: {seconds:.0f} s; {json.dumps(numbers)}", flush=True)
            for line in failed:
                print(f"    FAILED {line}", flush=True)
        results[path.stem] = runs
        print(f"\n{path.stem}")
        for name in CHECKED.get(path.stem, {}):
            values = [r["numbers"].get(name) for r in runs]
            ok = [v for v in values if v is not None]
            spread = (
                f"{statistics.fmean(ok):8.3f} +/- {statistics.stdev(ok):6.3f}"
                if len(ok) >= 2
                else f"{'n/a':>17s}"
            )
            each = ", ".join("-" if v is None else f"{v:.3f}" for v in values)
            print(f"  {name:38s} {spread}   ({each})")
        print(f"  {'seconds':38s} {', '.join(str(r['seconds']) for r in runs)}\n", flush=True)
    if args.json is not None:
        publish_text(args.json, json.dumps(results, indent=1), "benchmark JSON")
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
