import numpy as np
import pytest
import torch

from xmodal_lab.data import composites as si


def _s2(h=8, w=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 0.4, size=(12, h, w)).astype(np.float32)


def test_percentile_stretch_matches_formula():
    x = np.arange(101, dtype=np.float32).reshape(1, 1, 101)  # percentiles of 0..100 are the values
    out = si.percentile_stretch(x, low=10, high=90)
    expected = np.round(np.clip((x - 10) / 80, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert out[0, 0, 10] == 0 and out[0, 0, 90] == 255 and out[0, 0, 50] == 128


def test_percentile_stretch_nan_constant_and_joint():
    x = np.stack([np.full((4, 4), 3.0), np.linspace(0, 1, 16).reshape(4, 4)]).astype(np.float32)
    x[1, 0, 0] = np.nan
    out = si.percentile_stretch(x, 0, 100)
    assert (out[0] == 0).all()  # no spread -> black, not a division by zero
    assert out[1, 0, 0] == 0 and out[1, -1, -1] == 255
    joint = si.percentile_stretch(x, 0, 100, per_band=False)
    assert joint[0, 0, 0] == 255  # 3.0 is the brightest value of both bands together
    with pytest.raises(ValueError, match="low < high"):
        si.percentile_stretch(x, 50, 10)


def test_s2_true_and_false_colour_pick_the_right_bands():
    s2 = np.zeros((12, 6, 6), np.float32)
    s2[3, :, :3] = 0.3  # B4 (red) bright on the left half
    s2[7, 3:] = 0.5  # B8 (NIR) bright on the bottom half
    tc = si.s2_true_color(s2, 0, 100, stretch="percentile")
    assert tc.shape == (6, 6, 3) and tc.dtype == np.uint8
    assert tc[0, 0, 0] == 255 and tc[0, 5, 0] == 0 and (tc[..., 1:] == 0).all()
    fc = si.s2_false_color(torch.from_numpy(s2), 0, 100, stretch="percentile")  # torch input works too
    assert fc[5, 0, 0] == 255 and fc[0, 0, 0] == 0  # NIR shows red
    assert fc[0, 0, 1] == 255  # B4 shows green in colour infrared


def test_s2_wrong_shape_message():
    with pytest.raises(ValueError, match=r"\[12, H, W\]"):
        si.s2_true_color(np.zeros((6, 6, 12)))
    assert si.s2_true_color(_s2()[None]).shape == (8, 10, 3)  # a batch of one is accepted


def test_s1_clipping_and_composite():
    s1 = np.zeros((2, 2, 3), np.float32)
    s1[0] = [[-30.0, -25.0, -12.5], [0.0, 5.0, np.nan]]  # VV
    s1[1] = -20.0  # VH
    vv = si.s1_vv(s1)
    assert vv.shape == (2, 3, 3) and (vv[..., 0] == vv[..., 2]).all()
    np.testing.assert_array_equal(vv[..., 0], [[0, 0, 128], [255, 255, 0]])
    vh = si.s1_vh(s1)
    assert (vh == round((-20 + 32) / 27 * 255)).all()
    comp = si.s1_composite(s1)
    np.testing.assert_array_equal(comp[..., 0], vv[..., 0])
    np.testing.assert_array_equal(comp[..., 1], vh[..., 0])
    # blue = VV - VH in dB over [0, 15]: -12.5 - (-20) = 7.5 -> half way
    assert comp[0, 2, 2] == 128 and comp[0, 0, 2] == 0 and comp[1, 0, 2] == 255


def test_to_sam_image_dispatch():
    pair = {"s2": _s2(), "s1": np.full((2, 8, 10), -15.0, np.float32)}
    np.testing.assert_array_equal(si.to_sam_image(pair, "s2"), si.s2_true_color(pair["s2"]))
    np.testing.assert_array_equal(si.to_sam_image(pair, "s1_vh"), si.s1_vh(pair["s1"]))
    np.testing.assert_array_equal(si.to_sam_image(pair, "s2_false"), si.s2_false_color(pair["s2"]))
    with pytest.raises(ValueError, match="rendering"):
        si.to_sam_image(pair, "rgb")
