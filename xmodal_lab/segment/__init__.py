"""Segment Anything for Earth observation, and one-shot segmentation with any encoder's features.

| module | concept |
|---|---|
| :mod:`.checkpoints` | SAM architectures, ``build_sam``, the checkpoint cache and ``download_sam_checkpoint`` |
| :mod:`.segmenter` | ``SamSegmenter``: zero-shot masks from points, boxes or automatically on Sentinel tiles |
| :mod:`.confidence` | target embedding, background prototypes, confidence maps, extreme points, best threshold |
| :mod:`.refine` | ``refine_with_confidence``: SAM's mask for the region a confidence map points at |
| :mod:`.persam` | PerSAM: one-shot SAM with target-guided attention and target-semantic prompting |
| :mod:`.oneshot` | ``one_shot_segment``: training-free one-shot segmentation with a kit encoder's features |
| :mod:`.baseline` | ``band_threshold_segment``: one band (VV, VH, NDVI, NDWI) thresholded on the reference tile |
| :mod:`.compare` | ``compare_one_shot``: lesson 06's protocol, encoder one-shot vs. the band threshold |
| :mod:`.caution` | ``sam_boundary_study``: area ratio and boundary F-score of SAM's own masks |

Imports flow one way: checkpoints <- segmenter <- refine <- persam, confidence <- oneshot (which loads
``segmenter`` and ``refine`` only when a SAM refinement is asked for); confidence <- baseline; oneshot,
baseline <- compare; segmenter <- caution. Tiles are rendered to RGB by :mod:`xmodal_lab.data.composites`.
``xmodal_lab.models`` re-exports the main names; figures are in :mod:`xmodal_lab.viz.sam_plots`.
"""

from .baseline import (
    BASELINE_BANDS,
    DEFAULT_BASELINES,
    BaselineResult,
    band_image,
    band_threshold_segment,
    fit_band_threshold,
)
from .caution import (
    BoundaryStudy,
    area_ratio,
    boundary_f_score,
    mask_boundary,
    object_prompts,
    sam_boundary_study,
)
from .checkpoints import (
    SAM_ARCHS,
    SAM_CHECKPOINTS,
    UNTRAINED_LABEL,
    SamArch,
    SamCheckpoint,
    UntrainedSAMError,
    UntrainedSAMWarning,
    build_sam,
    build_sam_arch,
    download_sam_checkpoint,
    sam_cache_dir,
    sam_label,
)
from .compare import (
    OneShotComparison,
    compare_one_shot,
    pick_one_shot_tiles,
)
from .confidence import (
    background_prototypes,
    best_threshold,
    binary_mask,
    cosine_confidence,
    extreme_points,
    mask_coverage,
    prototype_confidence,
    target_embedding,
    upsample_confidence,
)
from .oneshot import (
    MODALITIES,
    SIGMA_RANGE_CANDIDATES,
    FeatureFn,
    OneShotResult,
    feature_fn,
    guided_upsample,
    modality_images,
    one_shot_segment,
    standardise_guide,
)
from .persam import (
    PerSAM,
    PerSamResult,
    decode_masks,
    persam,
)
from .refine import (
    refine_with_confidence,
)
from .segmenter import (
    EO_AUTOMATIC_DEFAULTS,
    SamMasks,
    SamSegmenter,
    automatic_settings,
)

__all__ = [
    "area_ratio",
    "automatic_settings",
    "band_image",
    "band_threshold_segment",
    "BASELINE_BANDS",
    "BaselineResult",
    "boundary_f_score",
    "BoundaryStudy",
    "compare_one_shot",
    "DEFAULT_BASELINES",
    "fit_band_threshold",
    "mask_boundary",
    "object_prompts",
    "OneShotComparison",
    "pick_one_shot_tiles",
    "sam_boundary_study",
    "sam_label",
    "UNTRAINED_LABEL",
    "UntrainedSAMError",
    "background_prototypes",
    "best_threshold",
    "binary_mask",
    "build_sam",
    "build_sam_arch",
    "cosine_confidence",
    "decode_masks",
    "download_sam_checkpoint",
    "EO_AUTOMATIC_DEFAULTS",
    "extreme_points",
    "feature_fn",
    "FeatureFn",
    "guided_upsample",
    "mask_coverage",
    "MODALITIES",
    "modality_images",
    "one_shot_segment",
    "OneShotResult",
    "PerSAM",
    "persam",
    "PerSamResult",
    "prototype_confidence",
    "refine_with_confidence",
    "SAM_ARCHS",
    "sam_cache_dir",
    "SAM_CHECKPOINTS",
    "SamArch",
    "SamCheckpoint",
    "SamMasks",
    "SamSegmenter",
    "SIGMA_RANGE_CANDIDATES",
    "standardise_guide",
    "target_embedding",
    "UntrainedSAMWarning",
    "upsample_confidence",
]
