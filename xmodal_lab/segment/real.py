"""SAM's weights on real Sentinel-2 composites: zero-shot, PerSAM, boundaries, scored against a band index."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xmodal_lab.errors import InputValueError

from .baseline import band_image
from .caution import BoundaryStudy, object_prompts, sam_boundary_study
from .checkpoints import SAM_CHECKPOINTS, require_trained, sam_cache_dir
from .confidence import mask_iou
from .persam import persam
from .segmenter import SamSegmenter


def real_sam_available(model_type: str = "vit_b") -> bool:
    """Whether the official ``model_type`` checkpoint is in :func:`sam_cache_dir`, where :func:`build_sam` looks."""
    return (ck := SAM_CHECKPOINTS.get(model_type)) is not None and (sam_cache_dir() / ck.filename).is_file()


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
            f"IoU {self.boundary.iou:.3f}"
        )


def real_composite_study(
    segmenter: SamSegmenter, pairs: Sequence[dict], band: str = "ndvi", threshold: float = 0.7,
    coverage: tuple[float, float] = (0.05, 0.95),
) -> RealCompositeStudy:
    """Zero-shot, PerSAM and the boundary study of a trained SAM on real pairs' optical tiles ``s2 [12, H, W]``.

    Real pairs have no labels: each tile's concept is ``band`` above ``threshold``, kept where it covers
    ``coverage``; the tile covered closest to one half is PerSAM's reference, the others its targets.
    """
    require_trained(segmenter, "real_composite_study")
    tiles, masks = [], []
    for pair in pairs:
        mask = (band_image(pair["s2"], band) > threshold).numpy()
        if coverage[0] <= mask.mean() <= coverage[1]:
            tiles.append(pair["s2"])
            masks.append(mask)
    if len(tiles) < 2:
        raise InputValueError(
            f"{len(tiles)} tiles with {band} > {threshold} on {coverage} of their pixels: need 2; "
            "lower `threshold` or widen `coverage`"
        )
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
    concept = f"{band} > {threshold:g}"
    return RealCompositeStudy(concept, zero_shot_iou, persam_iou, boundary, len(tiles), segmenter.model_type)
