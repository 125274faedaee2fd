"""Training: ``fit()`` for notebooks, the Lightning task behind it, checkpoints and a command line (``--help``)."""

from .checkpoint import checkpoint_info, export_checkpoint, load_checkpoint
from .datamodule import (
    CachedPairs,
    PairDataModule,
    StepBatchSampler,
    band_statistics,
    describe_data,
    normalization_state,
    set_normalization,
)
from .downstream import (
    MixedPairs,
    dense_label_efficiency,
    fit_segmentation,
    freeze_patch_embeddings,
    label_subset,
)
from .fit import FitConfig, fit
from .loggers import read_log, validation_metrics
from .task import PretrainTask, warmup_cosine

__all__ = [
    "CachedPairs", "FitConfig", "MixedPairs", "PairDataModule", "PretrainTask", "StepBatchSampler",
    "band_statistics", "checkpoint_info", "dense_label_efficiency", "describe_data", "export_checkpoint", "fit",
    "fit_segmentation", "freeze_patch_embeddings", "label_subset", "load_checkpoint", "normalization_state",
    "read_log", "set_normalization", "validation_metrics", "warmup_cosine",
]  # fmt: skip
