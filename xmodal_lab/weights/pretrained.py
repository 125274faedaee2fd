"""Published cross-modal weights in one call: ``pretrained("croma_base")``, ``pretrained("decur")``.

A kit model with the weights torchgeo's enums name (memory-mapped) and their input recipe as ``norm_s1`` /
``norm_s2``, so it reads Sentinel-1 dB and Sentinel-2 reflectance; parts the files lack stay fresh.
"""

from __future__ import annotations

import hashlib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn
from torchgeo.models import CROMABase_Weights, CROMALarge_Weights, ResNet50_Weights, ScaleMAELarge16_Weights

from xmodal_lab.errors import CheckpointError
from xmodal_lab.models.contrastive import ContrastiveDualEncoder
from xmodal_lab.models.registry import get_config
from xmodal_lab.serialization import safe_load

from .convert import croma_from_torchgeo, resnet50_from_torchgeo, scale_mae_from_torchgeo
from .recipes import rgb8_imagenet_recipe, ssl4eo_s1_recipe, ssl4eo_s2_recipe

StateDicts = dict[str, dict[str, Tensor]]


@dataclass(frozen=True)
class PretrainedSpec:
    """One name of :func:`pretrained`: table columns, weight enums per file, the arch it must show, a builder."""

    paper: str
    modalities: str
    bands: str
    recipe: str
    size: str
    licence: str
    weights: Mapping[str, typing.Any]
    arch: Mapping[str, typing.Any]
    builder: Callable[[StateDicts], nn.Module]


def _croma(sds: StateDicts) -> nn.Module:
    model = croma_from_torchgeo(sds["model"], img_size=120, assign=True)
    model.norm_s1, model.norm_s2 = ssl4eo_s1_recipe("croma"), ssl4eo_s2_recipe("croma")
    return model


def _scale_mae(sds: StateDicts) -> nn.Module:
    # Scale-MAE encodes res = GSD ratio x 2.5: with a 4 m reference a 10 m tile gets 2.5
    model = scale_mae_from_torchgeo(sds["model"], num_heads=16, img_size=224, reference_gsd=4.0, assign=True)
    model.norm_s2 = rgb8_imagenet_recipe()
    return model


def _resnet_pair(s2_kind: str) -> Callable[[StateDicts], nn.Module]:
    def build(sds: StateDicts) -> nn.Module:
        model = ContrastiveDualEncoder(get_config("contrastive", "base", img_size=224))
        model.encoder_s1 = resnet50_from_torchgeo(sds["s1"], assign=True)
        model.encoder_s2 = resnet50_from_torchgeo(sds["s2"], assign=True)
        # the published weights carry no projector: embeddings are the pooled backbone features
        model.proj_s1, model.proj_s2 = nn.Identity(), nn.Identity()
        model.norm_s1, model.norm_s2 = ssl4eo_s1_recipe(), ssl4eo_s2_recipe(s2_kind)
        return model

    return build


_S2_13 = "B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B10* B11 B12 (L1C; *B10 filled with its SSL4EO mean)"
_S2_12 = "B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B11 B12 (L1C, no B10)"
_CROMA = {
    "paper": "Fuller et al., CROMA, NeurIPS 2023 (arXiv:2311.00566)",
    "modalities": "S1 + S2",
    "bands": f"S1: VV VH; S2: {_S2_12}",
    "recipe": "per band clip((x - (mean - 2 std)) / (4 std), 0, 1), SSL4EO-S12 statistics (S2 in DN)",
    "licence": "MIT (antofuller/CROMA code, as stated by torchgeo's port); SSL4EO-S12 data CC-BY-4.0",
    "builder": _croma,
}
_RESNET_PAIR = {
    "modalities": "S1 + S2",
    "bands": f"S1: VV VH; S2: {_S2_13}",
    "size": "2 x ResNet-50, 2 x 23.5 M parameters",
    "arch": {"encoder_s1.in_chans": 2, "encoder_s2.in_chans": 13},
}

PRETRAINED: dict[str, PretrainedSpec] = {
    "croma_base": PretrainedSpec(
        size="ViT-B/8, ~0.2 B parameters (3 encoders), 120 px", **_CROMA,
        weights={"model": CROMABase_Weights.CROMA_VIT},
        arch={"config.embed_dim": 768, "config.optical_depth": 12, "config.radar_depth": 6},
    ),
    "croma_large": PretrainedSpec(
        size="ViT-L/8, ~0.6 B parameters (3 encoders), 120 px", **_CROMA,
        weights={"model": CROMALarge_Weights.CROMA_VIT},
        arch={"config.embed_dim": 1024, "config.optical_depth": 24, "config.radar_depth": 12},
    ),
    "decur": PretrainedSpec(
        paper="Wang et al., DeCUR, ECCV 2024 (arXiv:2309.05300)",
        recipe="S1: (dB - mean) / std (SSL4EO-S12); S2: DN / 10000 = reflectance",
        licence="MIT (zhu-xlab/DeCUR LICENSE); SSL4EO-S12 data CC-BY-4.0",
        weights={"s1": ResNet50_Weights.SENTINEL1_ALL_DECUR, "s2": ResNet50_Weights.SENTINEL2_ALL_DECUR},
        builder=_resnet_pair("10k"), **_RESNET_PAIR,
    ),
    "softcon": PretrainedSpec(
        paper="Wang et al., SoftCon, IEEE TGRS 2024 (arXiv:2405.20462)",
        recipe="S1: (dB - mean) / std; S2: (DN - mean) / std (SSL4EO-S12 statistics)",
        licence="not stated in the files read: check zhu-xlab/softcon; SSL4EO-S12 data CC-BY-4.0",
        weights={"s1": ResNet50_Weights.SENTINEL1_GRD_SOFTCON, "s2": ResNet50_Weights.SENTINEL2_ALL_SOFTCON},
        builder=_resnet_pair("stats"), **_RESNET_PAIR,
    ),
    "scale_mae_large": PretrainedSpec(
        paper="Reed et al., Scale-MAE, ICCV 2023 (arXiv:2212.14532)",
        modalities="S2 RGB (fMoW RGB weights)", bands="B4 B3 B2",
        recipe="8-bit RGB = clip(reflectance / 0.3) x 255, / 255, ImageNet mean / std; res = GSD / 10 m x 2.5",
        size="ViT-L/16, 0.3 B parameters, 224 px",
        licence="not stated in the files read: check bair-climate-initiative/scale-mae; fMoW data: its own terms",
        weights={"model": ScaleMAELarge16_Weights.FMOW_RGB}, builder=_scale_mae,
        arch={"config.embed_dim": 1024, "config.depth": 24, "config.patch_size": 16, "in_chans": 3},
    ),
}  # fmt: skip


def list_pretrained() -> list[str]:
    """Names accepted by :func:`pretrained`."""
    return sorted(PRETRAINED)


def pretrained_table() -> str:
    """The Markdown table of :data:`PRETRAINED`."""
    head = ["| name | source paper | modalities | bands | recipe | size | licence |", "|---" * 7 + "|"]
    rows = [f"| `{n}` | {s.paper} | {s.modalities} | {s.bands} | {s.recipe} | {s.size} | {s.licence} |"
            for n, s in PRETRAINED.items()]  # fmt: skip
    return "\n".join(head + rows)


def _spec(name: str) -> PretrainedSpec:
    if name not in PRETRAINED:
        raise KeyError(f"unknown pretrained model {name!r}; choose one of {list_pretrained()}")
    return PRETRAINED[name]


def weights_files(name: str) -> dict[str, tuple[str, Path]]:
    """``{part: (url, path in torch hub's cache)}`` of the published weights of ``name``."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return {part: (w.url, hub / Path(urlparse(w.url).path).name) for part, w in _spec(name).weights.items()}


def _read(file: Path, published: str = "") -> dict:
    """The state dict in ``file``; under its ``published`` name it must match the name's hash prefix."""
    match = torch.hub.HASH_REGEX.search(published)
    if file.name == published and match:
        with open(file, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if not digest.startswith(match.group(1)):
            raise CheckpointError(
                f"{file} does not match the published weights (SHA-256 should start with {match.group(1)}), "
                "not loaded: a partial download or another file under the published name (possibly tampered "
                "with); delete it and download again from the official URL")
    state = safe_load(file, "weights file", mmap=True)  # read on use; the model keeps these tensors
    if not isinstance(state, dict):
        raise CheckpointError(f"{file} holds a {type(state).__name__}, not a state dict")
    return state


def _local_files(name: str, path: typing.Any, parts: Mapping[str, tuple[str, Path]]) -> dict[str, Path]:
    """The file of each part under ``path``: a file, a folder of published names, or ``{part: file}``."""
    published = {part: cache.name for part, (_, cache) in parts.items()}
    if isinstance(path, Mapping):
        if missing := sorted(set(parts) - set(path)):
            raise KeyError(f"{name} needs files for {sorted(parts)}; path= lacks {missing}")
        files = {part: Path(path[part]) for part in parts}
    elif Path(path).is_dir():
        files = {part: Path(path) / published[part] for part in parts}
    elif len(parts) == 1:
        files = {next(iter(parts)): Path(path)}
    else:
        raise ValueError(f"{name} has {len(parts)} weight files ({sorted(published.values())}): pass path= "
                         "as a folder holding them or as {'s1': file, 's2': file}")
    for part, file in files.items():
        if not file.is_file():
            raise FileNotFoundError(
                f"{name}: no weights file at {file} (the published {part} file is {published[part]})")
    return files


def _not_found(name: str, parts: Mapping[str, tuple[str, Path]], why: str) -> str:
    lines = [f"{name}: the published weights are not here ({why})."]
    lines += [f"  download {url}\n  and put it at {cache}" for url, cache in parts.values()]
    lines.append(f"  or pass pretrained({name!r}, path=...) for a local copy, or download=True online.")
    return "\n".join(lines)


def pretrained(name: str, *, path: typing.Any = None, download: bool = False, check_hash: bool = True) -> nn.Module:
    """The kit model ``name`` (:func:`list_pretrained`) in eval mode, with published weights and recipe.

    ``path``: a local weights file (pairs: a folder of both published files, or ``{"s1": f, "s2": f}``);
    None reads torch hub's cache, where ``download`` fetches missing files (False never goes online).
    ``check_hash`` verifies the SHA-256 prefix of a ``path=`` file under its published name. Missing weights
    raise FileNotFoundError (RuntimeError when a download fails) naming the URL and where to put the file; a
    file of another model raises CheckpointError.
    """
    spec, parts = _spec(name), weights_files(name)
    files = _local_files(name, path, parts) if path is not None else {}
    states: StateDicts = {}
    for part, (_, cache) in parts.items():
        if part in files:
            states[part] = _read(files[part], cache.name if check_hash else "")
        elif cache.is_file():
            states[part] = _read(cache)
        elif not download:
            raise FileNotFoundError(_not_found(name, parts, "offline: download=False"))
        else:
            try:
                options = dict(progress=True, check_hash=True, map_location="cpu", weights_only=True)
                states[part] = spec.weights[part].get_state_dict(**options)
            except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
                raise RuntimeError(_not_found(name, parts, f"download failed: {err}")) from err
    model = spec.builder(states)
    shown = {k.removeprefix("config."): (attrgetter(k)(model), want) for k, want in spec.arch.items()}
    if wrong := [f"{k}={got} (expected {want})" for k, (got, want) in shown.items() if got != want]:
        raise CheckpointError(f"these weights are not {name!r}: {', '.join(wrong)}")
    model.pretrained_name = name
    return model.eval()
