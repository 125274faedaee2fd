"""Training checkpoints: published whole, never over a file; read back without running code."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from xmodal_lab.errors import CheckpointError, OutputExistsError, OutputWriteError
from xmodal_lab.files import as_path, publishing
from xmodal_lab.models.io import rebuild, save_model
from xmodal_lab.serialization import load_weights, safe_load, state_problems


def check_writable(path: str | Path, what: str = "checkpoint") -> None:
    """Before training: raise an ``OutputWriteError`` when the folder of ``path`` cannot take a file."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".xmodal_write_test_"):
            pass
    except OSError as error:
        raise OutputWriteError(f"{what} {path} cannot be written: cannot write in {folder} "
                               f"({error.strerror or error}); choose another path") from None


def save_checkpoint(trainer: L.Trainer, path: str | Path, what: str = "checkpoint") -> Path:
    """Publish the trainer's checkpoint as the new file ``path``; every process calls it, rank 0 writes."""
    path = Path(path)
    if not trainer.is_global_zero:  # Lightning's save waits for every process; only rank 0 writes
        trainer.save_checkpoint(str(path))
        return path
    with publishing(path, what, keep_if_taken=True) as tmp:
        trainer.save_checkpoint(str(tmp))
    return path


class PeriodicCheckpoint(Callback):
    """Write ``<stem>-step<N>.ckpt`` beside the run's final checkpoint ``path`` every ``every`` steps."""

    def __init__(self, path: str | Path, every: int) -> None:
        self.path, self.every = Path(path), every

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Refuse to overwrite periodic checkpoints of another run."""
        for path in sorted(self.path.parent.glob(f"{self.path.stem}-step*.ckpt")):
            step = path.stem.rsplit("-step", 1)[1]
            if step.isdigit() and int(step) > trainer.global_step:
                raise OutputExistsError(
                    f"periodic checkpoints already exist ({path} ...); choose another checkpoint path")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        """Save after every ``every``-th optimisation step."""
        if trainer.global_step % self.every == 0:
            path = self.path.with_name(f"{self.path.stem}-step{trainer.global_step}.ckpt")
            save_checkpoint(trainer, path, "periodic checkpoint")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Lightning's checkpoint dict (``"xmodal_lab"``: the run), loaded safely, or a ``CheckpointError``."""
    ckpt = safe_load(as_path(path, "path"), what="training checkpoint")
    if isinstance(ckpt, dict) and {"name", "config", "state_dict"} <= set(ckpt) and "xmodal_lab" not in ckpt:
        raise CheckpointError(
            f"{path}: a model file (written by save_model or --export), not a training checkpoint; load it with "
            "xmodal_lab.models.load_model (it holds no optimiser state to resume from)")
    info = ckpt.get("xmodal_lab") if isinstance(ckpt, dict) else None
    if not isinstance(info, dict) or not info or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a training checkpoint of xmodal_lab (written by fit or the CLI)")
    return ckpt


def checkpoint_info(path: str | Path) -> dict[str, Any]:
    """The run's record (``"name"``, ``"config"``, ``"normalization"``, ``"data"``, ...) and ``"step"``."""
    ckpt = read_checkpoint(path)
    return {**ckpt["xmodal_lab"], "step": ckpt.get("global_step")}


#: What a model card keeps of a run's record: optimiser and schedule, fit's settings, the command line's config.
CARD_KEYS = ("lr", "weight_decay", "warmup_steps", "total_steps", "step", "fit", "run_config", "data")


def training_record(info: Mapping[str, Any]) -> dict[str, Any]:
    """What a model card says of how a model was trained (``info``: :func:`checkpoint_info`'s dict), as JSON."""
    out = {key: info[key] for key in CARD_KEYS if info.get(key) is not None}
    if isinstance(out.get("data"), Mapping):  # the dataset's repr is long, and printed in its config anyway
        out["data"] = {k: v for k, v in out["data"].items() if k != "repr"}
    return json.loads(json.dumps(out, default=str))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(model, info)``: the trained model (eval mode, a segmentation model whole) and its record."""
    ckpt = read_checkpoint(path)
    info = {**ckpt["xmodal_lab"], "step": ckpt.get("global_step")}
    model = rebuild(info.get("name"), info.get("config"), path,
                    "; load the checkpoint's state_dict into your own model instead")
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    load_weights(model, state, path, "copy it again from where fit wrote it, or train again")
    model.fit_record = training_record(info)  # save_model puts it into the model card
    return model.to(map_location).eval(), info


def export_checkpoint(path: str | Path, out: str | Path) -> Path:
    """Write a training checkpoint's weights, and its run in the card, as a model file for ``load_model``."""
    return save_model(load_checkpoint(path)[0], out)


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def check_resume(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """The run's record of the checkpoint ``path``; a ``CheckpointError`` unless it fits ``model`` and can resume."""
    ckpt = read_checkpoint(path)
    info, name = ckpt["xmodal_lab"], getattr(model, "name", type(model).__name__)
    if info.get("name") is not None and info["name"] != name:
        raise CheckpointError(
            f"fit: {path} was trained as a {info['name']!r} model, not {name!r}; resume with the model it records "
            "(xmodal_lab.train.load_checkpoint rebuilds it) or start without resume")
    config, saved = getattr(model, "config", None), info.get("config")
    if not (dataclasses.is_dataclass(config) and isinstance(saved, Mapping)):
        return info
    mine = dataclasses.asdict(config)
    diff = [f"{k}: checkpoint {saved.get(k)!r}, this model {mine.get(k)!r}" for k in sorted(set(mine) | set(saved))
            if _plain(saved.get(k)) != _plain(mine.get(k))]  # fmt: skip
    if diff:
        raise CheckpointError(
            f"fit: {path} holds a {name!r} model of another config ({'; '.join(diff)}); build the model "
            "with the checkpoint's config (checkpoint_info(path)['config']) to resume")
    problems = state_problems({f"model.{k}": v for k, v in model.state_dict().items()}, ckpt["state_dict"])
    if problems:
        raise CheckpointError(
            f"fit: {path}: the weights do not fit the {name!r} model it records ({problems}); the file was edited "
            "or written by another version of the kit: copy it again from where fit wrote it, or train again")
    if not ckpt.get("optimizer_states"):
        raise CheckpointError(
            f"fit: {path} holds no optimiser state (saved with weights only, or edited), so training cannot resume; "
            "start a new run from its weights instead: model, _ = load_checkpoint(path); fit(model, data)")
    return info
