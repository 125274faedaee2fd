"""Training: ``fit()`` for notebooks, the Lightning task behind it, checkpoints and a command line.

``python -m xmodal_lab.train --help`` trains on a cluster and writes checkpoints for students.
"""

from .callbacks import History, validation_metrics
from .checkpoint import checkpoint_info, export_checkpoint, load_checkpoint
from .datamodule import CachedPairs, PairDataModule, StepBatchSampler, describe_data
from .downstream import dense_label_efficiency, fit_segmentation, label_subset
from .fit import fit
from .loggers import make_logger, read_log
from .normalization import band_statistics, normalization_state, set_normalization
from .task import PretrainTask, warmup_cosine
from .transfer import MixedPairs, freeze_patch_embeddings

__all__ = [
    "dense_label_efficiency",
    "fit_segmentation",
    "label_subset",
    "make_logger",
    "read_log",
    "CachedPairs",
    "MixedPairs",
    "freeze_patch_embeddings",
    "History",
    "PairDataModule",
    "PretrainTask",
    "StepBatchSampler",
    "band_statistics",
    "checkpoint_info",
    "describe_data",
    "export_checkpoint",
    "fit",
    "load_checkpoint",
    "normalization_state",
    "set_normalization",
    "validation_metrics",
    "warmup_cosine",
]
