"""xmodal_lab.viz: matplotlib figures and leafmap/ipywidgets maps (each with a static figure) for the lessons.

Names load on first use, so ``import xmodal_lab.viz`` stays light and needs no display.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "data_plots": ("plot_bands", "plot_coregistration", "plot_pairs"),
    "eval_plots": ("plot_change_maps", "plot_history", "plot_label_efficiency", "plot_projection",
                   "plot_projection_before_after", "plot_retrieval", "plot_segmentation", "plot_similarity_matrix"),
    "model_plots": ("draw_prompts", "plot_bias_maps", "plot_boundary_study", "plot_one_shot", "plot_persam",
                    "plot_reconstruction", "plot_sam_masks"),
    "maps": ("centre_layer", "describe_tile", "embedding_colors", "explore_map", "find_layer", "footprint_lonlat",
             "footprints_geojson", "plot_footprints", "png_data_url"),
    "region_maps": ("plot_region_mask", "plot_region_pair", "plot_region_query", "read_rgb", "region_explorer",
                    "sam_explorer", "segment_explorer"),
    "colours": ("render", "s2_true_colour"),
    "figure": ("enable_notebook_display", "grid", "new_figure"),
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'xmodal_lab.viz' has no attribute {name!r}")
    globals()[name] = value = getattr(importlib.import_module(f"xmodal_lab.viz.{_WHERE[name]}"), name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
