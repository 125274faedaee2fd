"""Default per-band input statistics (BigEarthNet-MM's training set); ``norm_s1.set_stats`` replaces them."""

from __future__ import annotations

from .input_norm import InputNorm

S1_CHANNELS = 2
S2_CHANNELS = 12

#: Sentinel-1 ``VV, VH`` backscatter in dB.
S1_MEAN: tuple[float, ...] = (-12.619993741972035, -19.29044597721542)
S1_STD: tuple[float, ...] = (5.115911777546365, 5.464428464912864)

# fmt: off
# published as digital numbers; divided by 10000 below into reflectance
_S2_MEAN_DN = (340.76769064, 429.9430203, 614.21682446, 590.23569706, 950.68368468, 1792.46290469,
               2075.46795189, 2218.94553375, 2266.46036911, 2246.0605464, 1594.42694882, 1009.32729131)
_S2_STD_DN = (554.81258967, 572.41639287, 582.87945694, 675.88746967, 729.89827633, 1096.01480586,
              1273.45393088, 1365.45589904, 1356.13789355, 1302.3292881, 1079.19066363, 818.86747235)
# fmt: on

#: Sentinel-2 L2A reflectance of the 12 bands ``B1 ... B12`` (no B10), in the kit's band order.
S2_MEAN: tuple[float, ...] = tuple(v / 10000.0 for v in _S2_MEAN_DN)
S2_STD: tuple[float, ...] = tuple(v / 10000.0 for v in _S2_STD_DN)


def s1_norm() -> InputNorm:
    """Standardisation of Sentinel-1 dB with the default statistics."""
    return InputNorm(S1_MEAN, S1_STD)


def s2_norm(bands: tuple[int, ...] | None = None) -> InputNorm:
    """Standardisation of Sentinel-2 reflectance with the default statistics of ``bands`` (None: all 12)."""
    idx = range(S2_CHANNELS) if bands is None else bands
    return InputNorm([S2_MEAN[i] for i in idx], [S2_STD[i] for i in idx])


__all__ = ["S1_CHANNELS", "S1_MEAN", "S1_STD", "S2_CHANNELS", "S2_MEAN", "S2_STD", "s1_norm", "s2_norm"]
