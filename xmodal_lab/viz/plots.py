"""Every matplotlib figure of the kit in one place: ``from xmodal_lab.viz.plots import plot_pairs``.

- data (:mod:`xmodal_lab.viz.data_plots`): :func:`plot_pairs`, :func:`plot_bands`, :func:`plot_change`;
- evaluation (:mod:`xmodal_lab.viz.eval_plots`): :func:`plot_similarity_matrix`, :func:`plot_retrieval`,
  :func:`plot_projection`, :func:`plot_projection_before_after`, :func:`plot_history`,
  :func:`plot_label_efficiency`;
- models (:mod:`xmodal_lab.viz.model_plots`): :func:`plot_reconstruction`, :func:`plot_bias_maps`,
  :func:`plot_masks`, :func:`plot_mask_pair`;
- places (:mod:`xmodal_lab.viz.place_plots`): :func:`plot_coregistration`.

Every function returns a :class:`matplotlib.figure.Figure` that a notebook shows exactly once, whether the
call ends a cell or is followed by ``plt.show()`` (see :mod:`xmodal_lab.viz.figure`).
"""

from __future__ import annotations

from xmodal_lab.viz.data_plots import (
    REFLECTANCE_RANGE,
    VH_RANGE,
    VV_RANGE,
    plot_bands,
    plot_change,
    plot_pairs,
)
from xmodal_lab.viz.eval_plots import (
    plot_history,
    plot_label_efficiency,
    plot_projection,
    plot_projection_before_after,
    plot_retrieval,
    plot_similarity_matrix,
)
from xmodal_lab.viz.model_plots import plot_bias_maps, plot_mask_pair, plot_masks, plot_reconstruction
from xmodal_lab.viz.place_plots import plot_coregistration

__all__ = [
    "REFLECTANCE_RANGE",
    "VH_RANGE",
    "VV_RANGE",
    "plot_bands",
    "plot_bias_maps",
    "plot_change",
    "plot_coregistration",
    "plot_history",
    "plot_label_efficiency",
    "plot_mask_pair",
    "plot_masks",
    "plot_pairs",
    "plot_projection",
    "plot_projection_before_after",
    "plot_reconstruction",
    "plot_retrieval",
    "plot_similarity_matrix",
]
