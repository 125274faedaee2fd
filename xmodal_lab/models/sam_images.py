"""The historical import path of the Sentinel composites; they live in :mod:`xmodal_lab.data.composites`."""

from xmodal_lab.data.composites import (
    RATIO_RANGE_DB,
    RENDERINGS,
    S2_FALSE_COLOR_BANDS,
    S2_TRUE_COLOR_BANDS,
    VH_RANGE_DB,
    VV_RANGE_DB,
    db_to_uint8,
    percentile_stretch,
    s1_composite,
    s1_vh,
    s1_vv,
    s2_false_color,
    s2_true_color,
    to_sam_image,
    upsample_to_sam,
)

__all__ = [
    "RATIO_RANGE_DB",
    "RENDERINGS",
    "S2_FALSE_COLOR_BANDS",
    "S2_TRUE_COLOR_BANDS",
    "VH_RANGE_DB",
    "VV_RANGE_DB",
    "db_to_uint8",
    "percentile_stretch",
    "s1_composite",
    "s1_vh",
    "s1_vv",
    "s2_false_color",
    "s2_true_color",
    "to_sam_image",
    "upsample_to_sam",
]
