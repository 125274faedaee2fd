"""Published cross-modal weights in one call: ``pretrained("croma_base")``, ``pretrained("decur")``.

Each name builds one of the kit's models, loads the published weights that torchgeo 0.8.1 distributes
(through its weight enums: the URL, torch hub's cache, the file's hash prefix) and installs the weights'
own **input recipe** (:mod:`.recipes`) as the model's ``norm_s1`` / ``norm_s2``, so that the model reads
physical units like every other model of the kit: Sentinel-1 sigma0 in dB ``[B, 2, H, W]`` and Sentinel-2
reflectance ``[B, 12, H, W]`` (``B1 ... B9, B11, B12``).

======================  ============================================================================
name                    model
======================  ============================================================================
``croma_base``          :class:`~.croma.CROMA` ViT-B/8 (radar 6, optical 12, cross 6 blocks), SSL4EO-S12
``croma_large``         :class:`~.croma.CROMA` ViT-L/8 (radar 12, optical 24, cross 12 blocks)
``decur``               :class:`~.contrastive.ContrastiveDualEncoder` with DeCUR's two ResNet-50s
``softcon``             :class:`~.contrastive.ContrastiveDualEncoder` with SoftCon's two ResNet-50s
``scale_mae_large``     :class:`~.scale_mae.ScaleMAE` ViT-L/16 on fMoW RGB (reads ``B4, B3, B2``)
======================  ============================================================================

Weights are found, in this order: ``path=`` (a local file; for the two-file S1+S2 pairs a folder holding
both published file names or ``{"s1": file, "s2": file}``), then torch hub's cache
(``$TORCH_HOME/hub/checkpoints/<published file name>``, where a download puts them), then, only with
``download=True``, the published URL (checked against the hash prefix in its file name, as torch hub
does). Offline without the file, the error names the URL and where to put the file. Files are read with
``torch.load(weights_only=True)``: loading never executes code from the file.

CROMA's recipe stretches each band from ``mean - 2 std`` to ``mean + 2 std``; the installed statistics are
SSL4EO-S12's (CROMA's pretraining data). The CROMA README computes them on the user's own data instead:
``model.norm_s2.set_stats(mean, std)`` with statistics in the recipe's units (S2 digital numbers = reflectance
x 10000, S1 dB) does that.

What the published weights do not contain keeps the kit's fresh initialisation: CROMA's contrastive
projections (so ``embed`` returns the published ``sar_GAP`` / ``optical_GAP``) and decoders; DeCUR's and
SoftCon's projectors (``embed`` returns the L2-normalised mean-pooled 2048-d ResNet features, which for
these weights are not trained to be comparable across modalities: fine-tune before cross-modal retrieval).
Geometric parts of torchgeo's transforms (resize to 256, centre crop 224) are not part of the recipe: tiles
keep their size. ``scale_mae_large`` encodes ``res = GSD / 4 m`` (a 10 m tile gets Scale-MAE's 2.5): pass
``gsd=`` in metres, since ``gsd=None`` means the 4 m reference.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from .contrastive import ContrastiveDualEncoder
from .convert import croma_from_torchgeo, resnet50_from_torchgeo, scale_mae_from_torchgeo
from .croma import CROMA
from .recipes import rgb8_imagenet_recipe, ssl4eo_s1_recipe, ssl4eo_s2_recipe
from .registry import get_config
from .scale_mae import ScaleMAE

StateDicts = dict[str, dict[str, Tensor]]


@dataclass(frozen=True)
class PretrainedSpec:
    """What :func:`pretrained` knows about one name.

    Attributes:
        name: the name passed to :func:`pretrained`.
        model: what is built.
        paper: source publication.
        modalities: ``"S1 + S2"``, ``"S2 RGB"``, ...
        bands: the bands the weights read, in their order.
        recipe: the input recipe installed, in words.
        size: parameters of the published encoders.
        licence: licence of the weights.
        weights: ``{part: "module.Enum.MEMBER"}`` torchgeo weight enums, one per file (``"model"`` for
            single-file weights, ``"s1"`` / ``"s2"`` for pairs).
        arch: expected architecture read from the weights (width, depth, ...): a file of another model is
            refused with a clear message.
        builder: turns ``{part: state dict}`` into the model with its recipe.
    """

    name: str
    model: str
    paper: str
    modalities: str
    bands: str
    recipe: str
    size: str
    licence: str
    weights: Mapping[str, str]
    arch: Mapping[str, typing.Any]
    builder: Callable[[StateDicts, Mapping[str, typing.Any]], nn.Module]


def _check_arch(name: str, found: Mapping[str, typing.Any], expected: Mapping[str, typing.Any]) -> None:
    wrong = {k: (found[k], v) for k, v in expected.items() if found.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k}={got} (expected {want})" for k, (got, want) in wrong.items())
        raise ValueError(f"these weights are not {name!r}: {detail}")


def _build_croma(sds: StateDicts, arch: Mapping[str, typing.Any]) -> CROMA:
    model = croma_from_torchgeo(sds["model"], num_heads=16, img_size=120)
    c = model.config
    found = {"embed_dim": c.embed_dim, "optical_depth": c.optical_depth, "radar_depth": c.radar_depth}
    _check_arch(arch["name"], found, {k: v for k, v in arch.items() if k != "name"})
    model.norm_s1 = ssl4eo_s1_recipe("croma")
    model.norm_s2 = ssl4eo_s2_recipe("croma")
    return model.eval()


def _build_scale_mae(sds: StateDicts, arch: Mapping[str, typing.Any]) -> ScaleMAE:
    # Scale-MAE encodes res = (GSD ratio) x 2.5 (the reference code's base_resolution): with a 4 m
    # reference, a 10 m Sentinel-2 tile gets res = 2.5
    model = scale_mae_from_torchgeo(sds["model"], num_heads=16, img_size=224, reference_gsd=4.0)
    c = model.config
    found = {
        "embed_dim": c.embed_dim,
        "depth": c.depth,
        "patch_size": c.patch_size,
        "in_chans": model.in_chans,
    }
    _check_arch(arch["name"], found, {k: v for k, v in arch.items() if k != "name"})
    model.norm_s2 = rgb8_imagenet_recipe()
    return model.eval()


def _build_resnet_pair(s2_kind: str) -> Callable[[StateDicts, Mapping[str, typing.Any]], nn.Module]:
    def build(sds: StateDicts, arch: Mapping[str, typing.Any]) -> ContrastiveDualEncoder:
        enc_s1, enc_s2 = resnet50_from_torchgeo(sds["s1"]), resnet50_from_torchgeo(sds["s2"])
        _check_arch(arch["name"], {"s1_bands": enc_s1.in_chans, "s2_bands": enc_s2.in_chans}, {
            "s1_bands": 2, "s2_bands": 13})  # fmt: skip
        model = ContrastiveDualEncoder(get_config("contrastive", "base", img_size=224))
        model.encoder_s1, model.encoder_s2 = enc_s1, enc_s2
        # the published weights carry no projector: embeddings are the pooled backbone features
        model.proj_s1, model.proj_s2 = nn.Identity(), nn.Identity()
        model.norm_s1 = ssl4eo_s1_recipe()
        model.norm_s2 = ssl4eo_s2_recipe(s2_kind)
        return model.eval()

    return build


_S2_13 = "B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B10* B11 B12 (L1C; *B10 filled with its SSL4EO mean)"
_S2_12 = "B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B11 B12 (L1C, no B10)"
_CROMA_RECIPE = "per band clip((x - (mean - 2 std)) / (4 std), 0, 1), SSL4EO-S12 statistics (S2 in DN)"

PRETRAINED: dict[str, PretrainedSpec] = {
    "croma_base": PretrainedSpec(
        name="croma_base",
        model="CROMA",
        paper="Fuller et al., CROMA, NeurIPS 2023 (arXiv:2311.00566)",
        modalities="S1 + S2",
        bands=f"S1: VV VH; S2: {_S2_12}",
        recipe=_CROMA_RECIPE,
        size="ViT-B/8, ~0.2 B parameters (3 encoders), 120 px",
        licence="MIT (antofuller/CROMA code, as stated by torchgeo's port); SSL4EO-S12 data CC-BY-4.0",
        weights={"model": "torchgeo.models.croma.CROMABase_Weights.CROMA_VIT"},
        arch={"name": "croma_base", "embed_dim": 768, "optical_depth": 12, "radar_depth": 6},
        builder=_build_croma,
    ),
    "croma_large": PretrainedSpec(
        name="croma_large",
        model="CROMA",
        paper="Fuller et al., CROMA, NeurIPS 2023 (arXiv:2311.00566)",
        modalities="S1 + S2",
        bands=f"S1: VV VH; S2: {_S2_12}",
        recipe=_CROMA_RECIPE,
        size="ViT-L/8, ~0.6 B parameters (3 encoders), 120 px",
        licence="MIT (antofuller/CROMA code, as stated by torchgeo's port); SSL4EO-S12 data CC-BY-4.0",
        weights={"model": "torchgeo.models.croma.CROMALarge_Weights.CROMA_VIT"},
        arch={"name": "croma_large", "embed_dim": 1024, "optical_depth": 24, "radar_depth": 12},
        builder=_build_croma,
    ),
    "decur": PretrainedSpec(
        name="decur",
        model="ContrastiveDualEncoder (2 x ResNet-50)",
        paper="Wang et al., DeCUR, ECCV 2024 (arXiv:2309.05300)",
        modalities="S1 + S2",
        bands=f"S1: VV VH; S2: {_S2_13}",
        recipe="S1: (dB - mean) / std (SSL4EO-S12); S2: DN / 10000 = reflectance",
        size="2 x ResNet-50, 2 x 23.5 M parameters",
        licence="MIT (zhu-xlab/DeCUR LICENSE); SSL4EO-S12 data CC-BY-4.0",
        weights={
            "s1": "torchgeo.models.resnet.ResNet50_Weights.SENTINEL1_ALL_DECUR",
            "s2": "torchgeo.models.resnet.ResNet50_Weights.SENTINEL2_ALL_DECUR",
        },
        arch={"name": "decur"},
        builder=_build_resnet_pair("10k"),
    ),
    "softcon": PretrainedSpec(
        name="softcon",
        model="ContrastiveDualEncoder (2 x ResNet-50)",
        paper="Wang et al., SoftCon, IEEE TGRS 2024 (arXiv:2405.20462)",
        modalities="S1 + S2",
        bands=f"S1: VV VH; S2: {_S2_13}",
        recipe="S1: (dB - mean) / std; S2: (DN - mean) / std (SSL4EO-S12 statistics)",
        size="2 x ResNet-50, 2 x 23.5 M parameters",
        licence="not stated in the files read: check zhu-xlab/softcon; SSL4EO-S12 data CC-BY-4.0",
        weights={
            "s1": "torchgeo.models.resnet.ResNet50_Weights.SENTINEL1_GRD_SOFTCON",
            "s2": "torchgeo.models.resnet.ResNet50_Weights.SENTINEL2_ALL_SOFTCON",
        },
        arch={"name": "softcon"},
        builder=_build_resnet_pair("stats"),
    ),
    "scale_mae_large": PretrainedSpec(
        name="scale_mae_large",
        model="ScaleMAE",
        paper="Reed et al., Scale-MAE, ICCV 2023 (arXiv:2212.14532)",
        modalities="S2 RGB (fMoW RGB weights)",
        bands="B4 B3 B2",
        recipe="8-bit RGB = clip(reflectance / 0.3) x 255, / 255, ImageNet mean / std; res = GSD / 10 m x 2.5",
        size="ViT-L/16, 0.3 B parameters, 224 px",
        licence="not stated in the files read: check bair-climate-initiative/scale-mae; fMoW data: its own terms",
        weights={"model": "torchgeo.models.scale_mae.ScaleMAELarge16_Weights.FMOW_RGB"},
        arch={"name": "scale_mae_large", "embed_dim": 1024, "depth": 24, "patch_size": 16, "in_chans": 3},
        builder=_build_scale_mae,
    ),
}


def list_pretrained() -> list[str]:
    """Names accepted by :func:`pretrained`."""
    return sorted(PRETRAINED)


def weights_enum(reference: str) -> typing.Any:
    """The torchgeo weight enum member named ``"module.Enum.MEMBER"`` (imports torchgeo lazily)."""
    module, enum_name, member = reference.rsplit(".", 2)
    return getattr(getattr(importlib.import_module(module), enum_name), member)


def weights_files(name: str) -> dict[str, tuple[str, Path]]:
    """Where the published weights of ``name`` come from and where the cache keeps them.

    Args:
        name: one of :func:`list_pretrained`.

    Returns:
        ``{part: (url, cache file)}``; the cache file is ``torch.hub.get_dir() / "checkpoints" / <file name>``.
    """
    spec = _spec(name)
    out = {}
    for part, ref in spec.weights.items():
        url = weights_enum(ref).url
        out[part] = (url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path))
    return out


def _spec(name: str) -> PretrainedSpec:
    if name not in PRETRAINED:
        raise KeyError(f"unknown pretrained model {name!r}; choose one of {list_pretrained()}")
    return PRETRAINED[name]


_HASH = re.compile(r"-([a-f0-9]{6,})\.")


def _check_hash(file: Path, published: str) -> None:
    """When the file keeps its published name, verify the SHA-256 prefix that the name carries."""
    m = _HASH.search(published)
    if file.name != published or m is None:
        return
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if not digest.hexdigest().startswith(m.group(1)):
        raise ValueError(
            f"{file} does not match the published weights (SHA-256 should start with {m.group(1)}): "
            "a partial or corrupted download? Delete it and download again."
        )


def _load_file(file: Path) -> dict:
    try:
        sd = torch.load(file, map_location="cpu", weights_only=True)  # never executes code from the file
    except Exception as err:
        raise ValueError(
            f"could not read {file} as weights ({type(err).__name__}: {str(err)[:200]}); a partial download? "
            "Delete it and download again."
        ) from err
    if not isinstance(sd, dict):
        raise ValueError(f"{file} holds a {type(sd).__name__}, not a state dict")
    return sd


def _local_files(name: str, path: typing.Any, parts: Mapping[str, tuple[str, Path]]) -> dict[str, Path]:
    names = {part: os.path.basename(urlparse(url).path) for part, (url, _) in parts.items()}
    if isinstance(path, Mapping):
        missing = sorted(set(parts) - set(path))
        if missing:
            raise KeyError(f"{name} needs files for {sorted(parts)}; path= lacks {missing}")
        files = {part: Path(path[part]) for part in parts}
    else:
        p = Path(path)
        if p.is_dir():
            files = {part: p / names[part] for part in parts}
        elif len(parts) == 1:
            files = {next(iter(parts)): p}
        else:
            raise ValueError(
                f"{name} has {len(parts)} weight files ({sorted(names.values())}): pass path= as a folder "
                f"holding them or as {{'s1': file, 's2': file}}"
            )
    for part, file in files.items():
        if not file.is_file():
            raise FileNotFoundError(
                f"{name}: no weights file at {file} (the published {part} file is {names[part]})"
            )
    return files


def _not_found(name: str, parts: Mapping[str, tuple[str, Path]], why: str) -> str:
    lines = [f"{name}: the published weights are not here ({why})."]
    lines += [f"  download {url}\n  and put it at {cache}" for url, cache in parts.values()]
    lines.append(
        f"  or pass pretrained({name!r}, path=...) for a local copy, or pretrained({name!r}, download=True) online."
    )
    return "\n".join(lines)


def pretrained(
    name: str, *, path: typing.Any = None, download: bool = False, check_hash: bool = True
) -> nn.Module:
    """Build a kit model carrying published weights and their input recipe.

    Args:
        name: ``"croma_base"``, ``"croma_large"``, ``"decur"``, ``"softcon"`` or ``"scale_mae_large"``
            (see :func:`list_pretrained` and the module docstring).
        path: a local weights file in the published layout (for ``decur`` / ``softcon``: a folder holding both
            published files, or ``{"s1": file, "s2": file}``). None looks in torch hub's cache.
        download: fetch missing files from the published URL (torch hub's cache, hash prefix checked).
            False never touches the network.
        check_hash: for a ``path=`` file that keeps its published name, verify the SHA-256 prefix the name
            carries (as torch hub does for downloads). False skips it (your own files under those names).

    Returns:
        The model in evaluation mode, reading Sentinel-1 dB ``[B, 2, H, W]`` and Sentinel-2 reflectance
        ``[B, 12, H, W]`` like the rest of the kit; ``model.pretrained_name`` records ``name``.

    Raises:
        KeyError: unknown name.
        FileNotFoundError: the weights are neither at ``path`` nor in the cache and ``download`` is False;
            the message names the URL and where to put the file.
        RuntimeError: ``download=True`` but the download failed (offline); same message.
        ValueError: the file holds other weights (another model or size) or fails its hash check.

    Example:
        >>> model = pretrained("croma_base", download=True)
        >>> model.embed(s1=s1_db, s2=s2_reflectance)  # [B, 2, 120, 120], [B, 12, 120, 120]
    """
    spec = _spec(name)
    parts = weights_files(name)
    sds: StateDicts = {}
    if path is not None:
        for part, file in _local_files(name, path, parts).items():
            if check_hash:
                _check_hash(file, os.path.basename(urlparse(parts[part][0]).path))
            sds[part] = _load_file(file)
    else:
        for part, (_url, cache) in parts.items():
            if cache.is_file():
                sds[part] = _load_file(cache)
            elif not download:
                raise FileNotFoundError(_not_found(name, parts, "offline: download=False"))
            else:
                try:
                    sds[part] = weights_enum(spec.weights[part]).get_state_dict(
                        progress=True, check_hash=True, map_location="cpu", weights_only=True
                    )
                except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
                    raise RuntimeError(_not_found(name, parts, f"download failed: {err}")) from err
    model = spec.builder(sds, spec.arch)
    model.pretrained_name = name
    return model


def pretrained_table() -> str:
    """The Markdown table of :data:`PRETRAINED` (name, paper, modalities, bands, recipe, size, licence)."""
    rows = ["| name | source paper | modalities | bands | recipe | size | licence |", "|---" * 7 + "|"]
    for s in PRETRAINED.values():
        rows.append(
            f"| `{s.name}` | {s.paper} | {s.modalities} | {s.bands} | {s.recipe} | {s.size} | {s.licence} |"
        )
    return "\n".join(rows)


def with_arch(name: str, **arch: typing.Any) -> PretrainedSpec:
    """A copy of a spec expecting another architecture (config-reduced stand-ins of large weights in tests)."""
    spec = _spec(name)
    return replace(spec, arch={"name": name, **arch})


__all__ = [
    "PRETRAINED",
    "PretrainedSpec",
    "list_pretrained",
    "pretrained",
    "pretrained_table",
    "weights_enum",
    "weights_files",
    "with_arch",
]
