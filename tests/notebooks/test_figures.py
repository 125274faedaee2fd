"""The figure check that every notebook kernel of the test run loads (``xmodal_lab.viz.lesson_figures``).

The root ``conftest.py`` gives nbmake's kernels an IPython profile that loads the check, so running the
curriculum (``make test``, ``make test-notebooks``) fails any cell that shows an empty, saturated, doubled or text-only figure, at
no extra cost. These tests make sure the check can fail: deliberately bad figures, judged directly and
inside a real kernel under both the headless (``Agg``) and the Jupyter inline backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from xmodal_lab.viz import lesson_figures as lf  # noqa: E402


def _figure(*images, **imshow):
    fig = Figure(figsize=(2 * max(1, len(images)), 2))
    for k, image in enumerate(images):
        fig.add_subplot(1, len(images), k + 1).imshow(image, **imshow)
    return fig


def test_a_readable_figure_has_no_problem():
    rng = np.random.default_rng(0)
    fig = _figure(rng.normal(size=(16, 16)), rng.uniform(size=(16, 16, 3)))
    fig.axes[0].set_title("noise")
    assert lf.figure_problems(fig) == []


def test_a_binary_mask_at_its_limits_is_not_saturated():
    mask = np.zeros((16, 16))
    mask[:, :10] = 1  # 62 % of the pixels at vmax: the top of the range, not beyond it
    assert lf.figure_problems(_figure(mask, cmap="gray", vmin=0, vmax=1)) == []
    norm = BoundaryNorm([-0.5, 0.5, 1.5], 2)  # categorical maps have no clip value
    assert lf.figure_problems(_figure(mask, cmap=ListedColormap(["b", "g"]), norm=norm)) == []


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: Figure(), "no axes holds data"),
        (lambda: _with_empty_axes(), "no axes holds data"),
        (lambda: _figure(np.linspace(-30, 10, 256).reshape(16, 16), vmin=-25, vmax=-20), "saturated"),
        (lambda: _figure(np.full((16, 16, 3), 1.0)), "saturated"),
        (lambda: _figure(np.where(np.arange(256).reshape(16, 16, 1) < 128, 255, 40).repeat(3, 2).astype(np.uint8)),
         "saturated"),
        (lambda: _one_colour(), "one colour"),
    ],
    ids=["no-axes", "empty-axes", "scalar-beyond-limits", "float-rgb-white", "uint8-rgb-white", "one-colour"],
)  # fmt: skip
def test_bad_figures_are_named(make, words):
    problems = lf.figure_problems(make())
    assert any(words in p for p in problems), problems


def _with_empty_axes():
    fig = Figure()
    fig.add_subplot().set_title("nothing drawn")
    return fig


def _one_colour():
    fig = Figure(facecolor="black")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.zeros((4, 4)), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    return fig


def test_the_radar_legend_names_the_channels_and_colours_typical_materials():
    key = dict(lf.radar_key())
    assert key["water"].astype(int).sum() < key["urban"].astype(int).sum()  # dark water, bright towns
    assert key["forest"][2] < key["bare soil / sand"][2]  # forest: low VV/VH ratio (volume scattering)
    assert key["forest"][1] > key["bare soil / sand"][1]  # and strong VH
    fig = plt.figure(layout="constrained")
    fig.add_subplot().plot([0, 1])
    legend = lf.radar_legend(fig)
    title = legend.get_title().get_text()
    assert "R = VV" in title and "G = VH" in title and "B = VV/VH" in title and "dB" in title
    assert [t.get_text() for t in legend.get_texts()] == [name for name, _ in lf.radar_key()]
    plt.close(fig)


def test_cell_outlines_follow_cell_edges():
    fig = plt.figure()
    ax = fig.add_subplot()
    one = np.zeros((3, 3), dtype=bool)
    one[1, 1] = True  # the centre tile of a 3 x 3 grid: a square, not a diamond
    segments = lf.outline_cells(ax, one, (0, 30, 0, 30), "g").get_segments()
    assert sorted(map(tuple, np.round(np.concatenate(segments)).astype(int).tolist())) == sorted(
        [(10, 20), (20, 20), (10, 10), (20, 10), (10, 10), (10, 20), (20, 10), (20, 20)]
    )
    block = np.zeros((3, 3), dtype=bool)
    block[:2, :2] = True  # four cells: only the 8 outer edges, every one horizontal or vertical
    segments = lf.outline_cells(ax, block, (0, 3, 0, 3), "g").get_segments()
    assert len(segments) == 8
    assert all(s[0, 0] == s[1, 0] or s[0, 1] == s[1, 1] for s in segments)
    sim = np.array([[0.1, 0.2, 0.1], [0.3, 0.9, 0.2], [np.nan, 0.1, 0.0]])
    ax.imshow(sim, extent=(0, 30, 0, 30), gid="similarity")
    ax.contour(sim >= 0.5, levels=[0.5], extent=(0, 30, 0, 30), origin="upper")  # the diamond
    lines = lf.outline_selection(ax, 0.5)
    assert not [c for c in ax.collections if type(c).__name__ == "QuadContourSet"]
    assert len(lines.get_segments()) == 4
    ax.set(xlim=(502_000, 507_000), ylim=(4_311_000, 4_315_000), xlabel="easting (m, EPSG:32629)")
    lf.km_axes(ax)
    fig.canvas.draw()
    ticks = [float(t.get_text()) for t in ax.get_xticklabels()]  # kilometres, a few of them, no 1e6 offset
    assert len(ticks) <= 5 and all(500 <= v <= 510 for v in ticks) and "(km" in ax.get_xlabel()
    legend = lf.swatch_legend(fig, {"land": "tan", "water": "blue"}, lines={"cloud": {"ls": "--", "c": "w"}})
    assert [t.get_text() for t in legend.get_texts()] == ["land", "water", "cloud"]
    plt.close(fig)


# --- inside a kernel, as nbmake runs the curriculum ---------------------------------------------------------

CELLS = [  # (source, the words of the FigureProblem it must raise, or None)
    ("import matplotlib.pyplot as plt\nimport numpy as np", None),
    ("fig, ax = plt.subplots()\nax.plot([0, 1])\nfig", "figure 1"),  # pyplot figure returned: kept open
    ("import xmodal_lab as xl\nfig, axes = xl.viz.grid(1, 2)\naxes[0, 0].plot([0, 1])\nfig", None),
    ("for k in range(2):\n    fig, axes = xl.viz.grid(1, 1)\n    axes[0, 0].plot([0, k])\n    display(fig)", None),
    ("fig, axes = xl.viz.grid(1, 1)\naxes[0, 0].plot([0, 1])\ndisplay(fig)\nfig", "shown 2 times"),
    ("fig, axes = xl.viz.grid(1, 1)\naxes[0, 0].imshow(np.ones((8, 8, 3)))\nfig", "saturated"),
    ("fig, axes = xl.viz.grid(1, 1)\nfig", "no axes holds data"),
    ("fig, ax = plt.subplots()\nax.plot([0, 1]);", "never shown"),  # inline shows it; Agg loses it
    ("plt.close('all')\nprint('no figure here')", None),
]  # fmt: skip


@pytest.mark.parametrize(
    "backend", ["Agg", "module://matplotlib_inline.backend_inline"], ids=["agg", "inline"]
)
def test_the_kernel_check_fails_each_bad_cell_and_passes_the_good_ones(backend, tmp_path):
    from nbclient import NotebookClient

    assert os.environ.get("IPYTHONDIR"), "conftest.py should give kernels the figure-check profile"
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src, _ in CELLS])
    client = NotebookClient(book, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": tmp_path}})  # fmt: skip
    old = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = backend  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ["MPLBACKEND"] = old or "Agg"
    for (src, words), cell in zip(CELLS, book.cells):
        errors = [o for o in cell.outputs if o["output_type"] == "error"]
        if words == "never shown" and "inline" in backend:
            words = None
        if words is None:
            assert not errors, f"{src!r} should pass, got {[e['evalue'] for e in errors]}"
        else:
            assert [e["ename"] for e in errors] == ["FigureProblem"], (
                f"{src!r} should fail: {str(cell.outputs)[:300]}"
            )
            assert words in errors[0]["evalue"], errors[0]["evalue"]


def test_a_notebooks_only_run_checks_figures_too(tmp_path):
    """``pytest --nbmake notebooks`` reads only the root ``conftest.py``; its kernels must load the check as well."""
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1])\nfig")])  # fmt: skip
    nbformat.write(book, tmp_path / "bad.ipynb")
    env = {k: v for k, v in os.environ.items() if k not in ("IPYTHONDIR", "XMODAL_CHECK_FIGURES")}
    run = subprocess.run(  # -p conftest: the root conftest.py alone, as for a notebook under notebooks/
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q", "--nbmake",
         str(tmp_path / "bad.ipynb")], cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True,
        text=True, timeout=300)  # fmt: skip
    assert run.returncode == 1 and "FigureProblem" in run.stdout and "still open" in run.stdout, run.stdout[-2000:]
