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
    BaselineResult, OneShotComparison, OneShotResult, background_prototypes, band_image,
    band_threshold_segment, best_threshold, compare_one_shot, cosine_confidence, extreme_points, feature_fn,
    guided_upsample, modality_images, one_shot_segment, pick_one_shot_tiles, prototype_confidence,
    standardise_guide, target_embedding, upsample_confidence,
)
from .segmenter import PerSAM, PerSamResult, SamMasks, SamSegmenter, automatic_settings, decode_masks, persam

__all__ = [
    "BoundaryStudy", "RealCompositeStudy", "area_ratio", "boundary_f_score", "mask_boundary",
    "object_prompts", "real_composite_study", "sam_boundary_study", "SAM_CHECKPOINTS", "UNTRAINED_LABEL",
    "SamCheckpoint", "UntrainedSAMError", "UntrainedSAMWarning", "build_sam", "build_sam_arch",
    "download_sam_checkpoint", "real_sam_available", "sam_cache_dir", "sam_label", "BaselineResult",
    "OneShotComparison", "OneShotResult", "background_prototypes", "band_image", "band_threshold_segment",
    "best_threshold", "compare_one_shot", "cosine_confidence", "extreme_points", "feature_fn",
    "guided_upsample", "modality_images", "one_shot_segment", "pick_one_shot_tiles", "prototype_confidence",
    "standardise_guide", "target_embedding", "upsample_confidence", "PerSAM", "PerSamResult", "SamMasks",
    "SamSegmenter", "automatic_settings", "decode_masks", "persam",
]  # fmt: skip
