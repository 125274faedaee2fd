"""Notebook runs (``pytest --nbmake notebooks``): lessons that fetch a real place read the loopback STAC fixture.

When a collected notebook calls ``fetch_pair`` and ``XMODAL_STAC_CATALOG`` is unset, the fixture of
``tests/data/stac_fixture.py`` (Planetary Computer's shapes, COGs over the course's Rondônia box) is served
for the session, and the kernels inherit ``XMODAL_STAC_CATALOG``, ``PC_SDK_SAS_URL`` and ``GDAL_HTTP_PROXY``
pointing at it: CI runs the online path of a lesson without a network. Set ``XMODAL_STAC_CATALOG`` yourself to
run them against a real catalog.
"""

from __future__ import annotations

import os
from pathlib import Path

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
