"""Training: ``fit()`` for notebooks, the Lightning task behind it, checkpoints and a command line.

``python -m xmodal_lab.train --help`` trains on a cluster and writes checkpoints for students.
"""

from .checkpoint import load_checkpoint
from .fit import History, fit
from .normalization import band_statistics, set_normalization
from .task import PretrainTask

__all__ = ["History", "PretrainTask", "band_statistics", "fit", "load_checkpoint", "set_normalization"]
