"""Checked exercises whose student copies still run end to end."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xmodal_lab.errors import InputTypeError


def _close(mine: Any, ref: Any, atol: float, rtol: float) -> bool:
    """Whether numbers, arrays, tensors, or tuples / lists / dicts of them agree within tolerance."""
    if isinstance(ref, dict):
        return (isinstance(mine, dict) and set(mine) == set(ref)
                and all(_close(mine[k], ref[k], atol, rtol) for k in ref))  # fmt: skip
    if isinstance(ref, (tuple, list)):
        return (isinstance(mine, (tuple, list)) and len(mine) == len(ref)
                and all(_close(a, b, atol, rtol) for a, b in zip(mine, ref)))  # fmt: skip
    a, b = (np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=float) for x in (mine, ref))
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True))


def _unsolved(name: str, kind: str) -> None:
    print(f"Exercise {name!r} is not solved yet: the rest of the notebook uses the kit's {kind} instead.")


def check_exercise(
    name: str, mine: Callable, reference: Callable, cases: Sequence[tuple] | Sequence[dict], *,
    hint: str = "", atol: float = 1e-5, rtol: float = 1e-4,
) -> Callable:  # fmt: skip
    """Compare a student's function with the kit's on ``cases`` and return the one to use afterwards.

    ``cases`` are argument tuples or keyword dicts. While ``mine`` is a stub (``NotImplementedError``) the
    ``reference`` is returned with a message; a different answer raises AssertionError with the ``hint``.
    """
    if not callable(mine) or not callable(reference):
        raise InputTypeError(f"check_exercise({name!r}): give the two functions, not their results")
    if not cases:
        raise InputTypeError(f"check_exercise({name!r}): give at least one case to compare on")
    for i, case in enumerate(cases):
        args, kwargs = ((), case) if isinstance(case, dict) else (tuple(case), {})
        try:
            got = mine(*args, **kwargs)
        except NotImplementedError:
            _unsolved(name, f"function {getattr(reference, '__name__', 'reference')}")
            return reference
        if not _close(got, reference(*args, **kwargs), atol, rtol):
            raise AssertionError(f"Exercise {name!r}: your answer differs from the kit's on case {i}. "
                                 f"{hint or 'Compare shapes and values step by step.'}")  # fmt: skip
    print(f"Exercise {name!r}: correct on {len(cases)} case(s).")
    return mine


def check_answer(
    name: str, mine: Any, reference: Any, *, hint: str = "", atol: float = 1e-5, rtol: float = 1e-4
) -> Any:
    """Compare a student's value with the kit's and return the one to use (see :func:`check_exercise`).

    ``mine`` set to ``...`` or ``None`` means not answered yet: the kit's value is returned with a message.
    """
    if mine is ... or mine is None:
        _unsolved(name, "answer")
        return reference
    if not _close(mine, reference, atol, rtol):
        raise AssertionError(f"Exercise {name!r}: your answer differs from the kit's. {hint}".rstrip())
    print(f"Exercise {name!r}: correct.")
    return mine
