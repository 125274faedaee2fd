"""``expect``: assert a number a lesson interprets, with a message that says what was expected."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from xmodal_lab.errors import InputTypeError, InputValueError

#: Every number checked in this kernel: ``{name: (value, low, high)}``.
RESULTS: dict[str, tuple[float, float | None, float | None]] = {}


def expect(
    name: str, value: Any, low: float | None = None, high: float | None = None, *, why: str = ""
) -> float:
    """Assert that a lesson's number lies in ``[low, high]`` (None: unbounded), record it and print it.

    ``name`` (letters, digits, ``_ . @ -``) is the markdown tag ``value<!--check:name-->``; ``why`` says what
    the range means when the check fails. Returns the value as a float: ``r1 = expect("r1", r1, 0.5)``.
    """
    if not name or not all(c.isalnum() or c in "_.@-" for c in name):
        raise InputValueError(f"expect: name {name!r} must use only letters, digits and _ . @ -")
    if low is not None and high is not None and low > high:
        raise InputValueError(f"expect({name!r}): low {low} is above high {high}")
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()  # a 0-d tensor or array
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputTypeError(f"expect({name!r}): the value must be a number, got {type(value).__name__}")
    v, hint = float(value), f" ({why})" if why else ""
    bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    if not math.isfinite(v):
        raise AssertionError(f"{name} = {v} is not a finite number; the lesson expects {bounds}{hint}")
    if (low is not None and v < low) or (high is not None and v > high):
        raise AssertionError(f"{name} = {v:.4g} is outside the lesson's expected range {bounds}{hint}")
    RESULTS[name] = (v, low, high)
    print(f"checked: {name} = {v:.4g} in {bounds}")
    return v
