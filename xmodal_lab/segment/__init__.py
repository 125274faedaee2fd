"""Segment Anything on Earth-observation tiles, PerSAM, and one-shot segmentation with any encoder."""

# isort: skip_file
from .caution import (
    BoundaryStudy, RealCompositeStudy, area_ratio, boundary_f_score, mask_boundary, object_prompts,
    real_composite_study, sam_boundary_study,
)
from .checkpoints import (
    SAM_CHECKPOINTS, UNTRAINED_LABEL, SamCheckpoint, UntrainedSAMError, UntrainedSAMWarning, build_sam,
    build_sam_arch, download_sam_checkpoint, real_sam_available, sam_cache_dir, sam_label,
)
from .oneshot import (
    BaselineResult, OneShotComparison, OneShotResult, background_prototypes, band_image, band_threshold_segment,
    best_threshold, compare_one_shot, cosine_confidence, extreme_points, feature_fn, guided_upsample,
    modality_images, one_shot_segment, pick_one_shot_tiles, prototype_confidence, standardise_guide,
    target_embedding, upsample_confidence,
)
from .persam import PerSAM, PerSamResult, decode_masks, persam
from .segmenter import SamMasks, SamSegmenter, automatic_settings

__all__ = [
    "BaselineResult", "OneShotComparison", "band_image", "band_threshold_segment", "compare_one_shot",
    "pick_one_shot_tiles",
    "BoundaryStudy", "area_ratio", "boundary_f_score", "mask_boundary", "object_prompts", "sam_boundary_study",
    "SAM_CHECKPOINTS", "UNTRAINED_LABEL", "SamCheckpoint", "UntrainedSAMError", "UntrainedSAMWarning",
    "build_sam", "build_sam_arch", "download_sam_checkpoint", "sam_cache_dir", "sam_label",
    "background_prototypes", "best_threshold", "cosine_confidence", "extreme_points", "prototype_confidence",
    "target_embedding", "upsample_confidence",
    "OneShotResult", "feature_fn", "guided_upsample", "modality_images", "one_shot_segment", "standardise_guide",
    "PerSAM", "PerSamResult", "decode_masks", "persam",
    "RealCompositeStudy", "real_composite_study", "real_sam_available",
    "SamMasks", "SamSegmenter", "automatic_settings",
]  # fmt: skip
