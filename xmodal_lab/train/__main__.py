"""Command line for instructors: pretrain on a workstation or cluster, hand the checkpoint to students.

``python -m xmodal_lab.train --model croma --data bigearthnet-mm --root DIR --devices 8 --out croma.ckpt``.
Every mistake found before training exits with an argparse error (code 2) naming the option.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import types
import typing
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from xmodal_lab import data as xdata
from xmodal_lab.config import seed_everything
from xmodal_lab.errors import CheckpointError, InputTypeError, InputValueError, OutputWriteError
from xmodal_lab.models.registry import MODELS, build, get_config

from .checkpoint import check_writable, export_checkpoint, read_checkpoint
from .datamodule import CachedPairs
from .fit import ACCELERATORS, FitConfig, check_devices, fit

DATA_CHOICES = ("world", "bigearthnet-mm", "geotiff", "bigearthnet", "sen12ms", "ssl4eo")
#: The torchgeo adapter of :mod:`xmodal_lab.data` behind each ``--data`` choice.
TORCHGEO_ADAPTERS = {
    "bigearthnet": "TorchGeoBigEarthNet",
    "sen12ms": "TorchGeoSEN12MS",
    "ssl4eo": "TorchGeoSSL4EOS12",
}
#: Errors of the kit that mean "the command line asked for something wrong" (shown as argparse errors).
USAGE_ERRORS = (InputValueError, InputTypeError, CheckpointError, OutputWriteError)


def _number(kind: type, low: float, strict: bool = False) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` (int or float) at least ``low`` (above it when ``strict``)."""
    bound = f"{'a whole number' if kind is int else 'a number'} {'>' if strict else '>='} {low:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}")
        return value

    parse.__name__ = bound
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


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m xmodal_lab.train``."""
    p = argparse.ArgumentParser(
        prog="python -m xmodal_lab.train",
        description="Pretrain a model of xmodal_lab and write a checkpoint (weights, config, normalisation, "
        "data description).",
    )
    count, positive = _number(int, 1), _number(float, 0, strict=True)
    # fmt: off
    m = p.add_argument_group("model")
    m.add_argument("--model", required=True, choices=sorted(MODELS), help="model to train")
    m.add_argument("--preset", default="tiny", help="preset: tiny, small or base (default: tiny)")
    m.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field (repeatable)")
    d = p.add_argument_group("data")
    d.add_argument("--data", default="world", choices=DATA_CHOICES, help="what to train on (default: world)")
    d.add_argument("--root", help="dataset folder (all data but world)")
    d.add_argument("--s1", help="Sentinel-1 GeoTIFF (--data geotiff)")
    d.add_argument("--s2", help="Sentinel-2 GeoTIFF (--data geotiff)")
    d.add_argument("--size", type=count, help="tile side in pixels for world and geotiff (default: model img_size)")
    d.add_argument("--n-scenes", type=count, default=4096, help="world scenes (default: 4096)")
    d.add_argument("--val-size", type=_number(int, 0), default=256, help="held-out pairs, 0 for none (default: 256)")
    d.add_argument("--cache", action="store_true", help="render or read the training data once into memory")
    t = p.add_argument_group("training")
    t.add_argument("--max-steps", type=count, help="optimisation steps")
    t.add_argument("--max-minutes", type=positive, help="wall-clock budget in minutes")
    t.add_argument("--batch-size", type=_number(int, 2), default=64, help="pairs per step and device (default: 64)")
    t.add_argument("--lr", type=positive, default=1e-3, help="peak learning rate (default: 1e-3)")
    t.add_argument("--weight-decay", type=_number(float, 0), default=0.05)
    t.add_argument("--warmup-steps", type=_number(int, 0), help="default: 5%% of the schedule")
    t.add_argument("--val-every", type=_number(int, 0), default=0, help="validate every N steps (default: at the end)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--devices", type=_devices, default="auto", help="number of devices, -1 (all), 0,1 or auto")
    t.add_argument("--num-nodes", type=count, default=1, help="machines (DDP across nodes)")
    t.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="auto, cpu or gpu")
    t.add_argument("--strategy", default="auto", help="Lightning strategy (auto picks DDP for several devices)")
    t.add_argument("--precision", help="default: bf16-mixed on GPU, 32-true on CPU")
    t.add_argument("--num-workers", type=_number(int, 0), default=0, help="DataLoader workers per device")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (for batch jobs)")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, help="checkpoint to write (never overwritten)")
    o.add_argument("--checkpoint-every", type=_number(int, 0), default=0, help="also write <out>-step<N>.ckpt every N steps")
    o.add_argument("--resume", help="continue from this checkpoint")
    o.add_argument("--export", help="also write a small model file for xmodal_lab.models.load_model")
    o.add_argument("--log-dir", help="folder of the logs (default: <out stem>_logs beside the checkpoint)")
    o.add_argument("--logger", choices=("csv", "tensorboard", "none"), default="csv", help="log format (default: csv)")
    # fmt: on
    return p


def default_log_dir(out: str | Path) -> Path:
    """Where the command line writes its logs: ``<out stem>_logs`` beside the checkpoint ``out``."""
    return Path(out).with_name(f"{Path(out).stem}_logs")


def _typed(config_cls: type, field: str, text: str) -> Any:
    """The ``--set`` text as the type of ``config_cls.field``: JSON when it parses, else the string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    value = tuple(value) if isinstance(value, list) else value
    hint = typing.get_type_hints(config_cls).get(field)
    if hint is None:
        return value  # not a field: get_config names it
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        base = typing.get_origin(option) or option
        if base is str:
            return text
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is type(value):
            return value
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise InputTypeError(f"--set {field}={text}: {config_cls.__name__}.{field} expects {names}, got {text!r}")


def split(dataset: Dataset, val_size: int, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """``(train, val)``: hold out ``val_size`` random items, never more than a fifth (``val`` may be None)."""
    n = len(dataset)
    k = min(val_size, n // 5)
    if k == 1:  # recall among one pair is 1.0 whatever the model: no validation rather than a meaningless one
        warnings.warn(
            f"--val-size: {n} pairs are too few to hold out a validation set (a fifth is 1 pair); "
            "training without validation",
            stacklevel=2,
        )
    if k <= 1:
        return dataset, None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, sorted(order[k:])), Subset(dataset, sorted(order[:k]))


def _root(args: argparse.Namespace) -> Path:
    if args.root is None:
        raise ValueError(f"--data {args.data} needs --root PATH (the dataset folder)")
    root = Path(args.root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"--root {root}: no such folder; expected the {args.data} dataset there")
    return root


def _geotiff(args: argparse.Namespace, tag: str) -> Path:
    """``--s1`` / ``--s2``, else the one GeoTIFF under ``--root`` whose name holds ``tag``."""
    if getattr(args, tag):
        return Path(getattr(args, tag))
    if args.root is None:
        raise ValueError("--data geotiff needs --s1 FILE and --s2 FILE, or --root holding both")
    root = Path(args.root).expanduser()
    hits = sorted(p for p in root.glob("*.tif*") if tag in p.name.lower())
    if len(hits) != 1:
        raise FileNotFoundError(
            f"--root {root}: expected exactly one GeoTIFF whose name contains '{tag}', found "
            f"{[p.name for p in hits]}; pass --s1 and --s2 explicitly"
        )
    return hits[0]


def build_data(args: argparse.Namespace, size: int) -> tuple[Dataset, Dataset | None]:
    """The training and validation datasets the options name (``val`` may be None)."""
    if args.data == "world":
        train = xdata.SimulatedWorld(seed=args.seed, size=size, n_scenes=args.n_scenes)
        if args.val_size <= 0:
            return train, None
        return train, xdata.SimulatedWorld(seed=args.seed + 1, size=size, n_scenes=args.val_size)
    if args.data == "bigearthnet-mm":
        dataset = xdata.BigEarthNetMM(_root(args))
    elif args.data == "geotiff":
        dataset = xdata.PairedRasterDataset(_geotiff(args, "s1"), _geotiff(args, "s2"), size=size)
    else:  # the training split, as torchgeo defines it
        dataset = getattr(xdata, TORCHGEO_ADAPTERS[args.data])(_root(args))
    if len(dataset) == 0:
        raise ValueError(f"--data {args.data}: the dataset at {args.root or args.s1} holds no pairs")
    return split(dataset, args.val_size, args.seed)


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """Everything checkable before building data and model; returns the ``--set`` overrides and the config."""
    if args.max_steps is None and args.max_minutes is None:
        p.error("give --max-steps, --max-minutes or both")
    if args.val_size == 1:
        p.error(
            "--val-size 1: retrieval among one pair gives recall 1.0 whatever the model; use 0 (none) or >= 20"
        )
    for path in (args.out, args.export):
        if path is not None and Path(path).exists():
            p.error(f"{path} already exists; choose another file name (checkpoints are never overwritten)")
    texts = {}
    for item in args.set:
        field, sep, text = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: expected FIELD=VALUE")
        texts[field.strip()] = text.strip()
    try:
        check_devices(args.devices, args.accelerator)
        for path, what in ((args.out, "--out"), (args.export, "--export")):
            if path is not None:
                check_writable(path, what)
        if args.resume is not None:
            if not Path(args.resume).is_file():
                raise InputValueError(f"--resume {args.resume}: no such checkpoint")
            read_checkpoint(args.resume)
        config_cls = type(get_config(args.model, args.preset))
        overrides = {field: _typed(config_cls, field, text) for field, text in texts.items()}
        return overrides, get_config(args.model, args.preset, **overrides)
    except USAGE_ERRORS as error:
        p.error(str(error))
    except (KeyError, TypeError, ValueError) as error:
        p.error(str(error).strip("'\""))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the command line; returns (and prints as JSON) a summary, ``{}`` on DDP processes but the first."""
    p = parser()
    args = p.parse_args(argv)
    overrides, model_config = _check_args(p, args)
    img_size = getattr(model_config, "img_size", None)
    try:
        train, val = build_data(args, args.size or img_size or 64)
    except (ValueError, TypeError, OSError) as error:
        p.error(str(error))
    first = train[0]
    size = next(
        (int(first[k].shape[-1]) for k in ("s2", "s1") if isinstance(first.get(k), torch.Tensor)), None
    )
    if img_size is not None and "img_size" not in overrides and size is not None and size != img_size:
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
    config = FitConfig(
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        checkpoint_every=args.checkpoint_every,
        logger=False if args.logger == "none" else args.logger,
        num_workers=args.num_workers,
        accelerator=args.accelerator,
        devices=args.devices,
        num_nodes=args.num_nodes,
        strategy=args.strategy,
        precision=args.precision,
    )
    try:  # fit checks everything before its first step; a checkpoint lost after training is no usage error
        _, history = fit(
            model,
            train,
            max_steps=args.max_steps,
            max_minutes=args.max_minutes,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            val_data=val,
            val_every=args.val_every,
            checkpoint=args.out,
            resume=args.resume,
            log_dir=None if args.logger == "none" else (args.log_dir or default_log_dir(args.out)),
            progress=not args.no_progress,
            config=config,
        )
    except (InputValueError, InputTypeError, CheckpointError) as error:
        p.error(str(error))
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
