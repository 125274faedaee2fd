"""Load published encoder weights into the kit's models.

- **CROMA**: torchgeo's ``CROMA`` state dict (``torchgeo.models.croma_base(weights=...)``) or the official
  checkpoint of ``antofuller/CROMA`` (a dict with ``s1_encoder``, ``s1_GAP_FFN``, ``s2_encoder``,
  ``s2_GAP_FFN``, ``joint_encoder``) into :class:`~xmodal_lab.models.croma.CROMA`.
- **Scale-MAE**: torchgeo's ``ScaleMAE`` (a timm ``VisionTransformer``) or the official pretraining
  checkpoint (``{"model": ...}``) into the encoder of :class:`~xmodal_lab.models.scale_mae.ScaleMAE`.
- **ResNet-50** (SSL4EO-S12 DeCUR, SoftCon, MoCo weights): timm's ``resnet50`` state dict, the layout torchgeo
  downloads, into :class:`~xmodal_lab.models.resnet50.ResNet50Encoder`.

Only encoders are published: decoders (and CROMA's contrastive projections) keep their fresh initialisation,
and CROMA is built with ``embed_projected=False`` so that ``embed`` returns the published ``*_GAP``
representations. The converters never download: pass a state dict, a model, or a local file path.

The published models read their inputs already normalised by their own recipe; our models normalise
physical units with ``norm_s1`` / ``norm_s2``. Set those statistics to the recipe of the weights you load
(``model.norm_s2.set_stats(mean, std)``) before using converted encoders on real data.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import torch
from torch import Tensor, nn

from .croma import CROMA
from .registry import get_config
from .resnet50 import ResNet50Encoder
from .scale_mae import ScaleMAE

_CROMA_PARTS = ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")


def _as_state_dict(source: typing.Any, what: str) -> dict[str, Tensor]:
    """Accept a module, a state dict or a file path; returns a flat ``{name: tensor}`` dict."""
    if isinstance(source, nn.Module):
        return dict(source.state_dict())
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no {what} checkpoint at {path}")
        source = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(source, dict):
        raise TypeError(f"{what}: expected a model, a state dict or a file path, got {type(source).__name__}")
    return source


def official_croma_to_torchgeo(checkpoint: dict) -> dict[str, Tensor]:
    """Flatten the official CROMA checkpoint layout into torchgeo's ``CROMA`` state-dict keys.

    Args:
        checkpoint: ``{"s1_encoder": {...}, "s1_GAP_FFN": {...}, "s2_encoder": ..., "s2_GAP_FFN": ...,
            "joint_encoder": ...}`` (any subset).

    Returns:
        ``{"s1_encoder.linear_input.weight": ..., ...}``.
    """
    parts = [p for p in _CROMA_PARTS if p in checkpoint]
    if not parts:
        raise KeyError(
            f"not an official CROMA checkpoint: expected some of {_CROMA_PARTS}, got {sorted(checkpoint)}"
        )
    return {f"{part}.{k}": v for part in parts for k, v in checkpoint[part].items()}


def _map_block(m: dict[str, str], theirs: str, ours: str, mlp: int) -> None:
    """Map one torchgeo CROMA transformer layer (self-attention at index 0, MLP at ``mlp``) onto our Block."""
    m[f"{theirs}.0.to_qkv.weight"] = f"{ours}.attn.qkv.weight"
    for wb in ("weight", "bias"):
        m[f"{theirs}.0.input_norm.{wb}"] = f"{ours}.norm1.{wb}"
        m[f"{theirs}.0.to_out.{wb}"] = f"{ours}.attn.proj.{wb}"
        m[f"{theirs}.{mlp}.input_norm.{wb}"] = f"{ours}.norm2.{wb}"
        m[f"{theirs}.{mlp}.net.0.{wb}"] = f"{ours}.mlp.fc1.{wb}"
        m[f"{theirs}.{mlp}.net.3.{wb}"] = f"{ours}.mlp.fc2.{wb}"


def _croma_key_map(depths: dict[str, int]) -> dict[str, str]:
    """Map each torchgeo CROMA parameter name to ours."""
    m: dict[str, str] = {}
    for tg, ours, depth in (
        ("s1_encoder", "radar_encoder", depths["s1_encoder"]),
        ("s2_encoder", "optical_encoder", depths["s2_encoder"]),
    ):
        for wb in ("weight", "bias"):
            m[f"{tg}.linear_input.{wb}"] = f"{ours}.patch_embed.proj.{wb}"
            m[f"{tg}.transformer.norm_out.{wb}"] = f"{ours}.norm.{wb}"
        for i in range(depth):
            _map_block(m, f"{tg}.transformer.layers.{i}", f"{ours}.blocks.{i}", mlp=1)
    for i in range(depths["joint_encoder"]):
        t, o = f"joint_encoder.layers.{i}", f"cross_encoder.blocks.{i}"
        _map_block(m, t, o, mlp=2)  # self-attention 0, cross-attention 1, MLP 2
        m[f"{t}.1.to_q.weight"] = f"{o}.cross_attn.q.weight"
        for wb in ("weight", "bias"):
            m[f"{t}.1.input_norm.{wb}"] = f"{o}.norm_cross.{wb}"
            m[f"{t}.1.to_out.{wb}"] = f"{o}.cross_attn.proj.{wb}"
    for wb in ("weight", "bias"):
        m[f"joint_encoder.norm_out.{wb}"] = f"cross_encoder.norm.{wb}"
        for j in (0, 1, 3):
            m[f"s1_GAP_FFN.{j}.{wb}"] = f"gap_ffn_radar.{j}.{wb}"
            m[f"s2_GAP_FFN.{j}.{wb}"] = f"gap_ffn_optical.{j}.{wb}"
    return m


def _count_layers(sd: dict[str, Tensor], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    found = {int(mt.group(1)) for k in sd if (mt := pattern.match(k))}
    return max(found) + 1 if found else 0


def croma_from_torchgeo(source: typing.Any, num_heads: int = 16, **overrides: typing.Any) -> CROMA:
    """Build our CROMA carrying the weights of torchgeo's ``CROMA`` (or of the official checkpoint).

    The architecture (width, patch size, depths) is read from the weights; heads are not stored in a state
    dict: the published models use 16. The result has ``qkv_bias=False`` (as published) and
    ``embed_projected=False``.

    Args:
        source: torchgeo ``CROMA`` module, its state dict, the official checkpoint dict (``s1_encoder``, ...),
            or a local file holding one of them.
        num_heads: attention heads of the published model.
        **overrides: further config fields (e.g. ``img_size``).

    Returns:
        A :class:`CROMA` in evaluation mode.

    Raises:
        KeyError: the weights hold parameters this conversion does not know (nothing is dropped silently).
    """
    sd = _as_state_dict(source, "CROMA")
    if any(p in sd and isinstance(sd[p], dict) for p in _CROMA_PARTS):
        sd = official_croma_to_torchgeo(sd)
    sd = {k: v for k, v in sd.items() if k != "attn_bias"}  # a buffer we compute for the grid at hand
    enc = "s2_encoder" if "s2_encoder.linear_input.weight" in sd else "s1_encoder"
    if f"{enc}.linear_input.weight" not in sd:
        raise KeyError("no CROMA encoder found: expected keys like 's2_encoder.linear_input.weight'")
    w = sd[f"{enc}.linear_input.weight"]
    dim, in_features = w.shape
    channels = 12 if enc == "s2_encoder" else 2
    patch = round((in_features / channels) ** 0.5)
    depths = {
        "s1_encoder": _count_layers(sd, "s1_encoder.transformer.layers"),
        "s2_encoder": _count_layers(sd, "s2_encoder.transformer.layers"),
        "joint_encoder": _count_layers(sd, "joint_encoder.layers"),
    }
    # a single-modality checkpoint still needs depths for the other (random) encoders
    known = [d for d in depths.values() if d]
    optical = depths["s2_encoder"] or 2 * max(known)
    half = max(1, optical // 2)
    config = get_config(
        "croma",
        "base",
        embed_dim=dim,
        patch_size=patch,
        num_heads=num_heads,
        optical_depth=optical,
        radar_depth=depths["s1_encoder"] or half,
        cross_depth=depths["joint_encoder"] or half,
        qkv_bias=False,
        embed_projected=False,
        **overrides,
    )
    model = CROMA(config)
    key_map = _croma_key_map(depths)
    kv = re.compile(r"^joint_encoder\.layers\.\d+\.1\.to_[kv]\.weight$")  # merged below
    unknown = sorted(k for k in sd if k not in key_map and not kv.match(k))
    if unknown:
        raise KeyError(f"CROMA weights hold parameters this conversion does not map: {unknown[:8]}")
    ours = model.state_dict()
    converted: dict[str, Tensor] = {}
    for k, v in sd.items():
        if kv.match(k):
            continue
        target = key_map[k]
        if k.endswith("linear_input.weight"):
            v = v.reshape(ours[target].shape)  # Linear over (c, i, j) pixels == Conv2d weight [D, C, p, p]
        converted[target] = v
    # the published cross-attention keeps separate key and value projections; ours stacks them
    for i in range(depths["joint_encoder"]):
        t = f"joint_encoder.layers.{i}.1"
        converted[f"cross_encoder.blocks.{i}.cross_attn.kv.weight"] = torch.cat(
            [sd[f"{t}.to_k.weight"], sd[f"{t}.to_v.weight"]], dim=0
        )
    for k, v in converted.items():
        if ours[k].shape != v.shape:
            raise ValueError(
                f"shape mismatch for {k}: weights {tuple(v.shape)}, model {tuple(ours[k].shape)}"
            )
    model.load_state_dict(converted, strict=False)
    return model.eval()


def croma_from_official(checkpoint: typing.Any, num_heads: int = 16, **overrides: typing.Any) -> CROMA:
    """Build our CROMA from the official checkpoint (``CROMA_base.pt`` layout).

    Args:
        checkpoint: the loaded dict (``s1_encoder``, ``s1_GAP_FFN``, ``s2_encoder``, ``s2_GAP_FFN``,
            ``joint_encoder``) or a local file path.
        num_heads: attention heads (16 for the published base and large models).
        **overrides: further config fields.

    Returns:
        A :class:`CROMA` in evaluation mode.
    """
    return croma_from_torchgeo(
        official_croma_to_torchgeo(_as_state_dict(checkpoint, "CROMA")), num_heads, **overrides
    )


def scale_mae_from_torchgeo(
    source: typing.Any,
    num_heads: int | None = None,
    s2_bands: tuple[int, ...] | None = None,
    **overrides: typing.Any,
) -> ScaleMAE:
    """Build our Scale-MAE whose encoder carries torchgeo's ``ScaleMAE`` (timm ViT) weights.

    Also reads the official pretraining checkpoint (``{"model": state_dict}``; decoder entries are ignored).

    Args:
        source: torchgeo ``ScaleMAE`` module, its state dict, the official checkpoint, or a local file.
        num_heads: encoder heads (not stored in weights); default ``width // 64`` as in ViT-B/L.
        s2_bands: which Sentinel-2 bands feed the input channels; default all 12 for 12-channel weights and
            ``(3, 2, 1)`` (B4, B3, B2 = RGB) for 3-channel weights.
        **overrides: further config fields (e.g. ``reference_gsd``, ``pool="cls"``).

    Returns:
        A :class:`ScaleMAE` in evaluation mode (decoder freshly initialised).
    """
    sd = _as_state_dict(source, "Scale-MAE")
    if "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    if "patch_embed.proj.weight" not in sd:
        raise KeyError("no ViT encoder found: expected keys like 'patch_embed.proj.weight'")
    dim, in_chans, patch, _ = sd["patch_embed.proj.weight"].shape
    if s2_bands is None and in_chans not in (12, 3):
        raise ValueError(
            f"weights read {in_chans} channels: pass s2_bands= to say which Sentinel-2 bands feed them"
        )
    if s2_bands is None:
        s2_bands = None if in_chans == 12 else (3, 2, 1)
    config = get_config(
        "scale_mae",
        "base",
        s2_bands=s2_bands,
        modality="s2",
        patch_size=patch,
        embed_dim=dim,
        depth=_count_layers(sd, "blocks"),
        num_heads=num_heads or max(1, dim // 64),
        mlp_ratio=sd["blocks.0.mlp.fc1.weight"].shape[0] / dim,
        **overrides,
    )
    model = ScaleMAE(config)
    encoder = {
        k
        for k in model.state_dict()
        if k == "cls_token" or k.split(".")[0] in ("patch_embed", "blocks", "norm")
    }
    # positional encodings are recomputed from the GSD; a classifier head is not part of the encoder
    ignored = re.compile(r"^(pos_embed|head\.|fc_norm\.|decoder|mask_token|fpn|fcn)")
    unknown = sorted(k for k in sd if k not in encoder and not ignored.match(k))
    if unknown:
        raise KeyError(f"Scale-MAE weights hold parameters this conversion does not map: {unknown[:8]}")
    missing = sorted(encoder - set(sd))
    if missing:
        raise KeyError(f"Scale-MAE weights lack encoder parameters: {missing[:8]}")
    model.load_state_dict({k: sd[k] for k in encoder}, strict=False)
    return model.eval()


def resnet50_from_torchgeo(source: typing.Any) -> ResNet50Encoder:
    """Build a :class:`ResNet50Encoder` carrying the weights of a torchgeo / timm ``resnet50``.

    The classifier (``fc.*``, absent from or ignored in the published SSL4EO-S12 weights) is dropped; the
    number of input bands is read from the first convolution.

    Args:
        source: torchgeo ``resnet50`` module, its state dict (the published file's layout), or a local file.

    Returns:
        The encoder in evaluation mode.

    Raises:
        KeyError: the weights are not a ResNet-50 (missing or unknown parameters are named).
    """
    sd = _as_state_dict(source, "ResNet-50")
    if "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if "conv1.weight" not in sd:
        raise KeyError("no ResNet found: expected keys like 'conv1.weight', 'layer4.2.conv3.weight'")
    encoder = ResNet50Encoder(int(sd["conv1.weight"].shape[1]))
    weights = {f"net.{k}": v for k, v in sd.items() if not k.startswith("fc.")}
    ours = encoder.state_dict()
    unknown, missing = sorted(set(weights) - set(ours)), sorted(set(ours) - set(weights))
    if unknown or missing:
        raise KeyError(
            f"not a ResNet-50 state dict: unknown {[k[4:] for k in unknown[:8]]}, "
            f"missing {[k[4:] for k in missing[:8]]}"
        )
    for k, v in weights.items():
        if ours[k].shape != v.shape:
            raise ValueError(
                f"shape mismatch for {k[4:]}: weights {tuple(v.shape)}, model {tuple(ours[k].shape)}"
            )
    encoder.load_state_dict(weights)
    return encoder.eval()


__all__ = [
    "croma_from_official",
    "croma_from_torchgeo",
    "official_croma_to_torchgeo",
    "resnet50_from_torchgeo",
    "scale_mae_from_torchgeo",
]
