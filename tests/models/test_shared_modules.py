"""Shared layers: encodings and biases against independent formulas and torchgeo, attention, masking, InfoNCE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchgeo.models.croma import get_2dalibi
from torchgeo.models.scale_mae import get_2d_sincos_pos_embed_with_resolution

from xmodal_lab.models import blocks, losses, masking, positions, validation


def _mae_sincos_numpy(embed_dim: int, grid: int, res: float) -> np.ndarray:
    """MAE's reference 2-D sin-cos formula, written out with NumPy (first half: column coordinate)."""
    gw, gh = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64))

    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2) / (d / 2.0))
        out = np.outer(pos.reshape(-1) * res, omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one_d(embed_dim // 2, gw), one_d(embed_dim // 2, gh)], axis=1)


@pytest.mark.parametrize("res", [0.5, 1.0, 3.0])
def test_gsd_encoding_matches_formula(res):
    ours = positions.gsd_sincos_pos_embed(32, 5, res)
    assert ours.shape == (25, 32)
    np.testing.assert_allclose(ours.numpy(), _mae_sincos_numpy(32, 5, res), atol=1e-6)


def test_gsd_encoding_matches_torchgeo_per_image():
    res = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    ref = get_2d_sincos_pos_embed_with_resolution(64, 6, res)  # [4, 36, 64]
    ours = positions.gsd_sincos_pos_embed(64, 6, res)
    assert ours.shape == (4, 36, 64)
    torch.testing.assert_close(ours, ref.float(), atol=1e-6, rtol=0)
    # the batched path gives what one call per image gives
    for i, r in enumerate(res.tolist()):
        torch.testing.assert_close(ours[i], positions.gsd_sincos_pos_embed(64, 6, r), atol=1e-7, rtol=0)


def test_gsd_encoding_scales_positions():
    """A 20 m image at reference 10 m encodes patch k where a 10 m image encodes patch 2k."""
    coarse = positions.gsd_sincos_pos_embed(16, (1, 4), 2.0)
    fine = positions.gsd_sincos_pos_embed(16, (1, 8), 1.0)
    torch.testing.assert_close(coarse, fine[::2], atol=1e-6, rtol=0)


def test_alibi_slopes_geometric_schedule():
    torch.testing.assert_close(
        positions.alibi_slopes(16), torch.tensor([2.0 ** (-0.5 * k) for k in range(1, 17)])
    )
    torch.testing.assert_close(positions.alibi_slopes(4), torch.tensor([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8]))


@pytest.mark.parametrize("heads, grid", [(16, (4, 4)), (8, (3, 5)), (4, (2, 2))])
def test_alibi_2d_matches_independent_formula(heads, grid):
    bias = positions.alibi_2d_bias(heads, grid)
    rows, cols = grid
    n = rows * cols
    assert bias.shape == (1, heads, n, n)
    expected = torch.empty(heads, n, n)
    for h in range(heads):
        slope = 2.0 ** (-8.0 * (h + 1) / heads)
        for i in range(n):
            for j in range(n):
                dy, dx = i // cols - j // cols, i % cols - j % cols
                expected[h, i, j] = -slope * math.sqrt(dy * dy + dx * dx)
    torch.testing.assert_close(bias[0], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("heads, side", [(16, 4), (16, 15), (8, 3)])
def test_alibi_2d_matches_torchgeo(heads, side):
    torch.testing.assert_close(
        positions.alibi_2d_bias(heads, (side, side)), get_2dalibi(heads, side * side), atol=1e-5, rtol=0
    )


def test_attention_with_bias_equals_explicit_softmax():
    torch.manual_seed(0)
    attn = blocks.Attention(16, 4)
    x = torch.randn(2, 5, 16)
    bias = torch.randn(2, 4, 5, 5)
    q, k, v = (t.view(2, 5, 4, 4).transpose(1, 2) for t in attn.qkv(x).chunk(3, dim=-1))
    weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0 + bias, dim=-1)  # head dim 4 -> scale 1/2
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attn(x, bias=bias), expected, atol=1e-5, rtol=0)


def test_cross_attention_and_context_norm():
    torch.manual_seed(0)
    blk = blocks.Block(16, 4, cross=True)
    x, ctx = torch.randn(2, 3, 16), torch.randn(2, 7, 16)
    xb = torch.randn(1, 4, 3, 7)
    out = blk(x, context=ctx, cross_bias=xb)
    assert out.shape == (2, 3, 16)
    # by hand: self-attention, cross-attention on the shared-norm of both sides, MLP
    h = x + blk.attn(blk.norm1(x))
    ca = blk.cross_attn
    q = ca.q(blk.norm_cross(h)).view(2, 3, 4, 4).transpose(1, 2)
    k, v = (t.view(2, 7, 4, 4).transpose(1, 2) for t in ca.kv(blk.norm_cross(ctx)).chunk(2, dim=-1))
    w = torch.softmax(q @ k.transpose(-1, -2) / 2.0 + xb, dim=-1)
    h = h + ca.proj((w @ v).transpose(1, 2).reshape(2, 3, 16))
    torch.testing.assert_close(out, h + blk.mlp(blk.norm2(h)), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="context"):
        blk(x)


def test_block_norm_eps():
    assert blocks.Block(8, 2).norm1.eps == 1e-5
    assert blocks.Block(8, 2, norm_eps=1e-6).norm2.eps == 1e-6


def test_random_masking_hides_exactly_the_ratio():
    keep, mask, restore = masking.random_masking(6, 64, 0.75, generator=torch.Generator().manual_seed(0))
    assert keep.shape == (6, 16) and mask.shape == (6, 64)
    assert torch.all(mask.sum(1) == 48)
    assert torch.all(keep.diff(dim=1) > 0)  # sorted
    assert torch.all(mask.gather(1, keep) == 0)
    # restoring [kept, hidden] order puts every token back in place
    tokens = torch.arange(64).expand(6, 64)
    hidden = mask.argsort(dim=1, stable=True)[:, 16:]
    shuffled = torch.cat([keep, hidden], dim=1)
    assert torch.equal(shuffled.gather(1, restore), tokens)


def test_info_nce_equals_hand_computation():
    a = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]), dim=-1)
    b = F.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0], [-1.0, 0.2]]), dim=-1)
    scale = 5.0
    loss, logits = losses.info_nce(a, b, scale)
    sims = [[sum(x * y for x, y in zip(a[i].tolist(), b[j].tolist())) for j in range(3)] for i in range(3)]
    a2b = (
        -sum(
            scale * sims[i][i] - math.log(sum(math.exp(scale * sims[i][j]) for j in range(3)))
            for i in range(3)
        )
        / 3
    )
    b2a = (
        -sum(
            scale * sims[j][j] - math.log(sum(math.exp(scale * sims[i][j]) for i in range(3)))
            for j in range(3)
        )
        / 3
    )
    assert logits.shape == (3, 3)
    assert loss.item() == pytest.approx(0.5 * (a2b + b2a), abs=1e-5)
    with pytest.raises(ValueError, match="equal shape"):
        losses.info_nce(a, b[:2], 1.0)


def test_logit_scale_starts_at_inverse_temperature_and_is_capped_only_when_asked():
    free, capped = losses.LogitScale(0.07), losses.LogitScale(0.07, max_scale=losses.MAX_LOGIT_SCALE)
    assert free().item() == pytest.approx(1 / 0.07, rel=1e-5) and capped().item() == pytest.approx(1 / 0.07)
    with torch.no_grad():
        free.log_scale.fill_(10.0)
        capped.log_scale.fill_(10.0)
    assert free().item() == pytest.approx(math.exp(10.0), rel=1e-5)
    assert capped().item() == pytest.approx(100.0)


def test_patchify_order_and_tokens_to_map():
    x = torch.randn(2, 3, 16, 24)
    p = masking.patchify(x, 8)
    assert p.shape == (2, 6, 192)
    for i in range(6):  # row-major patches, MAE's pixel order (p, p, C)
        r, c = divmod(i, 3)
        patch = x[:, :, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8]
        assert torch.equal(p[:, i], patch.permute(0, 2, 3, 1).flatten(1))
    tokens = torch.arange(2 * 6 * 4, dtype=torch.float32).reshape(2, 6, 4)
    fmap = masking.tokens_to_map(tokens, (2, 3))
    assert fmap.shape == (2, 4, 2, 3)
    assert torch.equal(fmap[1, :, 1, 2], tokens[1, 5])


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.zeros(1, 3, 32, 32), "expected 2 channels"),
        (torch.zeros(1, 2, 30, 32), "multiples of the patch size 8"),
        (torch.full((1, 2, 32, 32), float("nan")), "NaN"),
        (torch.zeros(2, 32, 32), r"\[B, C, H, W\]"),
    ],
)
def test_model_input_errors(x, match):
    with pytest.raises(ValueError, match=match):
        validation.model_input(x, 2, 8, "s1")


def test_batch_item_names_missing_key():
    with pytest.raises(KeyError, match=r"batch\['s2'\]"):
        validation.batch_item({"s1": torch.zeros(1)}, "s2", "croma")
