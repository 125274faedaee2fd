"""Segment Anything on Earth-observation tiles, PerSAM, and one-shot segmentation with any encoder's features.

``checkpoints`` builds SAM (or a tiny untrained stand-in offline); ``segmenter`` prompts it on Sentinel tiles;
``confidence`` turns features and one reference mask into a location map; ``persam`` is PerSAM inside SAM's
decoder; ``oneshot`` does the same with a kit encoder; ``baseline`` is the band threshold it is compared with;
``caution`` measures how far SAM's masks spill over boundaries. This package never imports ``models``.
"""

from .baseline import (
    BASELINE_BANDS,
    DEFAULT_BASELINES,
    BaselineResult,
    OneShotComparison,
    band_image,
    band_threshold_segment,
    compare_one_shot,
    fit_band_threshold,
    pick_one_shot_tiles,
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
from .persam import PerSAM, PerSamResult, decode_masks, persam, refine_with_confidence
from .segmenter import EO_AUTOMATIC_DEFAULTS, SamMasks, SamSegmenter, automatic_settings

__all__ = [
    "BASELINE_BANDS", "DEFAULT_BASELINES", "BaselineResult", "OneShotComparison", "band_image",
    "band_threshold_segment", "compare_one_shot", "fit_band_threshold", "pick_one_shot_tiles",
    "BoundaryStudy", "area_ratio", "boundary_f_score", "mask_boundary", "object_prompts", "sam_boundary_study",
    "SAM_ARCHS", "SAM_CHECKPOINTS", "UNTRAINED_LABEL", "SamArch", "SamCheckpoint", "UntrainedSAMError",
    "UntrainedSAMWarning", "build_sam", "build_sam_arch", "download_sam_checkpoint", "sam_cache_dir", "sam_label",
    "background_prototypes", "best_threshold", "binary_mask", "cosine_confidence", "extreme_points",
    "mask_coverage", "prototype_confidence", "target_embedding", "upsample_confidence",
    "MODALITIES", "SIGMA_RANGE_CANDIDATES", "FeatureFn", "OneShotResult", "feature_fn", "guided_upsample",
    "modality_images", "one_shot_segment", "standardise_guide",
    "PerSAM", "PerSamResult", "decode_masks", "persam", "refine_with_confidence",
    "EO_AUTOMATIC_DEFAULTS", "SamMasks", "SamSegmenter", "automatic_settings",
]  # fmt: skip
