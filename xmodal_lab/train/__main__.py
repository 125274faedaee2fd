r"""Command line for instructors: pretrain on a workstation or cluster, hand the checkpoint to students.

Example::

    python -m xmodal_lab.train --model croma --preset base --data bigearthnet-mm --root /data/BigEarthNet \
        --devices 8 --max-steps 100000 --batch-size 128 --out croma_base.ckpt --export croma_base.pt

Students then call ``xmodal_lab.train.load_checkpoint("croma_base.ckpt")`` or
``xmodal_lab.models.load_model("croma_base.pt")``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xmodal_lab.config import seed_everything
from xmodal_lab.models.registry import MODELS, build, get_config

from .checkpoint import export_checkpoint
from .datamodule import CachedPairs
from .fit import fit
from .sources import DATA_CHOICES, DataSpec, build_data, tile_size


def _value(text: str) -> Any:
    """A config override value: JSON when it parses (numbers, booleans, lists), else the string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return tuple(value) if isinstance(value, list) else value


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m xmodal_lab.train``."""
    p = argparse.ArgumentParser(
        prog="python -m xmodal_lab.train",
        description="Pretrain a model of xmodal_lab and write a checkpoint (weights, config, normalisation, "
        "data description).",
    )
    m = p.add_argument_group("model")
    m.add_argument("--model", required=True, choices=sorted(MODELS), help="model to train")
    m.add_argument("--preset", default="tiny", help="preset: tiny, small or base (default: tiny)")
    m.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field (repeatable)",
    )
    d = p.add_argument_group("data")
    d.add_argument("--data", default="world", choices=DATA_CHOICES, help="what to train on (default: world)")
    d.add_argument("--root", help="dataset folder (all data but world)")
    d.add_argument("--s1", help="Sentinel-1 GeoTIFF (--data geotiff)")
    d.add_argument("--s2", help="Sentinel-2 GeoTIFF (--data geotiff)")
    d.add_argument(
        "--size", type=int, help="tile side in pixels for world and geotiff (default: model img_size)"
    )
    d.add_argument("--n-scenes", type=int, default=4096, help="world scenes (default: 4096)")
    d.add_argument("--val-size", type=int, default=256, help="held-out pairs for validation (default: 256)")
    d.add_argument("--cache", action="store_true", help="render or read the training data once into memory")
    t = p.add_argument_group("training")
    t.add_argument("--max-steps", type=int, help="optimisation steps")
    t.add_argument("--max-minutes", type=float, help="wall-clock budget in minutes")
    t.add_argument("--batch-size", type=int, default=64, help="pairs per step and device (default: 64)")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    t.add_argument("--weight-decay", type=float, default=0.05)
    t.add_argument("--warmup-steps", type=int, help="default: 5%% of the schedule")
    t.add_argument("--val-every", type=int, default=0, help="validate every N steps (default: at the end)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--devices", default="auto", help="number of devices, or auto")
    t.add_argument("--num-nodes", type=int, default=1, help="machines (DDP across nodes)")
    t.add_argument("--accelerator", default="auto", help="auto, cpu or gpu")
    t.add_argument(
        "--strategy", default="auto", help="Lightning strategy (auto picks DDP for several devices)"
    )
    t.add_argument("--precision", help="default: bf16-mixed on GPU, 32-true on CPU")
    t.add_argument("--num-workers", type=int, default=0, help="DataLoader workers per device")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (for batch jobs)")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, help="checkpoint to write (never overwritten)")
    o.add_argument(
        "--checkpoint-every", type=int, default=0, help="also write <out>-step<N>.ckpt every N steps"
    )
    o.add_argument("--resume", help="continue from this checkpoint")
    o.add_argument("--export", help="also write a small model file for xmodal_lab.models.load_model")
    o.add_argument(
        "--log-dir", help="folder of the training logs (default: <out stem>_logs beside the checkpoint)"
    )
    o.add_argument(
        "--logger", choices=("csv", "tensorboard", "none"), default="csv",
        help="log format: csv (default), tensorboard (needs the tensorboard package) or none",
    )  # fmt: skip
    return p


def default_log_dir(out: str | Path) -> Path:
    """Where the command line writes its logs: ``<out stem>_logs`` beside the checkpoint ``out``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_logs")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the command line.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        A summary: ``{"out", "steps", "seconds", "first_loss", "last_loss", "val"}`` (also printed as JSON).
    """
    p = parser()
    args = p.parse_args(argv)
    if args.max_steps is None and args.max_minutes is None:
        p.error("give --max-steps, --max-minutes or both")
    for path in (args.out, args.export):
        if path is not None and Path(path).exists():
            p.error(f"{path} already exists; choose another file name (checkpoints are never overwritten)")
    overrides = {}
    for item in args.set:
        field, sep, text = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: expected FIELD=VALUE")
        overrides[field.strip()] = _value(text.strip())
    try:
        config = get_config(args.model, args.preset, **overrides)
    except (KeyError, TypeError) as error:
        p.error(str(error))
    fields = {f.name for f in dataclasses.fields(config)}
    img_size = getattr(config, "img_size", None)
    spec = DataSpec(
        kind=args.data, root=args.root, s1=args.s1, s2=args.s2, size=args.size or img_size or 64,
        n_scenes=args.n_scenes, seed=args.seed, val_size=args.val_size,
    )  # fmt: skip
    train, val = build_data(spec)
    size = tile_size(train)
    if "img_size" in fields and "img_size" not in overrides and size is not None and size != img_size:
        print(
            f"xmodal_lab.train: tiles are {size} px; building {args.model} with img_size={size}",
            file=sys.stderr,
        )
        overrides["img_size"] = size
    if args.cache:
        train = CachedPairs(train, num_workers=args.num_workers)
    seed_everything(args.seed)  # the initial weights are part of a repeatable run
    model = build(args.model, args.preset, **overrides)
    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    _, history = fit(
        model, train, max_steps=args.max_steps, max_minutes=args.max_minutes, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps, val_data=val,
        val_every=args.val_every, accelerator=args.accelerator, devices=devices, num_nodes=args.num_nodes,
        strategy=args.strategy, precision=args.precision, num_workers=args.num_workers, seed=args.seed,
        checkpoint=args.out, checkpoint_every=args.checkpoint_every, resume=args.resume,
        progress=not args.no_progress,
        logger=False if args.logger == "none" else args.logger,
        log_dir=None if args.logger == "none" else (args.log_dir or default_log_dir(args.out)),
    )  # fmt: skip
    if history["rank"] != 0:  # under DDP only the first process reports and exports
        return {}
    if args.export:
        export_checkpoint(args.out, args.export)
    summary = {
        "out": str(args.out),
        "export": args.export,
        "steps": history["steps"],
        "seconds": round(history["seconds"], 2),
        "first_loss": history["loss"][0] if history["loss"] else None,
        "last_loss": history["loss"][-1] if history["loss"] else None,
        "val": history["val"][-1] if history["val"] else None,
        "log_dir": history.get("log_dir"),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
