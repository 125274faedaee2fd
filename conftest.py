"""Memory cap of the curriculum notebooks, for ``pytest --nbmake``.

An nbmake item fails when its kernel's resident memory passes ``XMODAL_NOTEBOOK_MAX_MB`` (default
:data:`NOTEBOOK_MAX_MB`): Binder gives the kernel and Jupyter 2 GB.

At the repository root so that it applies to ``pytest --nbmake notebooks`` as well as to ``tests``.
"""

from __future__ import annotations

import os
import threading

import pytest

#: Largest resident memory (MiB) a curriculum notebook's kernel may reach in fast mode.
NOTEBOOK_MAX_MB = 1792.0


def _children_rss_mb(proc) -> float:
    """Resident memory of ``proc``'s child processes (the notebook's kernel) in MiB."""
    import psutil

    total = 0
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:  # the kernel exited between the listing and the reading
            pass
    return total / 2**20


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Sample the kernel's memory every 0.2 s while an nbmake item runs; fail the item past the cap."""
    if not str(item.path).endswith(".ipynb"):
        return (yield)
    import psutil

    cap = float(os.environ.get("XMODAL_NOTEBOOK_MAX_MB", NOTEBOOK_MAX_MB))
    me, peak, done = psutil.Process(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _children_rss_mb(me))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = yield
    finally:
        done.set()
        thread.join()
    item.user_properties.append(("kernel_peak_rss_mb", round(peak[0])))
    if peak[0] > cap:
        pytest.fail(
            f"{item.path.name}: the kernel's resident memory peaked at {peak[0]:.0f} MiB, over the "
            f"{cap:.0f} MiB cap (XMODAL_NOTEBOOK_MAX_MB); Binder gives the kernel and Jupyter 2 GB",
            pytrace=False,
        )
    return result
