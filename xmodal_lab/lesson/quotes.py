"""``check_quotes``: the numbers a lesson's markdown quotes are the numbers this run printed.

A quote is ``0.67<!--check:name-->`` (or ``+0.15``, ``-0.08``, ``64%``, ``3``). It matches a checked value that
rounds to it at the precision written: ``0.67`` matches ``[0.665, 0.675]``, ``3`` matches ``[2.5, 3.5]``,
``+0.15`` and ``-0.08`` carry their sign, and ``64%`` (or ``64 %``) matches the fraction ``0.64`` (``[0.635, 0.645]``).
The lesson quotes its default run (fast mode, the default seed), so other runs are only compared with the
ranges that ``expect`` asserts.
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
    def percent(self) -> bool:
        """Whether the quote is a percentage (``64%``)."""
        return self.text.rstrip().endswith("%")

    @property
    def number(self) -> float:
        """The quoted value on the scale of the check (``64%`` is 0.64)."""
        digits = self.text.rstrip("% ").replace("−", "-")
        return float(digits) / (100 if self.percent else 1)

    @property
    def tolerance(self) -> float:
        """Half a unit in the last written digit, on the scale of the check."""
        digits = self.text.rstrip("% ")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        return 0.5 * 10.0**-decimals / (100 if self.percent else 1)

    def matches(self, value: float) -> bool:
        """Whether ``value`` rounds to the quote at its precision (ties either way)."""
        return abs(value - self.number) <= self.tolerance * (1 + 1e-9) + 1e-12


def find_quotes(text: str, cell: int = -1) -> list[Quote]:
    """Every quoted number in a markdown string."""
    return [Quote(m.group(1) + (m.group(2) or ""), m.group(3), cell) for m in QUOTE.finditer(text)]


def notebook_quotes(path: str | Path) -> list[Quote]:
    """Every quoted number in the markdown cells of a notebook file."""
    path = Path(path)
    if not path.is_file():
        raise InputValueError(
            f"check_quotes: no notebook {str(path)!r} here ({Path.cwd()}); give the lesson's file name, "
            "run from the notebook's folder"
        )
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            src = cell["source"]
            found += find_quotes(src if isinstance(src, str) else "".join(src), i)
    return found


def check_quotes(
    path: str | Path,
    *,
    seed: int = QUOTED_SEED,
    results: dict | None = None,
    fast: bool | None = None,
) -> int:
    """Compare every quote in the notebook at ``path`` with the value ``expect`` recorded in this kernel.

    Compares only in the quoted run (fast mode and ``seed == QUOTED_SEED``); any other run prints that the
    quotes are the default run's values. Raises AssertionError listing every quote that differs or whose
    check did not run. Returns the number of quotes compared.
    """
    results = RESULTS if results is None else results
    fast = fast_mode() if fast is None else fast
    quotes = notebook_quotes(path)
    name = Path(path).name
    if not fast or seed != QUOTED_SEED:
        run = "full mode" if not fast else f"seed {seed}"
        print(
            f"{name}: the {len(quotes)} numbers in the text are the fast-mode, seed {QUOTED_SEED} run's; this "
            f"run ({run}) is checked only against the ranges printed above."
        )
        return 0
    wrong = []
    for q in quotes:
        if q.name not in results:
            wrong.append(f"cell {q.cell}: quotes {q.text} as {q.name!r}, but no expect({q.name!r}, ...) ran")
        elif not q.matches(results[q.name][0]):
            wrong.append(
                f"cell {q.cell}: quotes {q.name} = {q.text}, this run gives {results[q.name][0]:.4g}"
            )
    if wrong:
        raise AssertionError(
            f"{name}: {len(wrong)} of {len(quotes)} quoted numbers differ from this run (fast mode, seed "
            f"{seed}); update the text:\n  " + "\n  ".join(wrong) + "\n(On a CPU with AVX-512, start Jupyter "
            "with the settings of scripts/same_numbers.env, as `make lab` in fast mode and Binder do, to compute "
            "as the quoted run did.)"
        )
    print(f"{name}: all {len(quotes)} quoted numbers match this run (fast mode, seed {seed}).")
    return len(quotes)
