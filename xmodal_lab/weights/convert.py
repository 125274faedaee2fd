"""Converters from published checkpoint layouts to the kit's models: all renaming, as ``(pattern, key)``."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import torch
from timm.models.resnet import Bottleneck, ResNet
from torch import Tensor, nn

from xmodal_lab.errors import CheckpointError
from xmodal_lab.models.croma import CROMA
from xmodal_lab.models.registry import get_config
from xmodal_lab.models.scale_mae import ScaleMAE
from xmodal_lab.serialization import safe_load

Rules = tuple[tuple[str, str], ...]


def _croma_rules() -> Rules:
    """Rules for torchgeo's CROMA, whose layer is [attention, (cross-attention,) feed-forward] modules."""
    rules = [(r"s1_GAP_FFN\.", "gap_ffn_radar."), (r"s2_GAP_FFN\.", "gap_ffn_optical."),
             (r"joint_encoder\.norm_out\.", "cross_encoder.norm.")]  # fmt: skip
    attention = {"0.input_norm": "norm1", "0.to_qkv": "attn.qkv", "0.to_out": "attn.proj"}
    cross = {"1.input_norm": "norm_cross", "1.to_q": "cross_attn.q", "1.to_kv": "cross_attn.kv",
             "1.to_out": "cross_attn.proj"}  # fmt: skip

    def mlp(i: int) -> dict[str, str]:
        return {f"{i}.input_norm": "norm2", f"{i}.net.0": "mlp.fc1", f"{i}.net.3": "mlp.fc2"}

    layers = [
        (r"s1_encoder\.transformer\.layers", "radar_encoder.blocks", attention | mlp(1)),
        (r"s2_encoder\.transformer\.layers", "optical_encoder.blocks", attention | mlp(1)),
        (r"joint_encoder\.layers", "cross_encoder.blocks", attention | cross | mlp(2)),
    ]
    for theirs, ours, parts in layers:
        rules += [(rf"{theirs}\.(\d+)\.{re.escape(a)}\.", rf"{ours}.\1.{b}.") for a, b in parts.items()]
    for theirs, ours in (("s1_encoder", "radar_encoder"), ("s2_encoder", "optical_encoder")):
        rules += [(rf"{theirs}\.linear_input\.", f"{ours}.patch_embed.proj."),
                  (rf"{theirs}\.transformer\.norm_out\.", f"{ours}.norm.")]  # fmt: skip
    return tuple(rules)


#: Published key pattern -> kit module path, per model (a key the model holds is never renamed).
RENAMES: dict[str, Rules] = {
    "croma": _croma_rules(),
    "scale_mae": (
        (r"cls_token$", "encoder.cls_token"), (r"patch_embed\.", "encoder.patch_embed."),
        (r"blocks\.", "encoder.blocks."), (r"norm\.", "encoder.norm."),
        (r"decoder_embed\.", "decoder.embed."), (r"mask_token$", "decoder.mask_token"),
        (r"decoder_blocks\.", "decoder.blocks."), (r"decoder_norm\.", "decoder.norm."),
    ),
    "mmearth": (
        (r"decoder_embed\.", "decoder.embed."), (r"mask_token$", "decoder.mask_token"),
        (r"decoder\.(\d+)\.", r"decoder.blocks.\1."), (r"decoder_norm\.", "decoder.norm."),
    ),
}  # fmt: skip


def _rename(key: str, rules: Rules, ours: typing.Container[str]) -> str | None:
    for pattern, kit in rules:
        match = re.match(pattern, key)
        if match and (target := match.expand(kit) + key[match.end() :]) in ours:
            return target
    return None


def load_published(model: nn.Module, state: dict[str, Tensor], rules: Rules | None = None, *, ignore: str = "",
                   require: str | None = None, assign: bool = False) -> nn.Module:  # fmt: skip
    """Load a published ``{key: tensor}`` into a kit model (in eval mode), renaming keys by ``rules``.

    A key the model holds loads as it is; any other takes the first rule (default ``RENAMES[model.name]``)
    whose result the model holds. ``ignore`` is a pattern of published keys to skip (computed buffers,
    classifier heads); ``require`` a prefix of the model's parameters that must all be loaded (None: what
    the weights hold); ``assign`` keeps ``state``'s tensors instead of copies (one copy of mapped weights).
    """
    rules = RENAMES.get(getattr(model, "name", ""), ()) if rules is None else rules
    ours, what = model.state_dict(), type(model).__name__
    converted = {}
    for key, value in state.items():
        if ignore and re.match(ignore, key):
            continue
        target = key if key in ours else _rename(key, rules, ours)
        if target is None:
            raise CheckpointError(f"{what} weights hold {key!r}, which maps to no parameter of the model")
        if ours[target].shape != value.shape:
            got, want = tuple(value.shape), tuple(ours[target].shape)
            raise CheckpointError(f"{what} weights: shape mismatch for {key!r}: weights {got}, model {want}")
        converted[target] = value.to(ours[target].dtype) if assign else value
    missing = model.load_state_dict(converted, strict=False, assign=assign).missing_keys
    if missing := [] if require is None else [k for k in missing if k.startswith(require)]:
        raise CheckpointError(f"{what} weights lack parameters: {missing[:8]}")
    return model.eval()


def _as_state_dict(source: typing.Any, what: str, nested: str = "") -> dict[str, Tensor]:
    """A module, a state dict or a local file as ``{name: tensor}``; unwraps ``{nested: state dict}``."""
    if isinstance(source, nn.Module):
        return dict(source.state_dict())
    if isinstance(source, (str, Path)):
        source = safe_load(source, f"{what} checkpoint")
    if not isinstance(source, dict):
        raise TypeError(f"{what}: expected a model, a state dict or a file path, got {type(source).__name__}")
    return source[nested] if nested and isinstance(source.get(nested), dict) else source


def _count_layers(sd: dict[str, Tensor], prefix: str) -> int:
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.")
    return 1 + max((int(m.group(1)) for k in sd if (m := pattern.match(k))), default=-1)


def croma_from_torchgeo(source: typing.Any, num_heads: int = 16, *, assign: bool = False,
                        **overrides: typing.Any) -> CROMA:  # fmt: skip
    """The kit's CROMA carrying torchgeo's ``CROMA`` or the official checkpoint (module, state dict or file).

    Width, patch size and depths are read from the weights; heads are not stored. ``embed`` returns the
    published ``*_GAP`` representations (``embed_projected=False``); ``overrides`` are config fields;
    ``assign`` as in :func:`load_published`.
    """
    sd = _as_state_dict(source, "CROMA")
    parts = ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")
    if any(isinstance(sd.get(part), dict) for part in parts):  # official layout: a dict per part
        sd = {f"{p}.{k}": v for p in parts for k, v in sd.get(p, {}).items()}
    sd = {k: v for k, v in sd.items() if k != "attn_bias"}  # recomputed for the grid at hand
    enc, channels = ("s2_encoder", 12) if "s2_encoder.linear_input.weight" in sd else ("s1_encoder", 2)
    if f"{enc}.linear_input.weight" not in sd:
        raise CheckpointError("no CROMA encoder found: expected keys like 's2_encoder.linear_input.weight'")
    dim, in_features = sd[f"{enc}.linear_input.weight"].shape
    patch = round((in_features / channels) ** 0.5)
    radar = _count_layers(sd, "s1_encoder.transformer.layers")
    cross = _count_layers(sd, "joint_encoder.layers")
    # a single-modality checkpoint still needs the other encoders
    optical = _count_layers(sd, "s2_encoder.transformer.layers") or 2 * max(radar, cross)
    half = max(1, optical // 2)
    sizes = dict(embed_dim=dim, patch_size=patch, num_heads=num_heads, optical_depth=optical, qkv_bias=False)
    sizes.update(radar_depth=radar or half, cross_depth=cross or half, embed_projected=False, **overrides)
    config = get_config("croma", "base", **sizes)
    for key, c in (("s1_encoder.linear_input.weight", 2), ("s2_encoder.linear_input.weight", 12)):
        if key in sd:  # a Linear over (c, i, j) pixels is the kit's Conv2d patch embedding [D, C, p, p]
            sd[key] = sd[key].reshape(dim, c, patch, patch)
    for i in range(cross):  # the published cross-attention keeps separate key and value projections
        t = f"joint_encoder.layers.{i}.1"
        sd[f"{t}.to_kv.weight"] = torch.cat([sd.pop(f"{t}.to_k.weight"), sd.pop(f"{t}.to_v.weight")])
    return load_published(CROMA(config), sd, RENAMES["croma"], assign=assign)


def scale_mae_from_torchgeo(source: typing.Any, num_heads: int | None = None, s2_bands: tuple[int, ...] | None = None,
                            *, assign: bool = False, **overrides: typing.Any) -> ScaleMAE:  # fmt: skip
    """The kit's Scale-MAE whose encoder carries torchgeo's ``ScaleMAE`` or the official pretraining weights.

    ``source``: a torchgeo ``ScaleMAE``, its state dict, the official ``{"model": ...}`` or a file of either;
    ``num_heads`` (not stored) defaults to ``width // 64``, ``s2_bands`` to all 12 (B4, B3, B2 for RGB);
    ``overrides`` are config fields (e.g. ``reference_gsd``); ``assign`` as in :func:`load_published`.
    """
    sd = _as_state_dict(source, "Scale-MAE", nested="model")
    if "patch_embed.proj.weight" not in sd:
        raise CheckpointError("no ViT encoder found: expected keys like 'patch_embed.proj.weight'")
    dim, in_chans, patch, _ = sd["patch_embed.proj.weight"].shape
    if s2_bands is None and in_chans not in (12, 3):
        raise ValueError(f"weights read {in_chans} channels: pass s2_bands= to say which Sentinel-2 bands feed them")
    if s2_bands is None and in_chans == 3:
        s2_bands = (3, 2, 1)
    mlp_ratio = sd["blocks.0.mlp.fc1.weight"].shape[0] / dim
    sizes = dict(patch_size=patch, embed_dim=dim, depth=_count_layers(sd, "blocks"), mlp_ratio=mlp_ratio)
    sizes.update(num_heads=num_heads or max(1, dim // 64), modality="s2", s2_bands=s2_bands)
    config = get_config("scale_mae", "base", **sizes, **overrides)
    # positions are recomputed from the GSD; classifier heads and the pretraining decoder are not loaded
    ignore = r"pos_embed|head\.|fc_norm\.|decoder|mask_token|fpn|fcn"
    return load_published(ScaleMAE(config), sd, ignore=ignore, require="encoder.", assign=assign)


class ResNet50Encoder(ResNet):
    """timm's (and torchgeo's) ResNet-50 without its classifier, in the published weights' layout."""

    out_dim = 2048

    def __init__(self, in_chans: int) -> None:
        super().__init__(Bottleneck, (3, 4, 6, 3), num_classes=0, in_chans=in_chans)
        self.in_chans = in_chans

    def forward(self, x: Tensor) -> Tensor:
        """Encode ``[B, in_chans, H, W]`` into ``[B, 2048, H/32, W/32]``."""
        return self.forward_features(x)

    feature_map = forward


def resnet50_from_torchgeo(source: typing.Any, assign: bool = False) -> ResNet50Encoder:
    """A :class:`ResNet50Encoder` carrying a torchgeo / timm ``resnet50`` (module, state dict or file)."""
    sd = _as_state_dict(source, "ResNet-50", nested="state_dict")
    if "conv1.weight" not in sd:
        raise CheckpointError("no ResNet found: expected keys like 'conv1.weight', 'layer4.2.conv3.weight'")
    encoder = ResNet50Encoder(int(sd["conv1.weight"].shape[1]))
    return load_published(encoder, sd, (), ignore=r"fc\.", require="", assign=assign)
