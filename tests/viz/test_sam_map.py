"""The SAM map driven from Python: clicks and boxes become SAM prompts, masks become layers and polygons."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import Point
from shapely.geometry import box as shapely_box

from xmodal_lab.data.region import render_region, write_pair_geotiffs
from xmodal_lab.viz import region_maps as sm
from xmodal_lab.viz.maps import find_layer
from xmodal_lab.viz.region_maps import LAYER_CLICK


class DiscSegmenter:
    """A stand-in for ``SamSegmenter`` with a known answer: a disc around each positive point, minus one
    around each negative point, plus the box; it records what it was shown."""

    untrained, model_type, radius = False, "disc", 6.0

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def set_image(self, image, rendering=None):
        self.image, self.rendering = np.asarray(image), rendering
        return self

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True):
        h, w = self.image.shape[1:]
        yy, xx = np.mgrid[:h, :w] + 0.5  # pixel centres
        mask = np.zeros((h, w), bool)
        if box is not None:
            x0, y0, x1, y1 = box
            mask |= (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
        for (x, y), label in zip([] if points is None else points, [] if labels is None else labels):
            disc = (xx - x) ** 2 + (yy - y) ** 2 <= self.radius**2
            mask = mask | disc if label else mask & ~disc
        self.calls.append({"points": points, "labels": labels, "box": box, "multimask": multimask})
        return SimpleNamespace(masks=mask[None], scores=np.array([0.9], np.float32), untrained=False)


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    pair = render_region(seed=0, size=128, gsd=10.0)
    paths = write_pair_geotiffs(pair, tmp_path_factory.mktemp("sam_region"), "coast")
    return pair, (paths["s1"], paths["s2"])


def _lonlat(pair, row: float, col: float) -> tuple[float, float]:
    """Longitude and latitude of the centre of raster pixel (row, col)."""
    a, _, c, _, e, f = pair["transform"]
    return Transformer.from_crs(pair["crs"], "EPSG:4326", always_xy=True).transform(
        c + a * (col + 0.5), f + e * (row + 0.5)
    )


def _click(box, lon: float, lat: float) -> None:
    """A click through the map's own event, as the browser sends it."""
    box.map._handle_leaflet_event(
        None, {"event": "interaction", "type": "click", "coordinates": [lat, lon]}, []
    )


def test_click_adds_the_mask_layer_and_exports_polygons_around_the_click(region, tmp_path):
    import geopandas as gpd

    pair, paths = region
    fake = DiscSegmenter()
    box = sm.sam_explorer(fake, paths, window=32, export_dir=tmp_path, basemap=None)
    for name in (sm.LAYER_SAM, sm.LAYER_PROMPTS, sm.LAYER_WINDOW, LAYER_CLICK):
        find_layer(box.map, name)
    assert box.result is not None and len(fake.calls) == 1  # the headless default click
    lon, lat = _lonlat(pair, 100, 20)  # outside the default click's window: a new object
    _click(box, lon, lat)
    assert box.prompts == [(lon, lat, 1)] and tuple(box.marker.location) == (lat, lon)
    call = fake.calls[-1]
    np.testing.assert_allclose(
        call["points"], [[20 - 4 + 0.5, 100 - 84 + 0.5]], atol=1e-6
    )  # window at (84, 4)
    assert call["multimask"] and fake.rendering == "s2" and fake.image.shape == (12, 32, 32)
    np.testing.assert_allclose(fake.image, pair["s2"][:, 84:116, 4:36].numpy(), atol=1e-4)  # reflectance
    layer = find_layer(box.map, sm.LAYER_SAM)
    assert len(layer.data["features"]) == 1
    ring = np.asarray(layer.data["features"][0]["geometry"]["coordinates"][0])  # lon/lat on the map
    assert abs(ring[:, 0].mean() - lon) < 1e-3 and abs(ring[:, 1].mean() - lat) < 1e-3
    written = box.export()
    assert written == tmp_path / "sam_001.gpkg"
    frame = gpd.read_file(written)
    assert frame.crs.to_string() == pair["crs"] and len(frame) == 1
    x, y = Transformer.from_crs("EPSG:4326", pair["crs"], always_xy=True).transform(lon, lat)
    centroid = frame.geometry.iloc[0].centroid
    assert abs(centroid.x - x) < 1.0 and abs(centroid.y - y) < 1.0  # metres: centred on the click
    assert frame.area.iloc[0] == pytest.approx(box.result.mask.sum() * 100.0)  # 10 m pixels
    assert 0.8 * np.pi * 60**2 < frame.area.iloc[0] < 1.2 * np.pi * 60**2  # the 6-px disc
    assert frame["rendering"].iloc[0] == "s2" and frame["untrained"].iloc[0] == 0
    assert box.export() == tmp_path / "sam_002.gpkg" and written.is_file()  # never over the first


def test_negative_points_refine_and_a_far_click_starts_a_new_object(region, tmp_path):
    pair, paths = region
    fake = DiscSegmenter()
    box = sm.sam_explorer(
        fake, paths, point=_lonlat(pair, 60, 60), window=32, export_dir=tmp_path, basemap=None
    )
    before = int(box.result.mask.sum())
    box.sign.value = "negative"
    _click(box, *_lonlat(pair, 60, 64))
    assert [p[2] for p in box.prompts] == [1, 0] and fake.calls[-1]["labels"].tolist() == [1, 0]
    assert not fake.calls[-1]["multimask"]  # several points: one mask
    assert int(box.result.mask.sum()) < before
    assert len(find_layer(box.map, sm.LAYER_PROMPTS).data["features"]) == 2
    _click(box, *_lonlat(pair, 5, 5))  # outside the window, and negative: refused, nothing changes
    assert "positive" in box.info.value and len(box.prompts) == 2
    box.sign.value = "positive"
    _click(box, *_lonlat(pair, 5, 5))
    assert len(box.prompts) == 1 and box.result.contains(*_lonlat(pair, 5, 5))
    box.new_object()
    _click(box, *_lonlat(pair, 6, 6))
    assert len(box.prompts) == 1  # "new object" forgets the earlier points
    _click(box, -170.0, 10.0)  # off the raster
    assert "outside the raster" in box.info.value and len(box.prompts) == 1


def test_a_drawn_box_is_a_box_prompt(region, tmp_path):
    pair, paths = region
    fake = DiscSegmenter()
    box = sm.sam_explorer(fake, paths, window=64, export_dir=tmp_path, basemap=None)
    (w, s), (e, n) = _lonlat(pair, 80, 40), _lonlat(pair, 60, 70)  # rows 60-80, cols 40-70
    geometry = {"type": "Polygon", "coordinates": [[(w, s), (e, s), (e, n), (w, n), (w, s)]]}
    box.map.draw_control_sam._handle_leaflet_event(
        None, {"event": "draw:created", "geo_json": {"type": "Feature", "geometry": geometry}}, []
    )
    call = fake.calls[-1]
    assert call["points"] is None and call["box"] is not None and box.prompts == []
    x0, y0, x1, y1 = call["box"]
    assert x1 - x0 == pytest.approx(30, abs=0.1) and y1 - y0 == pytest.approx(20, abs=0.1)
    assert box.result.mask.sum() == pytest.approx(31 * 21, abs=31 + 21)
    assert "a box" in box.info.value
    drawn = find_layer(box.map, sm.LAYER_PROMPTS).data["features"]
    assert [f["geometry"]["type"] for f in drawn] == ["Polygon"]  # the box stays on the map
    np.testing.assert_allclose(np.min(drawn[0]["geometry"]["coordinates"][0], 0), [w, s])


def test_radar_composite_goes_to_sam(region, tmp_path):
    pair, paths = region
    fake = DiscSegmenter()
    lon, lat = _lonlat(pair, 20, 100)
    box = sm.sam_explorer(fake, paths, point=(lon, lat), modality="s1", window=32, export_dir=tmp_path,
                          basemap=None)  # fmt: skip
    assert fake.rendering == "s1" and fake.image.shape == (2, 32, 32)
    np.testing.assert_allclose(
        fake.image, pair["s1"][:, 4:36, 84:116].numpy(), atol=1e-5
    )  # dB, window at (4, 84)
    assert "radar" in box.info.value
    frame_path = box.export(tmp_path / "radar.gpkg")
    import geopandas as gpd

    frame = gpd.read_file(frame_path)
    x, y = Transformer.from_crs("EPSG:4326", pair["crs"], always_xy=True).transform(lon, lat)
    assert frame["rendering"].iloc[0] == "s1" and frame.geometry.iloc[0].distance(Point(x, y)) == 0.0
    box.modality.value = "s2"  # the same prompts on the optical composite
    assert fake.rendering == "s2" and box.prompts == [(lon, lat, 1)]
    with pytest.raises(ValueError, match="modality"):
        sm.sam_explorer(fake, paths, modality="lidar", basemap=None)


def test_untrained_sam_says_so_on_the_map_and_in_the_export(region, tmp_path):
    import geopandas as gpd

    from xmodal_lab.segment import SamSegmenter, UntrainedSAMWarning, build_sam

    pair, paths = region
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedSAMWarning)
        segmenter = SamSegmenter(build_sam(model_type="tiny"))
        lon, lat = _lonlat(pair, 64, 64)
        box = sm.sam_explorer(segmenter, paths, point=(lon, lat), modality="s1", window=48, export_dir=tmp_path,
                              basemap=None)  # fmt: skip
    assert segmenter.untrained and box.result.untrained
    assert "untrained SAM: masks are random" in box.map.sam_note.value
    assert "untrained SAM: masks are random" in box.info.value
    assert box.result.mask.shape == (48, 48) and box.result.mask.any()
    written = box.export()
    frame = gpd.read_file(written)
    assert (frame["untrained"] == 1).all() and frame.crs.to_string() == pair["crs"]
    a, _, c, _, e, f = box.result.transform
    window = shapely_box(c, f + e * 48, c + a * 48, f)
    x, y = Transformer.from_crs("EPSG:4326", pair["crs"], always_xy=True).transform(lon, lat)
    assert window.contains(Point(x, y))  # the window is around the click
    assert frame.union_all().within(window.buffer(1e-6))  # and the polygons lie in it


def test_trained_sam_has_no_untrained_note(region, tmp_path):
    _, paths = region
    box = sm.sam_explorer(DiscSegmenter(), paths, window=32, export_dir=tmp_path, basemap=None)
    assert not hasattr(box.map, "sam_note") and "untrained" not in box.info.value


def test_tile_embeddings_work_as_the_raster_pair(region, tmp_path):
    import torch

    from xmodal_lab.eval.embed_raster import embed_raster
    from xmodal_lab.models import build
    from xmodal_lab.viz.region_maps import LAYER_PCA

    pair, (s1, s2) = region
    torch.manual_seed(0)
    tiles = embed_raster(build("contrastive", preset="tiny").eval(), s1, s2, None, tile=32, progress=False)
    fake = DiscSegmenter()
    lon, lat = _lonlat(pair, 40, 40)
    box = sm.sam_explorer(fake, tiles, point=(lon, lat), window=32, export_dir=tmp_path, basemap=None)
    find_layer(box.map, LAYER_PCA)  # the embeddings' layer comes with them
    assert box.prompts == [(lon, lat, 1)] and box.result.mask.sum() > 0
    assert box.export().name == "sam_001.gpkg"
