"""Change events for time series of the simulated world: deforestation, flood and construction.

An event happens at one place of a scene on one date. Deforestation and construction are permanent (a
construction site is bare soil for its first weeks, then buildings and streets); a flood covers low land
with turbid water for a few weeks and then recedes. Event geometry is drawn from its own generator, so it
is the same on every date and every grid of the scene.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from xmodal_lab.data import landcover as lc
from xmodal_lab.data.scene import Scene

EVENTS: tuple[str, ...] = ("deforestation", "flood", "construction")
#: Days a flood stays before the water recedes.
FLOOD_DAYS = 30
#: Days a construction site stays bare before buildings appear.
SITE_DAYS = 60


def event_plan(place, event: str | None, first: dt.date, last: dt.date, allowed: tuple[str, ...],
               rng: np.random.Generator) -> tuple[str, dt.date]:  # fmt: skip
    """Choose the event kind and date of a time series.

    Args:
        place: the scene's :class:`~xmodal_lab.data.world.Place` (unused beyond its biome's ``allowed``).
        event: ``"auto"``, an event name, or ``None``.
        first: first date of the series.
        last: last date of the series.
        allowed: events that suit the biome (``"auto"`` draws from them; none means no event).
        rng: generator of the scene's event.

    Returns:
        ``(kind, date)``; kind ``"none"`` when no event happens. Deforestation and construction happen
        30-70 % of the way from ``first`` to ``last``; a flood within its last ``FLOOD_DAYS`` (but after
        ``first``), so that the last date shows the water.
    """
    u = rng.random(2)
    if event == "auto":
        kind = allowed[int(u[0] * len(allowed))] if allowed else "none"
    elif event is None or event == "none":
        kind = "none"
    elif event in EVENTS:
        kind = event
    else:
        raise ValueError(f"event: expected 'auto', None or one of {EVENTS}, got {event!r}")
    span = (last - first).days
    if kind == "flood":
        back = min(int(u[1] * (FLOOD_DAYS - 1)), max(span - 1, 0))
        return kind, last - dt.timedelta(days=back)
    return kind, first + dt.timedelta(days=int(round((0.3 + 0.4 * u[1]) * span)))


def apply_event(scene: Scene, kind: str, start: dt.date, date: dt.date, rng: np.random.Generator) -> bool:
    """Paint the event onto ``scene`` if it is under way on ``date``.

    Args:
        scene: the painted scene.
        kind: an entry of :data:`EVENTS`, or ``"none"``.
        start: the event date.
        date: the acquisition date.
        rng: generator of the event geometry (same seed on every date).

    Returns:
        Whether the event shows on ``date``.
    """
    if kind == "none":
        return False
    if kind not in EVENTS:
        raise ValueError(f"event: expected one of {EVENTS}, got {kind!r}")
    u = rng.random(6)
    half = scene.extent / 2
    cx, cy = (2 * u[0] - 1) * 0.4 * half, (2 * u[1] - 1) * 0.4 * half
    days = (date - start).days
    if days < 0:
        return False
    if kind == "deforestation":
        forest = scene.is_any((lc.BROADLEAF, lc.CONIFER, lc.TROPICAL))
        cut = _patch(scene, forest, scene.extent * (0.15 + 0.15 * u[2]), "event-cut", cx, cy)
        scene.paint(cut, lc.SOIL, 0.0)
        return True
    if kind == "flood":
        if days > FLOOD_DAYS:
            return False
        dry = ~scene.is_any((lc.DEEP_WATER, lc.RIVER, lc.BUILDINGS, lc.ROAD))
        lowland = _patch(scene, dry, scene.extent * (0.25 + 0.2 * u[2]), "event-flood", cx, cy, roughness=0.5)
        scene.paint(lowland & dry, lc.RIVER)
        scene.wind = np.where(lowland & dry, -1.5, scene.wind)  # sheltered flood water is smooth
        return True
    # construction: a rectangular site; bare at first, then blocks and streets
    theta = np.pi * u[3]
    side = scene.extent * (0.2 + 0.15 * u[2])
    uu, vv = scene.rotated(theta, cx, cy)
    site = (np.abs(uu) < side / 2) & (np.abs(vv) < side * (0.3 + 0.3 * u[4]))
    site &= ~scene.is_any((lc.DEEP_WATER, lc.RIVER))
    if days < SITE_DAYS:
        scene.paint(site, lc.SITE, 0.0)
        return True
    street = (np.abs((uu % 40.0) - 20.0) > 15.0) | (np.abs((vv % 50.0) - 25.0) > 20.0)
    scene.paint(site & ~street, lc.BUILDINGS)
    scene.paint(site & street, lc.ROAD)
    return True


def _patch(scene: Scene, eligible: np.ndarray, radius: float, tag: str, cx: float, cy: float,
           roughness: float = 0.35) -> np.ndarray:  # fmt: skip
    """A blob around (cx, cy) restricted to ``eligible`` pixels.

    If the blob misses them (a flood planned over the sea), it moves to the middle of the eligible pixels.
    """
    patch = scene.blob(radius, tag, cx, cy, roughness) & eligible
    if patch.mean() < 0.02 and eligible.any():
        rows, cols = np.nonzero(eligible)
        k = len(rows) // 2
        patch = (
            scene.blob(radius, tag, float(scene.x[cols[k]]), float(scene.y[rows[k]]), roughness) & eligible
        )
    return patch
