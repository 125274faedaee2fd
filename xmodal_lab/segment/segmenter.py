"""Segment Anything on Earth-observation tiles (as 8-bit RGB): zero-shot prompts and PerSAM's one-shot."""

import hashlib
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamAutomaticMaskGenerator, SamPredictor
from segment_anything.modeling import Sam
from torch import Tensor

from xmodal_lab.data.composites import to_sam_image
from xmodal_lab.errors import InputValueError, NodataError, NodataWarning
from xmodal_lab.segment.checkpoints import _announce_untrained, build_sam, require_trained
from xmodal_lab.segment.oneshot import binary_mask, cosine_confidence, extreme_points, target_embedding
from xmodal_lab.units import check_s1, check_s2


@dataclass
class SamMasks:
    """Masks ``[N, H, W]`` from SAM on one tile, its predicted IoU ``scores [N]`` and the prompts given."""

    masks: np.ndarray
    scores: np.ndarray
    areas: np.ndarray
    untrained: bool
    model_type: str
    low_res_logits: np.ndarray | None = field(default=None, repr=False)
    points: np.ndarray | None = field(default=None, repr=False)
    prompt_points: np.ndarray | None = field(default=None, repr=False)
    prompt_labels: np.ndarray | None = field(default=None, repr=False)
    prompt_box: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.masks)

    def __repr__(self) -> str:
        tag = "UNTRAINED (random masks), " if self.untrained else ""
        shape = tuple(self.masks.shape[-2:]) if self.masks.ndim == 3 else ()
        return f"SamMasks({tag}{len(self)} masks of {shape}, model_type={self.model_type!r})"


def automatic_settings(image_side: int, untrained: bool = False, **overrides: Any) -> dict[str, Any]:
    """``SamAutomaticMaskGenerator`` arguments for a tile whose longer side is ``image_side`` pixels.

    Thresholds under SAM's photo defaults (soft edges: fields, water, forest; 0 untrained); a point per 4 px.
    """
    return {
        "points_per_side": int(min(32, max(8, image_side // 4))), "points_per_batch": 64,
        "pred_iou_thresh": 0.0 if untrained else 0.80, "stability_score_thresh": 0.0 if untrained else 0.85,
        "stability_score_offset": 1.0, "box_nms_thresh": 0.7, "crop_n_layers": 0, "min_mask_region_area": 0,
        **overrides,
    }  # fmt: skip


def _as_rgb(image: Any, rendering: str | None) -> np.ndarray:
    """An 8-bit ``[H, W, 3]`` picture from a picture or a Sentinel tile ``[C, H, W]``."""
    a = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        if not np.isfinite(a).any():
            raise NodataError("image: the tile is all NaN (no valid pixel); pick a tile inside the scene")
        bad = ~np.isfinite(a)
        share = float((bad.any(axis=0) if a.ndim == 3 else bad).mean())
        warnings.warn(f"image: {share:.0%} of the tile is NaN (nodata), shown black to SAM, which may "
                      "outline it as an object; masks over it mean nothing: crop the tile to its valid part "
                      "or prompt away from it", NodataWarning, stacklevel=3)
    rendering = _rendering(a, rendering)
    if rendering is None:
        return np.ascontiguousarray(a)
    (check_s1 if rendering.startswith("s1") else check_s2)(a, where="image")  # linear S1 renders black
    return to_sam_image(a, rendering)


def _rendering(a: np.ndarray, rendering: str | None) -> str | None:
    """How a tile is rendered: as asked, else by its bands (12: ``"s2"``, 2: ``"s1"``); None for a picture."""
    if rendering is not None or (a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 3):
        return rendering
    rendering = {12: "s2", 2: "s1"}.get(a.shape[0] if a.ndim == 3 else -1)
    if rendering is None:
        raise ValueError(f"image: expected an [H, W, 3] uint8 picture, a Sentinel-2 [12, H, W] or a "
                         f"Sentinel-1 [2, H, W] tile, got {a.dtype} {tuple(a.shape)}")
    return rendering


def tile_kind(image: Any, rendering: str | None = None) -> str:
    """``"Sentinel-1"``, ``"Sentinel-2"`` or ``"an 8-bit picture"``: what SAM is shown of ``image``."""
    a = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    name = _rendering(a, rendering)
    return "an 8-bit picture" if name is None else {"s1": "Sentinel-1", "s2": "Sentinel-2"}[name[:2]]


def _check_prompts(pts: np.ndarray | None, lab: np.ndarray | None, bx: np.ndarray | None, hw: tuple) -> None:
    """Refuse prompts SAM would silently misread: no point, NaN, off the ``hw`` tile, labels not 0/1, inverted box."""
    (h, w), problem = hw, None
    if pts is not None and not len(pts):
        problem = "points: empty list (no point); give [[x, y], ...] or points=None"
    elif pts is not None and not np.isfinite(pts).all():
        problem = "points: contain NaN or infinite coordinates; give finite (x, y) pixels"
    elif pts is not None and ((pts < 0).any() or (pts[:, 0] >= w).any() or (pts[:, 1] >= h).any()):
        problem = f"points: some (x, y) lie outside the {w} x {h} tile; x must be in [0, {w}), y in [0, {h})"
    elif pts is not None and not np.isin(lab, (0, 1)).all():
        problem = f"labels: each must be 0 or 1 (1 = on the object), got {np.unique(lab)[:6]}"
    elif bx is not None and not np.isfinite(bx).all():
        problem = f"box: contains NaN or infinite values, got {bx.tolist()}; give (x0, y0, x1, y1)"
    elif bx is not None and (bx[2] < bx[0] or bx[3] < bx[1]):
        axis, lo, hi = ("x", bx[0], bx[2]) if bx[2] < bx[0] else ("y", bx[1], bx[3])
        problem = f"box: {axis}1={hi:g} < {axis}0={lo:g}; give (x0, y0, x1, y1) with x0 <= x1, y0 <= y1"
    elif bx is not None and (min(bx[0], bx[1]) < 0 or bx[2] > w or bx[3] > h):
        problem = (f"box: {bx.tolist()} reaches outside the {w} x {h} tile; keep x in [0, {w}] and y in "
                   f"[0, {h}] (clip it: np.clip(box, 0, [{w}, {h}, {w}, {h}]))")
    if problem:
        raise InputValueError(problem)


class SamSegmenter:
    """Zero-shot SAM (default: :func:`build_sam`'s) on one tile at a time, each tile encoded once."""

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

    def set_image(self, image: Any, rendering: str | None = None) -> Self:
        """Encode an 8-bit picture ``[H, W, 3]`` or a Sentinel tile ``[12 | 2, H, W]`` as ``rendering``."""
        rgb = _as_rgb(image, rendering)
        key = hashlib.sha1(rgb.tobytes() + str(rgb.shape).encode()).digest()
        if key != self._key:
            self.predictor.set_image(rgb)
            self.image, self._key = rgb, key
        return self

    def _need_image(self) -> None:
        if self.image is None:
            raise RuntimeError("call set_image(...) first")

    def _masks(self, masks: np.ndarray, scores: np.ndarray, **extra: Any) -> SamMasks:
        if self.untrained:
            _announce_untrained("this SamMasks result")
        masks, scores = masks.astype(bool), np.asarray(scores, dtype=np.float32)
        areas = masks.sum(axis=(1, 2)).astype(np.int64)
        return SamMasks(masks, scores, areas, self.untrained, self.model_type, **extra)

    def predict(self, points: Any = None, labels: Any = None, box: Any = None, mask_input: Any = None,
                multimask: bool = True) -> SamMasks:
        """Masks for any combination of prompts on the current tile.

        ``points [N, 2]`` ``(x, y)``, ``labels [N]`` (1: object), ``box (x0, y0, x1, y1)``; ``mask_input``:
        an earlier ``low_res_logits [1, 4h, 4w]``; ``multimask``: SAM's three candidates.
        """
        self._need_image()
        pts = lab = None
        if points is not None:
            pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
            lab = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels).reshape(-1)
            if len(lab) != len(pts):
                raise ValueError(f"{len(pts)} points but {len(lab)} labels")
        bx = None if box is None else np.asarray(box, dtype=np.float32).reshape(4)
        _check_prompts(pts, lab, bx, self.image.shape[:2])
        if mask_input is not None:
            mask_input = np.asarray(mask_input, dtype=np.float32).reshape(1, *np.shape(mask_input)[-2:])
        if pts is None and bx is None and mask_input is None:
            raise ValueError("give at least one prompt: points, box or mask_input")
        masks, scores, low = self.predictor.predict(pts, lab, bx, mask_input, multimask_output=multimask)
        return self._masks(masks, scores, low_res_logits=low, prompt_points=pts, prompt_labels=lab, prompt_box=bx)

    def points(self, points: Any, labels: Any = None) -> SamMasks:
        """SAM's three candidate masks from clicks (see :meth:`predict`)."""
        return self.predict(points=points, labels=labels, multimask=True)

    def box(self, box: Any) -> SamMasks:
        """The one mask inside a box ``(x0, y0, x1, y1)`` (see :meth:`predict`)."""
        return self.predict(box=box, multimask=False)

    def automatic(self, image: Any = None, allow_untrained: bool = False, **overrides: Any) -> SamMasks:
        """All masks a trained SAM rates well on a grid of points (settings: :func:`automatic_settings`)."""
        if not allow_untrained:
            require_trained(self, "automatic mask generator")
        rgb = _as_rgb(image, None) if image is not None else self.image
        if rgb is None:
            raise RuntimeError("pass an image or call set_image(...) first")
        params = automatic_settings(max(rgb.shape[:2]), untrained=self.untrained, **overrides)
        records = SamAutomaticMaskGenerator(self.sam, output_mode="binary_mask", **params).generate(rgb)
        records.sort(key=lambda r: -r["area"])
        masks = np.stack([r["segmentation"] for r in records]) if records else np.zeros((0, *rgb.shape[:2]), bool)
        scores = [r["predicted_iou"] for r in records]
        points = np.asarray([r["point_coords"][0] for r in records], np.float32).reshape(-1, 2)
        return self._masks(masks, scores, points=points)

    def embedding(self) -> Tensor:
        """The current tile's image embedding ``[1, C, h, w]`` (padded square frame)."""
        self._need_image()
        return self.predictor.get_image_embedding()

    def reference_cells(self, mask: Any) -> Tensor:
        """Embedding cells ``[h, w]`` inside a pixel mask ``[H, W]`` by PerSAM's rule (SAM's resized mask)."""
        self._need_image()
        picture = np.asarray(mask, dtype=np.uint8) * 255
        resized = torch.as_tensor(self.predictor.transform.apply_image(picture), device=self.sam.device)
        centred = resized.float() - self.sam.pixel_mean[0]  # [h_in, w_in]
        size = self.sam.image_encoder.img_size
        padded = F.pad(centred[None, None], (0, size - centred.shape[1], 0, size - centred.shape[0]))
        grid = self.sam.prompt_encoder.image_embedding_size
        return F.interpolate(padded, size=grid, mode="bilinear", align_corners=False)[0, 0] > 0

    def to_pixels(self, grid_map: Tensor) -> Tensor:
        """Resample a map on the embedding grid ``[h, w]`` to the tile's pixels ``[H, W]``, as SAM's masks."""
        self._need_image()
        low_res = F.interpolate(grid_map[None, None].float(), scale_factor=4, mode="bilinear", align_corners=False)
        return self.sam.postprocess_masks(low_res, self.predictor.input_size, self.predictor.original_size)[0, 0]


def _attend(attn: torch.nn.Module, q: Tensor, k: Tensor, v: Tensor, guide: Tensor | None = None) -> Tensor:
    """SAM's decoder attention; a ``guide [B, 1, 1, Nk]`` re-weights it as ``softmax(softmax(qk/sqrt(c)) + guide)``."""
    q, k, v = attn.q_proj(q), attn.k_proj(k), attn.v_proj(v)
    b, heads = q.shape[0], attn.num_heads
    q, k, v = (t.reshape(b, t.shape[1], heads, -1).transpose(1, 2) for t in (q, k, v))  # [B, heads, N, c]
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # [B, heads, Nq, Nk]
    if guide is not None:
        weights = torch.softmax(weights + guide, dim=-1)
    return attn.out_proj((weights @ v).transpose(1, 2).reshape(b, -1, heads * v.shape[-1]))


def decode_masks(sam: Sam, image_embedding: Tensor, sparse: Tensor, dense: Tensor, multimask: bool,
                 attn_guide: Tensor | None = None,
                 target_token: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """SAM's mask decoder from its own sub-modules, with PerSAM's guided attention and semantic prompt.

    ``attn_guide [1, 1, 1, h*w]`` joins the token-to-image attention weights in every layer, ``target_token
    [1, 1, C]`` the prompt tokens before every attention; without both it is ``sam.mask_decoder``. Returns
    ``low_res_logits [1, M, 4h, 4w]`` and ``iou [1, M]``.
    """
    dec, tr = sam.mask_decoder, sam.mask_decoder.transformer
    tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)[None].expand(sparse.shape[0], -1, -1)
    tokens = torch.cat([tokens, sparse], dim=1)  # [B, T, C]
    src = torch.repeat_interleave(image_embedding, tokens.shape[0], dim=0) + dense
    pos = torch.repeat_interleave(sam.prompt_encoder.get_dense_pe(), tokens.shape[0], dim=0)
    b, c, h, w = src.shape
    keys, key_pe = src.flatten(2).transpose(1, 2), pos.flatten(2).transpose(1, 2)  # [B, hw, C]
    queries, query_pe = tokens, tokens if target_token is None else tokens + target_token
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
    hyper = torch.stack([mlp(mask_tokens[:, i]) for i, mlp in enumerate(dec.output_hypernetworks_mlps)], dim=1)
    masks = (hyper @ upscaled.flatten(2)).reshape(b, -1, *upscaled.shape[-2:])
    sel = slice(1, None) if multimask else slice(0, 1)
    return masks[:, sel], dec.iou_prediction_head(queries[:, 0])[:, sel]


def _best(out: SamMasks) -> SamMasks:
    k, fields = int(np.argmax(out.scores)), ("masks", "scores", "areas", "low_res_logits")
    return replace(out, **{name: getattr(out, name)[k : k + 1] for name in fields})


@dataclass
class PerSamResult:
    """One PerSAM prediction: ``mask [H, W]``, cosine ``confidence [H, W]``, ``points [2, 2]``, ``stages``."""

    mask: np.ndarray
    score: float
    confidence: np.ndarray
    points: np.ndarray
    stages: dict[str, np.ndarray]
    untrained: bool
    model_type: str = "unknown"

    def __repr__(self) -> str:
        tag = "UNTRAINED (random), " if self.untrained else ""
        return f"PerSamResult({tag}{int(self.mask.sum())} pixels, score={self.score:.3f})"


class PerSAM:
    """Training-free one-shot SAM: learn "what" from a reference tile and mask ``[H, W]``, find it elsewhere.

    Switches turn off PerSAM's guided attention, semantic prompt and cascade (mask prompt, then box).
    """

    def __init__(self, segmenter: SamSegmenter | Sam, reference: Any, reference_mask: Any,
                 guided_attention: bool = True, semantic_prompt: bool = True, cascade: bool = True) -> None:
        self.seg = segmenter if isinstance(segmenter, SamSegmenter) else SamSegmenter(segmenter)
        self.guided_attention, self.semantic_prompt, self.cascade = guided_attention, semantic_prompt, cascade
        self.seg.set_image(reference)
        self.kind = tile_kind(reference)
        mask = binary_mask(reference_mask, "reference_mask", self.seg.predictor.original_size)[0]
        cells = self.seg.reference_cells(mask.cpu().numpy())  # [h, w]
        self.target = target_embedding(self.seg.embedding(), cells[None])

    @torch.no_grad()
    def __call__(self, target: Any) -> PerSamResult:
        """Segment the reference's object on a target tile (same kind as the reference)."""
        if tile_kind(target) != self.kind:
            raise InputValueError(
                f"target: the reference is {self.kind} but the target {tile_kind(target)}; PerSAM compares SAM "
                "features of one rendering, so give a target of the reference's kind (or a reference of the "
                "target's)")
        seg = self.seg.set_image(target)
        sam, embedding = seg.sam, seg.embedding()
        conf = seg.to_pixels(cosine_confidence(embedding, self.target)[0])  # [H, W]
        points = torch.cat(extreme_points(conf[None])).cpu().numpy().astype(np.float32)  # [2, 2] max, min
        labels, guide = np.array([1, 0]), None
        if self.guided_attention:  # one weight per image cell [1, 1, 1, h*w]
            z = (conf - conf.mean()) / conf.std()
            guide = F.interpolate(z[None, None], size=embedding.shape[-2:], mode="bilinear", align_corners=False)
            guide = guide.sigmoid().reshape(1, 1, 1, -1)
        token = self.target.reshape(1, 1, -1) if self.semantic_prompt else None
        coords = seg.predictor.transform.apply_coords(points, seg.predictor.original_size)
        coords = torch.as_tensor(coords, dtype=torch.float32, device=sam.device)[None]
        prompt = (coords, torch.as_tensor(labels, device=sam.device)[None])
        sparse, dense = sam.prompt_encoder(points=prompt, boxes=None, masks=None)
        low, iou = decode_masks(sam, embedding, sparse, dense, False, guide, token)
        pixels = sam.postprocess_masks(low, seg.predictor.input_size, seg.predictor.original_size)
        mask, score = (pixels[0, 0] > sam.mask_threshold).cpu().numpy(), float(iou[0, 0])
        stages = {"guided": mask}
        if self.cascade:  # the best mask for a mask prompt, then again with that mask's box
            first = last = _best(seg.predict(points, labels, mask_input=low[0].cpu().numpy()))
            ys, xs = np.nonzero(first.masks[0])
            if len(xs):
                box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)
                last = _best(seg.predict(points, labels, box=box, mask_input=first.low_res_logits))
            stages["mask_refined"], stages["box_refined"] = first.masks[0], last.masks[0]
            mask, score = last.masks[0], float(last.scores[0])
        if seg.untrained:
            _announce_untrained("this PerSAM result")
        return PerSamResult(np.asarray(mask, bool), score, conf.cpu().numpy(), points, stages, seg.untrained,
                            seg.model_type)


def persam(segmenter: SamSegmenter | Sam, reference: Any, reference_mask: Any, target: Any, **kwargs: Any) -> PerSamResult:
    """One-shot PerSAM on one target tile (see :class:`PerSAM` for the arguments)."""
    return PerSAM(segmenter, reference, reference_mask, **kwargs)(target)
