"""Every number a lesson's markdown quotes lies in the range its check cell asserts on the executed notebook.

A lesson writes a checked number as ``0.83<!--check:name-->`` and checks it where it is made with
``xl.lesson.expect("name", value, low, high)``; nbmake runs the check, this test compares the quote with the
range. A "what you should see" paragraph must quote at least one checked number, and every checked number is
quoted somewhere, so that no result goes uninterpreted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lesson_cells import SHOULD_SEE, cells, expectations, quotes, source

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Lessons that interpret results (00 only welcomes).
RESULT_LESSONS = [p for p in NOTEBOOKS if not p.name.startswith("00_")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_quoted_numbers_lie_in_their_checked_range(path):
    checks = expectations(path)
    for cell, number, name in quotes(path):
        assert name in checks, (
            f"{path.name} cell {cell}: quotes {number} as {name!r}, but no expect({name!r}, ...)"
        )
        e = checks[name]
        assert e.literal, (
            f"{path.name}: expect({name!r}, ...) needs literal bounds so that quotes can be checked"
        )
        assert (e.low is None or number >= e.low) and (e.high is None or number <= e.high), (
            f"{path.name} cell {cell}: the markdown quotes {name} = {number}, outside the range "
            f"[{e.low}, {e.high}] that cell {e.cell} asserts"
        )


@pytest.mark.parametrize("path", RESULT_LESSONS, ids=lambda p: p.name)
def test_results_are_interpreted_with_checked_numbers(path):
    checks = expectations(path)
    assert checks, (
        f"{path.name}: no xl.lesson.expect(...) check: a lesson's numbers must be checked where made"
    )
    quoted = {name for _, _, name in quotes(path)}
    unquoted = sorted(set(checks) - quoted)
    assert not unquoted, f"{path.name}: checked numbers never quoted in the markdown: {unquoted}"
    for i, cell in enumerate(cells(path)):
        text = source(cell)
        if cell["cell_type"] == "markdown" and SHOULD_SEE.search(text):
            assert "<!--check:" in text.replace(" ", ""), (
                f"{path.name} cell {i}: a 'what you should see' paragraph must quote a checked number"
            )
    assert any(c["cell_type"] == "markdown" and SHOULD_SEE.search(source(c)) for c in cells(path)), (
        f"{path.name}: no 'What you should see' paragraph"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_has_no_control_characters(path):
    """A LaTeX command written through a Python string (``"\\tau"``, ``"\\approx"``) becomes a tab or a bell."""
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "markdown":
            bad = sorted({repr(c) for c in source(cell) if (ord(c) < 32 and c != "\n") or c == "\x7f"})
            assert not bad, (
                f"{path.name} cell {i}: control characters {bad} in markdown (escape the backslash)"
            )
