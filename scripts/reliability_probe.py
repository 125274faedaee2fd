"""Run every bad-input case of ``tests/reliability/reliability_cases.py`` and count what the kit did with it.

Categories: ``ok`` (did what the case asks: the named error or warning, or a correct result), ``clear error``
(an error raised by the kit itself, with its own message, but not the one the case asks for), ``raw
traceback`` (an exception from inside torch, Lightning, rasterio, numpy...), ``silent wrong`` (returned a
wrong or meaningless answer without a word), ``lost work`` (reported success without the file) and ``code
execution`` (loading a file ran code from it).

Usage::

    PYTHONPATH=. XMODAL_FAST=1 python scripts/reliability_probe.py [--verbose] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reliability"))
os.environ.setdefault("XMODAL_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

KIT = (str(ROOT / "xmodal_lab"), str(ROOT / "tests" / "reliability"))


def _raised_by_kit(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(KIT)


def classify(case, ctx) -> tuple[str, str]:
    """``(category, detail)`` of one case."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            result = case.run(ctx)
        except BaseException as error:  # noqa: BLE001 - every outcome is counted
            if isinstance(error, KeyboardInterrupt):
                raise
            text = f"{type(error).__name__}: {error}"
            if "CODE EXECUTED" in str(error):
                return "code execution", text
            if (
                case.expect is not None
                and isinstance(error, case.expect)
                and re.search(case.match, str(error))
            ):
                return "ok", text
            if _raised_by_kit(error) or type(error).__name__ == "CliError":
                return ("clear error" if case.expect or case.warn else "raw traceback"), text
            return "raw traceback", text
    hit = [w for w in seen if case.warn is not None and issubclass(w.category, case.warn)
           and re.search(case.match, str(w.message))]  # fmt: skip
    if case.warn is not None:
        if hit:
            return "ok", str(hit[0].message)
        return {"lost": "lost work", "code": "code execution"}.get(case.kind, "silent wrong"), "no warning"
    if case.expect is not None:
        return {"lost": "lost work", "code": "code execution"}.get(
            case.kind, "silent wrong"
        ), f"returned {result!r:.80}"
    try:
        good = case.check(result, ctx)
    except Exception as error:  # noqa: BLE001
        good, result = False, error
    return ("ok", "") if good else ("silent wrong", f"check failed on {result!r:.80}")


def main() -> None:
    """Run the cases and print the counts."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--verbose", action="store_true", help="one line per case")
    p.add_argument("--only", default="", help="run the cases whose id contains this")
    p.add_argument("--skip", action="append", default=[], metavar="SUBSTRING",
                   help="leave out the cases whose id contains this (e.g. ones that hang on an older version)")  # fmt: skip
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    from reliability_cases import CASES
    from reliability_helpers import Ctx, file_hashes

    counts: Counter[str] = Counter()
    modified = 0
    with tempfile.TemporaryDirectory() as tmp:
        chosen = [c for c in CASES if args.only in c.id]
        for case in [c for c in chosen if any(s in c.id for s in args.skip)]:
            counts["skipped"] += 1
            print(f"{'skipped':15s} {case.id}")
        for i, case in enumerate(c for c in chosen if not any(s in c.id for s in args.skip)):
            ctx = Ctx(Path(tmp) / f"case{i}")
            ctx.trained() if case.category in ("checkpoint", "write") else None
            before = file_hashes(ctx.inputs)
            category, detail = classify(case, ctx)
            after = {k: v for k, v in file_hashes(ctx.inputs).items() if k in before}
            if after != before:
                modified += 1
                category = "file modified"
            counts[category] += 1
            if args.verbose or category not in ("ok", "clear error"):
                print(f"{category:15s} {case.id:40s} {detail[:150]!r}")
    total = sum(counts.values())
    print(f"\n{total} cases: " + ", ".join(f"{k} {counts[k]}" for k in (
        "ok", "clear error", "raw traceback", "silent wrong", "lost work", "code execution", "file modified",
        "skipped")))  # fmt: skip


if __name__ == "__main__":
    main()
