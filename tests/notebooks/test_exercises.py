"""Every lesson has checked exercises, and a student copy with unsolved exercises still runs to the end."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
from lesson_cells import cells, checker_calls, code_tree, tagged

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MIN_EXERCISES = 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_at_least_two_checked_exercises(path):
    book = cells(path)
    exercises = [i for i, c in enumerate(book) if c["cell_type"] == "code" and tagged(c, "exercise")]
    assert len(exercises) >= MIN_EXERCISES, (
        f"{path.name}: {len(exercises)} exercises, want >= {MIN_EXERCISES}"
    )
    for n, i in enumerate(exercises):
        end = exercises[n + 1] if n + 1 < len(exercises) else len(book)
        checked = [j for j in range(i + 1, end) if book[j]["cell_type"] == "code" and checker_calls(book[j])]
        assert checked, (
            f"{path.name} cell {i}: exercise without a check cell "
            "(`answer = xl.lesson.check_exercise(...)` or `check_answer(...)` before the next exercise)"
        )
        assert not tagged(book[checked[0]], "solution"), (
            f"{path.name} cell {checked[0]}: a check is not a solution"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_stubs_run_without_error(path):
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "code" and tagged(cell, "exercise"):
            top = code_tree(cell).body
            raising = [s for s in top if isinstance(s, ast.Raise)]
            assert not raising, (
                f"{path.name} cell {i}: a stub must not raise when run; raise NotImplementedError inside the "
                "function, or leave the answer as `...`, so that Run All continues"
            )


@pytest.mark.parametrize("name", ["00_welcome.ipynb", "01_sar_and_optical.ipynb"])
def test_student_copy_runs_to_the_end(name, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    book = nbformat.reads((ROOT / "notebooks" / "student" / name).read_text(), as_version=4)
    env = {"XMODAL_FAST": "1", "MPLBACKEND": "Agg"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = nbclient.NotebookClient(
            book,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(ROOT / "notebooks")}},
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    printed = json.dumps([c.get("outputs", []) for c in book.cells])
    assert "is not solved yet" in printed, (
        f"{name}: the student copy should say it fell back to the kit's answer"
    )
