"""Evaluation on frozen embeddings: retrieval, probes, label efficiency, 2-D projections, segmentation.

Every function works from ``model.embed`` outputs, so no model is special-cased.
"""

from .embeddings import embed_dataset
from .probes import cross_modal_transfer, knn_accuracy, label_efficiency, linear_probe
from .projection import project_2d
from .retrieval import bottomk_matches, cosine_similarity, match_ranks, retrieval_metrics, topk_matches
from .seeds import SeedSpread, SeedSpreads, over_seeds
from .segmentation import OverestimationReport, boundary_overestimation, iou, per_image_iou, to_polygons

__all__ = [
    "OverestimationReport",
    "SeedSpread",
    "SeedSpreads",
    "over_seeds",
    "boundary_overestimation",
    "iou",
    "per_image_iou",
    "to_polygons",
    "bottomk_matches",
    "cosine_similarity",
    "cross_modal_transfer",
    "embed_dataset",
    "knn_accuracy",
    "label_efficiency",
    "linear_probe",
    "match_ranks",
    "project_2d",
    "retrieval_metrics",
    "topk_matches",
]
