"""PerSAM's decoder against the official code (ZrrSkywalker/Personalize-SAM ``per_segment_anything``).

The official ``TwoWayTransformer.forward`` starts from ``queries = point_embedding`` and runs, before every
layer, ``queries += target_embedding`` *in place*: the first add therefore also changes ``point_embedding``, the
tensor every layer and the final attention receive as ``query_pe``. Then ``q = queries + point_embedding``,
``q += target_embedding`` before the final token-to-image attention. Target-guided attention re-weights the
token-to-image attention as ``softmax(softmax(q k^T / sqrt(c)) + attn_sim)``. The reference below rebuilds that
decoder step by step from the stock ``segment_anything`` sub-modules' weights (attention written from its
formula), on the tiny random SAM, and is compared with the kit's logits.
"""

from __future__ import annotations

import math

import pytest
import torch

from xmodal_lab import segment as S

pytestmark = pytest.mark.filterwarnings("ignore::xmodal_lab.segment.checkpoints.UntrainedSAMWarning")


@pytest.fixture(scope="module")
def tiny():
    return S.build_sam_arch("tiny")


def attention(mod, q, k, v, attn_sim=None):
    q, k, v = mod.q_proj(q), mod.k_proj(k), mod.v_proj(v)
    b, h = q.shape[0], mod.num_heads
    q, k, v = (t.reshape(b, t.shape[1], h, -1).transpose(1, 2) for t in (q, k, v))
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    if attn_sim is not None:
        a = torch.softmax(a + attn_sim, dim=-1)
    return mod.out_proj((a @ v).transpose(1, 2).reshape(b, -1, h * v.shape[-1]))


def official_persam_decoder(sam, emb, sparse, dense, attn_sim=None, target=None):
    """Single-mask logits of the official PerSAM decoder, written out with explicit tensors."""
    dec, tr = sam.mask_decoder, sam.mask_decoder.transformer
    tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], 0)[None]
    point_embedding = torch.cat([tokens, sparse], 1)
    src = emb + dense
    b, c, h, w = src.shape
    keys = src.flatten(2).transpose(1, 2)
    key_pe = sam.prompt_encoder.get_dense_pe().flatten(2).transpose(1, 2)
    # the official in-place add, made explicit: after it, point_embedding (= query_pe) holds tokens + target
    query_pe = point_embedding + target if target is not None else point_embedding
    queries = point_embedding
    for layer in tr.layers:
        if target is not None:
            queries = queries + target
        if layer.skip_first_layer_pe:
            queries = attention(layer.self_attn, queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + attention(layer.self_attn, q, q, queries)
        queries = layer.norm1(queries)
        q, k = queries + query_pe, keys + key_pe
        queries = layer.norm2(queries + attention(layer.cross_attn_token_to_image, q, k, keys, attn_sim))
        queries = layer.norm3(queries + layer.mlp(queries))
        q, k = queries + query_pe, keys + key_pe
        keys = layer.norm4(keys + attention(layer.cross_attn_image_to_token, k, q, queries))
    q, k = queries + query_pe, keys + key_pe
    if target is not None:
        q = q + target
    queries = tr.norm_final_attn(queries + attention(tr.final_attn_token_to_image, q, k, keys))
    up = dec.output_upscaling(keys.transpose(1, 2).reshape(b, c, h, w))
    hyper = dec.output_hypernetworks_mlps[0](queries[:, 1])  # the single-mask output token
    return (hyper[:, None] @ up.flatten(2)).reshape(b, 1, *up.shape[-2:])


def _inputs(sam):
    torch.manual_seed(0)
    emb = torch.randn(1, 32, 8, 8)
    pts = torch.tensor([[[10.0, 20.0], [90.0, 60.0]]])
    sparse, dense = sam.prompt_encoder(points=(pts, torch.tensor([[1, 0]])), boxes=None, masks=None)
    target = emb.mean(dim=(2, 3))[:, None] + 0.5 * torch.randn(1, 1, 32)
    guide = torch.linspace(-2, 2, 64).sigmoid().reshape(1, 1, 1, 64)
    return emb, sparse, dense, target, guide


@torch.no_grad()
def test_reference_without_guidance_is_stock_sam(tiny):
    emb, sparse, dense, _, _ = _inputs(tiny)
    stock, _ = tiny.mask_decoder(emb, tiny.prompt_encoder.get_dense_pe(), sparse, dense, False)
    torch.testing.assert_close(official_persam_decoder(tiny, emb, sparse, dense), stock, atol=1e-5, rtol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("guided", [False, True])
def test_semantic_prompt_reaches_query_pe_as_in_the_official_decoder(tiny, guided):
    emb, sparse, dense, target, guide = _inputs(tiny)
    guide = guide if guided else None
    expected = official_persam_decoder(tiny, emb, sparse, dense, guide, target)
    got, _ = S.decode_masks(tiny, emb, sparse, dense, False, attn_guide=guide, target_token=target)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # and the clean-query_pe variant is measurably different, so this test can tell them apart
    clean_pe = official_persam_decoder(tiny, emb, sparse, dense, guide, None)
    assert (expected - clean_pe).abs().max() > 1e-3
