"""SkySense ablations used by lesson 07: image-level-only contrastive loss, no geo-context prototypes."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from test_skysense import fake_batch

from xmodal_lab.models.skysense import GRANULARITIES, PRESETS, SkySense


def _with_fixed_terms(model: SkySense) -> SkySense:
    # every stream's (pixel, object, image) InfoNCE replaced by known numbers: the sum can be read off
    model._contrast = lambda z, z_t: (
        torch.tensor(1.0, requires_grad=True),
        torch.tensor(10.0, requires_grad=True),
        torch.tensor(100.0, requires_grad=True),
    )
    return model


@pytest.mark.parametrize(
    ("levels", "expected"),
    [(GRANULARITIES, 3 * 111.0), (("image",), 3 * 100.0), (("pixel", "object"), 3 * 11.0)],
)
def test_only_the_configured_granularities_enter_the_loss(levels, expected):
    torch.manual_seed(0)
    m = _with_fixed_terms(SkySense(replace(PRESETS["tiny"], granularities=levels)))
    out = m(fake_batch(4))
    # three streams (s1, s2, joint), each adding its configured levels; then the alignment term
    assert out["loss_mgcl"].item() == pytest.approx(expected)
    assert (out["loss"] - out["loss_align"]).item() == pytest.approx(expected, rel=1e-6)
    # every level is still reported, summed over the three streams
    assert out["loss_pixel"].item() == pytest.approx(3.0)
    assert out["loss_object"].item() == pytest.approx(30.0)
    assert out["loss_image"].item() == pytest.approx(300.0)


def test_image_only_loss_gets_no_gradient_from_pixel_and_object_terms():
    torch.manual_seed(0)
    m = SkySense(replace(PRESETS["tiny"], granularities=("image",), align_weight=0.0))
    out = m(fake_batch(4))
    assert torch.allclose(out["loss"].detach(), out["loss_image"], rtol=1e-5)
    assert out["loss_pixel"] > 0 and out["loss_object"] > 0  # computed and reported, not trained


@pytest.mark.parametrize("levels", [(), ("pixel", "pixel"), ("patch",)])
def test_bad_granularities_are_refused(levels):
    with pytest.raises(ValueError, match="granularities"):
        SkySense(replace(PRESETS["tiny"], granularities=levels))


def test_without_geo_context_the_joint_feature_is_the_fused_one_and_location_is_ignored():
    torch.manual_seed(0)
    m = SkySense(replace(PRESETS["tiny"], geo_context=False))
    b = fake_batch(2)
    before = m.prototypes.clone()
    out = m(b)  # a training forward
    assert torch.equal(m.prototypes, before)  # never updated
    m.eval()
    here = m.embed(s1=b["s1"], s2=b["s2"], lat=[48.0, 48.0], lon=[11.0, 11.0])
    there = m.embed(s1=b["s1"], s2=b["s2"], lat=[-33.0, -33.0], lon=[18.0, 18.0])
    assert torch.equal(here["joint"], there["joint"])
    enc = m._encode(b["s1"], b["s2"], None, None, None)
    assert torch.equal(enc["joint"], enc["mm"])
    assert out["joint"].shape == (2, 64, 64)


def test_geo_context_is_the_default():
    assert PRESETS["tiny"].geo_context and PRESETS["tiny"].granularities == ("pixel", "object", "image")
