import numpy as np
import pytest
import torch

from xmodal_lab.eval.segmentation import boundary_overestimation, iou, to_polygons


def _square(h, w, y0, x0, size):
    m = np.zeros((h, w), bool)
    m[y0 : y0 + size, x0 : x0 + size] = True
    return m


def test_iou_formula_and_edge_cases():
    a = _square(10, 10, 0, 0, 4)  # 16 px
    b = _square(10, 10, 2, 2, 4)  # 16 px, overlap 2x2 = 4
    assert iou(a, b) == pytest.approx(4 / 28)
    assert iou(a, a) == 1.0
    assert iou(a, ~a) == 0.0
    assert iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert iou(torch.from_numpy(a), b.astype(np.uint8)) == pytest.approx(4 / 28)
    with pytest.raises(ValueError, match="shape"):
        iou(a, a[:5])
    with pytest.raises(ValueError, match="0/1"):
        iou(a * 2.5, a)


def test_boundary_overestimation_one_grown_object():
    true = _square(20, 20, 5, 5, 10)  # 100 px
    pred = _square(20, 20, 4, 4, 12)  # 144 px: one pixel too far out on every side
    rep = boundary_overestimation(pred, true, band=1)
    assert rep.n_objects == 1 and rep.true_area == 100 and rep.matched_area == 144
    assert rep.area_ratio == pytest.approx(1.44)
    assert rep.extra_near_boundary == pytest.approx(40 / 44)  # the 4 corner pixels are sqrt(2) away
    assert boundary_overestimation(pred, true, band=2).extra_near_boundary == 1.0
    assert rep.unmatched_area == 0
    assert "overestimated" in rep.summary() and "1.44x" in str(rep)


def test_boundary_overestimation_separates_far_false_detections_and_objects():
    true = _square(30, 30, 2, 2, 5) | _square(30, 30, 2, 20, 5)  # two objects of 25 px
    pred = _square(30, 30, 2, 2, 5) | _square(30, 30, 1, 19, 7) | _square(30, 30, 24, 24, 3)
    rep = boundary_overestimation(pred, true, band=1)
    assert rep.n_objects == 2
    assert [o["ratio"] for o in rep.per_object] == pytest.approx([1.0, 49 / 25])
    assert rep.area_ratio == pytest.approx((25 + 49) / 50)
    assert rep.unmatched_area == 9  # the far 3x3 blob is a false detection, not a bigger object
    under = boundary_overestimation(_square(20, 20, 6, 6, 8), _square(20, 20, 5, 5, 10))
    assert under.area_ratio == pytest.approx(0.64) and "underestimated" in under.summary()
    empty = boundary_overestimation(pred, np.zeros_like(true))
    assert empty.n_objects == 0 and np.isnan(empty.area_ratio) and empty.unmatched_area == int(pred.sum())


def test_boundary_overestimation_leak_far_from_boundary():
    true = _square(40, 40, 0, 0, 5)
    pred = true.copy()
    pred[2, 5:30] = True  # a long thin leak attached to the object
    rep = boundary_overestimation(pred, true, band=2)
    assert rep.area_ratio == pytest.approx(50 / 25)
    assert rep.extra_near_boundary == pytest.approx(2 / 25)  # only the first two leak pixels are near


def test_to_polygons_georeferenced_in_source_crs():
    mask = np.zeros((10, 10), bool)
    mask[2:6, 3:5] = True  # rows 2..5, cols 3..4
    transform = (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)  # the pair dict's 6-tuple, 10 m pixels
    fc = to_polygons(mask, transform, "EPSG:32633")
    assert fc["type"] == "FeatureCollection" and fc["crs"] == "EPSG:32633"
    assert len(fc["features"]) == 1
    feat = fc["features"][0]
    assert feat["properties"]["area"] == pytest.approx(8 * 100.0)
    xs, ys = zip(*feat["geometry"]["coordinates"][0])
    assert (min(xs), max(xs)) == (500030.0, 500050.0)
    assert (min(ys), max(ys)) == (3999940.0, 3999980.0)


def test_to_polygons_layers_holes_min_area_and_errors():
    ring = np.zeros((2, 7, 7), bool)
    ring[0, 1:6, 1:6] = True
    ring[0, 3, 3] = False  # a hole
    ring[1, 0, 6] = True  # a single pixel in a second layer
    fc = to_polygons(ring, (1, 0, 0, 0, -1, 7), "EPSG:4326", properties={"label": "water"})
    assert [f["properties"]["mask_id"] for f in fc["features"]] == [0, 1]
    assert len(fc["features"][0]["geometry"]["coordinates"]) == 2  # outer ring + hole
    assert fc["features"][0]["properties"]["area"] == pytest.approx(24.0)
    assert fc["features"][0]["properties"]["label"] == "water"
    assert len(to_polygons(ring, (1, 0, 0, 0, -1, 7), "EPSG:4326", min_area=2)["features"]) == 1
    with pytest.raises(ValueError, match="crs"):
        to_polygons(ring, (1, 0, 0, 0, -1, 7), "not a crs")
    with pytest.raises(ValueError, match="transform"):
        to_polygons(ring, (1, 0, 0), "EPSG:4326")


def test_iou_matches_torchmetrics_binary_jaccard():
    from torchmetrics.functional import jaccard_index

    g = torch.Generator().manual_seed(0)
    true = torch.rand(3, 16, 16, generator=g) < 0.4
    pred = true ^ (torch.rand(3, 16, 16, generator=g) < 0.2)  # a fifth of the pixels flipped
    ref = jaccard_index(pred.long(), true.long(), task="binary")
    assert iou(pred, true) == pytest.approx(float(ref), abs=1e-6)
    for p, t in zip(pred, true):
        assert iou(p, t) == pytest.approx(float(jaccard_index(p.long(), t.long(), task="binary")), abs=1e-6)
