"""Named real places for the lessons, small boxes (2-5 km) with the dates a lesson compares (see ``fetch.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Place:
    """A box (``((lon, lat), side_m)``), the dates to fetch by label, and what a lesson looks at there."""

    title: str
    where: tuple[tuple[float, float], float]
    dates: dict[str, tuple[str, str]]
    lesson: str
    max_cloud: float = 20.0
    notes: str = field(default="", compare=False)


#: The course's places; dry seasons and summers keep the optical scenes clear.
COURSE_PLACES: dict[str, Place] = {
    "rondonia": Place(
        "Deforestation front, Rondônia (Brazil)", ((-63.05, -9.95), 4000.0),
        {"before": ("2019-06-15", "2019-08-31"), "after": ("2023-06-15", "2023-08-31")},
        "04, 07: change between two dates; forest, pasture and fresh clearings",
        notes="dry season (June-August); fishbone clearings along the side roads of the BR-364 region",
    ),  # fmt: skip
    "sindh_flood": Place(
        "Indus flood, Sindh (Pakistan)", ((67.75, 26.70), 4000.0),
        {"before": ("2022-06-01", "2022-07-10"), "during": ("2022-08-25", "2022-09-20")},
        "06, 09: flood mapping; radar sees the water through monsoon clouds", max_cloud=60.0,
        notes="the 2022 monsoon flood west of the Indus near Dadu; optical scenes during it are often cloudy",
    ),  # fmt: skip
    "rotterdam_port": Place(
        "Port of Rotterdam, Maasvlakte (Netherlands)", ((4.03, 51.95), 3000.0),
        {"summer": ("2023-06-01", "2023-08-31")}, "05: embeddings on maps; quays, ships, containers and water",
    ),  # fmt: skip
    "pilat_coast": Place(
        "Dune du Pilat and the open Atlantic (France)", ((-1.22, 44.59), 3000.0),
        {"summer": ("2023-06-01", "2023-08-31")},
        "01, 05: sea, sand and pine forest; smooth water is dark to the radar",
    ),  # fmt: skip
    "kansas_farmland": Place(
        "Centre-pivot farmland, Finney County, Kansas (USA)", ((-100.75, 37.95), 4000.0),
        {"summer": ("2023-06-15", "2023-08-31")}, "02, 03: crop circles of different crops and growth stages",
    ),  # fmt: skip
}

__all__ = ["COURSE_PLACES", "Place"]
