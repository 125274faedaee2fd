"""Segment Anything (Kirillov et al., 2023) for Earth observation: build, prompt, and personalise with one shot.

What is here:

- :func:`build_sam`: the official ViT-B / ViT-L / ViT-H models from a checkpoint (loaded onto any device
  with ``map_location``), or, when no checkpoint is available, a *tiny untrained* SAM with the same code
  paths so every lesson still runs offline and in CI. Every result of an untrained model says so
  (``untrained=True`` and an :class:`UntrainedSAMWarning`).
- :func:`download_sam_checkpoint`: fetch an official checkpoint into the cache, only when you call it,
  with an MD5 check.
- :class:`SamSegmenter`: zero-shot masks from points, boxes, or automatically over the whole tile, on
  Sentinel-2 or Sentinel-1 tiles rendered to 8-bit RGB by :mod:`xmodal_lab.models.sam_images`.
- :class:`PerSAM` / :func:`persam`: training-free one-shot segmentation (Zhang et al., 2023): a target
  embedding from one reference mask, a cosine location-confidence map, positive and negative points,
  target-guided attention and target-semantic prompting inside SAM's mask decoder, then cascaded
  refinement (mask prompt, then box prompt).

Masks are ``[N, H, W]`` bool in the tile's pixel grid; points are ``(x, y)`` pixels; boxes ``(x0, y0, x1, y1)``.
Georeference masks with :func:`xmodal_lab.eval.segmentation.to_polygons`.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamAutomaticMaskGenerator, SamPredictor
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from torch import Tensor

from xmodal_lab.config import cache_dir, get_device
from xmodal_lab.models.oneshot import cosine_confidence, extreme_points, target_embedding
from xmodal_lab.models.sam_images import to_sam_image

# ---------------------------------------------------------------------------------------------------------
# Architectures and checkpoints


@dataclass(frozen=True)
class SamArch:
    """Sizes of a SAM model (the official ones, or the tiny one used offline).

    Attributes:
        encoder_embed_dim: ViT width.
        encoder_depth: ViT blocks.
        encoder_num_heads: ViT attention heads.
        global_attn_indexes: blocks with global attention (the others attend within windows).
        image_size: side of the square input (images are resized so the longer side fits, then padded).
        patch_size: ViT patch side; the image embedding is ``image_size / patch_size`` cells a side.
        window_size: side of the attention windows.
        prompt_embed_dim: width of prompt tokens and of the image embedding.
        decoder_mlp_dim: hidden width of the mask decoder's MLPs.
        decoder_num_heads: heads of the mask decoder's attention.
        iou_head_hidden_dim: hidden width of the mask-quality head.
        mask_in_chans: hidden channels of the mask-prompt encoder.
    """

    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    global_attn_indexes: tuple[int, ...]
    image_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    prompt_embed_dim: int = 256
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_hidden_dim: int = 256
    mask_in_chans: int = 16


#: Architectures by model type. ``tiny`` exists only so code runs without a download; it is never trained.
SAM_ARCHS: dict[str, SamArch] = {
    "vit_b": SamArch(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamArch(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamArch(1280, 32, 16, (7, 15, 23, 31)),
    "tiny": SamArch(
        32,
        2,
        2,
        (1,),
        image_size=128,
        window_size=4,
        prompt_embed_dim=32,
        decoder_mlp_dim=64,
        decoder_num_heads=2,
        iou_head_hidden_dim=32,
        mask_in_chans=4,
    ),
}


@dataclass(frozen=True)
class SamCheckpoint:
    """An official checkpoint: where to get it, its file name and MD5, its size."""

    url: str
    filename: str
    md5: str
    size_mb: int


_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
#: Official checkpoints (Apache-2.0, Meta AI). The MD5 starts with the 6 characters in the file name.
SAM_CHECKPOINTS: dict[str, SamCheckpoint] = {
    "vit_b": SamCheckpoint(
        _BASE_URL + "sam_vit_b_01ec64.pth", "sam_vit_b_01ec64.pth", "01ec64d29a2fca3f0661936605ae66f8", 375
    ),
    "vit_l": SamCheckpoint(
        _BASE_URL + "sam_vit_l_0b3195.pth", "sam_vit_l_0b3195.pth", "0b3195507c641ddb6910d2bb5adee89c", 1250
    ),
    "vit_h": SamCheckpoint(
        _BASE_URL + "sam_vit_h_4b8939.pth", "sam_vit_h_4b8939.pth", "4b8939a88964f0f4ff5f5b2642c598a6", 2560
    ),
}


class UntrainedSAMWarning(UserWarning):
    """Raised (as a warning) whenever a result comes from a SAM with random weights."""


def sam_cache_dir() -> Path:
    """Folder where SAM checkpoints are looked for and downloaded: ``cache_dir() / "sam"``.

    Returns:
        The folder (created if missing).
    """
    path = cache_dir() / "sam"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_model_type(model_type: str) -> SamArch:
    if model_type not in SAM_ARCHS:
        raise ValueError(f"model_type must be one of {sorted(SAM_ARCHS)}, got {model_type!r}")
    return SAM_ARCHS[model_type]


def _where_to_get(model_type: str) -> str:
    ck = SAM_CHECKPOINTS.get(model_type)
    if ck is None:
        return "the tiny SAM has no official weights; save your own with torch.save(sam.state_dict(), path)"
    return (
        f"download {ck.url} ({ck.size_mb} MB; or call xmodal_lab.models.sam.download_sam_checkpoint("
        f"'{model_type}') on a machine with internet) and put it at {sam_cache_dir() / ck.filename}"
    )


def build_sam_arch(model_type: str = "vit_b") -> Sam:
    """A SAM with random weights (seeded, so the tiny one is the same on every machine).

    Args:
        model_type: ``"vit_b"``, ``"vit_l"``, ``"vit_h"`` or ``"tiny"``.

    Returns:
        The model in eval mode on the CPU.
    """
    a = _check_model_type(model_type)
    grid = a.image_size // a.patch_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        sam = Sam(
            image_encoder=ImageEncoderViT(
                img_size=a.image_size,
                patch_size=a.patch_size,
                embed_dim=a.encoder_embed_dim,
                depth=a.encoder_depth,
                num_heads=a.encoder_num_heads,
                mlp_ratio=4,
                out_chans=a.prompt_embed_dim,
                qkv_bias=True,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                use_rel_pos=True,
                window_size=a.window_size,
                global_attn_indexes=a.global_attn_indexes,
            ),
            prompt_encoder=PromptEncoder(
                embed_dim=a.prompt_embed_dim,
                image_embedding_size=(grid, grid),
                input_image_size=(a.image_size, a.image_size),
                mask_in_chans=a.mask_in_chans,
            ),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=3,
                transformer=TwoWayTransformer(
                    depth=2,
                    embedding_dim=a.prompt_embed_dim,
                    mlp_dim=a.decoder_mlp_dim,
                    num_heads=a.decoder_num_heads,
                ),
                transformer_dim=a.prompt_embed_dim,
                iou_head_depth=3,
                iou_head_hidden_dim=a.iou_head_hidden_dim,
            ),
            pixel_mean=[123.675, 116.28, 103.53],
            pixel_std=[58.395, 57.12, 57.375],
        )
        if model_type == "tiny":
            # Random positional and relative-position tables, so an untrained encoder still tells cells apart.
            for name, p in sam.image_encoder.named_parameters():
                if "pos" in name:
                    torch.nn.init.normal_(p, std=0.02)
    sam.eval()
    sam.model_type = model_type
    # No trained tiny SAM exists anywhere: it is untrained even when loaded from a file.
    sam.untrained = model_type == "tiny"
    return sam


def _load_state_dict(path: Path, device: torch.device) -> dict[str, Tensor]:
    state = torch.load(path, map_location=device, weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a SAM state dict, got {type(state).__name__}")
    return state


def _guess_model_type(state: dict[str, Tensor]) -> str | None:
    pe = state.get("image_encoder.pos_embed")
    if pe is None:
        return None
    width = pe.shape[-1]
    return {a.encoder_embed_dim: k for k, a in SAM_ARCHS.items()}.get(width)


def build_sam(checkpoint: str | Path | None = None, model_type: str = "vit_b", device: Any = None) -> Sam:
    """Build Segment Anything from a checkpoint, or a tiny untrained stand-in when none is available.

    Look-up order: the ``checkpoint`` you pass; else the official file in :func:`sam_cache_dir`; else a
    message saying where to get the weights and a tiny untrained SAM (``sam.untrained is True``) so that
    every code path still runs. Its masks are random: they only show that the code works.

    Args:
        checkpoint: path to a ``.pth`` state dict (official SAM checkpoints, or one you saved).
        model_type: ``"vit_b"`` (375 MB), ``"vit_l"``, ``"vit_h"``, or ``"tiny"`` (no weights exist).
        device: where to put the model (default: the best available, see ``xmodal_lab.config.get_device``).

    Returns:
        A ``segment_anything`` ``Sam`` in eval mode, with extra attributes ``model_type`` and ``untrained``.

    Raises:
        FileNotFoundError: ``checkpoint`` was given but does not exist (the message says where to get it).
        ValueError: the checkpoint does not fit ``model_type``.
    """
    _check_model_type(model_type)
    dev = get_device(None if device is None else str(device), verbose=False)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"SAM checkpoint not found: {path}. To get it: {_where_to_get(model_type)}"
            )
    else:
        ck = SAM_CHECKPOINTS.get(model_type)
        cached = sam_cache_dir() / ck.filename if ck is not None else None
        if cached is None or not cached.is_file():
            if model_type != "tiny":
                msg = (
                    f"No SAM checkpoint for {model_type!r} at {cached}. To use the real model, "
                    f"{_where_to_get(model_type)}. Meanwhile using a TINY UNTRAINED SAM: its masks are "
                    "random and only show that the code runs."
                )
                print(f"xmodal_lab: {msg}")
                warnings.warn(msg, UntrainedSAMWarning, stacklevel=2)
            return build_sam_arch("tiny").to(dev)
        path = cached
    state = _load_state_dict(path, dev)
    sam = build_sam_arch(model_type)
    try:
        sam.load_state_dict(state)
    except RuntimeError as err:
        guess = _guess_model_type(state)
        hint = f" It looks like a {guess!r} checkpoint: pass model_type={guess!r}." if guess else ""
        raise ValueError(f"{path} does not fit SAM model_type={model_type!r}.{hint}\n{err}") from None
    return sam.to(dev)


def _md5(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` into ``dest`` (raises ``requests`` errors when offline)."""
    import requests

    with requests.get(url, stream=True, timeout=timeout) as r:
        r.raise_for_status()
        with open(dest, "wb") as f:
            for block in r.iter_content(chunk_size=1 << 20):
                f.write(block)


def download_sam_checkpoint(model_type: str = "vit_b", timeout: float = 30.0) -> Path | None:
    """Download an official SAM checkpoint into :func:`sam_cache_dir` and verify its MD5.

    Runs only when you call it. Offline, it prints why and returns None (nothing is written).

    Args:
        model_type: ``"vit_b"`` (375 MB), ``"vit_l"`` (1.2 GB) or ``"vit_h"`` (2.5 GB).
        timeout: seconds to wait for the server before giving up.

    Returns:
        The checkpoint's path, or None when the server cannot be reached.

    Raises:
        ValueError: the downloaded file (or a file already in the cache) has the wrong checksum.
    """
    if model_type not in SAM_CHECKPOINTS:
        raise ValueError(f"model_type must be one of {sorted(SAM_CHECKPOINTS)}, got {model_type!r}")
    ck = SAM_CHECKPOINTS[model_type]
    dest = sam_cache_dir() / ck.filename
    if dest.is_file():
        if _md5(dest) != ck.md5:
            raise ValueError(
                f"{dest} exists but its MD5 is not {ck.md5} (an interrupted download?). Delete it and call "
                "download_sam_checkpoint again."
            )
        return dest
    part = dest.with_name(dest.name + ".part")
    print(f"xmodal_lab: downloading {ck.url} ({ck.size_mb} MB) to {dest} ...")
    try:
        _fetch(ck.url, part, timeout)
    except Exception as err:  # no network, proxy, DNS, HTTP error: all mean "not now"
        part.unlink(missing_ok=True)
        msg = (
            f"could not download the SAM checkpoint ({type(err).__name__}: {err}); skipped. On a machine "
            f"with internet, download {ck.url} and put it at {dest}."
        )
        print(f"xmodal_lab: {msg}")
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return None
    got = _md5(part)
    if got != ck.md5:
        part.unlink(missing_ok=True)
        raise ValueError(f"download of {ck.url} is corrupt: MD5 {got}, expected {ck.md5}. Try again.")
    part.replace(dest)
    return dest


# ---------------------------------------------------------------------------------------------------------
# Results


def _announce_untrained(what: str) -> None:
    warnings.warn(
        f"{what} comes from an UNTRAINED SAM (random weights): masks are meaningless. "
        "Load a checkpoint with build_sam(checkpoint=...) for real results.",
        UntrainedSAMWarning,
        stacklevel=3,
    )


@dataclass
class SamMasks:
    """Masks from SAM on one tile.

    Attributes:
        masks: ``[N, H, W]`` bool.
        scores: ``[N]`` SAM's predicted IoU of each mask (its own quality estimate).
        areas: ``[N]`` pixels in each mask.
        untrained: True when the model had random weights: the masks are meaningless.
        model_type: ``"vit_b"``, ..., or ``"tiny"``.
        low_res_logits: ``[N, h, w]`` logits in SAM's low-resolution frame (reusable as a mask prompt).
        stability: ``[N]`` stability scores (automatic masks only).
        points: ``[N, 2]`` ``(x, y)`` of the grid point that produced each mask (automatic masks only).
    """

    masks: np.ndarray
    scores: np.ndarray
    areas: np.ndarray
    untrained: bool
    model_type: str
    low_res_logits: np.ndarray | None = field(default=None, repr=False)
    stability: np.ndarray | None = field(default=None, repr=False)
    points: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.masks)

    def best(self) -> np.ndarray:
        """The mask with the highest score, ``[H, W]`` bool (an empty mask if there is none)."""
        if len(self) == 0:
            raise ValueError("no masks to choose from")
        return self.masks[int(np.argmax(self.scores))]

    def __repr__(self) -> str:
        tag = "UNTRAINED (random masks), " if self.untrained else ""
        shape = tuple(self.masks.shape[-2:]) if self.masks.ndim == 3 else ()
        return f"SamMasks({tag}{len(self)} masks of {shape}, model_type={self.model_type!r})"


def _sam_masks(sam: Sam, masks: np.ndarray, scores: np.ndarray, **extra: Any) -> SamMasks:
    untrained = bool(getattr(sam, "untrained", False))
    if untrained:
        _announce_untrained("this SamMasks result")
    masks = masks.astype(bool)
    return SamMasks(
        masks=masks,
        scores=np.asarray(scores, dtype=np.float32),
        areas=masks.reshape(len(masks), -1).sum(1).astype(np.int64),
        untrained=untrained,
        model_type=getattr(sam, "model_type", "unknown"),
        **extra,
    )


# ---------------------------------------------------------------------------------------------------------
# Zero-shot

#: Automatic-mask settings for Earth-observation tiles. Compared with SAM's photo defaults (0.88 / 0.95),
#: the quality thresholds are lower because fields, water and forest have soft, low-contrast edges on which
#: SAM is less sure; small-region clean-up is off (it needs OpenCV).
EO_AUTOMATIC_DEFAULTS: dict[str, Any] = {
    "points_per_side": 32,
    "points_per_batch": 64,
    "pred_iou_thresh": 0.80,
    "stability_score_thresh": 0.85,
    "stability_score_offset": 1.0,
    "box_nms_thresh": 0.7,
    "crop_n_layers": 0,
    "min_mask_region_area": 0,
}


def automatic_settings(image_side: int, untrained: bool = False, **overrides: Any) -> dict[str, Any]:
    """Automatic-mask-generator settings for a tile of a given size.

    Args:
        image_side: the tile's longer side in pixels: small tiles get a coarser point grid (one point per
            4 pixels, between 8 and 32 per side), since a 32-pixel tile has no 1024 distinct objects.
        untrained: set both quality thresholds to 0, because a random model's scores are noise and
            would filter out every mask.
        **overrides: any ``SamAutomaticMaskGenerator`` argument.

    Returns:
        Keyword arguments for ``SamAutomaticMaskGenerator``.
    """
    params = dict(EO_AUTOMATIC_DEFAULTS)
    params["points_per_side"] = int(min(32, max(8, image_side // 4)))
    if untrained:
        params.update(pred_iou_thresh=0.0, stability_score_thresh=0.0)
    params.update(overrides)
    return params


def _as_rgb(image: Any, rendering: str | None) -> np.ndarray:
    """An 8-bit ``[H, W, 3]`` picture from a picture or a Sentinel tile ``[C, H, W]``."""
    if isinstance(image, Tensor):
        image = image.detach().cpu().numpy()
    a = np.asarray(image)
    if rendering is None and a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 3:
        return np.ascontiguousarray(a)
    if rendering is None:
        rendering = {12: "s2", 2: "s1"}.get(a.shape[0] if a.ndim == 3 else -1)
        if rendering is None:
            raise ValueError(
                f"image: expected an [H, W, 3] uint8 picture, a Sentinel-2 [12, H, W] or a Sentinel-1 "
                f"[2, H, W] tile, got {a.dtype} {tuple(a.shape)}"
            )
    return to_sam_image(a, rendering)


class SamSegmenter:
    """Zero-shot SAM on one tile at a time: points, boxes, or automatic masks.

    The image embedding (the expensive part) is computed once per tile and reused by every prompt.

    Args:
        sam: a model from :func:`build_sam` (default: ``build_sam()``, which falls back to the tiny
            untrained SAM when no checkpoint is cached).

    Example:
        >>> seg = SamSegmenter(build_sam("sam_vit_b_01ec64.pth"))
        >>> seg.set_image(pair["s2"])            # Sentinel-2 [12, H, W] -> true colour
        >>> out = seg.points([[16, 20]])         # one positive click at x=16, y=20
        >>> water = out.best()
    """

    def __init__(self, sam: Sam | None = None) -> None:
        self.sam = build_sam() if sam is None else sam
        self.predictor = SamPredictor(self.sam)
        self.image: np.ndarray | None = None
        self._key: bytes | None = None

    @property
    def untrained(self) -> bool:
        """Whether the model has random weights."""
        return bool(getattr(self.sam, "untrained", False))

    @property
    def model_type(self) -> str:
        """``"vit_b"``, ``"vit_l"``, ``"vit_h"`` or ``"tiny"``."""
        return getattr(self.sam, "model_type", "unknown")

    def set_image(self, image: Any, rendering: str | None = None) -> SamSegmenter:
        """Encode a tile (skipped when it is the tile already set).

        Args:
            image: ``[H, W, 3]`` uint8, or a Sentinel tile ``[12, H, W]`` / ``[2, H, W]`` in physical units.
            rendering: how to render a Sentinel tile (``"s2"``, ``"s2_false"``, ``"s1"``, ``"s1_vv"``,
                ``"s1_vh"``); default true colour for 12 bands, the radar composite for 2.

        Returns:
            ``self``, so calls chain.
        """
        rgb = _as_rgb(image, rendering)
        key = hashlib.sha1(rgb.tobytes() + str(rgb.shape).encode()).digest()
        if key != self._key:
            self.predictor.set_image(rgb)
            self.image, self._key = rgb, key
        return self

    def _need_image(self) -> None:
        if self.image is None:
            raise RuntimeError("call set_image(...) first")

    def predict(
        self,
        points: Any = None,
        labels: Any = None,
        box: Any = None,
        mask_input: Any = None,
        multimask: bool = True,
    ) -> SamMasks:
        """Masks for any combination of prompts on the current tile.

        Args:
            points: ``[N, 2]`` ``(x, y)`` pixels of the tile.
            labels: ``[N]`` 1 = on the object, 0 = not on it (default: all 1).
            box: ``(x0, y0, x1, y1)`` pixels.
            mask_input: ``[1, h, w]`` low-resolution logits from an earlier result (``low_res_logits``).
            multimask: return SAM's three candidate masks (good for one ambiguous click) instead of one.

        Returns:
            :class:`SamMasks` with 3 (multimask) or 1 masks.
        """
        self._need_image()
        pts = lab = None
        if points is not None:
            pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
            lab = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels).reshape(-1)
            if len(lab) != len(pts):
                raise ValueError(f"{len(pts)} points but {len(lab)} labels")
        bx = None if box is None else np.asarray(box, dtype=np.float32).reshape(4)
        if pts is None and bx is None and mask_input is None:
            raise ValueError("give at least one prompt: points, box or mask_input")
        mi = (
            None
            if mask_input is None
            else np.asarray(mask_input, dtype=np.float32).reshape(1, *np.shape(mask_input)[-2:])
        )
        masks, scores, low = self.predictor.predict(
            point_coords=pts, point_labels=lab, box=bx, mask_input=mi, multimask_output=multimask
        )
        return _sam_masks(self.sam, masks, scores, low_res_logits=low)

    def points(self, points: Any, labels: Any = None, multimask: bool = True) -> SamMasks:
        """Masks from clicks (see :meth:`predict`)."""
        return self.predict(points=points, labels=labels, multimask=multimask)

    def box(self, box: Any, multimask: bool = False) -> SamMasks:
        """The mask inside a box ``(x0, y0, x1, y1)`` (see :meth:`predict`)."""
        return self.predict(box=box, multimask=multimask)

    def automatic(self, image: Any = None, rendering: str | None = None, **overrides: Any) -> SamMasks:
        """All masks SAM finds on a grid of points over the tile.

        Args:
            image: the tile (default: the one set with :meth:`set_image`).
            rendering: see :meth:`set_image`.
            **overrides: ``SamAutomaticMaskGenerator`` arguments replacing :func:`automatic_settings`.

        Returns:
            :class:`SamMasks`, largest first, with ``stability`` and ``points``.
        """
        rgb = _as_rgb(image, rendering) if image is not None else self.image
        if rgb is None:
            raise RuntimeError("pass an image or call set_image(...) first")
        params = automatic_settings(max(rgb.shape[:2]), untrained=self.untrained, **overrides)
        records = SamAutomaticMaskGenerator(self.sam, output_mode="binary_mask", **params).generate(rgb)
        records.sort(key=lambda r: -r["area"])
        h, w = rgb.shape[:2]
        if records:
            masks = np.stack([r["segmentation"] for r in records])
        else:
            masks = np.zeros((0, h, w), bool)
        return _sam_masks(
            self.sam,
            masks,
            np.asarray([r["predicted_iou"] for r in records], np.float32),
            stability=np.asarray([r["stability_score"] for r in records], np.float32),
            points=np.asarray([r["point_coords"][0] for r in records], np.float32).reshape(-1, 2),
        )

    # -- helpers shared by the one-shot methods --------------------------------------------------------

    def embedding(self) -> Tensor:
        """The current tile's image embedding ``[1, C, h, w]`` (padded square frame)."""
        self._need_image()
        return self.predictor.get_image_embedding()

    def to_embedding_frame(self, pixel_map: Any) -> Tensor:
        """Resample a map on the tile's pixels ``[H, W]`` onto the embedding grid (cell averages).

        SAM resizes the tile so the longer side is ``image_size`` and pads the rest; the same is done here.

        Returns:
            ``[h, w]`` float on the embedding grid (padding cells are 0).
        """
        self._need_image()
        m = torch.as_tensor(np.asarray(pixel_map, dtype=np.float32), device=self.sam.device)
        ih, iw = self.predictor.input_size
        size = self.sam.image_encoder.img_size
        # Exact cell coverage: repeat pixels when enlarging (no blur across the mask edge), average when shrinking.
        mode = "nearest-exact" if ih >= m.shape[0] else "area"
        m = F.interpolate(m[None, None], size=(ih, iw), mode=mode)
        m = F.pad(m, (0, size - iw, 0, size - ih))
        return F.adaptive_avg_pool2d(m, self.sam.prompt_encoder.image_embedding_size)[0, 0]

    def valid_cells(self) -> Tensor:
        """``[h, w]`` bool: embedding cells that hold image rather than padding."""
        self._need_image()
        ih, iw = self.predictor.input_size
        h, w = self.sam.prompt_encoder.image_embedding_size
        p = self.sam.image_encoder.img_size / h
        valid = torch.zeros(h, w, dtype=torch.bool, device=self.sam.device)
        valid[: math.ceil(ih / p), : math.ceil(iw / p)] = True
        return valid

    def to_pixels(self, grid_map: Tensor) -> Tensor:
        """Resample a map on the embedding grid ``[h, w]`` back to the tile's pixels ``[H, W]``."""
        self._need_image()
        up = self.sam.postprocess_masks(
            grid_map[None, None].float(), self.predictor.input_size, self.predictor.original_size
        )
        return up[0, 0]

    def to_low_res_logits(self, pixel_logits: Any) -> np.ndarray:
        """Turn logits on the tile's pixels ``[H, W]`` into a SAM mask prompt ``[1, 4h, 4w]``."""
        self._need_image()
        m = torch.as_tensor(np.asarray(pixel_logits, dtype=np.float32), device=self.sam.device)
        ih, iw = self.predictor.input_size
        size = self.sam.image_encoder.img_size
        m = F.interpolate(m[None, None], size=(ih, iw), mode="bilinear", align_corners=False)
        m = F.pad(m, (0, size - iw, 0, size - ih), value=float(m.min()))
        low = self.sam.prompt_encoder.mask_input_size
        return F.interpolate(m, size=low, mode="bilinear", align_corners=False)[0].cpu().numpy()


def _mask_box(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)


def _best(out: SamMasks) -> int:
    return int(np.argmax(out.scores))


def refine_with_confidence(
    segmenter: SamSegmenter, confidence: Any, threshold: float = 0.0, logit_scale: float | None = None
) -> SamMasks:
    """SAM's mask for the region a confidence map points at (the image must be set).

    Prompts: a positive point at the confidence maximum and a negative one at the minimum, the confidence
    (centred on ``threshold``) as a mask prompt; then PerSAM's second cascade step, a box around that mask.

    Args:
        segmenter: a :class:`SamSegmenter` holding the tile.
        confidence: ``[H, W]`` on the tile's pixels (for instance from one-shot segmentation).
        threshold: the confidence value at the edge of the region.
        logit_scale: multiplies ``confidence - threshold`` to make SAM logits (default: 8 / spread).

    Returns:
        :class:`SamMasks` with one mask, the best of the last step.
    """
    conf = torch.as_tensor(np.asarray(confidence, dtype=np.float32))
    pos, neg = extreme_points(conf[None])
    pts = np.stack([pos[0].numpy(), neg[0].numpy()]).astype(np.float32)
    labels = np.array([1, 0])
    spread = float(conf.max() - conf.min()) or 1.0
    scale = logit_scale if logit_scale is not None else 8.0 / spread
    logits = segmenter.to_low_res_logits((conf - threshold).numpy() * scale)
    first = segmenter.predict(pts, labels, mask_input=logits, multimask=True)
    k = _best(first)
    box = _mask_box(first.masks[k])
    if box is None:
        return _sam_masks(segmenter.sam, first.masks[k : k + 1], first.scores[k : k + 1])
    second = segmenter.predict(
        pts, labels, box=box, mask_input=first.low_res_logits[k : k + 1], multimask=True
    )
    k = _best(second)
    return _sam_masks(segmenter.sam, second.masks[k : k + 1], second.scores[k : k + 1])


# ---------------------------------------------------------------------------------------------------------
# PerSAM: the mask decoder, recomputed from its own modules so target guidance can be injected


def _attend(attn: torch.nn.Module, q: Tensor, k: Tensor, v: Tensor, guide: Tensor | None = None) -> Tensor:
    """SAM's decoder attention with its own projections, plus PerSAM's target-guided re-weighting.

    With ``guide`` ``[B, 1, 1, Nk]`` the attention weights become ``softmax(softmax(qk) + guide)``:
    image cells that look like the target get more of the prompt tokens' attention.
    """
    q, k, v = attn.q_proj(q), attn.k_proj(k), attn.v_proj(v)
    b, heads = q.shape[0], attn.num_heads

    def split(t: Tensor) -> Tensor:
        return t.reshape(b, t.shape[1], heads, -1).transpose(1, 2)  # [B, heads, N, c]

    q, k, v = split(q), split(k), split(v)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # [B, heads, Nq, Nk]
    if guide is not None:
        weights = torch.softmax(weights + guide, dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(b, -1, heads * v.shape[-1])
    return attn.out_proj(out)


def decode_masks(
    sam: Sam,
    image_embedding: Tensor,
    sparse: Tensor,
    dense: Tensor,
    multimask: bool,
    attn_guide: Tensor | None = None,
    target_token: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """SAM's mask decoder, optionally with PerSAM's target-guided attention and target-semantic prompting.

    Recomputes ``MaskDecoder`` and ``TwoWayTransformer`` from their own sub-modules (no patching): without
    guidance the output equals ``sam.mask_decoder(...)``.

    Args:
        sam: the model.
        image_embedding: ``[1, C, h, w]``.
        sparse: prompt tokens ``[1, N, C]`` from ``sam.prompt_encoder``.
        dense: dense prompt ``[1, C, h, w]`` from ``sam.prompt_encoder``.
        multimask: return the three multimask outputs instead of the single one.
        attn_guide: ``[1, 1, 1, h*w]`` added to the token-to-image attention weights in every layer.
        target_token: ``[1, 1, C]`` PerSAM's target-semantic prompt, added as the official code does
            (``queries += target_embedding`` on the prompt tokens themselves): to the queries before every
            layer and the final attention, and once to the tokens' positional term ``query_pe``, which therefore
            carries the target into every later attention (the first in-place add also changes the tensor
            passed as ``query_pe``).

    Returns:
        ``low_res_logits [1, M, 4h, 4w]`` and ``iou_predictions [1, M]`` with ``M`` = 3 or 1.
    """
    dec = sam.mask_decoder
    tr = dec.transformer
    tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)[None].expand(
        sparse.shape[0], -1, -1
    )
    tokens = torch.cat([tokens, sparse], dim=1)  # [B, T, C]
    src = torch.repeat_interleave(image_embedding, tokens.shape[0], dim=0) + dense
    pos = torch.repeat_interleave(sam.prompt_encoder.get_dense_pe(), tokens.shape[0], dim=0)
    b, c, h, w = src.shape
    keys, key_pe = src.flatten(2).transpose(1, 2), pos.flatten(2).transpose(1, 2)  # [B, hw, C]
    queries = tokens
    # official PerSAM adds the target in place to the tensor that is also query_pe: query_pe = tokens + target
    query_pe = tokens if target_token is None else tokens + target_token
    for layer in tr.layers:
        if target_token is not None:
            queries = queries + target_token
        if layer.skip_first_layer_pe:
            queries = _attend(layer.self_attn, queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + _attend(layer.self_attn, q, q, queries)
        queries = layer.norm1(queries)
        q, k = queries + query_pe, keys + key_pe
        queries = layer.norm2(queries + _attend(layer.cross_attn_token_to_image, q, k, keys, attn_guide))
        queries = layer.norm3(queries + layer.mlp(queries))
        q, k = queries + query_pe, keys + key_pe
        keys = layer.norm4(keys + _attend(layer.cross_attn_image_to_token, k, q, queries))
    q, k = queries + query_pe, keys + key_pe
    if target_token is not None:
        q = q + target_token
    queries = tr.norm_final_attn(queries + _attend(tr.final_attn_token_to_image, q, k, keys))

    upscaled = dec.output_upscaling(keys.transpose(1, 2).reshape(b, c, h, w))  # [B, C/8, 4h, 4w]
    mask_tokens = queries[:, 1 : 1 + dec.num_mask_tokens]
    hyper = torch.stack(
        [mlp(mask_tokens[:, i]) for i, mlp in enumerate(dec.output_hypernetworks_mlps)], dim=1
    )
    bu, cu, hu, wu = upscaled.shape
    masks = (hyper @ upscaled.reshape(bu, cu, hu * wu)).reshape(bu, -1, hu, wu)
    iou = dec.iou_prediction_head(queries[:, 0])
    sel = slice(1, None) if multimask else slice(0, 1)
    return masks[:, sel], iou[:, sel]


@dataclass
class PerSamResult:
    """One PerSAM prediction on a target tile.

    Attributes:
        mask: ``[H, W]`` bool, the final mask.
        score: SAM's predicted IoU of the final mask.
        confidence: ``[H, W]`` cosine location confidence (target embedding vs. the tile's SAM features).
        points: ``[2, 2]`` ``(x, y)`` of the positive (maximum) and negative (minimum) point.
        stages: masks after each step: ``"guided"``, ``"mask_refined"``, ``"box_refined"``.
        untrained: True when SAM had random weights: the mask is meaningless.
    """

    mask: np.ndarray
    score: float
    confidence: np.ndarray
    points: np.ndarray
    stages: dict[str, np.ndarray]
    untrained: bool

    def __repr__(self) -> str:
        tag = "UNTRAINED (random), " if self.untrained else ""
        return f"PerSamResult({tag}{int(self.mask.sum())} pixels, score={self.score:.3f})"


class PerSAM:
    """Training-free one-shot SAM: learn "what" from one reference tile and mask, find it on other tiles.

    Args:
        segmenter: a :class:`SamSegmenter` (or a SAM model).
        reference: the reference tile (``[H, W, 3]`` uint8 or a Sentinel tile, see ``rendering``).
        reference_mask: ``[H, W]`` bool, the object or class on the reference tile.
        rendering: how Sentinel tiles are shown to SAM (``"s2"``, ``"s2_false"``, ``"s1"``, ...).
        guided_attention: use target-guided attention in the decoder.
        semantic_prompt: add the target embedding to the decoder's prompt tokens, as the official code does
            (also into their positional term ``query_pe``, see :func:`decode_masks`).
        cascade: run the two refinement steps (mask prompt, then box prompt).
    """

    def __init__(
        self,
        segmenter: SamSegmenter | Sam,
        reference: Any,
        reference_mask: Any,
        rendering: str | None = None,
        guided_attention: bool = True,
        semantic_prompt: bool = True,
        cascade: bool = True,
    ) -> None:
        self.seg = segmenter if isinstance(segmenter, SamSegmenter) else SamSegmenter(segmenter)
        self.rendering = rendering
        self.guided_attention, self.semantic_prompt, self.cascade = guided_attention, semantic_prompt, cascade
        mask = np.asarray(reference_mask).astype(np.float32)
        self.seg.set_image(reference, rendering)
        if mask.shape != tuple(self.seg.predictor.original_size):
            raise ValueError(
                f"reference_mask is {mask.shape} but the reference tile {tuple(self.seg.predictor.original_size)}"
            )
        coverage = self.seg.to_embedding_frame(mask)  # [h, w]
        #: ``[C]`` mean SAM feature inside the reference mask.
        self.target = target_embedding(self.seg.embedding(), coverage[None])

    @torch.no_grad()
    def __call__(self, target: Any) -> PerSamResult:
        """Segment the reference's object on a target tile.

        Args:
            target: the tile (same kind as the reference).

        Returns:
            A :class:`PerSamResult`.
        """
        seg = self.seg.set_image(target, self.rendering)
        sam = seg.sam
        grid_conf = cosine_confidence(seg.embedding(), self.target)[0]  # [h, w]
        conf = seg.to_pixels(grid_conf)  # [H, W]
        pos, neg = extreme_points(conf[None])
        points = np.stack([pos[0].cpu().numpy(), neg[0].cpu().numpy()]).astype(np.float32)
        labels = np.array([1, 0])

        guide = token = None
        if self.guided_attention:
            valid = seg.valid_cells()
            z = (grid_conf - grid_conf[valid].mean()) / grid_conf[valid].std().clamp_min(1e-6)
            z = torch.where(valid, z, z[valid].min())
            guide = z.sigmoid().reshape(1, 1, 1, -1)
        if self.semantic_prompt:
            token = self.target.reshape(1, 1, -1)

        coords = seg.predictor.transform.apply_coords(points, seg.predictor.original_size)
        pts_t = torch.as_tensor(coords, dtype=torch.float32, device=sam.device)[None]
        lab_t = torch.as_tensor(labels, dtype=torch.int64, device=sam.device)[None]
        sparse, dense = sam.prompt_encoder(points=(pts_t, lab_t), boxes=None, masks=None)
        low, iou = decode_masks(sam, seg.embedding(), sparse, dense, False, guide, token)
        first = (
            sam.postprocess_masks(low, seg.predictor.input_size, seg.predictor.original_size)
            > sam.mask_threshold
        )
        stages = {"guided": first[0, 0].cpu().numpy()}
        mask, score, logits = stages["guided"], float(iou[0, 0]), low[0].cpu().numpy()

        if self.cascade:
            out = seg.predict(points, labels, mask_input=logits, multimask=True)
            k = _best(out)
            mask, score, logits = out.masks[k], float(out.scores[k]), out.low_res_logits[k : k + 1]
            stages["mask_refined"] = mask
            box = _mask_box(mask)
            if box is not None:
                out = seg.predict(points, labels, box=box, mask_input=logits, multimask=True)
                k = _best(out)
                mask, score = out.masks[k], float(out.scores[k])
            stages["box_refined"] = mask

        untrained = seg.untrained
        if untrained:
            _announce_untrained("this PerSAM result")
        return PerSamResult(
            mask=np.asarray(mask, bool),
            score=score,
            confidence=conf.cpu().numpy(),
            points=points,
            stages=stages,
            untrained=untrained,
        )


def persam(
    segmenter: SamSegmenter | Sam, reference: Any, reference_mask: Any, target: Any, **kwargs: Any
) -> PerSamResult:
    """One-shot PerSAM on one target tile (see :class:`PerSAM` for the arguments).

    Returns:
        A :class:`PerSamResult`.
    """
    return PerSAM(segmenter, reference, reference_mask, **kwargs)(target)


__all__ = [
    "EO_AUTOMATIC_DEFAULTS",
    "PerSAM",
    "PerSamResult",
    "SAM_ARCHS",
    "SAM_CHECKPOINTS",
    "SamArch",
    "SamCheckpoint",
    "SamMasks",
    "SamSegmenter",
    "UntrainedSAMWarning",
    "automatic_settings",
    "build_sam",
    "build_sam_arch",
    "decode_masks",
    "download_sam_checkpoint",
    "persam",
    "refine_with_confidence",
    "sam_cache_dir",
]
