"""Unit checks: Sentinel-2 reflectance (about 0 to 1.5) and Sentinel-1 dB, naming the usual mistakes and fixes."""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from xmodal_lab.errors import UnitsError, UnitsWarning

S2_MAX_REFLECTANCE = 1.5  # bright clouds and fresh snow reach ~1.2-1.5
S2_MAX_DN = 30000.0  # above this, not even digital numbers (1.5 x 10000 = 15000)
S2_OFFSET_FLOOR = 0.09  # darkest plausible reflectance (water, shadow) without the baseline-04.00 offset
S2_MAX_PERCENT = 150.0  # largest 99th percentile of reflectance in percent (bright clouds)
_SAMPLE = 65536
_DN_FIX = ("look like Sentinel-2 L2A digital numbers (reflectance x 10000), not reflectance; divide by 10000 "
           "(PairedRasterDataset: s2_scale='auto' or s2_scale=1e-4, a multiplier)")
_PERCENT_FIX = ("look like reflectance in percent (0 to 100), not reflectance (0 to 1) nor digital numbers "
                "(0 to 10000); divide by 100 (PairedRasterDataset: s2_scale=0.01)")


def _sample(x: Any) -> tuple[np.ndarray, np.dtype]:
    """Up to ``_SAMPLE`` finite values of ``x`` as float64, and the dtype ``x`` came in."""
    if isinstance(x, torch.Tensor):
        dtype = np.dtype("float32" if x.dtype == torch.bfloat16 else str(x.dtype).removeprefix("torch."))
        flat = x.detach().reshape(-1)
        values = flat[:: max(1, flat.numel() // _SAMPLE)].cpu().double().numpy()
    else:
        flat = np.asarray(x).reshape(-1)
        dtype, values = flat.dtype, flat[:: max(1, flat.size // _SAMPLE)].astype(np.float64)
    return values[np.isfinite(values)], dtype


def _report(problems: list[str], strict: bool) -> list[str]:
    """Warn (or, when ``strict``, raise) once per problem."""
    for message in problems:
        if strict:
            raise UnitsError(message)
        warnings.warn(message, UnitsWarning, stacklevel=3)  # the caller of check_*
    return problems


def s2_problems(x: Any, where: str = "s2", offset: bool = False) -> list[str]:
    """What looks wrong with ``x [..., C, H, W]`` as S2 reflectance; ``offset``: also the baseline-04.00 offset."""
    values, dtype = _sample(x)
    if values.size == 0:
        return []
    median, top = float(np.median(values)), float(np.percentile(values, 99))
    if dtype == np.uint8 and top > 2:
        return [f"{where}: 8-bit values (uint8, median {median:.0f}) cannot hold L2A digital numbers (0 to 10000): "
                "an 8-bit rendering (0 to 255) is not reflectance; read the L2A product (uint16), or pass "
                "s2_scale=0.01 if the values are reflectance in percent"]
    if np.issubdtype(dtype, np.integer) and top > 2:
        fix = _PERCENT_FIX if top <= S2_MAX_PERCENT else _DN_FIX
        return [f"{where}: integer values ({dtype}, median {median:.0f}) {fix}"]
    if median > S2_MAX_DN:
        return [f"{where}: values far above {S2_MAX_REFLECTANCE} (median {median:.3g}) are neither reflectance nor "
                "digital numbers: reflectance multiplied by 10000 instead of divided? s2_scale is a multiplier: "
                "pass s2_scale=1e-4 (or 'auto') for digital numbers, nothing for reflectance"]
    if median > S2_MAX_REFLECTANCE and top <= S2_MAX_PERCENT:
        return [f"{where}: values between 0 and {top:.3g} (median {median:.3g}) {_PERCENT_FIX}"]
    if median > S2_MAX_REFLECTANCE:
        return [f"{where}: values far above {S2_MAX_REFLECTANCE} (median {median:.4g}) {_DN_FIX}"]
    if S2_MAX_PERCENT * 1e-4 / 30 < top < 0.005:  # percent read as digital numbers: 35 % -> 0.0035
        return [f"{where}: reflectance this dark (99th percentile {top:.2g}) looks like reflectance in percent "
                "divided by 10000 as if it were digital numbers; divide percent by 100 only "
                "(PairedRasterDataset: s2_scale=0.01)"]
    if 0 < top < 0.005:
        return [f"{where}: reflectance this dark (99th percentile {top:.2g}) looks scaled twice (digital numbers "
                "divided by 10000 two times); divide by 10000 only once (s2_scale=1.0 for files already in "
                "reflectance)"]
    if not offset or np.ndim(x) < 3:
        return []
    arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
    bands = arr.reshape(-1, *arr.shape[-3:]).transpose(1, 0, 2, 3).reshape(arr.shape[-3], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bands
        floors = np.nanpercentile(bands, 0.5, axis=1)
    if np.isfinite(floors).all() and floors.min() >= S2_OFFSET_FLOOR and median < 0.35:
        return [f"{where}: even the darkest pixels have reflectance >= {floors.min():.3f} in every band, as in L2A "
                "products of processing baseline 04.00 and later read without their offset (BOA_ADD_OFFSET -1000); "
                "pass s2_offset=-0.1 if this is such a product"]
    return []


def s1_problems(x: Any, where: str = "s1") -> list[str]:
    """What looks wrong with radar ``x`` ``[..., 2, H, W]`` as backscatter in dB: one message per problem."""
    values, _ = _sample(x)
    if values.size == 0:
        return []
    median = float(np.median(values))
    unit_interval = float(((values > 0) & (values <= 1)).mean())
    if median < -100:
        return [f"{where}: values around {median:.0f} look like dB x 100 (e.g. -1605 for -16.05 dB), not dB; "
                "divide by 100"]
    if unit_interval >= 0.9 and (values >= 0).all():
        return [f"{where}: values in (0, 1] (median {median:.3g}, none negative) look like linear power, not dB; "
                "convert with 10*log10(x) (PairedRasterDataset: s1_units='linear')"]
    if median > 30:
        return [f"{where}: values around {median:.3g} are far above +10 dB: amplitude or digital numbers, not "
                "backscatter in dB; calibrate to sigma0 and convert with 10*log10(power)"]
    return []


def check_s2(x: Any, where: str = "s2", strict: bool = False, offset: bool = False) -> list[str]:
    """Warn (or, when ``strict``, raise :class:`~xmodal_lab.errors.UnitsError`) when ``x`` is not reflectance."""
    return _report(s2_problems(x, where, offset), strict)


def check_s1(x: Any, where: str = "s1", strict: bool = False) -> list[str]:
    """Warn (or raise) when radar ``x`` does not look like backscatter in dB (see :func:`check_s2`)."""
    return _report(s1_problems(x, where), strict)


def check_pair(pair: Mapping[str, Any], where: str = "", strict: bool = False) -> list[str]:
    """:func:`check_s1` and :func:`check_s2` on a pair dict or batch (``where="fit"`` names ``fit['s2']``)."""
    problems = []
    for key, find in (("s1", s1_problems), ("s2", s2_problems)):
        if pair.get(key) is not None:
            problems += find(pair[key], f"{where}[{key!r}]" if where else key)
    return _report(problems, strict)


def first_item(data: Any) -> Any:
    """``data[0]`` without moving any random-number generator (a random transform must not shift a run)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            return data[0]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
