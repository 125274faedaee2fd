"""End to end with the real published weights (marked ``slow``: skipped by default, needs the internet and
about 1 GB): ``pretrained(name, download=True)`` against torchgeo's own loader on the same physical-unit inputs.

    pytest -m slow tests/weights/test_pretrained_download.py
"""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2 as T
from torchgeo.models import CROMABase_Weights, ResNet50_Weights, croma_base, resnet50

from xmodal_lab.weights import pretrained

pytestmark = pytest.mark.slow


def _normalize(weights, x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for t in weights.transforms:
        if isinstance(t, T.Normalize):
            out = t(out)
    return out


def test_decur_download_matches_torchgeo():
    model = pretrained("decur", download=True)
    w1, w2 = ResNet50_Weights.SENTINEL1_ALL_DECUR, ResNet50_Weights.SENTINEL2_ALL_DECUR
    tg1, tg2 = resnet50(w1, num_classes=0).eval(), resnet50(w2, num_classes=0).eval()
    g = torch.Generator().manual_seed(0)
    s1 = -15 + 5 * torch.randn(2, 2, 64, 64, generator=g)
    s2 = 0.4 * torch.rand(2, 12, 64, 64, generator=g)
    dn = 10000 * s2
    s2_13 = torch.cat([dn[:, :10], torch.full_like(dn[:, :1], 22.0), dn[:, 10:]], 1)
    with torch.no_grad():
        feats = model.features(s1=s1, s2=s2)
        assert torch.allclose(feats["s1"], tg1.forward_features(_normalize(w1, s1)), atol=1e-4, rtol=1e-4)
        assert torch.allclose(feats["s2"], tg2.forward_features(_normalize(w2, s2_13)), atol=1e-4, rtol=1e-4)


def test_croma_base_download_matches_torchgeo():
    model = pretrained("croma_base", download=True)
    tg = croma_base(CROMABase_Weights.CROMA_VIT).eval()
    g = torch.Generator().manual_seed(0)
    s1 = -15 + 5 * torch.randn(1, 2, 120, 120, generator=g)
    s2 = 0.4 * torch.rand(1, 12, 120, 120, generator=g)
    mean1, std1 = torch.tensor([-12.59, -20.26]), torch.tensor([5.26, 5.91])
    mean2 = torch.tensor(
        [1612.9, 1397.6, 1322.3, 1373.1, 1561.0, 2108.4, 2390.7, 2318.7, 2581.0, 837.7, 2195.2, 1537.4]
    )
    std2 = torch.tensor(
        [791.0, 854.3, 878.7, 1144.9, 1127.5, 1164.2, 1276.0, 1249.5, 1345.9, 577.5, 1340.0, 1142.9]
    )

    def stretch(x, m, s):
        return ((x - (m - 2 * s).view(1, -1, 1, 1)) / (4 * s).view(1, -1, 1, 1)).clip(0, 1)

    with torch.no_grad():
        ref = tg(stretch(s1, mean1, std1), stretch(10000 * s2, mean2, std2))
        got = model.encode(s1=s1, s2=s2)
    for key in ref:
        assert torch.allclose(ref[key], got[key], atol=1e-4), key
