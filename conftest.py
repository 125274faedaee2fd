"""Notebook runs (``pytest --nbmake notebooks``): the figure check, a memory cap per lesson, the loopback STAC fixture.

Memory: an nbmake item fails when its kernel's anonymous memory (heap, tensors: what the system cannot drop)
passes ``XMODAL_NOTEBOOK_MAX_ANON_MB`` (default :data:`NOTEBOOK_MAX_ANON_MB`). Binder gives the kernel and
Jupyter 2 GB; the shared libraries' mapped pages that resident memory adds are page cache, which the system
reclaims under that limit before it stops a process, and how many of them are mapped varies from run to run
(lesson 05: 629 MiB in one run, 929 MiB in a fresh clone's), so the cap is on the anonymous part; the summary
prints both.

Real places: when a collected notebook calls ``fetch_pair`` and ``XMODAL_STAC_CATALOG`` is unset, the fixture of
``tests/data/stac_fixture.py`` (Planetary Computer's shapes, COGs over the course's Rondônia box) is served
for the session, and the kernels inherit ``XMODAL_STAC_CATALOG``, ``PC_SDK_SAS_URL`` and ``GDAL_HTTP_PROXY``
pointing at it: CI runs the online path of a lesson without a network. Set ``XMODAL_STAC_CATALOG`` yourself to
run them against a real catalog. At the repository root so that both apply to ``pytest --nbmake notebooks``.

Same numbers: on x86-64, the settings of ``scripts/same_numbers.env`` are set (where unset) before anything
imports torch, so kernels and test workers compute as the run the lessons quote did, whatever the CPU.
"""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

SAME_NUMBERS = Path(__file__).parent / "scripts" / "same_numbers.env"


def same_numbers_settings() -> dict[str, str]:
    """The ``NAME=value`` lines of ``scripts/same_numbers.env``."""
    lines = SAME_NUMBERS.read_text().splitlines()
    return dict(line.replace('"', "").split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


if platform.machine().lower() in ("x86_64", "amd64"):
    for _name, _value in same_numbers_settings().items():
        os.environ.setdefault(_name, _value)


def _notebook_kernels_check_figures() -> None:
    """Kernels started by nbmake import this checkout and fail a cell that shows a bad figure.

    Kernels inherit this process's environment: ``PYTHONPATH`` puts this checkout first, and an IPython
    profile in a private ``IPYTHONDIR`` loads ``xmodal_lab.viz.lesson_figures`` (``XMODAL_CHECK_FIGURES=0``
    turns the check off).
    """
    checkout = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")]))
    if os.environ.get("XMODAL_CHECK_FIGURES", "1") == "0":
        return
    ipython_dir = Path(tempfile.mkdtemp(prefix="xmodal_ipython_"))
    profile = ipython_dir / "profile_default"
    profile.mkdir()
    config = 'c.InteractiveShellApp.extensions = ["xmodal_lab.viz.lesson_figures"]\n'
    for name in ("ipython_kernel_config.py", "ipython_config.py"):
        (profile / name).write_text(config)
    os.environ["IPYTHONDIR"] = str(ipython_dir)
    atexit.register(shutil.rmtree, ipython_dir, ignore_errors=True)


_notebook_kernels_check_figures()


#: Largest anonymous memory (MiB) a curriculum notebook's kernel may reach in fast mode.
NOTEBOOK_MAX_ANON_MB = 1280.0


def _children_memory_mb(proc) -> tuple[float, float, float, int]:
    """Anonymous, resident and mapped-file memory of ``proc``'s child processes (the notebook's kernel), MiB.

    Where ``/proc`` gives no breakdown (not Linux), the anonymous figure is the resident one.
    """
    import psutil

    total, anon, files, count = 0, 0, 0, 0
    for child in proc.children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text() if os.name == "posix" else ""
            rss = child.memory_info().rss
        except (psutil.Error, OSError):  # the kernel exited between the listing and the reading
            continue
        count, total = count + 1, total + rss
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        anon += int(fields["RssAnon"].split()[0]) * 1024 if "RssAnon" in fields else rss
        files += int(fields.get("RssFile", "0 kB").split()[0]) * 1024
    return anon / 2**20, total / 2**20, files / 2**20, count


def _cap() -> float:
    return float(os.environ.get("XMODAL_NOTEBOOK_MAX_ANON_MB", NOTEBOOK_MAX_ANON_MB))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Sample the kernel's memory every 0.2 s while an nbmake item runs; fail the item past the cap."""
    if not str(item.path).endswith(".ipynb"):
        return (yield)
    import psutil

    me, peak, done = psutil.Process(), [0.0, 0.0, 0.0, 0], threading.Event()  # anon, rss, files at the rss peak

    def sample() -> None:
        while not done.wait(0.2):
            anon, rss, files, count = _children_memory_mb(me)
            peak[0] = max(peak[0], anon)
            if rss > peak[1]:
                peak[1:] = [rss, files, count]

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = yield
    finally:
        done.set()
        thread.join()
        item.user_properties.append(("kernel_peak_anon_mb", round(peak[0])))
        item.user_properties.append(("kernel_peak_rss_mb", round(peak[1])))
        detail = f"resident {peak[1]:.0f} MiB, of it mapped files {peak[2]:.0f} MiB, {peak[3]} process(es)"
        item.user_properties.append(("kernel_peak_detail", detail))
    if peak[0] > _cap():
        pytest.fail(
            f"{item.path.name}: the kernel's anonymous memory peaked at {peak[0]:.0f} MiB ({detail}; "
            f"{os.cpu_count()} CPUs), over the {_cap():.0f} MiB cap (XMODAL_NOTEBOOK_MAX_ANON_MB); Binder gives the "
            "kernel and Jupyter 2 GB",
            pytrace=False,
        )
    return result


_PEAKS: dict[str, tuple[float, str]] = {}


def pytest_runtest_logreport(report):
    """Collect each notebook's kernel peak (test workers send their items' properties to the controller)."""
    props = dict(report.user_properties)
    if report.when == "call" and "kernel_peak_anon_mb" in props:
        _PEAKS[report.nodeid] = (props["kernel_peak_anon_mb"], props.get("kernel_peak_detail", ""))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """One line per notebook: its kernel's peak memory, to read in a CI log next to the cap."""
    if not _PEAKS:
        return
    flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split() if Path("/proc/cpuinfo").exists() else []
    cpu = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else platform.machine()
    terminalreporter.section(
        f"kernel peak anonymous memory (cap {_cap():.0f} MiB; {os.cpu_count()} CPUs with {cpu})"
    )
    for nodeid, (peak, detail) in sorted(_PEAKS.items()):
        terminalreporter.write_line(f"{peak:6.0f} MiB  {nodeid}  ({detail})")


_SERVED: list = []


def pytest_collection_modifyitems(config, items):
    """Serve the fixture catalog when a collected notebook fetches a place and no catalog is set."""
    if os.environ.get("XMODAL_STAC_CATALOG"):
        return
    notebooks = {Path(str(item.fspath)) for item in items if str(item.fspath).endswith(".ipynb")}
    if not any("fetch_pair" in path.read_text(errors="ignore") for path in notebooks):
        return
    from tests.data.stac_fixture import FixtureCatalog

    catalog = FixtureCatalog()
    _SERVED.append(catalog)
    os.environ["XMODAL_STAC_CATALOG"] = catalog.pc_url
    os.environ["PC_SDK_SAS_URL"] = catalog.sas_url
    os.environ["GDAL_HTTP_PROXY"] = catalog.url.removeprefix("http://")  # blob hosts reach the fixture


def pytest_unconfigure(config):
    """Stop the fixture catalog, forget its settings and remove the pairs fetched from it."""
    while _SERVED:
        catalog = _SERVED.pop()
        catalog.close()
        for name in ("XMODAL_STAC_CATALOG", "PC_SDK_SAS_URL", "GDAL_HTTP_PROXY"):
            os.environ.pop(name, None)
        _remove_pairs_of(catalog.pc_url)


def _remove_pairs_of(url: str) -> None:
    """Delete the cached pairs whose sidecar names ``url`` (this session's fixture: its port is unique)."""
    import json

    from xmodal_lab.config import cache_dir

    for sidecar in (cache_dir() / "places").glob("*.json"):
        try:
            info = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if info.get("catalog") == url:
            for name in info.get("files", {}).values():
                (sidecar.parent / name).unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
