"""In a real browser, the map notebook runs, its map is clicked, and the similarity layer and an export appear.

JupyterLab is started on localhost; Debian's headless Chromium, driven through chromedriver's W3C WebDriver
HTTP interface (plain ``urllib``, no extra package, no browser download), opens the map notebook, runs every
cell and waits for a ``.leaflet-container`` holding SVG paths (the GeoJSON layers). With notebook 05's
click-to-query explorer it then clicks the first map with a real pointer action, waits for the kernel to
redraw the similarity layer (a new PNG) and the summary, clicks the "export selection" button and waits for
the GeoPackage to appear in ``$XMODAL_EXPORT_DIR`` (a temporary folder). Screenshots go to
``$XMODAL_ARTIFACTS`` (default ``artifacts/``, git-ignored), for CI to keep. ``scripts/install_browser.sh``
installs Chromium and chromedriver.

The notebook is ``notebooks/05_embeddings_on_maps.ipynb`` when it exists (run on a copy of ``notebooks/``, so
autosave never touches the repository), otherwise a minimal notebook with the same map call.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from processes import stop_group

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "05_embeddings_on_maps.ipynb"
ARTIFACTS = Path(os.environ.get("XMODAL_ARTIFACTS", ROOT / "artifacts"))
TOKEN = "xmodal-browser-test"
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"  # how WebDriver passes an element to a script
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").exists() else None
)

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "needs Debian's chromium and chromium-driver (run scripts/install_browser.sh); "
        f"found chromium={CHROMIUM}, chromedriver={CHROMEDRIVER}",
        allow_module_level=True,
    )

# The notebook used while 05 does not exist: the same map call on a few hand-made georeferenced tiles.
FALLBACK_CELLS = [
    "import numpy as np\nfrom pyproj import Transformer\nfrom xmodal_lab.viz import explore_map, plot_footprints",
    """rng = np.random.default_rng(0)
pairs = []
for i, (lat, lon) in enumerate([(48.10, 11.50), (48.11, 11.52), (48.12, 11.49), (48.13, 11.51)]):
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform(lon, lat)
    pairs.append({"s1": rng.uniform(-25, 0, (2, 32, 32)).astype("float32"),
                  "s2": rng.uniform(0, 0.4, (12, 32, 32)).astype("float32"),
                  "gsd": 10.0, "lat": lat, "lon": lon, "date": "2021-06-01", "crs": "EPSG:32632",
                  "transform": (10.0, 0.0, x - 160, 0.0, -10.0, y + 160)})
embeddings = rng.normal(size=(len(pairs), 8))""",
    "m = explore_map(pairs, embeddings)\nm",
    "plot_footprints(pairs, embeddings=embeddings)",
]

# Lab settings for the test: render every cell (no virtual scrolling), no autosave.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}

JS_STATE = """
const app = window.jupyterapp;
const w = app && app.shell.currentWidget;
if (!w || !w.content || !w.sessionContext) return {ready: false};
const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
const cells = w.content.widgets.filter(c => c.model.type === 'code');
const errors = [];
for (const c of cells) {
  for (const o of c.model.outputs.toJSON()) {
    if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }
}
const maps = document.querySelectorAll('.leaflet-container');
return {
  ready: !!kernel && w.context.isReady,
  status: kernel ? kernel.status : null,
  cells: cells.length,
  executed: cells.filter(c => c.model.executionCount !== null).length,
  errors: errors,
  maps: maps.length,
  paths: document.querySelectorAll('.leaflet-container .leaflet-overlay-pane svg path').length,
  figures: document.querySelectorAll('.jp-RenderedImage img').length,
};
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout:.0f} s")


class WebDriver:
    """The few W3C WebDriver commands this test needs, spoken to chromedriver over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session: str | None = None

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = 120):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as err:
            detail = json.load(err).get("value", {})
            raise RuntimeError(
                f"WebDriver {method} {path}: {detail.get('error')}: {detail.get('message')}"
            ) from err

    def start(self, binary: str, user_data_dir: Path) -> None:
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={user_data_dir}",
            "--window-size=1400,1100",
        ]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": binary, "args": args}}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def script(self, js: str, *args):
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": js, "args": list(args)})

    def elements(self, css: str) -> list[str]:
        found = self._call(
            "POST", f"/session/{self.session}/elements", {"using": "css selector", "value": css}
        )
        return [next(iter(ref.values())) for ref in found]

    def _pointer(self, actions: list[dict]) -> None:
        """Perform one sequence of W3C mouse actions."""
        action = {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}
        self._call("POST", f"/session/{self.session}/actions", {"actions": [action]})

    def click_at(self, element: str, dx: int, dy: int) -> None:
        """A real mouse click ``(dx, dy)`` pixels from the centre of ``element`` (W3C pointer actions)."""
        pointer = [
            {"type": "pointerMove", "duration": 0, "origin": {ELEMENT_KEY: element}, "x": dx, "y": dy},
            {"type": "pointerDown", "button": 0},
            {"type": "pause", "duration": 50},
            {"type": "pointerUp", "button": 0},
        ]
        self._pointer(pointer)

    def drag(self, element: str, start: tuple[int, int], end: tuple[int, int], steps: int = 5) -> None:
        """Press the mouse at ``start``, move to ``end`` in ``steps``, release (offsets from the centre)."""
        origin = {ELEMENT_KEY: element}
        moves = [
            {"type": "pointerMove", "duration": 50, "origin": origin,
             "x": start[0] + (end[0] - start[0]) * i // steps, "y": start[1] + (end[1] - start[1]) * i // steps}
            for i in range(1, steps + 1)
        ]  # fmt: skip
        pointer = [
            {"type": "pointerMove", "duration": 0, "origin": origin, "x": start[0], "y": start[1]},
            {"type": "pointerDown", "button": 0},
            *moves,
            {"type": "pointerUp", "button": 0},
        ]
        self._pointer(pointer)

    def click(self, element: str) -> None:
        self._call("POST", f"/session/{self.session}/element/{element}/click", {})

    def screenshot(self, path: Path, element: str | None = None) -> None:
        where = f"/element/{element}" if element is not None else ""
        path.write_bytes(base64.b64decode(self._call("GET", f"/session/{self.session}{where}/screenshot")))

    def quit(self) -> None:
        if self.session is not None:
            try:
                self._call("DELETE", f"/session/{self.session}", timeout=20)
            except (OSError, RuntimeError):
                pass


# The first map's image overlays (S1, S2, PCA, similarity: the similarity layer is the last) and its summary.
JS_MAP = """
const map = arguments[0];
const images = Array.from(map.querySelectorAll('.leaflet-overlay-pane img.leaflet-image-layer'));
const widget = map.closest('.widget-vbox') || map.parentElement;
const html = widget ? Array.from(widget.querySelectorAll('.widget-html-content')).map(e => e.textContent) : [];
const button = widget ? Array.from(widget.querySelectorAll('button')).find(b => b.textContent.includes('export selection')) : null;
return {srcs: images.map(i => i.src.length + ':' + i.src.slice(-64)), info: html.join(' | '), button: button || null};
"""


def _click_query_and_export(browser: WebDriver, element: str, exports: Path) -> None:
    """Click the explorer's map, wait for a new similarity layer, click export, wait for the file."""
    browser.script("arguments[0].scrollIntoView({block: 'center'}); return true;", {ELEMENT_KEY: element})
    time.sleep(1.0)
    before = browser.script(JS_MAP, {ELEMENT_KEY: element})
    assert len(before["srcs"]) >= 4, (
        f"the explorer map should hold S1, S2, PCA and similarity images: {before}"
    )
    assert "tile" in before["info"], f"the explorer shows no summary of its default click: {before['info']!r}"
    browser.click_at(element, 90, 60)  # right of and below the centre: on the raster, clear of the controls
    after: dict = {}

    def redrawn() -> bool:
        nonlocal after
        after = browser.script(JS_MAP, {ELEMENT_KEY: element})
        return after["srcs"][-1] != before["srcs"][-1] and after["info"] != before["info"]

    try:
        _wait(redrawn, 90, "the similarity layer did not change after the click", interval=1.0)
    except TimeoutError as err:
        browser.screenshot(ARTIFACTS / "browser_click_failure.png")
        raise AssertionError(f"{err}; before {before}, after {after}") from err
    time.sleep(1.0)
    browser.screenshot(ARTIFACTS / "browser_map_clicked.png", element)
    existing = set(exports.glob("selection_*.gpkg"))
    assert after["button"], "no 'export selection' button next to the map"
    browser.click(next(iter(after["button"].values())))

    def exported() -> set[Path]:
        return set(exports.glob("selection_*.gpkg")) - existing

    new = _wait(exported, 60, "the export button wrote no GeoPackage")
    import geopandas as gpd

    frame = gpd.read_file(next(iter(new)))
    assert len(frame) >= 1 and frame.crs is not None, "the exported selection is empty or has no CRS"
    print(f"browser test: clicked -> {after['info'][:120]!r}; exported {sorted(p.name for p in new)}")


@pytest.fixture
def lab_dir(tmp_path: Path) -> tuple[Path, str, float]:
    """A folder to serve, the notebook in it, and how long it may take to run."""
    serve = tmp_path / "serve"
    real = ROOT / "notebooks" / NOTEBOOK
    if real.exists():
        shutil.copytree(
            ROOT / "notebooks", serve, ignore=shutil.ignore_patterns("student", ".ipynb_checkpoints")
        )
        return serve, NOTEBOOK, 600.0
    serve.mkdir()
    return serve, _write_notebook(serve, "map_smoke.ipynb", FALLBACK_CELLS), 180.0


@contextmanager
def _jupyterlab(serve: Path, tmp_path: Path, exports: Path):
    """JupyterLab serving ``serve`` and a Chromium driven through chromedriver: yields ``(browser, port)``."""
    settings = tmp_path / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # the kernel must pick Jupyter's inline backend, as for a student (the test session exports Agg)
    env = {
        **{k: v for k, v in os.environ.items() if k != "MPLBACKEND"},
        "XMODAL_FAST": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter_runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "XMODAL_EXPORT_DIR": str(exports),
    }
    lab_port, driver_port = _free_port(), _free_port()
    root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    lab_cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={lab_port}",
        f"--ServerApp.root_dir={serve}",
        f"--IdentityProvider.token={TOKEN}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        *root_flag,
    ]
    lab_log = (tmp_path / "lab.log").open("wb")
    lab = subprocess.Popen(lab_cmd, stdout=lab_log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    driver_proc = subprocess.Popen(
        [CHROMEDRIVER, f"--port={driver_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    browser = WebDriver(f"http://127.0.0.1:{driver_port}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:

        def lab_up() -> bool:
            if lab.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{lab_port}/api/status?token={TOKEN}", timeout=5)
                urllib.request.urlopen(f"http://127.0.0.1:{driver_port}/status", timeout=5)
                return True
            except OSError:
                return False

        _wait(lab_up, 120, "JupyterLab and chromedriver did not answer")
        browser.start(CHROMIUM, tmp_path / "chromium-profile")
        yield browser, lab_port
    finally:
        browser.quit()
        stop_group(driver_proc)
        stop_group(lab)
        lab_log.close()


def _run_notebook(browser: WebDriver, lab_port: int, notebook: str, run_timeout: float) -> dict:
    """Open ``notebook``, run all its cells, wait for a rendered map; the final state (errors asserted)."""
    browser.get(f"http://127.0.0.1:{lab_port}/lab/tree/{notebook}?token={TOKEN}&reset")
    state: dict = {}

    def kernel_idle():
        nonlocal state
        state = browser.script(JS_STATE)
        return state.get("ready") and state.get("status") == "idle"

    _wait(kernel_idle, 120, f"the notebook did not open with an idle kernel (last state {state})")
    browser.script("window.jupyterapp.commands.execute('notebook:run-all-cells'); return true;")

    def finished():
        nonlocal state
        state = browser.script(JS_STATE)
        if state["errors"]:
            return True
        return state["executed"] == state["cells"] and state["status"] == "idle" and state["paths"] >= 1

    try:
        _wait(finished, run_timeout, "the notebook did not finish with a rendered map", interval=2.0)
    except TimeoutError as err:
        browser.screenshot(ARTIFACTS / f"browser_{Path(notebook).stem}_failure.png")
        raise AssertionError(f"{err}; last state {state}") from err
    assert not state["errors"], f"{notebook} raised: {state['errors']}"
    return state


def _write_notebook(folder: Path, name: str, sources: list[str]) -> str:
    cells = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
        for src in sources
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / name).write_text(json.dumps(notebook))
    return name


def test_map_notebook_renders_leaflet_map_with_footprints(lab_dir, tmp_path):
    serve, notebook, run_timeout = lab_dir
    exports = tmp_path / "exports"
    state: dict = {}
    with _jupyterlab(serve, tmp_path, exports) as (browser, lab_port):
        try:
            state = _run_notebook(browser, lab_port, notebook, run_timeout)
            maps = browser.elements(".leaflet-container")
            for i, element in enumerate(maps[:3]):  # the explorer map, the match explorer ...
                browser.script("arguments[0].scrollIntoView(); return true;", {ELEMENT_KEY: element})
                time.sleep(1.0)  # let leaflet redraw after scrolling
                if i == 0:
                    browser.screenshot(ARTIFACTS / "browser_map_page.png")
                browser.screenshot(
                    ARTIFACTS / ("browser_map.png" if i == 0 else f"browser_map_{i + 1}.png"), element
                )
            print(
                f"browser test: {state['maps']} leaflet map(s), {state['paths']} SVG path(s), "
                f"{state['figures']} figure(s); screenshots in {ARTIFACTS}"
            )
            assert state["maps"] >= 1, "no .leaflet-container: the map widget did not render"
            assert state["paths"] >= 1, (
                "the map shows no SVG path: the footprint GeoJSON layer did not render"
            )
            assert state["figures"] >= 1, (
                "no figure image in the outputs: the static fallback did not display"
            )
            if notebook == NOTEBOOK:
                _click_query_and_export(browser, maps[0], exports)
        finally:
            if state and not (ARTIFACTS / "browser_map_page.png").exists():
                try:  # a picture of the failure helps more than the state alone
                    browser.screenshot(ARTIFACTS / "browser_map_failure.png")
                except (OSError, RuntimeError):
                    pass


# The SAM map: a raster pair, the offline (untrained) SAM on the radar composite, exports in $XMODAL_EXPORT_DIR.
SAM_CELLS = [
    """import os, tempfile
from pathlib import Path
from xmodal_lab.data.region import render_region, write_pair_geotiffs
from xmodal_lab.segment import SamSegmenter, build_sam
from xmodal_lab.viz import sam_explorer
pair = render_region(seed=0, size=128, gsd=10.0)
paths = write_pair_geotiffs(pair, Path(tempfile.mkdtemp()), "coast")
segmenter = SamSegmenter(build_sam(model_type="tiny"))""",
    """box = sam_explorer(segmenter, (paths["s1"], paths["s2"]), modality="s1", window=64,
                  export_dir=os.environ["XMODAL_EXPORT_DIR"], basemap=None)
box""",
]

# The SAM map's summary, its export button, the untrained note and the SVG paths of its layers.
JS_SAM = """
const map = arguments[0];
const widget = map.closest('.widget-vbox') || map.parentElement;
const html = Array.from(widget.querySelectorAll('.widget-html-content')).map(e => e.textContent);
const button = Array.from(widget.querySelectorAll('button')).find(b => b.textContent.includes('export sam'));
const controls = Array.from(map.querySelectorAll('.leaflet-control')).map(e => e.textContent).join(' | ');
const paths = Array.from(map.querySelectorAll('.leaflet-overlay-pane svg path')).map(p => p.getAttribute('d'));
return {info: html.join(' | '), button: button || null, controls: controls, paths: paths};
"""


def test_sam_map_click_export_and_box(tmp_path):
    import geopandas as gpd

    serve, exports = tmp_path / "serve", tmp_path / "exports"
    serve.mkdir()
    exports.mkdir()
    notebook = _write_notebook(serve, "sam_map.ipynb", SAM_CELLS)
    with _jupyterlab(serve, tmp_path, exports) as (browser, lab_port):
        _run_notebook(browser, lab_port, notebook, 300.0)
        element = browser.elements(".leaflet-container")[0]
        browser.script("arguments[0].scrollIntoView({block: 'center'}); return true;", {ELEMENT_KEY: element})
        time.sleep(1.0)
        before = browser.script(JS_SAM, {ELEMENT_KEY: element})
        assert "untrained SAM: masks are random" in before["controls"], (
            f"no untrained note: {before['controls']!r}"
        )
        default = "1 positive" in before["info"] and len(before["paths"]) >= 2  # its mask and window
        assert default, f"the default click shows no SAM mask: {before}"
        browser.click_at(element, 40, 30)  # inside the default click's window: a second positive point
        after: dict = {}

        def redrawn() -> bool:
            nonlocal after
            after = browser.script(JS_SAM, {ELEMENT_KEY: element})
            return "2 positive" in after["info"] and after["paths"] != before["paths"]

        try:
            _wait(redrawn, 90, "the SAM mask did not change after the click")
        except TimeoutError as err:
            browser.screenshot(ARTIFACTS / "browser_sam_click_failure.png")
            raise AssertionError(f"{err}; before {before}, after {after}") from err
        time.sleep(1.0)
        browser.screenshot(ARTIFACTS / "browser_sam_map.png", element)
        assert after["button"], "no 'export sam' button next to the map"
        browser.click(next(iter(after["button"].values())))
        new = _wait(lambda: sorted(exports.glob("sam_*.gpkg")), 60, "the export button wrote no GeoPackage")
        # the draw tool's rectangle is a box prompt
        tool = browser.script(
            "return arguments[0].querySelector('.leaflet-draw-draw-rectangle');", {ELEMENT_KEY: element}
        )
        assert tool, "no rectangle tool on the SAM map"
        browser.click(next(iter(tool.values())))
        time.sleep(0.5)
        browser.drag(element, (-70, -50), (-10, 10))
        boxed: dict = {}

        def box_prompt() -> bool:
            nonlocal boxed
            boxed = browser.script(JS_SAM, {ELEMENT_KEY: element})
            return "and a box" in boxed["info"]

        try:
            _wait(box_prompt, 90, "the drawn rectangle did not become a box prompt")
        except TimeoutError as err:
            browser.screenshot(ARTIFACTS / "browser_sam_box_failure.png")
            raise AssertionError(f"{err}; info {boxed.get('info')!r}") from err
        time.sleep(1.0)
        browser.screenshot(ARTIFACTS / "browser_sam_box.png", element)
    frame = gpd.read_file(new[0])
    assert len(frame) >= 1 and frame.crs is not None and frame.crs.to_epsg() == 32629, frame.crs
    assert (
        (frame["untrained"] == 1).all()
        and (frame["rendering"] == "s1").all()
        and (frame["points"] == 2).all()
    )
    print(f"browser SAM test, box: {boxed['info'][-140:]!r}")
    print(
        f"browser SAM test: {after['info'][:160]!r}; exported {[p.name for p in new]}, {len(frame)} polygon(s)"
    )
