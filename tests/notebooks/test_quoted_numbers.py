"""Every number a lesson's markdown quotes is checked, by a range that can fail, and by the run itself.

A lesson writes a checked number as ``0.83<!--check:name-->`` and checks it where it is made with
``xl.lesson.expect("name", value, low, high)``; its last code cell, ``xl.lesson.check_quotes(...)``, compares
every quote with the value the default run (fast mode, seed 0) printed, so nbmake fails on a stale quote. These
tests read the notebooks' JSON: quotes lie in their check's range, ranges are not vacuous, a "what you should
see" paragraph quotes at least one checked number, and every checked number is quoted somewhere.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from lesson_cells import SHOULD_SEE, cells, code_tree, expectations, quotes, source

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_last_code_cell_checks_the_quotes_of_this_notebook(path):
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    calls = [n for n in ast.walk(code_tree(code[-1])) if isinstance(n, ast.Call)]
    names = [n for n in calls if getattr(n.func, "attr", "") == "check_quotes"]
    assert names, f"{path.name}: the last code cell must be xl.lesson.check_quotes({path.name!r}, seed=SEED)"
    call = names[0]
    assert call.args and ast.literal_eval(call.args[0]) == path.name, (
        f"{path.name}: check_quotes must read this notebook's own file"
    )
    assert "seed" in {k.arg for k in call.keywords}, f"{path.name}: pass seed= so other seeds skip the quotes"
    # the lesson's introduction: its first markdown cell after the Colab badge and setup cells
    intro = next(
        source(c) for c in cells(path) if c["cell_type"] == "markdown" and "colab-badge" not in source(c)
    )
    assert "Numbers in the text" in intro and "fast mode" in intro, (
        f"{path.name}: the introduction must say that the quoted numbers are the fast-mode default run's"
    )


#: Natural bounds of the quantities lessons check, by name: a check that spans (nearly) all of them cannot fail.
#: Rates, accuracies, recalls, mAP, AUC, IoU, F1, shares and fractions lie in [0, 1]; cosines, correlations and
#: normalised differences (NDVI, NDWI) in [-1, 1].
NATURAL_BOUNDS = [
    (
        re.compile(
            r"recall|(^|_)r\d|(^|_)r1|acc|(^|_)m?ap(_|$)|(^|_)map|auc|(^|_)m?iou|(^|_)f1|share|fraction|"
            r"agreement|majority|chance|(^|_)p\d"
        ),
        0.0,
        1.0,
    ),
    (re.compile(r"(^|_)cos|corr|ndvi|ndwi"), -1.0, 1.0),
]
#: Names of derived quantities (differences, ratios, multiples of chance): no natural bounds.
DERIVED = re.compile(r"_x_|ratio|gain|change|_minus_|_over_|_vs_|gap|_sd|spread|std|_drop")
#: A range covering this share of the natural bounds (or more) is vacuous.
MAX_COVER = 0.75


def _vacuous(name, low, high):
    """Why a literal range cannot (or can hardly) fail, or "" when it can."""
    if low is None and high is None:
        return "no bound at all"
    if low is not None and low == high:
        return "a single value: a quantity true by construction is an assert, not a checked result"
    for pattern, lo, hi in NATURAL_BOUNDS:
        if pattern.search(name) and not DERIVED.search(name):
            a = lo if low is None else max(low, lo)
            b = hi if high is None else min(high, hi)
            if b - a >= MAX_COVER * (hi - lo) - 1e-9:
                return f"[{low}, {high}] covers {b - a:.2f} of the natural range [{lo}, {hi}]"
    return ""


@pytest.mark.parametrize(
    "name, low, high, vacuous",
    [
        ("recall5", 0.0, 1.0, True),
        ("r1_one_scene", 0.0, 0.8, True),
        ("r1_one_scene", 0.3, 0.8, False),
        ("r1_one_scene", None, 0.95, True),
        ("water_ndvi", -1.0, 0.0, False),
        ("water_ndvi", -1.0, 0.9, True),
        ("before_r1_x_chance", 0.0, 8.0, False),
        ("cloud_fraction", 0.05, 1.0, True),
        ("hf_energy_share", 0.05, 0.95, True),
        ("x", None, None, True),
        ("radar_change_db", 0.0, 0.0, True),
        ("loss_ratio", None, 0.45, False),
        ("map_s1", 0.63, 0.76, False),
    ],
)
def test_vacuous_range_rule(name, low, high, vacuous):
    assert bool(_vacuous(name, low, high)) == vacuous


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_check_has_a_vacuous_range(path):
    bad = {n: why for n, e in expectations(path).items() if e.literal and (why := _vacuous(n, e.low, e.high))}
    assert not bad, f"{path.name}: checks that cannot fail: {bad}"
