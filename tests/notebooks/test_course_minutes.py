"""A course that fits its day: each lesson's core path under an hour, the core course within a school day.

A lesson's core minutes are the "(N min)" of its "## " section headings, leaving out the sections headed
"Going further", "optional", "online" or "appendix"; its stated time is the "time to learn" of its introduction.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lesson_cells import cells, source

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {p.stem: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
INSTRUCTORS = (ROOT / "notebooks" / "INSTRUCTORS.md").read_text()
PROJECTS = (
    "07_group_projects"  # teams pick one project: its sections are alternatives, and it has its own day
)
NOT_CORE = re.compile(r"going further|optional|online|appendix", re.IGNORECASE)
MINUTES = re.compile(r"\((\d+) min")
STATED = re.compile(r"time to learn\*\*:.*?;\s*(\d+) (minutes|hours)")


def sections(path: Path) -> list[tuple[str, int]]:
    """``(heading, minutes)`` of every ``## `` heading that states its minutes."""
    out = []
    for cell in cells(path):
        if cell["cell_type"] == "markdown":
            for line in source(cell).splitlines():
                if line.startswith("## ") and (m := MINUTES.search(line)):
                    out.append((line, int(m.group(1))))
    return out


def core_minutes(path: Path) -> int:
    return sum(minutes for heading, minutes in sections(path) if not NOT_CORE.search(heading))


def stated_minutes(path: Path) -> int:
    m = STATED.search(next(source(c) for c in cells(path) if "time to learn" in source(c)))
    assert m, f"{path.name}: no 'time to learn**: ...; N minutes' in its introduction"
    return int(m.group(1)) * (60 if m.group(2) == "hours" else 1)


def hours(text: str) -> int:
    h, m = re.fullmatch(r"(\d+) h (\d+)", text).groups()
    return 60 * int(h) + int(m)


def test_the_rules_read_the_headings():
    assert MINUTES.search("## 4. Training (5 min in fast mode)").group(1) == "5"
    assert NOT_CORE.search("## Going further (optional, 5 min): seeds")
    assert NOT_CORE.search("## Appendix: a real course place (online, 5 min)")
    assert not NOT_CORE.search("## 6. Clouds: where radar carries the signal (10 min)")
    assert hours("6 h 20") == 380


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n != PROJECTS])
def test_a_lesson_core_path_fits_an_hour_and_its_stated_time(name):
    core, stated = core_minutes(NOTEBOOKS[name]), stated_minutes(NOTEBOOKS[name])
    assert 0 < core <= 60, f"{name}: core sections add up to {core} min; move extras to 'Going further'"
    assert core <= stated <= 60, f"{name}: its introduction states {stated} min, its core sections {core} min"


def test_each_group_project_fits_an_hour():
    projects = sections(NOTEBOOKS[PROJECTS])
    assert len(projects) >= 3 and all(minutes <= 60 for _, minutes in projects), projects


def test_extras_come_after_the_core_sections():
    for name, path in NOTEBOOKS.items():
        extra = [bool(NOT_CORE.search(heading)) for heading, _ in sections(path)]
        assert extra == sorted(extra), f"{name}: a core section after an optional one: {sections(path)}"


def test_instructors_table_states_the_lessons_times():
    for name, path in NOTEBOOKS.items():
        row = re.search(rf"^\| `{name}` \| (\d+) (min|h) \|", INSTRUCTORS, re.MULTILINE)
        assert row, f"INSTRUCTORS.md has no row for {name}"
        table = int(row.group(1)) * (60 if row.group(2) == "h" else 1)
        assert table == stated_minutes(path), (
            f"{name}: INSTRUCTORS.md says {table} min, the lesson {stated_minutes(path)}"
        )


def test_the_core_course_fits_the_school_day_stated_for_instructors():
    m = re.search(
        r"(\d+ h \d+) of lessons, which fits the (\d+ h \d+) of teaching\s+a school day holds", INSTRUCTORS
    )
    assert m, "INSTRUCTORS.md states the core course's time and the school day's"
    total, day = hours(m.group(1)), hours(m.group(2))
    lessons = [p for n, p in NOTEBOOKS.items() if n != PROJECTS]
    assert total == sum(stated_minutes(p) for p in lessons), (
        "the core course's time is the lessons' times summed"
    )
    assert sum(core_minutes(p) for p in lessons) <= total <= day <= 7 * 60
