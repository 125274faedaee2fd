"""The band-threshold baseline: bands and indices by their formulas, the exact best threshold, the protocol."""

import numpy as np
import pytest
import torch

from xmodal_lab import segment as S


def test_band_image_formulas():
    s2 = torch.rand(12, 4, 5) + 0.01
    green, red, nir = s2[2], s2[3], s2[7]
    torch.testing.assert_close(S.band_image(s2, "ndvi"), (nir - red) / (nir + red + 1e-6))
    torch.testing.assert_close(S.band_image(s2[None], "ndwi")[0], (green - nir) / (green + nir + 1e-6))
    s1 = torch.randn(2, 4, 5) * 5 - 15
    torch.testing.assert_close(S.band_image(s1, "vv"), s1[0])
    torch.testing.assert_close(S.band_image(s1, "vh"), s1[1])
    with pytest.raises(ValueError, match="s2 tiles"):
        S.band_image(s1, "ndvi")
    with pytest.raises(ValueError, match="band must be"):
        S.band_image(s1, "hh")


def test_band_threshold_is_the_best_of_all_cuts():
    rng = np.random.default_rng(0)
    values = rng.normal(-15, 3, size=(16, 16)).astype(np.float32)
    mask = values + rng.normal(0, 2, size=values.shape) < -16  # water: dark, with noise
    tile = torch.as_tensor(np.stack([values, values - 7]))  # VV, VH [2, H, W]
    out = S.band_threshold_segment(tile, mask, tile[None], "vv", below=True)
    brute = max(
        ((v, ((values <= v) & mask).sum() / ((values <= v) | mask).sum()) for v in np.unique(values)),
        key=lambda p: p[1],
    )
    assert out.threshold == pytest.approx(brute[0]) and out.reference_iou == pytest.approx(brute[1])
    up = S.band_threshold_segment(-tile, mask, -tile[None], "vv", below=False)
    assert up.threshold == pytest.approx(-out.threshold)
    np.testing.assert_array_equal(up.masks, out.masks)


def test_band_threshold_segment_applies_the_reference_threshold():
    ref = torch.full((2, 8, 8), -10.0)
    ref[0, :4] = -22.0  # water on the top half: dark VV
    targets = torch.full((3, 2, 8, 8), -10.0)
    targets[:, 0, :, :2] = -21.0
    out = S.band_threshold_segment(ref, ref[0] < -15, targets, "vv", below=True)
    assert out.threshold == -22.0 and out.reference_iou == 1.0 and str(out) == "vv <= -22"
    assert out.masks.shape == (3, 8, 8) and not out.masks.any()  # -21 dB is brighter than the fitted -22 dB
    out = S.band_threshold_segment(ref, ref[0] < -15, targets - 1.0, "vv", below=True)
    assert out.masks[:, :, :2].all() and out.masks.sum() == 3 * 16


def test_pick_one_shot_tiles_orders_by_share():
    tiles = []
    for share in (0.1, 0.5, 0.3, 0.9, 0.4):
        lc = torch.zeros(10, 10, dtype=torch.long)
        lc.view(-1)[: int(share * 100)] = 1
        tiles.append({"landcover": lc})
    ref, targets = S.pick_one_shot_tiles(tiles, 1, 2)
    assert ref is tiles[1] and targets == [tiles[4], tiles[2]]
    with pytest.raises(ValueError, match="need 5"):
        S.pick_one_shot_tiles(tiles, 1, 4)


def test_compare_one_shot_scores_both_methods_on_the_same_targets():
    from test_oneshot import _stand_in_encoder, _tile

    samples = []
    for seed in range(6):
        s2, labels = _tile(seed)
        samples.append({"s2": s2, "landcover": labels})
    ref, targets = samples[0], samples[1:]
    out = S.compare_one_shot(_stand_in_encoder, ref, targets, "water", 0, "s2")
    truth = torch.stack([t["landcover"] == 0 for t in targets]).numpy()
    np.testing.assert_array_equal(out.truth, truth)
    # Independent IoUs from the returned masks, and the default optical water baseline (NDWI above t).
    assert out.iou == pytest.approx((out.result.masks & truth).sum() / (out.result.masks | truth).sum())
    base = S.band_threshold_segment(
        ref["s2"], ref["landcover"] == 0, torch.stack([t["s2"] for t in targets]), "ndwi", False
    )
    np.testing.assert_array_equal(out.baseline_masks, base.masks)
    assert (
        out.baseline.startswith("ndwi >=") and out.baseline_iou > 0.9
    )  # water is the only green > NIR class
    assert out.iou > 0.7  # the idealised encoder finds the round lakes
    assert out.area_ratio == pytest.approx(out.result.masks.sum() / truth.sum())
    with pytest.raises(ValueError, match="no default baseline"):
        S.compare_one_shot(_stand_in_encoder, ref, targets, "urban", 4, "s2")
