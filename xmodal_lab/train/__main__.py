"""Command line for instructors: ``python -m xmodal_lab.train --config configs/croma.yaml`` (flags override it)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import Dataset, Subset

from xmodal_lab import data as xdata
from xmodal_lab.config import seed_everything
from xmodal_lab.errors import CheckpointError, InputTypeError, InputValueError, OutputWriteError
from xmodal_lab.files import publish
from xmodal_lab.models.registry import MODELS, build, get_config

from .checkpoint import _plain, check_writable, export_checkpoint, read_checkpoint
from .datamodule import CachedPairs
from .fit import ACCELERATORS, NUMBERS, FitConfig, check_numbers, fit

DATA_CHOICES = ("world", "bigearthnet-mm", "geotiff", "bigearthnet", "sen12ms", "ssl4eo")
#: The dataset of :mod:`xmodal_lab.data` behind each ``--data`` choice that reads a folder (``--root``).
FOLDER_DATASETS = {"bigearthnet-mm": "BigEarthNetMM", "bigearthnet": "TorchGeoBigEarthNet",
                   "sen12ms": "TorchGeoSEN12MS", "ssl4eo": "TorchGeoSSL4EOS12"}  # fmt: skip
#: Errors of the kit that mean "the command line asked for something wrong" (shown as argparse errors).
USAGE_ERRORS = (InputValueError, InputTypeError, CheckpointError, OutputWriteError)
#: The sections of a config file and their keys, each the ``dest`` of a flag but ``data.name`` (``--data``).
CONFIG_SECTIONS = {
    "data": ("name", "root", "s1", "s2", "size", "n_scenes", "val_size", "cache"),
    "fit": (*NUMBERS, "progress"),
    "fit_config": tuple(f.name for f in dataclasses.fields(FitConfig)
                        if f.name not in ("cache", "callbacks", "record")),
    "output": ("out", "export", "resume", "log_dir"),
}
CONFIG_KEYS = ("model", "preset", "set", "data", "fit", "output")
_DEST = {"name": "data"}


def _devices(text: str) -> int | str:
    """``--devices``: a count or -1 as a number, ``auto`` or indices (``0,1``) as text."""
    return int(text) if text.lstrip("-").isdigit() else text


#: The flags of each group: flag, type (None: text), default, help and add_argument's other keywords, if any.
FLAGS = {
    "model": (
        ("--model", None, None, "model to train (required)", {"choices": sorted(MODELS)}),
        ("--preset", None, "tiny", "preset: tiny, small or base (default: tiny)"),
        ("--set", None, [], "override a config field", {"action": "append", "metavar": "FIELD=VALUE"}),
    ),
    "data": (
        ("--data", None, "world", "what to train on (default: world)", {"choices": DATA_CHOICES}),
        ("--root", None, None, "dataset folder (all data but world)"),
        ("--s1", None, None, "Sentinel-1 GeoTIFF (--data geotiff)"),
        ("--s2", None, None, "Sentinel-2 GeoTIFF (--data geotiff)"),
        ("--size", int, None, "tile side in pixels (default: the model's img_size)"),
        ("--n-scenes", int, 4096, "world scenes (default: 4096)"),
        ("--val-size", int, 256, "held-out pairs, 0 for none (default: 256)"),
        ("--cache", None, False, "render or read the training data once into memory", {"action": "store_true"}),
    ),
    "training": (
        ("--max-steps", int, None, "optimisation steps"),
        ("--max-minutes", float, None, "wall-clock budget in minutes"),
        ("--batch-size", int, 64, "pairs per step and device (default: 64)"),
        ("--lr", float, 1e-3, "peak learning rate (default: 1e-3)"),
        ("--val-every", int, 0, "validate every N steps (default: at the end)"),
        ("--seed", int, 0, None),
        ("--no-progress", None, True, "no progress bar", {"dest": "progress", "action": "store_false"}),
        # FitConfig's knobs, with its defaults
        ("--weight-decay", float, FitConfig.weight_decay, "AdamW weight decay (default: 0.05)"),
        ("--warmup-steps", int, FitConfig.warmup_steps, "default: 5%% of the schedule"),
        ("--schedule-steps", int, FitConfig.schedule_steps, "cosine schedule length beyond --max-steps"),
        ("--grad-clip", float, FitConfig.grad_clip, "gradient-norm clip (default: 1)"),
        ("--devices", _devices, FitConfig.devices, "number of devices, -1 (all), 0,1 or auto"),
        ("--num-nodes", int, FitConfig.num_nodes, "machines (DDP across nodes)"),
        ("--accelerator", str, FitConfig.accelerator, "auto, cpu or gpu", {"choices": ACCELERATORS}),
        ("--strategy", str, FitConfig.strategy, "Lightning strategy (auto picks DDP for several devices)"),
        ("--precision", str, FitConfig.precision, "default: bf16-mixed on GPU, 32-true on CPU"),
        ("--num-workers", int, FitConfig.num_workers, "DataLoader workers per device"),
        ("--checkpoint-every", int, FitConfig.checkpoint_every, "write <out>-step<N>.ckpt every N steps"),
    ),
    "output": (
        ("--out", None, None, "checkpoint to write (required; never overwritten)"),
        ("--resume", None, None, "continue from this checkpoint"),
        ("--export", None, None, "also write a small model file for xmodal_lab.models.load_model"),
        ("--log-dir", None, None, "folder of the logs (default: <out stem>_logs beside the checkpoint)"),
        ("--logger", None, "csv", "log format (default: csv)", {"choices": ("csv", "tensorboard", "none")}),
    ),
}


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m xmodal_lab.train``; ``fit`` checks the numbers."""
    p = argparse.ArgumentParser(prog="python -m xmodal_lab.train", description="Pretrain a model of xmodal_lab "
                                "and write a checkpoint (weights, config, normalisation, data description).")
    p.add_argument("--config", metavar="FILE", help="a YAML run config (configs/*.yaml); flags override it")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    for group, flags in FLAGS.items():
        g = p.add_argument_group(group)
        for flag, kind, default, text, *options in flags:
            typed = {"type": kind} if kind is not None else {}
            g.add_argument(flag, default=default, help=text, **typed, **(options[0] if options else {}))
    return p


def default_log_dir(out: str | Path) -> Path:
    """Where the command line writes its logs: ``<out stem>_logs`` beside the checkpoint ``out``."""
    return Path(out).with_name(f"{Path(out).stem}_logs")


def config_path(checkpoint: str | Path) -> Path:
    """Where the command line writes a run's config: ``<checkpoint stem>.yaml`` beside the checkpoint."""
    return Path(checkpoint).with_suffix(".yaml")


def _mapping(block: Any, valid: Sequence[str] | None, where: str, path: str | Path) -> dict[str, Any]:
    """``block`` of a config file as a dict; an ``InputValueError`` names an unknown key and the valid ones."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        what = f"'{where.rstrip('.')}'" if where else "the file"
        raise InputValueError(f"--config {path}: {what} must be a mapping of keys to values, got {block!r}")
    unknown = [key for key in block if valid is not None and key not in valid]
    if unknown:
        of = f" of '{where.rstrip('.')}'" if where else ""
        raise InputValueError(
            f"--config {path}: unknown key '{where}{unknown[0]}'; the valid keys{of} are {', '.join(valid)}")
    return block


def _option(action: argparse.Action, value: Any, key: str) -> Any:
    """A config file's ``value`` for the flag of ``action``, checked as the command line checks it."""
    if value is None:
        if action.default is None or action.dest == "grad_clip":  # FitConfig's grad_clip=None: no clipping
            return None
        raise InputValueError(f"{key}: null is not allowed; leave the key out for the default {action.default!r}")
    if action.nargs == 0:  # an on/off flag
        if not isinstance(value, bool):
            raise InputTypeError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(value, (bool, list, dict)):
        raise InputTypeError(f"{key}: expected a single value, got {value!r}")
    try:
        value = action.type(str(value)) if action.type else str(value)
    except ValueError:
        kind = {int: "a whole number", float: "a number"}.get(action.type, "a value")
        raise InputValueError(f"{key}: expected {kind}, got {str(value)!r}") from None
    if action.choices is not None and value not in action.choices:
        raise InputValueError(f"{key}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def read_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A YAML run config as its flags' values (by ``dest``) and its ``set`` overrides, checked."""
    try:
        with open(path) as file:
            raw = yaml.safe_load(file)
    except (OSError, UnicodeDecodeError) as error:
        cause = getattr(error, "strerror", None) or error
        raise InputValueError(f"--config {path}: cannot be read ({cause})") from None
    except yaml.YAMLError as error:
        raise InputValueError(f"--config {path}: not valid YAML ({error})") from None
    raw = _mapping(raw, CONFIG_KEYS, "", path)
    fit_block = dict(_mapping(raw.get("fit"), (*CONFIG_SECTIONS["fit"], "fit_config"), "fit.", path))
    blocks = {"data.": raw.get("data"), "fit.fit_config.": fit_block.pop("fit_config", None)}
    blocks.update({"fit.": fit_block, "output.": raw.get("output")})
    actions = {action.dest: action for action in parser()._actions}
    values = {key: _option(actions[key], raw[key], f"--config {path}: {key}") for key in ("model", "preset")
              if key in raw}
    for where, block in blocks.items():
        keys = CONFIG_SECTIONS[where.rstrip(".").rsplit(".", 1)[-1]]
        for key, value in _mapping(block, keys, where, path).items():
            dest = _DEST.get(key, key)
            values[dest] = _option(actions[dest], value, f"--config {path}: {where}{key}")
    return values, _mapping(raw.get("set"), None, "set.", path)


def run_config(args: argparse.Namespace, overrides: dict[str, Any]) -> dict[str, Any]:
    """The run as a config file: ``--config`` of this dict (as YAML) repeats the run."""
    section = {name: {k: getattr(args, _DEST.get(k, k)) for k in keys} for name, keys in CONFIG_SECTIONS.items()}
    return {"model": args.model, "preset": args.preset, "set": {f: _plain(v) for f, v in overrides.items()},
            "data": section["data"], "fit": {**section["fit"], "fit_config": section["fit_config"]},
            "output": section["output"]}  # fmt: skip


def write_config(config: dict[str, Any], path: str | Path) -> Path:
    """Write a run's ``config`` as YAML, published as a new file (never over an existing one)."""
    text = yaml.safe_dump(config, sort_keys=False)
    return publish(path, lambda tmp: tmp.write_text(text), "run config",
                   check=lambda tmp: yaml.safe_load(tmp.read_text()) == config)


def _typed(config_cls: type, field: str, text: str, where: str = "--set ") -> Any:
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
    raise InputTypeError(f"{where}{field}={text}: {config_cls.__name__}.{field} expects {names}, got {text!r}")


def split(dataset: Dataset, val_size: int, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """``(train, val)``: hold out ``val_size`` random items, never more than a fifth (``val`` may be None)."""
    n = len(dataset)
    k = min(val_size, n // 5)
    if k == 1:  # recall among one pair is 1.0 whatever the model: no validation rather than a meaningless one
        warnings.warn(f"--val-size: {n} pairs are too few to hold out a validation set (a fifth is 1 pair); "
                      "training without validation", stacklevel=2)  # fmt: skip
    if k <= 1:
        return dataset, None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, sorted(order[k:])), Subset(dataset, sorted(order[:k]))


def _geotiff(args: argparse.Namespace, tag: str) -> Path:
    """``--s1`` / ``--s2``, else the one GeoTIFF under ``--root`` whose name holds ``tag``."""
    if getattr(args, tag):
        return Path(getattr(args, tag))
    if args.root is None:
        raise ValueError("--data geotiff needs --s1 FILE and --s2 FILE, or --root holding both")
    root = Path(args.root).expanduser()
    hits = sorted(p for p in root.glob("*.tif*") if tag in p.name.lower())
    if len(hits) != 1:
        raise FileNotFoundError(f"--root {root}: expected exactly one GeoTIFF whose name contains '{tag}', "
                                f"found {[p.name for p in hits]}; pass --s1 and --s2 explicitly")  # fmt: skip
    return hits[0]


def build_data(args: argparse.Namespace, size: int) -> tuple[Dataset, Dataset | None]:
    """The training and validation datasets the options name (``val`` may be None)."""
    if args.data == "world":
        train = xdata.SimulatedWorld(seed=args.seed, size=size, n_scenes=args.n_scenes)
        if args.val_size <= 0:
            return train, None
        return train, xdata.SimulatedWorld(seed=args.seed + 1, size=size, n_scenes=args.val_size)
    if args.data == "geotiff":
        dataset = xdata.PairedRasterDataset(_geotiff(args, "s1"), _geotiff(args, "s2"), size=size)
    elif args.root is None:
        raise ValueError(f"--data {args.data} needs --root PATH (the dataset folder)")
    elif not Path(args.root).expanduser().exists():
        raise FileNotFoundError(f"--root {args.root}: no such folder; expected the {args.data} dataset there")
    else:
        dataset = getattr(xdata, FOLDER_DATASETS[args.data])(Path(args.root).expanduser())
    if len(dataset) == 0:
        raise ValueError(f"--data {args.data}: the dataset at {args.root or args.s1} holds no pairs")
    return split(dataset, args.val_size, args.seed)


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace, file_set: dict) -> tuple[dict, Any, FitConfig]:
    """Everything checkable before building data and model: the ``set`` overrides, model config, fit config."""
    if args.model is None:
        p.error("give --model NAME (or model: in the --config file)")
    for flag, value, low in (("--size", args.size, 1), ("--n-scenes", args.n_scenes, 1),
                             ("--val-size", args.val_size, 0)):
        if value is not None and value < low:
            p.error(f"{flag} {value}: expected a whole number >= {low}")
    if args.val_size == 1:
        p.error("--val-size 1: retrieval among one pair gives recall 1.0 whatever the model; use 0 (none) or >= 20")
    if args.out is not None and Path(args.out).suffix == ".yaml":
        p.error(f"--out {args.out}: the run's config is written as <stem>.yaml; name the checkpoint *.ckpt")
    texts = {f: (v if isinstance(v, str) else json.dumps(v, default=str), "set.") for f, v in file_set.items()}
    for item in args.set:
        field, sep, text = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: expected FIELD=VALUE")
        texts[field.strip()] = (text.strip(), "--set ")
    knobs = {key: getattr(args, key) for key in CONFIG_SECTIONS["fit_config"]}
    knobs["logger"] = False if args.logger == "none" else args.logger
    try:
        config = FitConfig(**knobs)
        check_numbers(*(getattr(args, key) for key in NUMBERS), config)
        if not args.print_config:  # which needs neither --out nor a step count, and checks no file
            _check_run(args)
        config_cls = type(get_config(args.model, args.preset))
        overrides = {field: _typed(config_cls, field, *text) for field, text in texts.items()}
        return overrides, get_config(args.model, args.preset, **overrides), config
    except USAGE_ERRORS as error:
        p.error(str(error))
    except (KeyError, TypeError, ValueError) as error:
        p.error(str(error).strip("'\""))


def _check_run(args: argparse.Namespace) -> None:
    """A step budget, and the files of a run: new names in writable folders, a checkpoint to resume."""
    if args.out is None:
        raise InputValueError("give --out FILE, the checkpoint to write (or output.out in the --config file)")
    if args.max_steps is None and args.max_minutes is None:
        raise InputValueError("give --max-steps, --max-minutes or both")
    for path in (args.out, args.export, config_path(args.out)):
        if path is not None and Path(path).exists():
            raise InputValueError(
                f"{path} already exists; choose another file name (checkpoints are never overwritten)")
    check_writable(args.out, "--out")
    if args.logger != "none":
        log_dir = Path(args.log_dir or default_log_dir(args.out))
        if log_dir.exists() and not log_dir.is_dir():
            raise InputValueError(f"--log-dir {log_dir} is a file, not a folder; choose a folder for the logs")
        check_writable(log_dir / "version_0", "--log-dir")
    if args.export is not None:
        check_writable(args.export, "--export")
    if args.resume is not None:
        if not Path(args.resume).is_file():
            raise InputValueError(f"--resume {args.resume}: no such checkpoint")
        read_checkpoint(args.resume)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the command line; returns (and prints) a summary, ``{}`` on DDP processes but the first."""
    p = parser()
    args = p.parse_args(argv)
    file_set: dict[str, Any] = {}
    if args.config is not None:  # the file's values replace the defaults; the flags given still win
        try:
            values, file_set = read_config(args.config)
        except USAGE_ERRORS as error:
            p.error(str(error))
        p.set_defaults(**values)
        args = p.parse_args(argv)
    overrides, model_config, config = _check_args(p, args, file_set)
    if args.print_config:
        resolved = run_config(args, overrides)
        print(yaml.safe_dump(resolved, sort_keys=False), end="")
        return resolved
    img_size = getattr(model_config, "img_size", None)
    try:
        train, val = build_data(args, args.size or img_size or 64)
    except (ValueError, TypeError, OSError) as error:
        p.error(str(error))
    first = train[0]
    size = next((int(first[k].shape[-1]) for k in ("s2", "s1") if isinstance(first.get(k), torch.Tensor)), None)
    if img_size is not None and "img_size" not in overrides and size is not None and size != img_size:
        print(f"xmodal_lab.train: tiles are {size} px; building {args.model} with img_size={size}", file=sys.stderr)
        overrides["img_size"] = size
    patch, tiles = getattr(model_config, "patch_size", None), overrides.get("img_size", img_size)
    if patch and tiles and getattr(model_config, "backbone", "vit") == "vit" and tiles % patch:
        p.error(f"patch_size={patch}: the {tiles} px tiles are not a multiple of it; choose a patch_size "
                f"that divides {tiles} (--set patch_size=...) or another --size")  # fmt: skip
    if args.cache:
        train = CachedPairs(train, num_workers=args.num_workers)
    seed_everything(args.seed)  # the initial weights are part of a repeatable run
    try:
        model = build(args.model, args.preset, **overrides)
    except (ValueError, TypeError, AssertionError, RuntimeError) as error:
        p.error(f"{args.model} cannot be built with {' '.join('--set ' + s for s in args.set)}: {error}")
    resolved = run_config(args, overrides)  # with the img_size the tiles decided
    config.record = {"run_config": resolved}
    budget = {key: getattr(args, key) for key in CONFIG_SECTIONS["fit"]}
    log_dir = None if args.logger == "none" else (args.log_dir or default_log_dir(args.out))
    files = {"checkpoint": args.out, "resume": args.resume, "log_dir": log_dir}
    try:  # fit checks everything before its first step; a checkpoint lost after training is no usage error
        _, history = fit(model, train, **budget, **files, val_data=val, config=config)
    except (InputValueError, InputTypeError, CheckpointError) as error:
        p.error(str(error))
    if history["rank"] != 0:  # under DDP only the first process reports and exports
        return {}
    if args.export:
        export_checkpoint(args.out, args.export)
    try:
        saved = write_config(resolved, config_path(args.out))
    except OSError as error:
        raise OutputWriteError(f"{config_path(args.out)}: the run's config was not written ({error}); "
                               f"checkpoint_info({str(args.out)!r})['run_config'] holds it") from error
    loss, val = history["loss"], history["val"]
    summary = {"out": str(args.out), "config": str(saved), "export": args.export, "steps": history["steps"],
               "seconds": round(history["seconds"], 2), "first_loss": loss[0] if loss else None,
               "last_loss": loss[-1] if loss else None, "val": val[-1] if val else None,
               "log_dir": history.get("log_dir")}  # fmt: skip
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
