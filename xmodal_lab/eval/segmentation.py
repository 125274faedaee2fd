"""Binary masks: IoU, boundary overestimation (model masks tend to spill past the true edge) and polygons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity: diagonal neighbours belong to one object


def _bool(mask: Any, name: str) -> np.ndarray:
    a = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
    if a.dtype != bool and not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name}: expected a boolean or 0/1 mask, got values {np.unique(a)[:6]}")
    return a.astype(bool)


def _pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = _bool(pred, "pred"), _bool(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"pred has shape {p.shape} but true {t.shape}")
    return p, t


def iou(pred: Any, true: Any) -> float:
    """``|pred & true| / |pred | true|`` pooled over all pixels; two empty masks give 1.0."""
    p, t = _pair(pred, true)
    union = (p | t).sum()
    return 1.0 if union == 0 else float((p & t).sum() / union)


@dataclass
class OverestimationReport:
    """How much larger (or smaller) the predicted objects are than the true ones.

    ``area_ratio``: predicted / true area on the true objects; ``unmatched_area``: predicted pixels touching
    no true object; ``extra_near_boundary``: the extra pixels' share within ``band`` px of a true boundary.
    """

    area_ratio: float
    true_area: int
    matched_area: int
    unmatched_area: int
    extra_near_boundary: float
    band: int
    n_objects: int
    per_object: list[dict] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        """A sentence to print under a figure."""
        if self.n_objects == 0:
            return f"no true object; {self.unmatched_area} predicted pixels are all false detections"
        if self.area_ratio > 1.05:
            verdict = f"overestimated: predicted objects are {self.area_ratio:.2f}x the true area"
        elif self.area_ratio < 0.95:
            verdict = f"underestimated: predicted objects are {self.area_ratio:.2f}x the true area"
        else:
            verdict = f"about the right size ({self.area_ratio:.2f}x the true area)"
        return (f"{self.n_objects} object(s), {verdict}; {100 * self.extra_near_boundary:.0f}% of the extra "
                f"pixels lie within {self.band} px of a true boundary; {self.unmatched_area} px predicted "
                "away from any object")

    __str__ = summary


def boundary_overestimation(pred: Any, true: Any, band: int = 2) -> OverestimationReport:
    """Predicted area / true area on the same objects, and where the extra pixels are.

    A predicted pixel belongs to the true object (8-connected) of its nearest true pixel when its region
    overlaps a true object; other regions are false detections. A batch ``[B, H, W]`` is pooled.
    """
    p, t = _pair(pred, true)
    if p.ndim == 2:
        p, t = p[None], t[None]
    if p.ndim != 3:
        raise ValueError(f"expected [H, W] or [B, H, W] masks, got shape {p.shape}")
    per_object: list[dict] = []
    true_area = matched = unmatched = extra = extra_near = offset = 0
    for pi, ti in zip(p, t):
        objects, n = ndimage.label(ti, structure=_EIGHT)  # [H, W] ids 1..n
        regions, _ = ndimage.label(pi, structure=_EIGHT)
        if n == 0:
            unmatched += int(pi.sum())
            continue
        dist, (iy, ix) = ndimage.distance_transform_edt(~ti, return_indices=True)
        nearest = objects[iy, ix]  # the true object of every pixel's nearest true pixel
        touching = np.unique(regions[pi & ti])
        in_touching = np.isin(regions, touching[touching > 0])
        unmatched += int((pi & ~in_touching).sum())
        attributed = pi & in_touching
        outside = attributed & ~ti
        extra += int(outside.sum())
        extra_near += int((outside & (dist <= band)).sum())
        pred_per_obj = np.bincount(nearest[attributed], minlength=n + 1)
        true_per_obj = np.bincount(objects[ti], minlength=n + 1)
        for k in range(1, n + 1):
            ta, pa = int(true_per_obj[k]), int(pred_per_obj[k])
            per_object.append({"id": offset + k, "true_area": ta, "predicted_area": pa, "ratio": pa / ta})
        true_area += int(true_per_obj.sum())
        matched += int(attributed.sum())
        offset += n
    ratio, near = matched / true_area if true_area else float("nan"), extra_near / extra if extra else 0.0
    return OverestimationReport(ratio, true_area, matched, unmatched, near, band, offset, per_object)


def to_polygons(mask: Any, transform: Any, crs: Any, min_area: float = 0.0,
                properties: dict | None = None) -> dict:
    """Masks ``[H, W]`` or ``[N, H, W]`` as a GeoJSON FeatureCollection in the source CRS.

    Features carry ``mask_id``, ``area`` (CRS units squared, at least ``min_area``) and ``properties``.
    """
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.features import shapes
    from shapely.geometry import shape
    m = _bool(getattr(mask, "masks", mask), "mask")
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"mask: expected [H, W] or [N, H, W], got shape {m.shape}")
    if len(values := tuple(transform)) not in (6, 9):
        raise ValueError(f"transform: expected an Affine or 6 numbers (a, b, c, d, e, f), got {len(values)}")
    aff = Affine(*(float(v) for v in values[:6]))
    try:
        crs_obj = CRS.from_user_input(crs)
    except Exception as err:
        raise ValueError(f"crs: cannot understand {crs!r} ({err}); pass e.g. 'EPSG:32633'") from None
    features = []
    for i, layer in enumerate(m):
        for geom, _ in shapes(layer.astype(np.uint8), mask=layer, transform=aff, connectivity=4):
            if (area := float(shape(geom).area)) >= min_area:
                props = {"mask_id": i, "area": area, **(properties or {})}
                features.append({"type": "Feature", "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "crs": crs_obj.to_string(), "features": features}
