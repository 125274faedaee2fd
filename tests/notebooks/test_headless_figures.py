"""Figures survive a headless run: under MPLBACKEND=Agg (nbmake, CI) executed notebooks keep their images.

Two checks. A static one over the curriculum: no code cell hands a figure to ``plt.show()``, which under Agg
shows nothing (notebook 03 once lost every figure that way); figure cells end with the figure, or call
``display(fig)`` inside a loop. A live one: a small notebook, run by nbclient under Agg exactly as nbmake runs
the curriculum, must come back with one PNG per figure, each exactly once.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _code(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_relies_on_plt_show(path):
    bad = [i for i, src in _code(path) if re.search(r"\bplt\.show\(\s*\)", src)]
    assert not bad, (
        f"{path.name}: cells {bad} call plt.show(), which draws nothing in a headless run (MPLBACKEND=Agg); "
        "end the cell with the figure (fig) or call display(fig) in a loop"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_made_with_pyplot_are_displayed(path):
    """A cell that makes a figure with plt.subplots / xl.viz.grid must end with it or display it."""
    for i, src in _code(path):
        made = re.search(r"^\s*(\w+)\s*,\s*\w+\s*=\s*(?:plt\.subplots|xl\.viz\.grid)\(", src, re.M)
        if made:
            name = made.group(1)
            last = src.strip().splitlines()[-1].strip()
            assert last == name or f"display({name})" in src, (
                f"{path.name} cell {i}: the figure {name!r} is never displayed; end the cell with {name}"
            )


PROBE = [
    "import numpy as np\nimport xmodal_lab as xl",
    "fig, axes = xl.viz.grid(1, 2)\naxes[0, 0].plot([0, 1])\nfig",
    "for k in range(2):\n    fig = xl.viz.plot_similarity_matrix(np.eye(3) * k)\n    display(fig)",
    "xl.viz.plot_history({'step': [1, 2, 3], 'loss': [3.0, 2.0, 1.0], 'lr': [1, 1, 1], 'val': []})",
    "print('no figure here')",
]


def test_a_headless_notebook_keeps_one_image_per_figure(tmp_path):
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in PROBE])
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    client = NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    old = os.environ.copy()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    images = []
    for cell in book.cells:
        pngs = [o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
        images.append(len(pngs))
        for png in pngs:
            assert base64.b64decode(png)[:4] == b"\x89PNG"
    assert images == [0, 1, 2, 1, 0], f"PNG outputs per cell: {images}"
