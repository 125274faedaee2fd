"""Zero-shot Segment Anything on Earth-observation tiles: points, boxes, or automatic masks.

:class:`SamSegmenter` renders Sentinel-2 or Sentinel-1 tiles to 8-bit RGB with
:mod:`xmodal_lab.data.composites` and returns :class:`SamMasks`. Masks are ``[N, H, W]`` bool in the
tile's pixel grid; points are ``(x, y)`` pixels; boxes ``(x0, y0, x1, y1)``. Georeference masks with
:func:`xmodal_lab.eval.segmentation.to_polygons`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamAutomaticMaskGenerator, SamPredictor
from segment_anything.modeling import Sam
from torch import Tensor

from xmodal_lab.data.composites import to_sam_image
from xmodal_lab.segment.checkpoints import UntrainedSAMError, _announce_untrained, build_sam


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
        prompt_points: ``[P, 2]`` ``(x, y)`` of the clicks that produced the masks (None without clicks).
        prompt_labels: ``[P]`` 1 = on the object, 0 = not on it.
        prompt_box: ``[4]`` ``(x0, y0, x1, y1)`` of the box prompt (None without a box).
    """

    masks: np.ndarray
    scores: np.ndarray
    areas: np.ndarray
    untrained: bool
    model_type: str
    low_res_logits: np.ndarray | None = field(default=None, repr=False)
    stability: np.ndarray | None = field(default=None, repr=False)
    points: np.ndarray | None = field(default=None, repr=False)
    prompt_points: np.ndarray | None = field(default=None, repr=False)
    prompt_labels: np.ndarray | None = field(default=None, repr=False)
    prompt_box: np.ndarray | None = field(default=None, repr=False)

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
        areas=masks.sum(axis=(1, 2)).astype(np.int64),  # an empty [0, H, W] stack gives [0]
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
        return _sam_masks(
            self.sam, masks, scores, low_res_logits=low, prompt_points=pts, prompt_labels=lab, prompt_box=bx
        )

    def points(self, points: Any, labels: Any = None, multimask: bool = True) -> SamMasks:
        """Masks from clicks (see :meth:`predict`)."""
        return self.predict(points=points, labels=labels, multimask=multimask)

    def box(self, box: Any, multimask: bool = False) -> SamMasks:
        """The mask inside a box ``(x0, y0, x1, y1)`` (see :meth:`predict`)."""
        return self.predict(box=box, multimask=multimask)

    def automatic(
        self,
        image: Any = None,
        rendering: str | None = None,
        allow_untrained: bool = False,
        **overrides: Any,
    ) -> SamMasks:
        """All masks SAM finds on a grid of points over the tile.

        The generator keeps only masks SAM itself rates well (predicted IoU and stability); an untrained
        SAM's ratings are noise, so without a checkpoint it is skipped with :class:`UntrainedSAMError`.

        Args:
            image: the tile (default: the one set with :meth:`set_image`).
            rendering: see :meth:`set_image`.
            allow_untrained: run it anyway with random weights (quality filters off; tests of the mechanics).
            **overrides: ``SamAutomaticMaskGenerator`` arguments replacing :func:`automatic_settings`.

        Returns:
            :class:`SamMasks`, largest first, with ``stability`` and ``points``.

        Raises:
            UntrainedSAMError: the model is untrained and ``allow_untrained`` is False (nothing is computed).
        """
        if self.untrained and not allow_untrained:
            raise UntrainedSAMError(
                "automatic mask generator skipped: it needs a trained SAM checkpoint, because it keeps only the "
                "masks SAM rates well and an UNTRAINED SAM's ratings are random. Load one with "
                "build_sam(checkpoint=...) or download_sam_checkpoint('vit_b')."
            )
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


__all__ = [
    "EO_AUTOMATIC_DEFAULTS",
    "SamMasks",
    "SamSegmenter",
    "automatic_settings",
]
