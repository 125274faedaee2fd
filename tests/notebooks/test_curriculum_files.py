"""Notebooks are committed clean, follow the template, and their student copies are current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALL = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
EXPECTED = [
    "00_welcome",
    "01_sar_and_optical",
    "02_contrastive_sar_optical",
    "03_scale_mae",
    "04_croma",
    "05_embeddings_on_maps",
    "06_segment_anything",
    "07_group_projects",
    "08_real_imagery",
    "09_downstream",
]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def test_the_curriculum_is_complete_and_numbered():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    dirty = [
        i
        for i, c in enumerate(_cells(path))
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them (nbstripout) before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_follows_the_template(path):
    cells = _cells(path)
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").lower()
    for heading in (
        "learning objectives",
        "prerequisites",
        "hardware",
        "summary",
        "what's next",
        "references",
    ):
        assert heading in text, f"{path.name}: no '{heading}' section"
    params = [c for c in cells if "parameters" in _tags(c)]
    assert len(params) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert "fast_mode()" in "".join(params[0]["source"]) or "FAST" in "".join(params[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_hidden_solution(path):
    cells = _cells(path)
    exercises = [i for i, c in enumerate(cells) if "exercise" in _tags(c)]
    for i in exercises:
        assert "NotImplementedError" in "".join(cells[i]["source"]), f"{path.name} cell {i}: stub must raise"
        nxt = cells[i + 1]
        assert "solution" in _tags(nxt), f"{path.name} cell {i}: an exercise is followed by its solution"
        assert nxt["metadata"].get("jupyter", {}).get("source_hidden"), "solutions start collapsed"


def test_student_copies_are_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_student_copies.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"run `make student-copies`:\n{result.stdout}{result.stderr}"


def test_student_copies_have_no_solutions():
    for path in sorted((ROOT / "notebooks" / "student").glob("*.ipynb")):
        assert not [c for c in _cells(path) if "solution" in _tags(c)], path.name
