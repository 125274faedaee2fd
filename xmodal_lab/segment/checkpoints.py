"""Segment Anything models and checkpoints; without one, a tiny untrained SAM keeps every lesson running."""

import hashlib
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from xmodal_lab.config import cache_dir, get_device
from xmodal_lab.errors import CheckpointError, XmodalError
from xmodal_lab.files import publishing
from xmodal_lab.serialization import safe_load, state_problems


@dataclass(frozen=True)
class SamArch:
    """Sizes of a SAM: the image encoder's ViT, the prompt encoder and the mask decoder."""

    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    global_attn_indexes: tuple[int, ...]
    image_size: int = 1024
    window_size: int = 14
    prompt_embed_dim: int = 256
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    mask_in_chans: int = 16


#: Architectures by model type. ``tiny`` exists only so code runs without a download; it is never trained.
SAM_ARCHS: dict[str, SamArch] = {
    "vit_b": SamArch(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamArch(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamArch(1280, 32, 16, (7, 15, 23, 31)),
    "tiny": SamArch(32, 2, 2, (1,), image_size=128, window_size=4, prompt_embed_dim=32, decoder_mlp_dim=64,
                    decoder_num_heads=2, mask_in_chans=4),
}  # fmt: skip


class SamCheckpoint(NamedTuple):
    """An official checkpoint: where to get it, its file name and MD5, its size."""

    url: str
    filename: str
    md5: str
    size_mb: int


#: Official checkpoints (Apache-2.0, Meta AI). The MD5 starts with the 6 characters in the file name.
SAM_CHECKPOINTS: dict[str, SamCheckpoint] = {
    model_type: SamCheckpoint(f"https://dl.fbaipublicfiles.com/segment_anything/{name}", name, md5, size_mb)
    for model_type, name, md5, size_mb in (
        ("vit_b", "sam_vit_b_01ec64.pth", "01ec64d29a2fca3f0661936605ae66f8", 375),
        ("vit_l", "sam_vit_l_0b3195.pth", "0b3195507c641ddb6910d2bb5adee89c", 1250),
        ("vit_h", "sam_vit_h_4b8939.pth", "4b8939a88964f0f4ff5f5b2642c598a6", 2560),
    )
}


class UntrainedSAMWarning(UserWarning):
    """Warned whenever a result comes from a SAM with random weights."""


class UntrainedSAMError(XmodalError, RuntimeError):
    """A step that needs trained weights was asked of an untrained SAM."""


#: What every figure of an untrained SAM's output says in its title.
UNTRAINED_LABEL = "UNTRAINED SAM (random weights, no checkpoint)"


def sam_label(model: Any) -> str:
    """A figure title for a SAM, a ``SamSegmenter`` or a result: e.g. ``"SAM vit_b (checkpoint)"``."""
    name = getattr(model, "model_type", "unknown")
    return UNTRAINED_LABEL if getattr(model, "untrained", False) else f"SAM {name} (checkpoint)"


def sam_cache_dir() -> Path:
    """Folder where SAM checkpoints are looked for and downloaded (created)."""
    (path := cache_dir() / "sam").mkdir(parents=True, exist_ok=True)
    return path


def real_sam_available(model_type: str = "vit_b") -> bool:
    """Whether the official ``model_type`` checkpoint is in :func:`sam_cache_dir`, where :func:`build_sam` looks."""
    return (ck := SAM_CHECKPOINTS.get(model_type)) is not None and (sam_cache_dir() / ck.filename).is_file()


def _announce_untrained(what: str) -> None:
    msg = f"{what} comes from an UNTRAINED SAM (random weights): masks are meaningless. Load a checkpoint "
    warnings.warn(msg + "with build_sam(checkpoint=...) for real results.", UntrainedSAMWarning, stacklevel=3)


def require_trained(model: Any, what: str) -> None:
    """Refuse a step whose result would mean nothing with an untrained SAM (``model.untrained``)."""
    if getattr(model, "untrained", False):
        raise UntrainedSAMError(
            f"{what} skipped: it needs a trained SAM checkpoint, because an UNTRAINED SAM's masks and "
            "ratings are random. Load one with build_sam(checkpoint=...) or download_sam_checkpoint('vit_b') "
            "(or `make data`).")


def _check_model_type(model_type: str, known: dict) -> None:
    if model_type not in known:
        raise ValueError(f"model_type must be one of {sorted(known)}, got {model_type!r}")


def _where_to_get(model_type: str) -> str:
    if (ck := SAM_CHECKPOINTS.get(model_type)) is None:
        return "the tiny SAM has no official weights; save your own with torch.save(sam.state_dict(), path)"
    return (f"download {ck.url} ({ck.size_mb} MB; or call xmodal_lab.segment.download_sam_checkpoint("
            f"'{model_type}') on a machine with internet) and put it at {sam_cache_dir() / ck.filename}")


def build_sam_arch(model_type: str = "vit_b") -> Sam:
    """A SAM of ``model_type`` with seeded random weights, in eval mode on the CPU."""
    _check_model_type(model_type, SAM_ARCHS)
    a = SAM_ARCHS[model_type]
    grid = a.image_size // 16  # patches of 16 pixels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        sam = Sam(
            image_encoder=ImageEncoderViT(
                img_size=a.image_size, patch_size=16, embed_dim=a.encoder_embed_dim,
                depth=a.encoder_depth, num_heads=a.encoder_num_heads, mlp_ratio=4, out_chans=a.prompt_embed_dim,
                qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
                window_size=a.window_size, global_attn_indexes=a.global_attn_indexes),
            prompt_encoder=PromptEncoder(
                embed_dim=a.prompt_embed_dim, image_embedding_size=(grid, grid),
                input_image_size=(a.image_size, a.image_size), mask_in_chans=a.mask_in_chans),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=3, transformer=TwoWayTransformer(
                    depth=2, embedding_dim=a.prompt_embed_dim, mlp_dim=a.decoder_mlp_dim,
                    num_heads=a.decoder_num_heads),
                transformer_dim=a.prompt_embed_dim, iou_head_depth=3, iou_head_hidden_dim=a.prompt_embed_dim),
            pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])  # fmt: skip
        for name, p in sam.image_encoder.named_parameters():
            if model_type == "tiny" and "pos" in name:  # so that an untrained encoder still tells cells apart
                torch.nn.init.normal_(p, std=0.02)
    sam.eval()
    sam.model_type = model_type
    sam.untrained = model_type == "tiny"  # no trained tiny SAM exists, even when loaded from a file
    return sam


def build_sam(checkpoint: str | Path | None = None, model_type: str = "vit_b", device: Any = None) -> Sam:
    """SAM from ``checkpoint`` or the official file in :func:`sam_cache_dir`, else the tiny untrained SAM."""
    _check_model_type(model_type, SAM_ARCHS)
    dev = get_device(None if device is None else str(device), verbose=False)
    ck = SAM_CHECKPOINTS.get(model_type)
    path = Path(checkpoint).expanduser() if checkpoint is not None else ck and sam_cache_dir() / ck.filename
    if checkpoint is not None and not path.is_file():
        raise FileNotFoundError(f"SAM checkpoint not found: {path}. To get it: {_where_to_get(model_type)}")
    if path is None or not path.is_file():
        if model_type != "tiny":
            msg = (f"No SAM checkpoint for {model_type!r} at {path}. To use the real model, "
                   f"{_where_to_get(model_type)}. Meanwhile using a TINY UNTRAINED SAM: its masks are random "
                   "and only show that the code runs.")
            print(f"xmodal_lab: {msg}")
            warnings.warn(msg, UntrainedSAMWarning, stacklevel=2)
        return build_sam_arch("tiny").to(dev)
    state = safe_load(path, "SAM checkpoint", map_location=dev)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a SAM state dict, got {type(state).__name__}")
    sam = build_sam_arch(model_type)
    if problems := state_problems(sam.state_dict(), state):
        pos = state.get("image_encoder.pos_embed")
        width = {a.encoder_embed_dim: k for k, a in SAM_ARCHS.items()}
        guess = width.get(pos.shape[-1]) if isinstance(pos, torch.Tensor) else None  # the encoder's width
        fix = (f"it looks like a {guess!r} checkpoint: pass model_type={guess!r}" if guess not in (None, model_type)
               else f"the file was edited or is not SAM's weights; {_where_to_get(model_type)}")  # fmt: skip
        raise CheckpointError(f"{path} does not fit SAM model_type={model_type!r} ({problems}); {fix}")
    sam.load_state_dict(state)
    return sam.to(dev)


def _md5(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def _fetch(url: str, dest: Path, timeout: float) -> None:
    import requests
    with requests.get(url, stream=True, timeout=timeout) as r:
        r.raise_for_status()
        with open(dest, "wb") as f:
            for block in r.iter_content(chunk_size=1 << 20):
                f.write(block)


def download_sam_checkpoint(model_type: str = "vit_b", timeout: float = 30.0) -> Path | None:
    """Download an official SAM checkpoint into :func:`sam_cache_dir`, checked by MD5; offline, None."""
    _check_model_type(model_type, SAM_CHECKPOINTS)
    ck = SAM_CHECKPOINTS[model_type]
    dest = sam_cache_dir() / ck.filename
    if dest.is_file():
        if _md5(dest) != ck.md5:
            raise ValueError(f"{dest} exists but its MD5 is not {ck.md5}: delete it and download it again")
        return dest
    print(f"xmodal_lab: downloading {ck.url} ({ck.size_mb} MB) to {dest} ...")
    try:
        with publishing(dest, "SAM checkpoint", parents=True) as part:
            try:
                _fetch(ck.url, part, timeout)
            except Exception as err:  # no network, proxy, DNS, HTTP error: all mean "not now"
                if isinstance(err, OSError) and err.errno is not None and not isinstance(err, ConnectionError):
                    raise  # the disk's error (full, read-only): OutputWriteError names it
                raise _Offline(f"{type(err).__name__}: {err}") from None
            if (got := _md5(part)) != ck.md5:
                raise ValueError(f"download of {ck.url} is corrupt: MD5 {got}, expected {ck.md5}. Try again.")
    except _Offline as err:
        msg = f"could not download the SAM checkpoint ({err}); skipped. Download {ck.url} to {dest}."
        print(f"xmodal_lab: {msg}")
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return None
    except FileExistsError:  # another download finished first: its file was checked the same way
        pass
    return dest


class _Offline(Exception):
    """The download could not start or finish (not the disk's error)."""
