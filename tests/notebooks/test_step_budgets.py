"""No lesson trains by wall clock alone: every ``fit`` call of the curriculum gives ``max_steps``.

A run sized by ``max_minutes`` trains a different model on a busy Binder session than on a quiet laptop, and
the lesson's text then describes a result the student does not see. ``max_minutes`` may stay as a safety cap.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _fit_calls(path: Path) -> list[tuple[int, ast.Call]]:
    calls = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            func = node.func if isinstance(node, ast.Call) else None
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "fit"
                and ast.unparse(func.value).endswith("train")
            ):
                calls.append((i, node))
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_fit_gives_max_steps(path):
    for i, call in _fit_calls(path):
        keywords = {k.arg for k in call.keywords}
        assert "max_steps" in keywords, (
            f"{path.name} cell {i}: fit(...) without max_steps trains by wall clock; give a step budget per "
            "mode in the parameters cell (max_minutes only as a safety cap)"
        )


def test_the_check_finds_fit_calls():
    trained = [p for p in NOTEBOOKS if p.stem in ("02_contrastive_sar_optical", "04_croma")]
    assert all(_fit_calls(p) for p in trained), "the parser no longer sees the notebooks' fit calls"
