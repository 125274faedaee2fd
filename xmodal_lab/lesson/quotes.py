"""``check_quotes``: the numbers a lesson quotes (``0.67<!--check:name-->``) are those this run printed.

A quote matches a checked value that rounds to it as written: ``0.67`` matches ``[0.665, 0.675]``, ``3``
``[2.5, 3.5]``, ``64%`` the fraction ``[0.635, 0.645]``; signs are kept. Only the default run is quoted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from xmodal_lab.config import fast_mode
from xmodal_lab.errors import InputValueError
from xmodal_lab.lesson.expect import RESULTS

#: The seed every lesson quotes (its default ``SEED``).
QUOTED_SEED = 0
#: ``0.83<!--check:name-->``: a number (sign only after a space or bracket, optional %) and the check's name.
QUOTE = re.compile(r"(?<![\w.])([+\-−]?\d+(?:\.\d+)?)(\s*%)?\s*<!--\s*check:\s*([\w.@-]+)\s*-->")


@dataclass(frozen=True)
class Quote:
    """One quoted number: its text as written, the check's name and the markdown cell it is in."""

    text: str
    name: str
    cell: int = -1

    @property
    def scale(self) -> int:
        """100 for a percentage (``64%`` is 0.64), else 1."""
        return 100 if self.text.rstrip().endswith("%") else 1

    @property
    def number(self) -> float:
        """The quoted value on the scale of the check."""
        return float(self.text.rstrip("% ").replace("−", "-")) / self.scale

    def matches(self, value: float) -> bool:
        """Whether ``value`` rounds to the quote at its precision: within half a unit of its last digit."""
        decimals = len(self.text.rstrip("% ").partition(".")[2])
        tolerance = 0.5 * 10.0**-decimals / self.scale
        return abs(value - self.number) <= tolerance * (1 + 1e-9) + 1e-12


def find_quotes(text: str, cell: int = -1) -> list[Quote]:
    """Every quoted number in a markdown string."""
    return [Quote(m.group(1) + (m.group(2) or ""), m.group(3), cell) for m in QUOTE.finditer(text)]


def notebook_quotes(path: str | Path) -> list[Quote]:
    """Every quoted number in the markdown cells of a notebook file."""
    path = Path(path)
    if not path.is_file():
        raise InputValueError(f"check_quotes: no notebook {str(path)!r} here ({Path.cwd()}); give the "
                              "lesson's file name, run from the notebook's folder")  # fmt: skip
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [q for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"
            for q in find_quotes("".join(cell["source"]), i)]  # fmt: skip


def check_quotes(
    path: str | Path, *, seed: int = QUOTED_SEED, results: dict | None = None, fast: bool | None = None
) -> int:
    """Compare every quote in the notebook at ``path`` with the value ``expect`` recorded; return the count.

    Compares only in the quoted run (fast mode, ``seed == QUOTED_SEED``); raises AssertionError listing every
    quote that differs or whose check did not run.
    """
    results = RESULTS if results is None else results
    fast = fast_mode() if fast is None else fast
    quotes = notebook_quotes(path)
    name = Path(path).name
    if not fast or seed != QUOTED_SEED:
        run = "full mode" if not fast else f"seed {seed}"
        print(f"{name}: the {len(quotes)} numbers in the text are the fast-mode, seed {QUOTED_SEED} run's; "
              f"this run ({run}) is checked only against the ranges printed above.")  # fmt: skip
        return 0
    wrong = []
    for q in quotes:
        if q.name not in results:
            wrong.append(f"cell {q.cell}: quotes {q.text} as {q.name!r}, but no expect({q.name!r}, ...) ran")
        elif not q.matches(results[q.name][0]):
            wrong.append(f"cell {q.cell}: quotes {q.name} = {q.text}, "
                         f"this run gives {results[q.name][0]:.4g}")  # fmt: skip
    if wrong:
        raise AssertionError(
            f"{name}: {len(wrong)} of {len(quotes)} quoted numbers differ from this run (fast mode, seed "
            f"{seed}); update the text:\n  " + "\n  ".join(wrong) + "\n(On a CPU with AVX-512, start Jupyter "
            "with the settings of scripts/same_numbers.env, as `make lab` in fast mode and Binder do, to compute "
            "as the quoted run did.)"
        )
    print(f"{name}: all {len(quotes)} quoted numbers match this run (fast mode, seed {seed}).")
    return len(quotes)
