"""Every lesson opens in Colab: a badge, then a setup cell that acts on Colab only and is silent elsewhere."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COLAB = "https://colab.research.google.com/github/xmodal-lab/xmodal_lab/blob/main/notebooks/"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _setup_source(path: Path) -> str:
    return "".join(_cells(path)[1]["source"])


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_lesson_starts_with_a_badge_and_the_setup_cell(path):
    badge, setup = _cells(path)[:2]
    assert badge["cell_type"] == "markdown" and setup["cell_type"] == "code"
    assert f"]({COLAB}{path.name})" in "".join(badge["source"]), f"{path.name}: no Colab badge to itself"
    source = "".join(setup["source"])
    assert 'if "google.colab" in sys.modules:' in source
    assert "scripts/colab_setup.py" in source


def test_the_first_cells_are_current():
    done = _run(
        "import sys; sys.path.insert(0, 'scripts'); import colab_cells; sys.exit(colab_cells.main(['--check']))",
        ROOT,
    )
    assert done.returncode == 0, f"run `python scripts/colab_cells.py`:\n{done.stdout}{done.stderr}"


def test_the_readme_lesson_table_has_a_colab_badge_per_lesson():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{path.name}`")), None)
        assert row is not None, f"README: no lesson row for {path.name}"
        assert f"({COLAB}{path.name})" in row, f"README: the row of {path.name} has no Colab badge"


def test_student_copies_keep_the_cells_and_open_themselves_in_colab():
    for path in NOTEBOOKS:
        cells = _cells(ROOT / "notebooks" / "student" / path.name)
        ids = [c.get("id") for c in cells[:3]]
        assert ids == ["student-banner", "colab-badge", "colab-setup"], (path.name, ids)
        assert f"{COLAB}student/{path.name})" in "".join(cells[1]["source"])
        assert "".join(cells[2]["source"]) == _setup_source(path)


NO_OP = """
import os, sys
cell = {cell!r}
before = (set(sys.modules), dict(os.environ), list(sys.path), os.getcwd())
exec(compile(cell, "cell", "exec"), {{}})
after = (set(sys.modules), dict(os.environ), list(sys.path), os.getcwd())
assert after[0] == before[0], sorted(after[0] - before[0])
assert after[1:] == before[1:], "the cell changed the environment, sys.path or the folder"
"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_setup_cell_does_nothing_outside_colab(path, tmp_path):
    done = _run(NO_OP.format(cell=_setup_source(path)), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", "the cell must print nothing outside Colab"
    assert list(tmp_path.iterdir()) == []


ON_COLAB = """
import json, runpy, subprocess, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
calls = []
subprocess.run = lambda *a, **k: calls.append(["run", *a])
runpy.run_path = lambda *a, **k: calls.append(["run_path", *a, k])
exec(compile({cell!r}, "cell", "exec"), {{}})
print(json.dumps(calls))
"""


@pytest.mark.skipif(Path("/content/xmodal_lab").exists(), reason="a Colab clone exists on this machine")
def test_on_colab_the_cell_clones_then_runs_the_setup(tmp_path):
    done = _run(ON_COLAB.format(cell=_setup_source(NOTEBOOKS[0])), tmp_path)
    assert done.returncode == 0, done.stderr
    clone, setup = json.loads(done.stdout)
    assert clone[0] == "run" and clone[1][:2] == ["git", "clone"]
    assert clone[1][-2:] == ["https://github.com/xmodal-lab/xmodal_lab", "/content/xmodal_lab"]
    assert setup == ["run_path", "/content/xmodal_lab/scripts/colab_setup.py", {"run_name": "__main__"}]


@pytest.fixture
def colab_setup():
    return _load("colab_setup")


def test_colab_setup_installs_once_with_the_constraints(colab_setup, tmp_path):
    for name in ("pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    calls = []
    assert colab_setup.install(tmp_path, run=lambda cmd, check: calls.append(cmd)) == []
    assert len(calls) == 2
    deps, kit = calls
    assert deps[:4] == [sys.executable, "-m", "pip", "install"]
    assert "torch>=2.4" in deps and "rasterio>=1.3" in deps and "jupyterlab>=4.1" not in deps
    pins = Path(deps[deps.index("-c") + 1]).read_text().splitlines()
    assert "torch==2.14.1" in pins and "torchvision==0.29.1" in pins and "numpy==2.4.6" in pins
    assert not [p for p in pins if p.startswith(("ipykernel==", "tornado==", "jupyter_server=="))]
    assert kit[-3:] == ["--no-deps", "-e", str(tmp_path)]
    colab_setup.install(tmp_path, run=lambda cmd, check: calls.append(cmd))
    assert len(calls) == 2, "a second run in the same session must not reinstall"
    (tmp_path / "constraints.txt").write_text((ROOT / "constraints.txt").read_text() + "# changed\n")
    colab_setup.install(tmp_path, run=lambda cmd, check: calls.append(cmd))
    assert len(calls) == 4, "new constraints must reinstall"


def test_colab_setup_asks_for_a_restart_when_a_loaded_package_changed(colab_setup, tmp_path, monkeypatch):
    for name in ("pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    import numpy  # noqa: F401  (loaded, as Colab preloads it)

    versions = iter([{"numpy": "1.0", "tqdm": "1.0"}, {"numpy": "2.0", "tqdm": "1.0"}])
    monkeypatch.setattr(colab_setup, "_versions", lambda: next(versions))
    loaded = colab_setup.install(tmp_path, run=lambda cmd, check: None)
    assert loaded == ["numpy"]


@pytest.mark.parametrize(
    ("cuda", "preset", "expected"), [(True, None, "0"), (False, None, "1"), (True, "1", "1")]
)
def test_colab_setup_picks_full_mode_on_a_gpu(colab_setup, cuda, preset, expected):
    environ = {} if preset is None else {"XMODAL_FAST": preset}
    assert colab_setup.choose_mode(cuda, environ) == expected
    assert environ["XMODAL_FAST"] == expected


def test_the_setup_cell_stays_short():
    assert len(_setup_source(NOTEBOOKS[0]).splitlines()) <= 12, "move logic to scripts/colab_setup.py"
