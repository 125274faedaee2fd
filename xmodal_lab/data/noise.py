"""Procedural fields of the simulated world: hashed cubic B-spline value noise at map coordinates (metres)."""

from __future__ import annotations

import functools
import math

import numpy as np

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_MASK = 0xFFFFFFFFFFFFFFFF
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TSIZE, _TMASK = 1024, 1023
#: Lattice values over the standard deviation (0.2762) of B-spline noise of uniform [-1, 1) values: unit-std fields.
_TABLE = (np.random.default_rng(20240607).uniform(-1.0, 1.0, (_TSIZE, _TSIZE)) / 0.2762).astype(np.float32)


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a well-mixed uint64 from a uint64 (elementwise)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def mix_key(key: int) -> int:
    """SplitMix64 of one Python integer (no NumPy scalar overflow warnings)."""
    z = key & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class HashStream:
    """Uniform numbers from an integer key: for a layout's dozen choices, cheaper than a NumPy ``Generator``."""

    def __init__(self, key: int) -> None:
        self.key, self.count = mix_key(key), 0

    def random(self) -> float:
        """A float in [0, 1)."""
        self.count += 1
        return (mix_key(self.key + self.count * 0x9E3779B97F4A7C15) >> 11) * (1.0 / 9007199254740992.0)

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        """A float in [low, high)."""
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int) -> int:
        """An integer in [low, high)."""
        return low + int(self.random() * (high - low))


def hash_ints(key: int, *ints) -> np.ndarray:
    """uint64 hash of a scene key and integer arrays (packed 21 bits each into one word, broadcast together)."""
    packed = np.int64(0)
    for a in ints:
        packed = packed * np.int64(2097152) + np.asarray(a, dtype=np.int64)
    return mix64(np.asarray(packed).astype(np.uint64) ^ np.uint64(mix_key(key)))


def hash_uniform(key: int, *ints) -> np.ndarray:
    """Uniform floats in [0, 1) from a key and integer arrays (broadcast together)."""
    return (hash_ints(key, *ints) >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)


def _weights(start: float, stop: float, n: int, spacing: float) -> tuple[int, np.ndarray]:
    """First lattice node and cubic B-spline weights ``[n, nodes]`` of an evenly spaced axis."""
    t = np.linspace(start, stop, n) / spacing
    i0 = int(np.floor(t.min())) - 1
    fl = np.floor(t)
    f = t - fl
    f2, f3 = f * f, f * f * f
    w = np.stack([(1 - f) ** 3 / 6, (3 * f3 - 6 * f2 + 4) / 6, (-3 * f3 + 3 * f2 + 3 * f + 1) / 6, f3 / 6], axis=1)
    m = np.zeros((t.size, int(np.floor(t.max())) + 3 - i0), dtype=np.float32)
    np.put_along_axis(m, (fl.astype(np.int64) - 1 - i0)[:, None] + np.arange(4), w.astype(np.float32), axis=1)
    return i0, m


@functools.lru_cache(maxsize=4096)
def _grid_weights(x0: float, x1: float, nx: int, y0: float, y1: float, ny: int, spacing: float):
    """First lattice column and row, row weights ``[H, Ly]`` and transposed column weights ``[Lx, W]`` (shared)."""
    (ix0, wx), (iy0, wy) = _weights(x0, x1, nx, spacing), _weights(y0, y1, ny, spacing)
    wxt = np.ascontiguousarray(wx.T)
    wy.flags.writeable = wxt.flags.writeable = False
    return ix0, iy0, wy, wxt


def value_noise(key: int, x: np.ndarray, y: np.ndarray, spacing: float, n_fields: int = 1, scale: float = 1.0,
                add_to: np.ndarray | None = None) -> np.ndarray:
    """Smooth fields ``[n_fields, H, W]`` of std ``scale``, features of ``spacing`` metres (summed into ``add_to``)."""
    # Spacings snap to a fine geometric ladder (1/64 octave) so that the weight matrices are reused.
    spacing = 2.0 ** (round(math.log2(spacing) * 64) / 64)
    ix0, iy0, wy, wxt = _grid_weights(float(x[0]), float(x[-1]), len(x), float(y[0]), float(y[-1]), len(y), spacing)
    ny, nx = wy.shape[1], wxt.shape[0]
    out = np.empty((n_fields, wy.shape[0], wxt.shape[1]), dtype=np.float32) if add_to is None else add_to
    for f in range(n_fields):
        h = mix_key(key * 0x9E3779B1 + f)
        r0, c0 = iy0 + (h & _TMASK), ix0 + ((h >> 10) & _TMASK)
        if 0 <= r0 and r0 + ny <= _TSIZE and 0 <= c0 and c0 + nx <= _TSIZE:  # no wrap: a view of the table
            lattice = _TABLE[r0 : r0 + ny, c0 : c0 + nx]
        else:
            lattice = _TABLE[np.ix_((np.arange(r0, r0 + ny) & _TMASK), (np.arange(c0, c0 + nx) & _TMASK))]
        rows = wy @ lattice  # [H, Ly]: the cheap side for the scale
        if scale != 1.0:
            rows *= np.float32(scale)
        if add_to is None:
            np.matmul(rows, wxt, out=out[f])
        else:
            out[f] += rows @ wxt
    return out


@functools.lru_cache(maxsize=64)
def _amplitudes(octaves: int) -> tuple[float, ...]:
    amps = [0.5**o for o in range(octaves)]
    norm = math.sqrt(sum(a * a for a in amps))
    return tuple(float(np.float32(a / norm)) for a in amps)


def fbm(key: int, x: np.ndarray, y: np.ndarray, spacing: float, octaves: int = 3, n_fields: int = 1) -> np.ndarray:
    """Fractal sum ``[n_fields, H, W]`` of unit std; each octave halves the spacing and the amplitude."""
    amps = _amplitudes(octaves)
    total = value_noise(key + 1, x, y, spacing, n_fields, scale=amps[0])
    for o in range(1, octaves):
        value_noise(key * 31 + o + 1, x, y, spacing / 2**o, n_fields, scale=amps[o], add_to=total)
    return total


# Inverse-transform sampling from tables of 4096 quantiles (16 KB: they stay in the L1 cache).
_TABLE_BITS = 12
_U = (np.arange(2**_TABLE_BITS, dtype=np.float64) + 0.5) / 2**_TABLE_BITS


@functools.lru_cache(maxsize=32)
def _table(looks: float | None) -> np.ndarray:
    """Quantiles of Gamma(looks, 1/looks), or of the standard normal for ``looks=None``."""
    from scipy.special import gammaincinv, ndtri
    return (ndtri(_U) if looks is None else gammaincinv(looks, _U) / looks).astype(np.float32)


def _sample(table: np.ndarray, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    n = math.prod(shape)
    raw = rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)  # four 16-bit draws per 64-bit output
    return np.take(table, raw[:n].reshape(shape) >> np.uint16(16 - _TABLE_BITS))


def gamma_speckle(rng: np.random.Generator, looks: float, shape: tuple[int, ...]) -> np.ndarray:
    """Speckle: Gamma(looks, 1/looks) float32 samples, faster than ``standard_gamma`` and the same everywhere."""
    return _sample(_table(float(looks)), rng, shape)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 samples by inverse transform from a 4096-quantile table."""
    return _sample(_table(None), rng, shape)
