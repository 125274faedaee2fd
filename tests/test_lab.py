"""The README's lab command serves JupyterLab on localhost with the curriculum in it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from processes import stop_group

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "xmodal-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_command(port: int) -> list[str]:
    args = f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={TOKEN} --ServerApp.open_browser=False"
    if shutil.which("make") and (ROOT / ".venv" / ".xmodal_installed").exists():
        return ["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_ARGS={args}"]
    # Outside the Makefile's venv (for example a conda install), run what `make lab` runs.
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--notebook-dir=notebooks/student",
        f"--port={port}",
        *root,
        *args.split(),
    ]


def test_lab_command_serves_the_notebooks():
    port = _free_port()
    proc = subprocess.Popen(
        _lab_command(port),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"},
    )
    try:
        deadline, listing, lab_page = time.time() + 90, None, None
        while time.time() < deadline and listing is None:
            if proc.poll() is not None:
                pytest.fail(f"the lab command exited early:\n{proc.stdout.read().decode()[-3000:]}")
            try:
                url = f"http://127.0.0.1:{port}/api/contents/?token={TOKEN}"
                listing = json.load(urllib.request.urlopen(url, timeout=5))
                lab_page = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={TOKEN}", timeout=10)
            except OSError:
                time.sleep(1)
        assert listing is not None, "JupyterLab did not answer within 90 s"
        names = {item["name"] for item in listing["content"]}
        assert "00_welcome.ipynb" in names, f"notebooks/ not served; got {sorted(names)}"
        assert lab_page.status == 200 and b"JupyterLab" in lab_page.read()
    finally:
        stop_group(proc)
