"""PerSAM (Zhang et al., 2023): training-free one-shot segmentation with Segment Anything.

:class:`PerSAM` / :func:`persam`: a target embedding from one reference mask, a cosine location-confidence
map, positive and negative points, target-guided attention and target-semantic prompting inside SAM's mask
decoder, then cascaded refinement (mask prompt, then box prompt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from segment_anything.modeling import Sam
from torch import Tensor

from xmodal_lab.segment.checkpoints import _announce_untrained
from xmodal_lab.segment.confidence import cosine_confidence, extreme_points, target_embedding
from xmodal_lab.segment.refine import _best, _mask_box
from xmodal_lab.segment.segmenter import SamSegmenter


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
        model_type: ``"vit_b"``, ... or ``"tiny"`` (figure titles name it).
    """

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
            model_type=seg.model_type,
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
    "PerSAM",
    "PerSamResult",
    "decode_masks",
    "persam",
]
