"""Data for the kit: a simulated co-registered Sentinel-1/Sentinel-2 world, real sample pairs, loaders.

Every dataset returns the same pair dict (see ``docs/ARCHITECTURE.md``): ``s1`` ``[2, H, W]`` VV, VH in dB,
``s2`` ``[12, H, W]`` reflectance, ``gsd``, ``lat``, ``lon``, ``date``, ``crs``, ``transform`` and, where
known, ``landcover``, ``labels`` and ``cloud_mask``.
"""

from xmodal_lab.data import bands
from xmodal_lab.data.collate import collate_pairs
from xmodal_lab.data.landcover import LANDCOVER_CLASSES
from xmodal_lab.data.world import PRESETS as WORLD_PRESETS
from xmodal_lab.data.world import Place, SimulatedWorld, WorldConfig

__all__ = [
    "LANDCOVER_CLASSES",
    "WORLD_PRESETS",
    "Place",
    "SimulatedWorld",
    "WorldConfig",
    "bands",
    "collate_pairs",
]
