"""Data for the kit: a simulated Sentinel-1/Sentinel-2 world, real pairs, loaders, transforms, as one pair dict."""

from xmodal_lab.data import bands, clouds, realism
from xmodal_lab.data.bands import S1_BANDS, S2_BANDS, class_fraction, db_to_linear, ndvi, ndwi, speckle_cv
from xmodal_lab.data.biomes import BIOME_NAMES
from xmodal_lab.data.changes import SimulatedChanges, collate_changes
from xmodal_lab.data.clouds import BorrowedCloudMasks
from xmodal_lab.data.collate import collate_pairs
from xmodal_lab.data.floods import FLOOD_BIOMES, Sen1Floods11, SimulatedFloods
from xmodal_lab.data.landcover import LANDCOVER_CLASSES
from xmodal_lab.data.rasters import PairedRasterDataset
from xmodal_lab.data.real_pairs import (
    BEN_CLASSES_19,
    BEN_CLASSES_43,
    BigEarthNetMM,
    TorchGeoBigEarthNet,
    TorchGeoSEN12MS,
    TorchGeoSSL4EOS12,
    bigearthnet_examples,
    real_transfer_split,
)
from xmodal_lab.data.region import region_geotiffs, render_region, write_pair_geotiffs
from xmodal_lab.data.stac import COURSE_PLACES, FetchedPair, fetch_pair
from xmodal_lab.data.transforms import (
    BandStats,
    Normalize,
    PairedFlipRotate,
    PairedRandomCrop,
    flip_rotate,
    rescale_gsd,
)
from xmodal_lab.data.world import SimulatedWorld, WorldConfig

__all__ = [  # fmt: skip
    "bands", "BandStats", "BEN_CLASSES_19", "BEN_CLASSES_43", "bigearthnet_examples", "BigEarthNetMM",
    "BIOME_NAMES", "BorrowedCloudMasks", "class_fraction", "clouds", "collate_changes", "collate_pairs",
    "COURSE_PLACES", "db_to_linear", "FetchedPair", "fetch_pair", "flip_rotate", "FLOOD_BIOMES",
    "LANDCOVER_CLASSES", "ndvi", "ndwi", "Normalize", "PairedFlipRotate", "PairedRandomCrop",
    "PairedRasterDataset", "real_transfer_split", "realism", "region_geotiffs", "render_region",
    "rescale_gsd", "S1_BANDS", "S2_BANDS", "Sen1Floods11", "SimulatedChanges", "SimulatedFloods",
    "SimulatedWorld", "speckle_cv", "TorchGeoBigEarthNet", "TorchGeoSEN12MS", "TorchGeoSSL4EOS12",
    "WorldConfig", "write_pair_geotiffs",
]
