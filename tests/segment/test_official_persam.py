"""PerSAM against the official code (ZrrSkywalker/Personalize-SAM: ``persam.py`` and ``per_segment_anything``).

The reference below transcribes the official steps with torch on the stock ``segment_anything`` modules
(whose weights and sub-layers ``per_segment_anything`` shares): the reference mask transformed and
normalised like an image by ``SamPredictor.set_image(image, mask)``, bilinearly resized to the feature grid,
cells ``> 0`` averaged; the similarity map upsampled x4 and by ``postprocess_masks``; the guide as the
map's z-score squeezed bilinearly onto the whole (padded) feature grid; the decoder's in-place
``queries += target_embedding``. It runs on the tiny random SAM with non-square pictures, so padding matters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from segment_anything import SamPredictor

from xmodal_lab import segment as S

pytestmark = pytest.mark.filterwarnings("ignore::xmodal_lab.segment.UntrainedSAMWarning")


@pytest.fixture(scope="module")
def tiny():
    return S.build_sam_arch("tiny")


# ---------------------------------------------------------------- per_segment_anything/modeling, transcribed


def official_attention(mod, q, k, v, attn_sim=None):
    q, k, v = mod.q_proj(q), mod.k_proj(k), mod.v_proj(v)
    b, n_heads = q.shape[0], mod.num_heads
    q, k, v = (x.reshape(b, x.shape[1], n_heads, -1).transpose(1, 2) for x in (q, k, v))
    attn = q @ k.permute(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    attn = torch.softmax(attn, dim=-1)
    if attn_sim is not None:
        attn = attn + attn_sim
        attn = torch.softmax(attn, dim=-1)
    out = (attn @ v).transpose(1, 2)
    return mod.out_proj(out.reshape(b, out.shape[1], -1))


def official_block(layer, queries, keys, query_pe, key_pe, attn_sim):
    if layer.skip_first_layer_pe:
        queries = official_attention(layer.self_attn, queries, queries, queries)
    else:
        q = queries + query_pe
        queries = queries + official_attention(layer.self_attn, q, q, queries)
    queries = layer.norm1(queries)
    q, k = queries + query_pe, keys + key_pe
    queries = layer.norm2(queries + official_attention(layer.cross_attn_token_to_image, q, k, keys, attn_sim))
    queries = layer.norm3(queries + layer.mlp(queries))
    q, k = queries + query_pe, keys + key_pe
    keys = layer.norm4(keys + official_attention(layer.cross_attn_image_to_token, k, q, queries))
    return queries, keys


def official_transformer(tr, image_embedding, image_pe, point_embedding, attn_sim, target_embedding):
    image_embedding = image_embedding.flatten(2).permute(0, 2, 1)
    image_pe = image_pe.flatten(2).permute(0, 2, 1)
    queries, keys = point_embedding, image_embedding
    for layer in tr.layers:
        if target_embedding is not None:
            queries += target_embedding  # in place: the first add also changes point_embedding
        queries, keys = official_block(layer, queries, keys, point_embedding, image_pe, attn_sim)
    q = queries + point_embedding
    k = keys + image_pe
    if target_embedding is not None:
        q += target_embedding
    queries = tr.norm_final_attn(queries + official_attention(tr.final_attn_token_to_image, q, k, keys))
    return queries, keys


def official_decoder(sam, image_embeddings, sparse, dense, multimask, attn_sim=None, target_embedding=None):
    dec = sam.mask_decoder
    output_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)
    tokens = torch.cat((output_tokens[None].expand(sparse.size(0), -1, -1), sparse), dim=1)
    src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0) + dense
    pos_src = torch.repeat_interleave(sam.prompt_encoder.get_dense_pe(), tokens.shape[0], dim=0)
    b, c, h, w = src.shape
    hs, src = official_transformer(dec.transformer, src, pos_src, tokens, attn_sim, target_embedding)
    upscaled = dec.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
    hyper_in = torch.stack([dec.output_hypernetworks_mlps[i](hs[:, 1 + i]) for i in range(dec.num_mask_tokens)], 1)
    masks = (hyper_in @ upscaled.flatten(2)).reshape(b, -1, *upscaled.shape[-2:])
    iou_pred = dec.iou_prediction_head(hs[:, 0])
    sel = slice(1, None) if multimask else slice(0, 1)
    return masks[:, sel], iou_pred[:, sel]


# ---------------------------------------------------------------- persam.py, transcribed


@torch.no_grad()
def official_persam(sam, ref_image, ref_mask, test_image):
    """The official ``persam()`` for one test image: target embedding, map, points, guided mask, cascade."""
    predictor = SamPredictor(sam)
    predictor.set_image(ref_image)
    # set_image(ref_image, ref_mask): the RGB mask resized like the image (PIL bilinear), then Sam.preprocess
    long_side = sam.image_encoder.img_size
    scale = long_side / max(ref_mask.shape[:2])
    new_h, new_w = int(ref_mask.shape[0] * scale + 0.5), int(ref_mask.shape[1] * scale + 0.5)
    input_mask = np.array(Image.fromarray(ref_mask).resize((new_w, new_h), Image.BILINEAR))
    input_mask = torch.as_tensor(input_mask).permute(2, 0, 1)[None].float()
    input_mask = (input_mask - sam.pixel_mean) / sam.pixel_std
    input_mask = F.pad(input_mask, (0, long_side - new_w, 0, long_side - new_h))
    ref_feat = predictor.features.squeeze().permute(1, 2, 0)
    cell_mask = F.interpolate(input_mask, size=ref_feat.shape[0:2], mode="bilinear").squeeze()[0]
    target_feat = ref_feat[cell_mask > 0]
    target_embedding = target_feat.mean(0).unsqueeze(0)
    target_feat = target_embedding / target_embedding.norm(dim=-1, keepdim=True)
    target_embedding = target_embedding.unsqueeze(0)

    predictor.set_image(test_image)
    test_feat = predictor.features.squeeze()
    C, h, w = test_feat.shape
    test_feat = (test_feat / test_feat.norm(dim=0, keepdim=True)).reshape(C, h * w)
    sim = (target_feat @ test_feat).reshape(1, 1, h, w)
    sim = F.interpolate(sim, scale_factor=4, mode="bilinear")
    sim = sam.postprocess_masks(sim, predictor.input_size, predictor.original_size).squeeze()
    width = sim.shape[1]
    top, last = int(sim.flatten().topk(1)[1]), int(sim.flatten().topk(1, largest=False)[1])
    topk_xy = np.array([[top % width, top // width], [last % width, last // width]])
    topk_label = np.array([1, 0])

    z = (sim - sim.mean()) / torch.std(sim)
    z = F.interpolate(z[None, None], size=(h, w), mode="bilinear")
    attn_sim = z.sigmoid_().unsqueeze(0).flatten(3)

    coords = predictor.transform.apply_coords(topk_xy, predictor.original_size)
    points = (torch.as_tensor(coords, dtype=torch.float)[None], torch.as_tensor(topk_label, dtype=torch.int)[None])
    sparse, dense = sam.prompt_encoder(points=points, boxes=None, masks=None)
    low, iou = official_decoder(sam, predictor.features, sparse, dense, False, attn_sim, target_embedding)
    first = sam.postprocess_masks(low, predictor.input_size, predictor.original_size)[0, 0] > 0

    masks, scores, logits = predictor.predict(
        point_coords=topk_xy, point_labels=topk_label, mask_input=low[0].numpy(), multimask_output=True
    )
    best = int(np.argmax(scores))
    y, x = np.nonzero(masks[best])
    masks, scores, _ = predictor.predict(
        point_coords=topk_xy,
        point_labels=topk_label,
        box=np.array([x.min(), y.min(), x.max(), y.max()])[None],
        mask_input=logits[best : best + 1],
        multimask_output=True,
    )
    return {
        "target": target_embedding[0, 0],
        "sim": sim,
        "points": topk_xy,
        "guided": first.numpy(),
        "guided_score": float(iou[0, 0]),
        "final": masks[int(np.argmax(scores))],
    }


def _pictures():
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, size=(40, 30, 3), dtype=np.uint8)  # taller than wide: padded columns
    test = rng.integers(0, 256, size=(28, 44, 3), dtype=np.uint8)  # wider than tall: padded rows
    ref[10:30, 6:22] //= 3  # a dark object on the reference
    test[6:22, 20:40] //= 3
    yy, xx = np.mgrid[:40, :30]
    mask = (yy - 19.5) ** 2 / 11**2 + (xx - 13.7) ** 2 / 9**2 < 1  # an ellipse off the cell grid
    return ref, mask, test


def test_persam_matches_the_official_pipeline(tiny):
    ref, mask, test = _pictures()
    mask_rgb = np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=-1)  # as cv2 reads the annotation
    official = official_persam(tiny, ref, mask_rgb, test)
    seg = S.SamSegmenter(tiny)
    per = S.PerSAM(seg, ref, mask, cascade=False)
    torch.testing.assert_close(per.target, official["target"], atol=1e-5, rtol=1e-5)
    guided = per(test)
    torch.testing.assert_close(torch.from_numpy(guided.confidence), official["sim"], atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(guided.points, official["points"])
    assert guided.score == pytest.approx(official["guided_score"], abs=1e-5)
    np.testing.assert_array_equal(guided.mask, official["guided"])
    full = S.PerSAM(seg, ref, mask)(test)
    np.testing.assert_array_equal(full.stages["guided"], official["guided"])
    np.testing.assert_array_equal(full.mask, official["final"])


@torch.no_grad()
def test_decoder_without_guidance_is_stock_sam(tiny):
    emb, sparse, dense, _, _ = _decoder_inputs(tiny)
    for multimask in (True, False):
        stock_m, stock_i = tiny.mask_decoder(emb, tiny.prompt_encoder.get_dense_pe(), sparse, dense, multimask)
        ref_m, ref_i = official_decoder(tiny, emb, sparse, dense, multimask)
        got_m, got_i = S.decode_masks(tiny, emb, sparse, dense, multimask)
        for a, b in ((ref_m, stock_m), (ref_i, stock_i), (got_m, stock_m), (got_i, stock_i)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def _decoder_inputs(sam):
    torch.manual_seed(0)
    emb = torch.randn(1, 32, 8, 8)
    pts = torch.tensor([[[10.0, 20.0], [90.0, 60.0]]])
    sparse, dense = sam.prompt_encoder(points=(pts, torch.tensor([[1, 0]])), boxes=None, masks=None)
    target = emb.mean(dim=(2, 3))[:, None] + 0.5 * torch.randn(1, 1, 32)
    guide = torch.linspace(-2, 2, 64).sigmoid().reshape(1, 1, 1, 64)
    return emb, sparse, dense, target, guide


@torch.no_grad()
@pytest.mark.parametrize("guided", [False, True])
def test_decoder_guidance_and_semantic_prompt_as_in_the_official_decoder(tiny, guided):
    emb, sparse, dense, target, guide = _decoder_inputs(tiny)
    guide = guide if guided else None
    expected, expected_iou = official_decoder(tiny, emb, sparse, dense, True, guide, target)
    got, got_iou = S.decode_masks(tiny, emb, sparse, dense, True, attn_guide=guide, target_token=target)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_iou, expected_iou, atol=1e-5, rtol=1e-5)
    # the prompt changes the masks measurably, so this test can tell the variants apart
    plain, _ = official_decoder(tiny, emb, sparse, dense, True, guide, None)
    assert (expected - plain).abs().max() > 1e-3
