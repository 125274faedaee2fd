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
import math
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xmodal_lab.config import seed_everything
from xmodal_lab.errors import CheckpointError, InputTypeError, InputValueError, OutputWriteError
from xmodal_lab.models.registry import MODELS, build, get_config

from .checkpoint import export_checkpoint, read_checkpoint
from .checks import ACCELERATORS, check_devices, check_writable
from .datamodule import CachedPairs
from .fit import fit
from .sources import DATA_CHOICES, DataSpec, build_data, tile_size

#: Errors of the kit that mean "the command line asked for something wrong" (shown as argparse errors).
USAGE_ERRORS = (InputValueError, InputTypeError, CheckpointError, OutputWriteError)


def _number(kind: type, low: float, strict: bool = False) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` (int or float) at least ``low`` (above it when ``strict``)."""
    what = "a whole number" if kind is int else "a number"
    bound = f"> {low:g}" if strict else f">= {low:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {text!r}")
        return value

    parse.__name__ = f"{kind.__name__} {bound}"
    return parse


def _devices(text: str) -> int | str:
    """``--devices``: auto, a positive count, -1 (all) or comma-separated indices (``0,1``)."""
    value: int | str = int(text) if text.lstrip("-").isdigit() else text
    try:
        check_devices(value, "auto")
    except InputValueError:
        raise argparse.ArgumentTypeError(
            f"expected auto, a positive number of devices, -1 (all) or indices like 0,1; got {text!r}"
        ) from None
    return value


def _check_override(config_cls: type, field: str, value: Any, text: str) -> Any:
    """``value`` converted to the type of ``config_cls.field``, or an error naming the expected type."""
    hints = typing.get_type_hints(config_cls)
    if field not in hints:
        return value
    hint = hints[field]
    options = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    for option in options:
        base = typing.get_origin(option) or option
        if option is type(None) and value is None:
            return None
        if base is bool and isinstance(value, bool):
            return value
        if base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is str:
            return text
        if base is tuple and isinstance(value, tuple):
            return value
        if base not in (bool, int, float, str, tuple, type(None)):
            return value  # a type this check does not know: the config decides
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise InputTypeError(f"--set {field}={text}: {config_cls.__name__}.{field} expects {names}, got {text!r}")


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
        "--size",
        type=_number(int, 1),
        help="tile side in pixels for world and geotiff (default: model img_size)",
    )
    d.add_argument("--n-scenes", type=_number(int, 1), default=4096, help="world scenes (default: 4096)")
    d.add_argument(
        "--val-size",
        type=_number(int, 0),
        default=256,
        help="held-out pairs for validation, 0 for none (default: 256)",
    )
    d.add_argument("--cache", action="store_true", help="render or read the training data once into memory")
    t = p.add_argument_group("training")
    t.add_argument("--max-steps", type=_number(int, 1), help="optimisation steps")
    t.add_argument("--max-minutes", type=_number(float, 0, strict=True), help="wall-clock budget in minutes")
    t.add_argument(
        "--batch-size",
        type=_number(int, 2),
        default=64,
        help="pairs per step and device, at least 2 (default: 64)",
    )
    t.add_argument(
        "--lr", type=_number(float, 0, strict=True), default=1e-3, help="peak learning rate (default: 1e-3)"
    )
    t.add_argument("--weight-decay", type=_number(float, 0), default=0.05)
    t.add_argument("--warmup-steps", type=_number(int, 0), help="default: 5%% of the schedule")
    t.add_argument(
        "--val-every", type=_number(int, 0), default=0, help="validate every N steps (default: at the end)"
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--devices", type=_devices, default="auto", help="number of devices, -1 (all), 0,1 or auto"
    )
    t.add_argument("--num-nodes", type=_number(int, 1), default=1, help="machines (DDP across nodes)")
    t.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="auto, cpu or gpu")
    t.add_argument(
        "--strategy", default="auto", help="Lightning strategy (auto picks DDP for several devices)"
    )
    t.add_argument("--precision", help="default: bf16-mixed on GPU, 32-true on CPU")
    t.add_argument("--num-workers", type=_number(int, 0), default=0, help="DataLoader workers per device")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (for batch jobs)")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, help="checkpoint to write (never overwritten)")
    o.add_argument(
        "--checkpoint-every",
        type=_number(int, 0),
        default=0,
        help="also write <out>-step<N>.ckpt every N steps",
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

    Every mistake found before training (bad numbers, a ``--set`` value of the wrong type, missing data, an
    unwritable ``--out``, a ``--resume`` file of another model, no GPU for ``--accelerator gpu``) exits with
    an argparse error (code 2) naming the option; nothing trains first.

    Returns:
        A summary: ``{"out", "steps", "seconds", "first_loss", "last_loss", "val"}`` (also printed as JSON).

    Raises:
        OutputWriteError: a checkpoint did not appear after training (never reported as success).
    """
    p = parser()
    args = p.parse_args(argv)
    if args.max_steps is None and args.max_minutes is None:
        p.error("give --max-steps, --max-minutes or both")
    if args.val_size == 1:
        p.error(
            "--val-size 1: retrieval among one pair gives recall 1.0 whatever the model; use 0 (none) or >= 20"
        )
    if args.accelerator in ("gpu", "cuda"):
        try:
            check_devices(args.devices, args.accelerator)
        except InputValueError:
            p.error(
                f"--accelerator {args.accelerator}: no CUDA GPU is visible here; use --accelerator cpu or auto"
            )
    for path in (args.out, args.export):
        if path is not None and Path(path).exists():
            p.error(f"{path} already exists; choose another file name (checkpoints are never overwritten)")
    try:
        for path, what in ((args.out, "--out"), (args.export, "--export")):
            if path is not None:
                check_writable(path, what)
        if args.resume is not None:
            if not Path(args.resume).is_file():
                p.error(f"--resume {args.resume}: no such checkpoint")
            read_checkpoint(args.resume)
    except USAGE_ERRORS as error:
        p.error(str(error))
    overrides = {}
    for item in args.set:
        field, sep, text = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: expected FIELD=VALUE")
        overrides[field.strip()] = _value(text.strip())
    try:
        config = get_config(args.model, args.preset, **overrides)
        for field, value in overrides.items():
            overrides[field] = _check_override(type(config), field, value, item_text(args.set, field))
        config = get_config(args.model, args.preset, **overrides)
    except (KeyError, TypeError) as error:
        p.error(str(error).strip("'\""))
    fields = {f.name for f in dataclasses.fields(config)}
    img_size = getattr(config, "img_size", None)
    spec = DataSpec(
        kind=args.data, root=args.root, s1=args.s1, s2=args.s2, size=args.size or img_size or 64,
        n_scenes=args.n_scenes, seed=args.seed, val_size=args.val_size,
    )  # fmt: skip
    try:
        train, val = build_data(spec)
    except (ValueError, TypeError, OSError) as error:
        p.error(str(error))
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
    try:
        model = build(args.model, args.preset, **overrides)
    except (ValueError, TypeError, AssertionError, RuntimeError) as error:
        p.error(f"{args.model} cannot be built with {' '.join('--set ' + s for s in args.set)}: {error}")
    devices: int | str = args.devices
    try:  # fit checks everything before its first step; a checkpoint lost after training is no usage error
        history = _fit(args, model, train, val, devices)
    except (InputValueError, InputTypeError, CheckpointError) as error:
        p.error(str(error))
    if history["rank"] != 0:  # under DDP only the first process reports and exports
        return {}
    return _finish(args, history)


def item_text(items: list[str], field: str) -> str:
    """The text after ``FIELD=`` of the last ``--set`` of ``field``."""
    texts = [i.partition("=")[2].strip() for i in items if i.partition("=")[0].strip() == field]
    return texts[-1] if texts else ""


def _fit(args: argparse.Namespace, model: Any, train: Any, val: Any, devices: int | str) -> dict[str, Any]:
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
    return history


def _finish(args: argparse.Namespace, history: dict[str, Any]) -> dict[str, Any]:
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
