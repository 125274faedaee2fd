"""The seminar's caution measured: do SAM's crisp masks spill over soft edges, on simulated and real tiles?"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from xmodal_lab.errors import InputValueError
from xmodal_lab.segment.checkpoints import require_trained
from xmodal_lab.segment.oneshot import band_image, mask_iou
from xmodal_lab.segment.segmenter import SamSegmenter, persam

_FOUR, _EIGHT = ndimage.generate_binary_structure(2, 1), ndimage.generate_binary_structure(2, 2)
MIN_OBJECT_PIXELS = 16  # smaller true objects are left out of the boundary study


def _bool(mask: Any) -> np.ndarray:
    return np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask).astype(bool)


def _mask_pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = _bool(pred), _bool(true)
    if p.shape != t.shape or p.ndim != 2:
        raise InputValueError(f"expected two masks [H, W] of the same shape, got {p.shape} and {t.shape}")
    return p, t


def area_ratio(pred: Any, true: Any) -> float:
    """Predicted area / true area of two masks ``[H, W]``: above 1 the mask is too large."""
    p, t = _mask_pair(pred, true)
    if not t.any():
        raise InputValueError("area_ratio: the true mask is empty, so predicted/true area is undefined")
    return float(p.sum() / t.sum())


def mask_boundary(mask: Any) -> np.ndarray:
    """The one-pixel-wide inner boundary ``[H, W]``: mask pixels with a 4-neighbour outside (or the border)."""
    m = _bool(mask)
    return m & ~ndimage.binary_erosion(m, structure=_FOUR, border_value=0)


def boundary_f_score(pred: Any, true: Any, tolerance: float = 1.0) -> tuple[float, float, float]:
    """Boundary ``(precision, recall, f)`` of two masks ``[H, W]``, matched within ``tolerance`` pixels."""
    if tolerance < 0:
        raise InputValueError(f"boundary_f_score: tolerance must be >= 0 pixels, got {tolerance}")
    p, t = _mask_pair(pred, true)
    bp, bt = mask_boundary(p), mask_boundary(t)
    if not bp.any() and not bt.any():
        return 1.0, 1.0, 1.0
    if not bp.any() or not bt.any():
        return 0.0, 0.0, 0.0
    precision = float((ndimage.distance_transform_edt(~bt)[bp] <= tolerance).mean())  # distance to true edge
    recall = float((ndimage.distance_transform_edt(~bp)[bt] <= tolerance).mean())
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f


def object_prompts(mask: Any) -> tuple[np.ndarray, np.ndarray]:
    """SAM's prompts for one object ``[H, W]``: its box ``(x0, y0, x1, y1)`` and most interior pixel ``(x, y)``."""
    m = _bool(mask)
    if not m.any():
        raise InputValueError("object_prompts: empty mask")
    ys, xs = np.nonzero(m)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
    depth = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(depth)), m.shape)
    return box, np.array([x, y], dtype=np.float32)


@dataclass
class BoundaryStudy:
    """SAM's masks ``[N, H, W]`` against the true objects: pooled area ratio, mean IoU and mean boundary F."""

    area_ratio: float
    iou: float
    boundary_f: float
    tolerance: float
    per_object: list[dict]
    untrained: bool
    model_type: str
    masks: np.ndarray = field(repr=False)
    truth: np.ndarray = field(repr=False)
    boxes: np.ndarray = field(repr=False)
    points: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        return (f"SAM {self.model_type}: {len(self.per_object)} objects, predicted/true area "
                f"{self.area_ratio:.2f}, IoU {self.iou:.2f}, boundary F@{self.tolerance:g}px "
                f"{self.boundary_f:.2f}")


def sam_boundary_study(segmenter: SamSegmenter, tiles: Sequence[Any], masks: Sequence[Any], *,
                       tolerance: float = 1.0) -> BoundaryStudy:
    """Prompt a trained SAM with each true object's box and interior point; measure its masks' spill."""
    require_trained(segmenter, "sam_boundary_study")
    if len(tiles) != len(masks):
        raise InputValueError(f"{len(tiles)} tiles but {len(masks)} masks")
    objects = []  # (tile index, true object, box, point, SAM's mask, SAM's score)
    for i, (tile, mask) in enumerate(zip(tiles, masks)):
        labelled, n = ndimage.label(_bool(mask), structure=_EIGHT)
        big = [obj for obj in (labelled == k for k in range(1, n + 1)) if obj.sum() >= MIN_OBJECT_PIXELS]
        if big:
            segmenter.set_image(tile)
        for obj in big:
            box, point = object_prompts(obj)
            out = segmenter.predict(points=point[None], labels=[1], box=box, multimask=False)
            objects.append((i, obj, box, point, out.masks[0], float(out.scores[0])))
    if not objects:
        raise InputValueError(f"sam_boundary_study: no true object of at least {MIN_OBJECT_PIXELS} pixels")
    rows = [
        {"tile": i, "area_ratio": area_ratio(p, t), "iou": mask_iou(p, t),
         "boundary_f": boundary_f_score(p, t, tolerance)[2], "score": score}
        for i, t, _, _, p, score in objects
    ]  # fmt: skip
    truth, boxes, points, pred = (np.stack([o[k] for o in objects]) for k in range(1, 5))
    iou, boundary_f = (float(np.mean([r[key] for r in rows])) for key in ("iou", "boundary_f"))
    return BoundaryStudy(float(pred.sum() / truth.sum()), iou, boundary_f, float(tolerance), rows,
                         segmenter.untrained, segmenter.model_type, pred, truth, boxes, points)


@dataclass
class RealCompositeStudy:
    """Pooled IoUs of SAM's zero-shot click and of PerSAM against an index mask, and SAM's boundary study."""

    concept: str
    zero_shot_iou: float
    persam_iou: float
    boundary: BoundaryStudy
    n_tiles: int
    model_type: str

    def __str__(self) -> str:
        return (
            f"SAM {self.model_type} (checkpoint) on {self.n_tiles} real composites, concept {self.concept}:\n"
            f"  zero-shot (one click at the most interior pixel) IoU {self.zero_shot_iou:.3f}\n"
            f"  PerSAM (first tile as reference, {self.n_tiles - 1} targets) IoU {self.persam_iou:.3f}\n"
            f"  boundaries: area ratio {self.boundary.area_ratio:.2f}, boundary F {self.boundary.boundary_f:.3f}, "
            f"IoU {self.boundary.iou:.3f}")


def real_composite_study(
    segmenter: SamSegmenter, pairs: Sequence[dict], band: str = "ndvi", threshold: float = 0.7,
    coverage: tuple[float, float] = (0.05, 0.95),
) -> RealCompositeStudy:
    """Zero-shot, PerSAM and the boundary study of a trained SAM on real pairs' optical tiles ``s2 [12, H, W]``.

    Concept: ``band > threshold`` where it covers ``coverage``; the tile nearest half is PerSAM's reference.
    """
    require_trained(segmenter, "real_composite_study")
    tiles, masks = [], []
    for pair in pairs:
        mask = (band_image(pair["s2"], band) > threshold).numpy()
        if coverage[0] <= mask.mean() <= coverage[1]:
            tiles.append(pair["s2"])
            masks.append(mask)
    if len(tiles) < 2:
        raise InputValueError(f"{len(tiles)} tiles with {band} > {threshold} on {coverage} of their pixels: "
                              "need 2; lower `threshold` or widen `coverage`")
    order = np.argsort([abs(m.mean() - 0.5) for m in masks], kind="stable")
    tiles, masks = [tiles[i] for i in order], [masks[i] for i in order]
    zero_shot = []
    for tile, mask in zip(tiles, masks):
        point = object_prompts(mask)[1]  # the most interior pixel of the concept
        out = segmenter.set_image(tile).points(point[None], labels=[1])
        zero_shot.append(out.masks[int(np.argmax(out.scores))])
    persam_masks = [persam(segmenter, tiles[0], masks[0], t).mask.astype(bool) for t in tiles[1:]]
    zero_shot_iou = mask_iou(np.stack(zero_shot), np.stack(masks))
    persam_iou = mask_iou(np.stack(persam_masks), np.stack(masks[1:]))
    boundary = sam_boundary_study(segmenter, tiles, masks)
    return RealCompositeStudy(f"{band} > {threshold:g}", zero_shot_iou, persam_iou, boundary, len(tiles),
                              segmenter.model_type)
