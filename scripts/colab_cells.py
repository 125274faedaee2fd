"""Give every lesson its two first cells: an "Open in Colab" badge and the Colab-only setup cell.

Usage: ``python scripts/colab_cells.py`` inserts (or updates) both cells at the top of every instructor
notebook; ``--check`` only reports notebooks whose first cells differ and exits 1 if any
(tests/notebooks/test_colab.py checks the same). Run ``make student-copies`` afterwards.
The setup cell does nothing outside Colab; on Colab it clones the repository and runs scripts/colab_setup.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
REPO = "xmodal-lab/xmodal_lab"
CLONE = "/content/xmodal_lab"
BADGE_ID, SETUP_ID = "colab-badge", "colab-setup"

BADGE = (
    "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})\n"
    "\n"
    "*On Colab*, run the next cell first: it installs the kit (a few minutes, once per session) and turns on "
    "full mode on a GPU runtime (*Runtime > Change runtime type*). Anywhere else it does nothing."
)

SETUP = f"""\
# Google Colab only: install the kit, full mode on a GPU (scripts/colab_setup.py). Elsewhere: nothing.
import sys

if "google.colab" in sys.modules:
    import os
    import runpy
    import subprocess

    if not os.path.isdir("{CLONE}"):
        subprocess.run(["git", "clone", "--depth=1", "https://github.com/{REPO}", "{CLONE}"], check=True)
    runpy.run_path("{CLONE}/scripts/colab_setup.py", run_name="__main__")"""


def colab_url(name: str, folder: str = "notebooks") -> str:
    """The Colab address of a notebook of the repository's main branch."""
    return f"https://colab.research.google.com/github/{REPO}/blob/main/{folder}/{name}"


def first_cells(name: str) -> list[nbformat.NotebookNode]:
    """The badge (markdown) and setup (code) cells of notebook ``name``."""
    badge = nbformat.v4.new_markdown_cell(BADGE.format(url=colab_url(name)), id=BADGE_ID)
    setup = nbformat.v4.new_code_cell(SETUP, id=SETUP_ID)
    return [badge, setup]


def with_first_cells(path: Path) -> str:
    """The notebook's JSON text with both cells first (replacing older versions of them)."""
    book = nbformat.read(path, as_version=4)
    rest = [c for c in book.cells if c.get("id") not in (BADGE_ID, SETUP_ID)]
    book.cells = [*first_cells(path.name), *rest]
    return nbformat.writes(book) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report notebooks without current cells")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        text = with_first_cells(path)
        if path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
    for path in stale:
        print(f"{'stale' if args.check else 'updated'}: {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
