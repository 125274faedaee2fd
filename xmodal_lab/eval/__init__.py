"""Evaluation from ``model.embed`` outputs, no model special-cased: retrieval, probes, scores, rasters."""

# isort: skip_file
from .across_gsd import footprint_views, knn_across_gsds
from .change import (
    best_threshold, change_detection_report, change_detection_scores, change_metrics, embedding_change,
    pixel_difference,
)
from .dense import (
    band_threshold_baseline, confusion_matrix, evaluate_segmentation, scores_from_confusion,
    segmentation_scores,
)
from .embed_raster import TileEmbeddings, embed_raster, embeddings_to_geoparquet
from .embeddings import embed_dataset
from .predict import predict_raster, raster_to_vectors
from .probes import cross_modal_transfer, knn_accuracy, label_efficiency, linear_probe
from .retrieval import (
    bottomk_matches, cosine_similarity, match_ranks, project_2d, retrieval_metrics, topk_matches,
)
from .seeds import SeedSpread, SeedSpreads, over_seeds
from .segmentation import OverestimationReport, boundary_overestimation, iou, to_polygons
from .tile_query import (
    RegionMask, export_vectors, grid_to_polygons, segment_region, similarity_grid, threshold_grid, tile_at,
)

__all__ = [
    "footprint_views", "knn_across_gsds", "best_threshold", "change_detection_report",
    "change_detection_scores", "change_metrics", "embedding_change", "pixel_difference",
    "band_threshold_baseline", "confusion_matrix", "evaluate_segmentation", "scores_from_confusion",
    "segmentation_scores", "TileEmbeddings", "embed_raster", "embeddings_to_geoparquet", "embed_dataset",
    "predict_raster", "raster_to_vectors", "cross_modal_transfer", "knn_accuracy", "label_efficiency",
    "linear_probe", "project_2d", "bottomk_matches", "cosine_similarity", "match_ranks", "retrieval_metrics",
    "topk_matches", "SeedSpread", "SeedSpreads", "over_seeds", "OverestimationReport",
    "boundary_overestimation", "iou", "to_polygons", "RegionMask", "export_vectors", "grid_to_polygons",
    "segment_region", "similarity_grid", "threshold_grid", "tile_at",
]  # fmt: skip
