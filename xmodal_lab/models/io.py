"""Saving and loading models: ``.safetensors`` weights with a model card (all files or none), or ``.pt``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xmodal_lab.errors import CheckpointError, InputTypeError, InputValueError, OutputExistsError
from xmodal_lab.files import publishing
from xmodal_lab.model_card import card_markdown, input_recipe
from xmodal_lab.serialization import load_weights, safe_load

from .registry import MODELS, config_from_dict
from .seg_head import SegmentationModel

#: Suffixes of the two formats, and the weights' name in a Hugging Face Hub folder.
SAFETENSORS, TORCH, HUB_WEIGHTS = (".safetensors",), (".pt", ".pth"), "model.safetensors"


def card_paths(path: str | Path) -> tuple[Path, Path]:
    """Card files ``(<stem>.json, <stem>.md)`` of a ``.safetensors`` model (Hub: config.json, README.md)."""
    path = Path(path)
    if path.name == HUB_WEIGHTS:
        return path.with_name("config.json"), path.with_name("README.md")
    return path.with_suffix(".json"), path.with_suffix(".md")


def save_pretrained(model: nn.Module, folder: str | Path, **options: Any) -> Path:
    """Write a model as a Hugging Face Hub folder (``model.safetensors``, ``config.json``, ``README.md``)."""
    return save_model(model, Path(folder) / HUB_WEIGHTS, **options)


def from_pretrained(folder_or_repo: str | Path, revision: str | None = None, **options: Any) -> nn.Module:
    """Load a folder written by :func:`save_pretrained`, or download one from the Hub by its repository id."""
    folder = Path(folder_or_repo)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        files = [HUB_WEIGHTS, "config.json", "README.md"]
        folder = Path(snapshot_download(str(folder_or_repo), revision=revision, allow_patterns=files))
    return load_model(folder / HUB_WEIGHTS, **options)


def tensors_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and bytes (independent of the file's layout)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_card(model: nn.Module, card: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A model's card: name, config, version, input recipe, ``card``'s data and metrics, ``fit_record``."""
    import xmodal_lab

    name, config = _identity(model)
    extra = dict(card or {})
    metrics = extra.pop("metrics", {}) or {}
    if not isinstance(metrics, Mapping) or not all(isinstance(v, (int, float)) for v in metrics.values()):
        raise InputValueError(f"card['metrics']: expected {{name: number}}, got {metrics!r}")
    return {"format": "xmodal_lab model card", "name": name, "config": config,
            "xmodal_lab_version": xmodal_lab.__version__,
            "parameters": sum(p.numel() for p in model.parameters()), "input": input_recipe(model),
            "data": extra.pop("data", None),
            "metrics": {k: float(v) for k, v in metrics.items()},
            "training": extra.pop("training", None) or getattr(model, "fit_record", None),
            **extra}  # fmt: skip


def _identity(model: nn.Module) -> tuple[str, dict]:
    name = getattr(model, "name", None)
    known = name in MODELS or isinstance(model, SegmentationModel)
    if not known or not dataclasses.is_dataclass(getattr(model, "config", None)):
        raise TypeError(f"save_model needs a model of the registry ({sorted(MODELS)}), "
                        f"got {type(model).__name__}")  # fmt: skip
    return name, json.loads(json.dumps(dataclasses.asdict(model.config)))  # tuples as lists, as read back


def _publish_together(writers: dict[Path, Callable[[Path], None]], overwrite: bool) -> None:
    """Write each file to a temporary name, then publish all; if one cannot be, remove those published."""
    written: dict[Path, int] = {}
    try:
        with ExitStack() as stack:
            for path, write in writers.items():  # the first (the weights) is published last
                tmp = stack.enter_context(publishing(path, "model file", replace=overwrite, parents=True))
                write(tmp)
                written[path] = tmp.stat().st_ino
    except BaseException:
        for path, inode in written.items():
            if path.exists() and path.stat().st_ino == inode:  # ours: a link to the temporary file
                path.unlink()
        raise


def _file_path(path: Any, what: str, new: bool = False) -> Path:
    """``path`` as a Path naming a file; the kit's error for a number, an empty name or a folder."""
    if not isinstance(path, (str, Path)):
        raise InputTypeError(f"{what}: path must be a str or pathlib.Path, got {type(path).__name__}")
    if str(path) in ("", ".") or (new and Path(path).is_dir()):
        raise InputValueError(f"{what}: {str(path)!r} is a folder, not a file name; give a file name such as "
                              "model.safetensors")  # fmt: skip
    return Path(path)


def save_model(model: nn.Module, path: str | Path, overwrite: bool = False, *, card: Mapping | None = None):
    """Write a registered model (or a :class:`SegmentationModel`) and its ``card`` to ``path``; return it."""
    path = _file_path(path, "save_model", new=True)
    if path.suffix == "":
        path = path.with_suffix(".safetensors")
    if path.suffix.lower() not in SAFETENSORS + TORCH:
        raise InputValueError(f"{path}: expected a model file name ending in .safetensors, .pt or .pth")
    info = model_card(model, card)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}  # no shared memory
    if path.suffix.lower() in TORCH:
        ckpt = {"name": info["name"], "config": info["config"], "state_dict": state, "card": info}
        targets: dict[Path, Callable[[Path], None]] = {path: lambda tmp: _torch_save(ckpt, tmp)}
    else:
        from safetensors.torch import save

        info["weights"] = {"file": path.name, "tensors_sha256": tensors_sha256(state)}
        header = {"format": "pt", "xmodal_lab": "model", "name": info["name"], "config": json.dumps(info["config"]),
                  "tensors_sha256": info["weights"]["tensors_sha256"]}  # fmt: skip
        card_json, card_md = card_paths(path)
        targets = {  # bytes written by Python, so that a full disk is an OSError naming its cause
            path: lambda tmp: tmp.write_bytes(save(state, metadata=header)),
            card_json: lambda tmp: tmp.write_text(json.dumps(info, indent=2) + "\n"),
            card_md: lambda tmp: tmp.write_text(card_markdown(info)),
        }
    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(existing)} already exist(s); pass overwrite=True to replace")
    _publish_together(targets, overwrite)
    return path


def _torch_save(obj: Any, tmp: Path) -> None:
    with open(tmp, "wb") as f:  # a file object: a full disk surfaces as an OSError
        torch.save(obj, f)


def read_card(path: str | Path) -> dict[str, Any] | None:
    """The card of a model file (the ``.json`` beside a ``.safetensors`` file, or inside a ``.pt``), or None."""
    path = Path(path)
    if path.suffix.lower() in SAFETENSORS:
        card_json = card_paths(path)[0]
        if not card_json.is_file():
            return None
        try:
            return json.loads(card_json.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{card_json}: the model card is not valid JSON ({err})") from None
    ckpt = safe_load(path, what="model file")
    return ckpt.get("card") if isinstance(ckpt, dict) else None


def _read_safetensors(path: Path) -> dict[str, Any]:
    """``{"name", "config", "state_dict"}`` of a ``.safetensors`` model, checked against its header and card."""
    from safetensors import safe_open

    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as err:  # safetensors raises its own error types (SafetensorError, ...)
        raise CheckpointError(f"{path}: not a safetensors file, or a truncated or corrupt copy of one "
                              f"({str(err)[:200]})") from None  # fmt: skip
    if header.get("xmodal_lab") != "model" or not {"name", "config", "tensors_sha256"} <= set(header):
        raise CheckpointError(f"{path}: safetensors weights without the kit's header (another tool wrote "
                              "them); load them into your own model with safetensors.torch.load_file(path)")
    name, config = header["name"], json.loads(header["config"])
    if tensors_sha256(state) != header["tensors_sha256"]:
        raise CheckpointError(f"{path}: the weights do not match the checksum written with them (the file "
                              "was changed or is corrupt); copy it again from its source")  # fmt: skip
    card = read_card(path)
    if card is not None:
        theirs = (card.get("name"), card.get("config"), (card.get("weights") or {}).get("tensors_sha256"))
        if theirs != (name, config, header["tensors_sha256"]):
            raise CheckpointError(f"{card_paths(path)[0]} describes another model ({card.get('name')!r}) "
                                  f"than the weights in {path} ({name!r}); keep each model's card with its "
                                  "weights, or delete the wrong card")  # fmt: skip
    return {"name": name, "config": config, "state_dict": state, "card": card}


def rebuild(name: Any, config: Any, path: str | Path, fix: str = "") -> nn.Module:
    """A new registry model (or ``SegmentationModel``) from the ``name`` and ``config`` dict it was saved with."""
    if name == SegmentationModel.name and config is not None:
        return SegmentationModel.from_config(config)
    if name in MODELS and config is not None:
        return MODELS[name].model_cls(config_from_dict(name, config))
    raise CheckpointError(f"{path} holds an unknown model {name!r}; known: {sorted(MODELS)}{fix}")


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model`, in evaluation mode; a CheckpointError says what else it is."""
    path = _file_path(path, "load_model")
    if path.suffix.lower() in SAFETENSORS:
        ckpt = _read_safetensors(path)
    else:
        ckpt = safe_load(path, what="model file", map_location=map_location)
    if isinstance(ckpt, dict) and "xmodal_lab" in ckpt and "state_dict" in ckpt:
        raise CheckpointError(f"{path}: a training checkpoint (written by fit or the CLI), not a model file; "
                              "load it with xmodal_lab.train.load_checkpoint, or convert it with "
                              "xmodal_lab.train.export_checkpoint")  # fmt: skip
    if not isinstance(ckpt, dict) or not {"name", "config", "state_dict"} <= set(ckpt):
        raise CheckpointError(f"{path} is not a model file of xmodal_lab (expected keys name, config, "
                              "state_dict)")  # fmt: skip
    model = rebuild(ckpt["name"], ckpt["config"], path)
    _check_finite(path, ckpt["state_dict"])
    load_weights(model, ckpt["state_dict"], path, "copy it again from its source, or save it again with save_model")
    model.fit_record = (ckpt["card"] if isinstance(ckpt.get("card"), dict) else {}).get("training")  # kept on save
    return model.to(map_location).eval()


def _check_finite(path: Path, state: dict) -> None:
    """Refuse weights holding NaN or infinity (a diverged or corrupted run), naming the first such tensor."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"{path}: weight {key!r} holds {bad} NaN or infinite value(s) (the run "
                                  "diverged or the file is corrupt); load an earlier checkpoint, or retrain "
                                  "with a lower learning rate or gradient clipping")  # fmt: skip


__all__ = ["card_paths", "from_pretrained", "load_model", "model_card", "read_card", "save_model",
           "save_pretrained", "tensors_sha256"]  # fmt: skip
