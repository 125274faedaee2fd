"""Bad and edge inputs through the public API and the command line: each gets the kit's error or warning
naming the problem, or a correct answer; input files are never modified (see ``reliability_cases.py``)."""

from __future__ import annotations

import warnings

import pytest
from reliability_cases import CASES, Case
from reliability_helpers import Ctx, file_hashes


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _param(case: Case):
    marks = pytest.mark.xfail(reason=case.still_open, strict=True) if case.still_open else ()
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: Case, tmp_path) -> None:
    ctx = Ctx(tmp_path)
    if case.category in ("checkpoint", "write"):
        ctx.trained()
    before = file_hashes(ctx.inputs)
    if case.expect is not None:
        with pytest.raises(case.expect, match=case.match):
            case.run(ctx)
    elif case.warn is not None:
        with pytest.warns(case.warn, match=case.match):
            case.run(ctx)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # a correct input gets no units or size warning
            warnings.filterwarnings("ignore", module="lightning.*")
            warnings.filterwarnings("ignore", module="torch.*")
            result = case.run(ctx)
        assert case.check(result, ctx), f"{case.id}: wrong result {result!r:.200}"
    after = {k: v for k, v in file_hashes(ctx.inputs).items() if k in before}
    assert after == before, f"{case.id}: an input file was modified"
    assert not list(ctx.out.glob("pwned*")), f"{case.id}: loading a file ran code from it"


def test_enough_cases() -> None:
    assert len(CASES) >= 260
    assert {c.category for c in CASES} >= {
        "log",
        "memory",
        "types",
        "messages",
        "files",
        "grids",
        "dtypes",
        "floods",
        "sam",
        "nan",
        "units",
        "checkpoint",
        "write",
        "fit",
        "cli",
        "eval",
        "data",
    }
