"""Positional encodings built on the model's device and dtype, cached per grid and GSD."""

from __future__ import annotations

import math

import torch
from model_helpers import make_pairs

from xmodal_lab.models import build
from xmodal_lab.models.positions import gsd_sincos_pos_embed, sincos_table


def _reference(dim: int, rows: int, cols: int, res: float) -> torch.Tensor:
    """MAE's 2-D sin-cos (columns first, sines then cosines), written out with math, coordinates * res."""
    quarter = dim // 4
    out = torch.zeros(rows * cols, dim, dtype=torch.float64)
    for i in range(rows):
        for j in range(cols):
            for k in range(quarter):
                omega = 1.0 / 10000 ** (k / quarter)
                n = i * cols + j
                out[n, k] = math.sin(j * res * omega)
                out[n, quarter + k] = math.cos(j * res * omega)
                out[n, 2 * quarter + k] = math.sin(i * res * omega)
                out[n, 3 * quarter + k] = math.cos(i * res * omega)
    return out


def test_table_is_cached_and_matches_the_formula():
    first = sincos_table(16, (3, 5), "cpu", torch.float32, 2.5)
    assert sincos_table(16, (3, 5), torch.device("cpu"), torch.float32, 2.5) is first
    torch.testing.assert_close(first.double(), _reference(16, 3, 5, 2.5), atol=1e-6, rtol=0)
    half = sincos_table(16, (3, 5), "cpu", torch.bfloat16, 2.5)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half, first.to(torch.bfloat16))


def test_per_image_encoding_is_built_where_the_ratios_are():
    res = torch.tensor([0.5, 1.0, 4.0])
    emb = gsd_sincos_pos_embed(8, (2, 3), res, dtype=torch.float64)
    assert emb.shape == (3, 6, 8) and emb.dtype == torch.float64
    for i, r in enumerate(res.tolist()):
        torch.testing.assert_close(emb[i], _reference(8, 2, 3, r), atol=1e-12, rtol=0)


def test_a_table_first_built_under_inference_mode_still_trains():
    torch.manual_seed(0)
    model = build("contrastive", "tiny")
    b = make_pairs(2, size=56)  # a grid (7 x 7) no other test uses, so the first use is here
    with torch.inference_mode():
        model.embed(s1=b["s1"], s2=b["s2"])
    model.train()
    model(b)["loss"].backward()
    assert model.encoder_s1.patch_embed.proj.weight.grad is not None
