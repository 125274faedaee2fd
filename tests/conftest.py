"""Shared test settings: fast mode, headless matplotlib, a private cache, GPU tests skipped without CUDA."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("XMODAL_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _notebook_kernels_check_figures() -> None:
    """Kernels started by nbmake import this checkout and fail a cell that shows a bad figure.

    Kernels inherit this process's environment: ``PYTHONPATH`` puts this checkout first, and an IPython
    profile in a private ``IPYTHONDIR`` loads ``xmodal_lab.viz.lesson_figures`` (``XMODAL_CHECK_FIGURES=0``
    turns the check off).
    """
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
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


@pytest.fixture
def one_thread():
    """Learning tests run on one core (CI runs two test workers on two cores)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test session writes generated files and checkpoints into a temporary cache."""
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "xmodal_cache"))


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # torch missing or broken: GPU tests cannot run either
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
