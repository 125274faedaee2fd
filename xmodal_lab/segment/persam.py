"""PerSAM (Zhang et al., 2023): training-free one-shot segmentation with Segment Anything."""

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from torch import Tensor

from xmodal_lab.errors import InputValueError
from xmodal_lab.segment.checkpoints import _announce_untrained
from xmodal_lab.segment.oneshot import binary_mask, cosine_confidence, extreme_points, target_embedding
from xmodal_lab.segment.segmenter import SamMasks, SamSegmenter, tile_kind


def _attend(attn: torch.nn.Module, q: Tensor, k: Tensor, v: Tensor, guide: Tensor | None = None) -> Tensor:
    """SAM's decoder attention; a ``guide [B, 1, 1, Nk]`` re-weights it as ``softmax(softmax(qk/sqrt(c)) + guide)``."""
    q, k, v = attn.q_proj(q), attn.k_proj(k), attn.v_proj(v)
    b, heads = q.shape[0], attn.num_heads
    q, k, v = (t.reshape(b, t.shape[1], heads, -1).transpose(1, 2) for t in (q, k, v))  # [B, heads, N, c]
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # [B, heads, Nq, Nk]
    if guide is not None:
        weights = torch.softmax(weights + guide, dim=-1)
    return attn.out_proj((weights @ v).transpose(1, 2).reshape(b, -1, heads * v.shape[-1]))


def decode_masks(
    sam: Sam, image_embedding: Tensor, sparse: Tensor, dense: Tensor, multimask: bool,
    attn_guide: Tensor | None = None, target_token: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """SAM's mask decoder from its own sub-modules, with PerSAM's guided attention and semantic prompt.

    ``image_embedding [1, C, h, w]``, prompt tokens ``sparse [1, N, C]`` and ``dense [1, C, h, w]`` come from
    SAM's encoders; ``attn_guide [1, 1, 1, h*w]`` is added to the token-to-image attention weights in every
    layer, ``target_token [1, 1, C]`` to the prompt tokens before every attention (and once to ``query_pe``);
    without both it is ``sam.mask_decoder``. Returns ``low_res_logits [1, M, 4h, 4w]`` and ``iou [1, M]``.
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

    A target embedding gives a location confidence and two prompt points; switches turn off PerSAM's steps:
    it guides SAM's decoder attention, joins its prompt tokens, and a cascade (mask prompt, then box) refines.
    """

    def __init__(
        self, segmenter: SamSegmenter | Sam, reference: Any, reference_mask: Any,
        guided_attention: bool = True, semantic_prompt: bool = True, cascade: bool = True,
    ) -> None:
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
                "features of one rendering, so give a target of the reference's kind (or a reference of the target's)"
            )
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
        sparse, dense = sam.prompt_encoder(
            points=(coords, torch.as_tensor(labels, device=sam.device)[None]), boxes=None, masks=None
        )
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
        mask, confidence = np.asarray(mask, bool), conf.cpu().numpy()
        return PerSamResult(mask, score, confidence, points, stages, seg.untrained, seg.model_type)


def persam(segmenter: SamSegmenter | Sam, reference: Any, reference_mask: Any, target: Any, **kwargs: Any) -> PerSamResult:
    """One-shot PerSAM on one target tile (see :class:`PerSAM` for the arguments)."""
    return PerSAM(segmenter, reference, reference_mask, **kwargs)(target)
