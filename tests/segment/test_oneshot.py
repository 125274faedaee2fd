import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xmodal_lab import segment as O
from xmodal_lab.eval.segmentation import iou

# ---------------------------------------------------------------- stand-in world and encoder (no training)

_SPECTRA = torch.tensor(
    [
        [0.05, 0.04, 0.03, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.00, 0.00, 0.00],  # water
        [0.03, 0.04, 0.06, 0.04, 0.09, 0.25, 0.30, 0.33, 0.34, 0.32, 0.17, 0.08],  # forest
        [0.08, 0.10, 0.13, 0.16, 0.18, 0.21, 0.22, 0.23, 0.24, 0.24, 0.30, 0.26],  # soil
    ]
)


def _tile(seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A tile with soil, a forest half-plane and a round lake; returns s2 [12, H, W] and labels [H, W]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels = torch.full((size, size), 2)
    angle = float(torch.rand(1, generator=g)) * 6.28
    labels[(xx - size / 2) * np.cos(angle) + (yy - size / 2) * np.sin(angle) > 2] = 1
    cy, cx = (torch.rand(2, generator=g) * (size - 12) + 6).tolist()
    r = 6 + float(torch.rand(1, generator=g)) * 4
    labels[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = 0
    s2 = _SPECTRA[labels].permute(2, 0, 1) * (1 + 0.05 * torch.randn(12, size, size, generator=g))
    return s2.float(), labels


def _stand_in_encoder(x: torch.Tensor) -> torch.Tensor:
    """An idealised encoder: 8x8 patch means of per-pixel affinities to the three spectra, plus noise dims.

    Features [B, 8, H/8, W/8]; no training needed, so these tests check the pipeline, not an encoder.
    """
    d2 = ((x[:, None] - _SPECTRA[None, :, :, None, None]) ** 2).sum(dim=2)  # [B, 3, H, W]
    affinity = torch.softmax(-d2 / 0.01, dim=1)
    noise = torch.rand(x.shape[0], 5, *x.shape[-2:], generator=torch.Generator().manual_seed(1))
    return F.avg_pool2d(torch.cat([affinity, 0.2 * noise], dim=1), 8)


# ---------------------------------------------------------------- building blocks against hand computations


def test_target_embedding_centre_cells_and_coverage_weights():
    feats = torch.arange(12, dtype=torch.float32).reshape(1, 3, 2, 2)  # cells a, b / c, d per channel
    mask = torch.zeros(4, 4)
    mask[:, :2] = 1  # the left column of cells, fully
    mask[0, 2] = 1  # a quarter of the top-right cell, away from its centre
    # PerSAM's rule: the cells whose centre lies in the mask, averaged alike
    inside = feats[0, :, :, 0]
    torch.testing.assert_close(O.target_embedding(feats, mask), inside.mean(dim=1))
    torch.testing.assert_close(O.target_embedding(feats, mask, background=True), feats[0, :, :, 1].mean(dim=1))
    # the kit's variant: every cell weighted by the fraction of it the mask covers
    w = torch.tensor([[1.0, 0.25], [1.0, 0.0]])
    expected = (feats[0] * w).sum(dim=(1, 2)) / w.sum()
    torch.testing.assert_close(O.target_embedding(feats, mask, weighting="coverage"), expected)
    bg = 1 - w
    torch.testing.assert_close(
        O.target_embedding(feats, mask, background=True, weighting="coverage"),
        (feats[0] * bg).sum((1, 2)) / bg.sum(),
    )
    with pytest.raises(ValueError, match="empty"):
        O.target_embedding(feats, torch.zeros(4, 4))
    with pytest.raises(ValueError, match="weighting"):
        O.target_embedding(feats, mask, weighting="area")


def test_cosine_confidence_and_extreme_points():
    torch.manual_seed(0)
    feats, emb = torch.randn(2, 5, 3, 4), torch.randn(5)
    conf = O.cosine_confidence(feats, emb)
    for b in range(2):
        for i in range(3):
            for j in range(4):
                f = feats[b, :, i, j]
                assert conf[b, i, j] == pytest.approx(float(f @ emb / (f.norm() * emb.norm())), abs=1e-6)
    m = torch.zeros(1, 6, 7)
    m[0, 4, 2], m[0, 1, 5] = 3.0, -2.0
    pos, neg = O.extreme_points(m)
    assert pos.tolist() == [[2, 4]] and neg.tolist() == [[5, 1]]  # (x, y)


def test_background_prototypes_find_the_background_clusters():
    dirs = torch.eye(4)  # class = direction 0; background = directions 1, 2, 3
    layout = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    feats = dirs[layout] + 0.05 * torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(0))
    feats = feats.permute(2, 0, 1)[None]  # [1, 4, 4, 4]
    mask = (layout == 0).repeat_interleave(2, 0).repeat_interleave(2, 1)  # pixels [8, 8]
    protos = O.background_prototypes(feats, mask, k=3)
    assert protos.shape == (3, 4)
    assert sorted(int(p.abs().argmax()) for p in protos) == [1, 2, 3]
    torch.testing.assert_close(protos, O.background_prototypes(feats, mask, k=3))  # deterministic
    assert len(O.background_prototypes(feats, mask, k=20)) == 12  # at most one per background cell
    assert len(O.background_prototypes(feats, torch.ones(8, 8), k=3)) == 0
    half = torch.zeros(8, 8)
    half[:, :5] = 1  # cells of columns 0-1 are inside, column 2 is half inside: not a background prototype
    assert len(O.background_prototypes(feats, half, k=20)) == 4
    fg = O.target_embedding(feats, mask)
    conf = O.prototype_confidence(feats, fg, protos)
    expected = (
        O.cosine_confidence(feats, fg)
        - torch.stack([O.cosine_confidence(feats, p) for p in protos]).max(0).values
    )
    torch.testing.assert_close(conf, expected)
    assert ((conf > 0) == (layout == 0)).all()  # the nearest prototype decides
    torch.testing.assert_close(O.prototype_confidence(feats, fg, None), O.cosine_confidence(feats, fg))


def test_best_threshold_recovers_a_separable_mask():
    truth = torch.zeros(1, 10, 10, dtype=torch.bool)
    truth[0, 2:6, 3:9] = True
    conf = truth.float() * 0.6 + 0.1 * torch.rand(1, 10, 10, generator=torch.Generator().manual_seed(0))
    thr, score = O.best_threshold(conf, truth)
    assert score == 1.0 and thr == float(conf[truth].min())
    # Against brute force on a noisy map with ties.
    g = torch.Generator().manual_seed(1)
    conf = (torch.rand(1, 12, 12, generator=g) * 10).round() / 10
    truth = torch.rand(1, 12, 12, generator=g) < conf
    brute = max((((conf >= t) & truth).sum() / ((conf >= t) | truth).sum()).item() for t in conf.unique())
    thr, score = O.best_threshold(conf, truth)
    assert score == pytest.approx(brute) and score == pytest.approx(
        (((conf >= thr) & truth).sum() / ((conf >= thr) | truth).sum()).item()
    )


def test_guided_upsample_is_a_normalised_average_that_follows_edges():
    conf = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(0))
    flat = O.guided_upsample(torch.full((1, 4, 4), 0.3), torch.randn(1, 3, 32, 32))
    torch.testing.assert_close(flat, torch.full((1, 32, 32), 0.3))
    out = O.guided_upsample(conf, torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 32, 32) and conf.min() <= out.min() and out.max() <= conf.max()
    # A 3-pixel river through 8-pixel patches: the guided map follows the river, bilinear blurs it.
    river = torch.zeros(1, 32, 32, dtype=torch.bool)
    river[0, :, 13:16] = True
    guide = river.float()[:, None] * 2.0 - 1.0  # the image shows the river
    coarse = F.avg_pool2d(river.float()[:, None], 8)[:, 0]  # patch-level "confidence" = river fraction
    guided = O.guided_upsample(coarse, guide)
    bilinear = O.upsample_confidence(coarse, (32, 32))
    best_g = O.best_threshold(guided, river)[1]
    best_b = O.best_threshold(bilinear, river)[1]
    print(f"river IoU: guided {best_g:.2f}, bilinear {best_b:.2f}")
    assert best_g >= 0.95 and best_b < 0.6
    with pytest.raises(ValueError, match="multiple"):
        O.guided_upsample(coarse, torch.zeros(1, 1, 30, 32))


def test_standardise_guide_shares_statistics():
    a, b = torch.randn(1, 2, 8, 8) * 3 + 5, torch.randn(3, 2, 16, 16) * 3 + 5
    ga, gb = O.standardise_guide(a, b)
    assert ga.shape == a.shape and gb.shape == b.shape
    pooled = torch.cat(
        [ga.transpose(0, 1).reshape(2, -1), gb.transpose(0, 1).reshape(2, -1)], dim=1
    )  # [C, N]
    torch.testing.assert_close(pooled.mean(1), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(pooled.std(1), torch.ones(2), atol=1e-5, rtol=0)
    speckle = torch.randn(1, 2, 32, 32)
    raw, smooth = O.standardise_guide(speckle)[0], O.standardise_guide(speckle, smooth=3)[0]
    # a 3x3 box filter removes most of the pixel-to-pixel noise before standardising
    assert (smooth[..., 1:] - smooth[..., :-1]).abs().mean() < 0.6 * (
        raw[..., 1:] - raw[..., :-1]
    ).abs().mean()


# ---------------------------------------------------------------- the whole one-shot pipeline


def test_one_shot_with_a_stand_in_encoder_finds_the_lake_on_other_tiles():
    ref, ref_lab = _tile(0)
    tiles = [_tile(s) for s in range(1, 9)]
    targets = torch.stack([t[0] for t in tiles])
    truth = torch.stack([t[1] for t in tiles]) == 0
    res = O.one_shot_segment(_stand_in_encoder, ref, ref_lab == 0, targets)
    assert res.masks.shape == (8, 32, 32) and res.masks.dtype == bool
    assert res.confidence.shape == (8, 32, 32) and res.patch_confidence.shape == (8, 4, 4)
    assert res.positive_points.shape == (8, 2)
    guided = iou(res.masks, truth.numpy())
    plain = iou(
        O.one_shot_segment(_stand_in_encoder, ref, ref_lab == 0, targets, upsample="bilinear").masks,
        truth.numpy(),
    )
    print(
        f"lake IoU with 8-px patches: guided {guided:.2f}, bilinear {plain:.2f}, reference {res.reference_iou:.2f}"
    )
    assert guided >= 0.8 and guided > plain
    for (x, y), lab in zip(res.positive_points, truth):
        assert lab[y, x]  # the most confident pixel is water on every tile


def test_one_shot_fixed_threshold_and_input_errors():
    ref, lab = _tile(0)
    res = O.one_shot_segment(_stand_in_encoder, ref, lab == 1, ref, threshold=0.1)
    assert res.threshold == 0.1 and res.masks.shape == (1, 32, 32)
    assert res.reference_iou == pytest.approx(iou(res.masks[0], (lab == 1).numpy()), abs=1e-6)
    with pytest.raises(ValueError, match="reference_mask"):
        O.one_shot_segment(_stand_in_encoder, ref, (lab == 1)[:16], ref)
    with pytest.raises(ValueError, match="channels"):
        O.one_shot_segment(_stand_in_encoder, ref, lab == 1, torch.zeros(1, 2, 32, 32))
    cal = O.one_shot_segment(_stand_in_encoder, ref, lab == 1, ref, threshold="calibrate", n_background=0)
    fixed = O.one_shot_segment(_stand_in_encoder, ref, lab == 1, ref, threshold=0.5, n_background=0)
    assert cal.reference_iou >= fixed.reference_iou - 1e-6  # calibrated on that very tile
    assert (
        O.one_shot_segment(_stand_in_encoder, ref, lab == 1, ref, n_background=0).threshold == cal.threshold
    )
    with pytest.raises(ValueError, match="threshold"):
        O.one_shot_segment(_stand_in_encoder, ref, lab == 1, ref, threshold="otsu")
    with pytest.raises(ValueError, match="upsample"):
        O.one_shot_segment(_stand_in_encoder, ref, lab == 1, ref, upsample="cubic")
    with pytest.raises(ValueError, match="features"):
        O.one_shot_segment(lambda x: x.mean(dim=(2, 3)), ref, lab == 1, ref)


def test_one_shot_reads_features_of_a_kit_model():
    from xmodal_lab.models.registry import build

    model = build("contrastive", preset="tiny")
    with pytest.raises(ValueError, match="modality"):
        O.feature_fn(model)
    s1 = torch.randn(3, 2, 32, 32) * 3 - 15
    model.train()
    res = O.one_shot_segment(
        model, s1[0], torch.arange(32)[:, None].expand(32, 32) < 12, s1[1:], modality="s1"
    )
    assert res.masks.shape == (2, 32, 32) and res.patch_confidence.shape[0] == 2
    assert model.training  # the mode is restored


def test_one_shot_reads_pair_dicts_and_both_modalities():
    from xmodal_lab.models.registry import build

    model = build("contrastive", preset="tiny")
    g = torch.Generator().manual_seed(0)
    pairs = [
        {"s1": torch.randn(2, 32, 32, generator=g) - 15, "s2": torch.rand(12, 32, 32, generator=g) * 0.3}
        for _ in range(3)
    ]
    assert O.modality_images(pairs, "s1+s2").shape == (3, 14, 32, 32)
    torch.testing.assert_close(O.modality_images(pairs[0], "s1+s2")[:2], pairs[0]["s1"])
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[:12] = True
    res = O.one_shot_segment(model, pairs[0], mask, pairs[1:], modality="s1+s2")
    assert res.masks.shape == (2, 32, 32)
    feats = O.feature_fn(model, "s1+s2")(O.modality_images(pairs, "s1+s2"))
    assert feats.shape == (3, 2 * model.config.embed_dim, 4, 4)
    torch.testing.assert_close(feats[:, :64].norm(dim=1), torch.ones(3, 4, 4))  # each half unit-normalised
    with pytest.raises(KeyError, match="s2"):
        O.modality_images({"s1": pairs[0]["s1"]}, "s2")


# ---------------------------------------------------------------- the asserted result: a trained tiny encoder


def test_trained_encoder_one_shot_finds_water_and_forest_on_held_out_tiles():
    """One reference tile and its mask -> IoU >= 0.5 for water and for forest on held-out simulated tiles."""
    from xmodal_lab.config import seed_everything
    from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld
    from xmodal_lab.eval.segmentation import boundary_overestimation
    from xmodal_lab.models.registry import build
    from xmodal_lab.train import CachedPairs, fit

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CI runs two test processes on two cores
    try:
        world = SimulatedWorld(seed=0, size=32, n_scenes=1024)
        train = CachedPairs(torch.utils.data.Subset(world, range(256)))
        held = [world[i] for i in range(512, 640)]  # never seen in training
        seed_everything(0)
        model, _ = fit(build("contrastive", preset="tiny"), train, max_steps=200, batch_size=32, lr=2e-3,
                       progress=False, seed=0)  # fmt: skip
        train_lc = train.columns["landcover"]
        held_lc = torch.stack([p["landcover"] for p in held])
        for name in ("water", "forest"):
            cls = LANDCOVER_CLASSES.index(name)
            # The reference: the first training tile the class covers 25-60% of (a rule, not a pick).
            share = (train_lc == cls).float().mean(dim=(1, 2))
            ref = int(torch.nonzero((share > 0.25) & (share < 0.6))[0])
            present = [p for p, lab in zip(held, held_lc) if (lab == cls).float().mean() >= 0.1]
            truth = torch.stack([p["landcover"] for p in present]) == cls
            res = O.one_shot_segment(model, train[ref], train_lc[ref] == cls, present, modality="s1+s2")
            score = iou(res.masks, truth.numpy())
            report = boundary_overestimation(res.masks, truth.numpy())
            print(
                f"{name}: one-shot IoU {score:.2f} on {len(present)} held-out tiles (reference tile {ref}); {report}"
            )
            assert score >= 0.5, f"{name}: IoU {score:.2f}"
            assert np.isfinite(report.area_ratio)
    finally:
        torch.set_num_threads(threads)


def test_a_soft_reference_mask_is_refused_with_the_rule():
    img, labels = _tile(0)
    mask = (labels == 1).float()
    with pytest.raises(ValueError, match="binary mask.*0.5"):
        O.one_shot_segment(_stand_in_encoder, img, 0.5 * mask, img[None], upsample="bilinear")
    with pytest.raises(ValueError, match="binary mask.*2"):
        O.best_threshold(torch.rand(32, 32), 2 * mask)
    as_bool = O.one_shot_segment(_stand_in_encoder, img, mask.bool(), img[None], upsample="bilinear")
    as_float = O.one_shot_segment(_stand_in_encoder, img, mask, img[None], upsample="bilinear")
    assert as_bool.masks.any() and (as_bool.masks == as_float.masks).all()
