"""Read the lesson conventions out of a notebook's JSON: ``expect`` calls, quoted numbers, exercises."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from xmodal_lab.lesson.quotes import find_quotes

SHOULD_SEE = re.compile(r"what you should see", re.IGNORECASE)


@dataclass
class Expectation:
    cell: int
    low: float | None
    high: float | None
    literal: bool


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def code_tree(cell: dict) -> ast.Module:
    lines = [ln for ln in source(cell).splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _bound(node: ast.expr | None) -> tuple[float | None, bool]:
    if node is None:
        return None, True
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None, False
    return (None if value is None else float(value)), True


def expectations(path: Path) -> dict[str, Expectation]:
    """Every ``expect("name", value, low, high)`` call with a literal name."""
    found = {}
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(code_tree(cell)):
            if not (isinstance(node, ast.Call) and callee(node) == "expect" and node.args):
                continue
            name = node.args[0]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            low_node = node.args[2] if len(node.args) > 2 else kw.get("low")
            high_node = node.args[3] if len(node.args) > 3 else kw.get("high")
            low, ok_low = _bound(low_node)
            high, ok_high = _bound(high_node)
            found[name.value] = Expectation(i, low, high, ok_low and ok_high)
    return found


def quotes(path: Path) -> list[tuple[int, float, str]]:
    """Every ``number<!--check:name-->`` in the markdown: ``(cell, number, name)`` (``64%`` reads 0.64)."""
    out = []
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "markdown":
            out += [(i, q.number, q.name) for q in find_quotes(source(cell), i)]
    return out


def tagged(cell: dict, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def checker_calls(cell: dict) -> list[ast.Call]:
    """``x = ...check_exercise(...)`` / ``x = ...check_answer(...)`` calls whose result is kept."""
    calls = []
    for node in ast.walk(code_tree(cell)):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if callee(node.value) in ("check_exercise", "check_answer"):
                calls.append(node.value)
    return calls
