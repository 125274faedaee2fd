"""UTM zones and pixel grids against pyproj, rasterio and the UTM definition."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.crs import CRS

from xmodal_lab.data.geo import lonlat_to_utm, utm_epsg
from xmodal_lab.data.io import geo_fields, window_transform


def test_utm_zone_agrees_with_pyproj_outside_the_exceptions():
    rng = np.random.default_rng(0)
    for lat, lon in zip(rng.uniform(-79, 55, 12), rng.uniform(-179, 179, 12)):
        aoi = AreaOfInterest(lon, lat, lon, lat)
        codes = {int(c.code) for c in query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)}
        assert utm_epsg(lat, lon) in codes


@pytest.mark.parametrize(
    ("lat", "lon", "epsg"),
    [
        (60.39, 5.32, 32632),  # Bergen: zone 32V, not 31
        (78.22, 15.65, 32633),  # Longyearbyen: 33X
        (78.58, 11.91, 32633),  # 33X spans 9-21 E
        (79.0, 25.0, 32635),  # 35X
        (-33.87, 151.21, 32756),  # Sydney, southern hemisphere
    ],
)
def test_utm_zone_exceptions(lat, lon, epsg):
    x, y, code = lonlat_to_utm(lat, lon)
    assert code == epsg and 100_000 < x < 900_000


def test_grid_fields_match_affine_arithmetic():
    t = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_600_000.0)
    assert window_transform(t, row=3, col=7) == (10.0, 0.0, 500_070.0, 0.0, -10.0, 4_599_970.0)
    fields = geo_fields(CRS.from_epsg(32631), t, 64, 64)
    assert fields["crs"] == "EPSG:32631" and fields["gsd"] == 10.0
    assert fields["lon"] == pytest.approx(3.0038, abs=1e-4)  # 320 m east of the central meridian (3 E)
    assert fields["lat"] == pytest.approx(41.55, abs=0.01)
