"""What SkySense reads beside the pixels: dates, locations, and the flips/rotations of its views."""

from __future__ import annotations

import datetime as _dt

import torch
from torch import Tensor

from xmodal_lab.errors import InputTypeError, InputValueError

DAYS_IN_YEAR = 366  # rows of the day-of-year table (0 = 1 January)


def day_of_year(dates: object, n_images: int | None = None) -> Tensor:
    """Days of the year ``[B]`` or ``[B, T]`` (0 = 1 January) of ISO dates, lists of them, or day numbers."""

    def one(s: object) -> int:
        try:  # dates and datetimes print as ISO dates too
            return _dt.date.fromisoformat(str(s)[:10]).timetuple().tm_yday - 1
        except ValueError as err:
            raise ValueError(f"date: expected ISO dates like '2021-06-15', got {s!r}") from err

    if isinstance(dates, Tensor):
        out = dates.long()
    elif isinstance(dates, (str, _dt.date)):
        out = torch.tensor([one(dates)] * (n_images or 1))
    else:
        rows = [[one(d) for d in r] if isinstance(r, (list, tuple)) else one(r) for r in dates]
        out = torch.tensor(rows, dtype=torch.long)
    if out.numel() and (out.min() < 0 or out.max() >= DAYS_IN_YEAR):
        raise ValueError(f"date: days of the year must lie in [0, {DAYS_IN_YEAR - 1}], got {out.tolist()}")
    return out


def frame_days(x: dict[str, Tensor], date: object) -> dict[str, Tensor | None]:
    """Day of the year ``{m: [B, T_m]}`` of frames ``{m: [B, T_m, C, H, W]}`` (None without dates)."""
    if date is None:
        return dict.fromkeys(x)
    out = {}
    for name, v in x.items():
        b, t = v.shape[:2]
        d = day_of_year(date, b)
        if d.ndim == 1:
            d = d.reshape(b, 1).expand(b, t)
        if d.shape != (b, t):
            raise ValueError(f"date: expected {b} dates or {b} lists of {t} dates for {name}, got shape "
                             f"{tuple(d.shape)}")  # fmt: skip
        out[name] = d
    return out


def check_location(lat: object, lon: object) -> tuple[Tensor, Tensor]:
    """Latitudes in [-90, 90] and longitudes in [-180, 360) ``[B]`` (float64 degrees); others are refused."""
    out = []
    for name, value, lo, hi, closed in (("lat", lat, -90.0, 90.0, True), ("lon", lon, -180.0, 360.0, False)):
        try:
            t = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            raise InputTypeError(f"{name}: expected degrees (numbers, a list or a tensor), got {value!r}") from None
        inside = (t >= lo) & ((t <= hi) if closed else (t < hi))
        if not inside.all():  # NaN and infinity fall outside too
            bad = t[~inside][:5].tolist()
            interval = f"[{lo:g}, {hi:g}]" if closed else f"[{lo:g}, {hi:g})"
            raise InputValueError(f"{name}: expected finite degrees in {interval}, got {bad}; pass {name} in "
                                  "degrees (WGS84), or None for an unknown location")  # fmt: skip
        out.append(t)
    return out[0], out[1]


def geo_region(lat: Tensor, lon: Tensor, grid: tuple[int, int]) -> Tensor:
    """Region index ``[B]`` of each location (degrees) on a ``(lat bands, lon bands)`` grid, row-major."""
    n_lat, n_lon = grid
    lat = torch.as_tensor(lat, dtype=torch.float64).reshape(-1).clamp(-90.0, 90.0)
    lon = (torch.as_tensor(lon, dtype=torch.float64).reshape(-1) + 180.0) % 360.0 - 180.0
    i = ((lat + 90.0) / 180.0 * n_lat).floor().long().clamp(0, n_lat - 1)
    j = ((lon + 180.0) / 360.0 * n_lon).floor().long().clamp(0, n_lon - 1)
    return i * n_lon + j


def dihedral(x: Tensor, k: int) -> Tensor:
    """One of the 8 flips/rotations of ``x [..., H, W]``: flip columns if ``k >= 4``, rotate ``k % 4`` times."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def dihedral_inverse(x: Tensor, k: int) -> Tensor:
    """Undo :func:`dihedral` with the same ``k``: ``dihedral_inverse(dihedral(x, k), k) == x``."""
    x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def per_image(fn, x: Tensor, ks: Tensor) -> Tensor:
    """Apply ``fn(x_i, k_i)`` to each image of ``x [B, ...]`` with its own transform index ``ks [B]``."""
    return torch.stack([fn(xi, int(k)) for xi, k in zip(x, ks)])
