"""Statistics that tell simulated Sentinel-1 / Sentinel-2 tiles (physical units) from real ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from xmodal_lab.data.bands import S2_BAND_NAMES

S2_INDEX = {b: i for i, b in enumerate(S2_BAND_NAMES)}  # index of each band in the pair dict's ``s2``


def _as_array(x: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64)
    if a.ndim not in ndim:
        raise ValueError(f"{name}: expected {' or '.join(map(str, ndim))} dimensions, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinite values; expected finite physical units")
    return a


def stack_tiles(pairs: list[dict[str, Any]], key: str) -> np.ndarray:
    """Stack one modality of pair dicts into ``[N, C, H, W]`` float64 (``key`` is ``"s1"`` or ``"s2"``)."""
    if not pairs:
        raise ValueError("stack_tiles: expected at least one pair dict")
    return np.stack([_as_array(p[key], f"pairs[{i}]['{key}']", (3,)) for i, p in enumerate(pairs)])


def band_summary(tiles: Any) -> dict[str, np.ndarray]:
    """Per-band ``{"mean": [C], "std": [C]}`` over all pixels of ``tiles`` ``[N, C, H, W]``."""
    a = _as_array(tiles, "tiles", (4,))
    return {"mean": a.mean(axis=(0, 2, 3)), "std": a.std(axis=(0, 2, 3))}


def quantile_distance(a: Any, b: Any, n_quantiles: int = 101) -> float:
    """Wasserstein-1 distance of two samples on ``n_quantiles`` quantiles, in the samples' unit."""
    qa = np.quantile(_as_array(a, "a", (1, 2, 3, 4)).ravel(), np.linspace(0, 1, n_quantiles))
    qb = np.quantile(_as_array(b, "b", (1, 2, 3, 4)).ravel(), np.linspace(0, 1, n_quantiles))
    return float(np.trapezoid(np.abs(qa - qb), dx=1.0 / (n_quantiles - 1)))


def mean_abs_gradient(tiles: Any) -> np.ndarray:
    """Pixel roughness: mean ``|x[i + 1, j] - x[i, j]|`` per band ``[C]`` of ``tiles`` ``[N, C, H, W]``."""
    a = _as_array(tiles, "tiles", (4,))
    return np.abs(np.diff(a, axis=2)).mean(axis=(0, 2, 3))


def radial_power_spectrum(tiles: Any) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged ``|FFT|^2 / (H W)`` of square tiles ``[N, C, S, S]``: ``(freq [S//2], power [C, S//2])``."""
    a = _as_array(tiles, "tiles", (4,))
    n, c, h, w = a.shape
    if h != w or h < 4:
        raise ValueError(f"radial_power_spectrum: expected square tiles of at least 4 px, got {h}x{w}")
    a = a - a.mean(axis=(2, 3), keepdims=True)
    power = (np.abs(np.fft.fft2(a)) ** 2 / (h * w)).mean(axis=0)  # [C, S, S]
    f = np.fft.fftfreq(h)
    radius = np.hypot(f[:, None], f[None, :])
    n_bins = h // 2
    edges = np.linspace(0.0, 0.5, n_bins + 1)
    which = np.clip(np.digitize(radius, edges) - 1, 0, n_bins - 1)
    out = np.zeros((c, n_bins))
    for k in range(n_bins):
        ring = (radius > 0) & (radius <= 0.5) & (which == k)
        if ring.any():
            out[:, k] = power[:, ring].mean(axis=1)
    return 0.5 * (edges[1:] + edges[:-1]), out


def spectral_slope(tiles: Any) -> np.ndarray:
    """Least-squares log-log slope of the radial power spectrum per band ``[C]`` (0 for white noise)."""
    f, p = radial_power_spectrum(tiles)
    out = []
    for band in p:
        ok = band > 0
        out.append(np.polyfit(np.log(f[ok]), np.log(band[ok]), 1)[0] if ok.sum() >= 2 else np.nan)
    return np.array(out)


def equivalent_number_of_looks(db_tiles: Any, window: int = 8) -> np.ndarray:
    """Equivalent number of looks ``[C]`` of dB tiles ``[N, 2, H, W]``: median ``mean^2 / var`` over windows."""
    a = _as_array(db_tiles, "db_tiles", (4,))
    n, c, h, w = a.shape
    if h < window or w < window:
        raise ValueError(f"equivalent_number_of_looks: tiles of {h}x{w} px are smaller than window={window}")
    lin = 10.0 ** (a[:, :, : h // window * window, : w // window * window] / 10.0)
    blocks = lin.reshape(n, c, h // window, window, w // window, window)
    enl = blocks.mean(axis=(3, 5)) ** 2 / np.maximum(blocks.var(axis=(3, 5), ddof=1), 1e-30)
    return np.median(enl.transpose(1, 0, 2, 3).reshape(c, -1), axis=1)


def speckle_autocorrelation(vv_db: Any, lag: int, window: int = 15) -> float:
    """Autocorrelation at ``lag`` rows of the speckle (intensity over its local mean) of one dB image ``[H, W]``."""
    from scipy.ndimage import uniform_filter
    a = _as_array(vv_db, "vv_db", (2,))
    if not (isinstance(lag, (int, np.integer)) and 1 <= lag < a.shape[0]):
        raise ValueError(f"speckle_autocorrelation: lag must be a whole number in [1, {a.shape[0] - 1}], got {lag!r}")
    if window < 3 or window % 2 == 0:
        raise ValueError(f"speckle_autocorrelation: window must be odd and >= 3, got {window}")
    lin = 10.0 ** (a / 10.0)
    ratio = lin / uniform_filter(lin, window, mode="reflect")
    z = ratio - ratio.mean()
    return float((z[lag:] * z[:-lag]).mean() / (z * z).mean())


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation over the last two axes of ``[N, H, W]`` arrays, per tile ``[N]``."""
    x, y = x - x.mean(axis=(1, 2), keepdims=True), y - y.mean(axis=(1, 2), keepdims=True)
    den = np.sqrt((x * x).sum(axis=(1, 2)) * (y * y).sum(axis=(1, 2)))
    return (x * y).sum(axis=(1, 2)) / np.maximum(den, 1e-12)


def cross_statistics(s1: Any, s2: Any) -> dict[str, float]:
    """Radar-optical relations of ``s1`` ``[N, 2, H, W]`` dB and ``s2`` ``[N, 12, H, W]``: per-tile correlations."""
    a, b = _as_array(s1, "s1", (4,)), _as_array(s2, "s2", (4,))
    if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"cross_statistics: s1 {a.shape} and s2 {b.shape} are not the same tiles")
    nir, red, swir = b[:, S2_INDEX["B8"]], b[:, S2_INDEX["B4"]], b[:, S2_INDEX["B11"]]
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    vv, vh = a[:, 0], a[:, 1]
    tile_vh, tile_ndvi = vh.mean(axis=(1, 2)), ndvi.mean(axis=(1, 2))
    tile_corr = float(np.corrcoef(tile_vh, tile_ndvi)[0, 1]) if len(tile_vh) > 2 else float("nan")
    return {"corr(VV,VH)": float(_corr(vv, vh).mean()), "corr(VH,NDVI)": float(_corr(vh, ndvi).mean()),
            "corr(VV,NIR)": float(_corr(vv, nir).mean()), "corr(VH,SWIR)": float(_corr(vh, swir).mean()),
            "VV-VH dB": float((vv - vh).mean()), "tile corr(VH,NDVI)": tile_corr}


def tile_features(s1: Any, s2: Any) -> np.ndarray:
    """Per-tile features ``[N, 57]``: per band (log reflectance) mean, std, mean abs gradients; VV-VH correlation."""
    a = _as_array(s1, "s1", (4,))
    b = np.log(np.maximum(_as_array(s2, "s2", (4,)), 1e-4))
    feats = []
    for x in (a, b):
        gradients = [np.abs(np.diff(x, axis=axis)).mean(axis=(2, 3)) for axis in (2, 3)]
        feats += [x.mean(axis=(2, 3)), x.std(axis=(2, 3)), *gradients]
    feats.append(_corr(a[:, 0], a[:, 1])[:, None])
    return np.concatenate(feats, axis=1)


def domain_classifier_accuracy(real: np.ndarray, simulated: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy telling balanced real from simulated features ``[N, F]`` (0.5: alike)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    r, s = _as_array(real, "real", (2,)), _as_array(simulated, "simulated", (2,))
    if r.shape[1] != s.shape[1]:
        raise ValueError(f"domain_classifier_accuracy: {r.shape[1]} real vs {s.shape[1]} simulated features")
    n = min(len(r), len(s))
    if n < folds:
        raise ValueError(f"domain_classifier_accuracy: expected at least {folds} tiles per domain, got {n}")
    rng = np.random.default_rng(seed)
    r, s = r[rng.permutation(len(r))[:n]], s[rng.permutation(len(s))[:n]]
    x, y = np.concatenate([r, s]), np.r_[np.ones(n), np.zeros(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return float(cross_val_score(clf, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed)).mean())
