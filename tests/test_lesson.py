"""The lesson helpers: ``expect`` asserts and records, quotes match the run, exercise checks fall back or fail with a hint."""

from __future__ import annotations

import json

import pytest
import torch

import xmodal_lab as xl
from xmodal_lab.errors import InputTypeError, InputValueError
from xmodal_lab.lesson.quotes import check_quotes, find_quotes


def test_expect_passes_records_and_returns_the_value(capsys):
    got = xl.lesson.expect("recall@1", torch.tensor(0.5), 0.2, 0.9)
    assert got == 0.5 and isinstance(got, float)
    assert xl.lesson.RESULTS["recall@1"] == (0.5, 0.2, 0.9)
    assert "checked: recall@1 = 0.5 in [0.2, 0.9]" in capsys.readouterr().out


@pytest.mark.parametrize(
    "value, low, high", [(0.1, 0.2, 0.9), (1.0, 0.2, 0.9), (-3.0, 0.0, None), (5.0, None, 4)]
)
def test_expect_fails_outside_the_range_with_the_reason(value, low, high):
    with pytest.raises(AssertionError, match=r"x = .* outside the lesson's expected range .*seeds 0-2"):
        xl.lesson.expect("x", value, low, high, why="seeds 0-2")


def test_expect_rejects_nan_bad_bounds_and_names():
    with pytest.raises(AssertionError, match="not a finite number"):
        xl.lesson.expect("x", float("nan"), 0, 1)
    with pytest.raises(InputValueError, match="low 2 is above high 1"):
        xl.lesson.expect("x", 1.5, 2, 1)
    with pytest.raises(InputValueError, match="letters, digits"):
        xl.lesson.expect("a b", 1.0)
    with pytest.raises(InputTypeError, match="must be a number"):
        xl.lesson.expect("x", "0.5")


def _square(x):
    return x * x


def test_check_exercise_keeps_a_correct_answer():
    def mine(x):
        return x**2

    assert xl.lesson.check_exercise("square", mine, _square, [(torch.arange(3.0),), {"x": 2.0}]) is mine


def test_check_exercise_falls_back_for_a_stub_and_says_so(capsys):
    def stub(x):
        raise NotImplementedError("Student exercise")

    assert xl.lesson.check_exercise("square", stub, _square, [(2.0,)]) is _square
    assert "not solved yet" in capsys.readouterr().out


def test_check_exercise_fails_a_wrong_answer_with_the_hint():
    with pytest.raises(AssertionError, match="case 1.*multiply x by itself"):
        xl.lesson.check_exercise(
            "square", lambda x: 2 * x, _square, [(2.0,), (3.0,)], hint="multiply x by itself"
        )


def test_check_exercise_compares_dicts_and_shapes():
    ref = lambda x: {"a": torch.ones(2), "b": x}  # noqa: E731
    with pytest.raises(AssertionError):
        xl.lesson.check_exercise("d", lambda x: {"a": torch.ones(3), "b": x}, ref, [(1.0,)])
    with pytest.raises(InputTypeError, match="at least one case"):
        xl.lesson.check_exercise("d", ref, ref, [])


def test_check_answer_falls_back_keeps_or_fails(capsys):
    assert xl.lesson.check_answer("t", ..., 0.3) == 0.3
    assert "not solved yet" in capsys.readouterr().out
    assert xl.lesson.check_answer("t", 0.3000001, 0.3) == 0.3000001
    with pytest.raises(AssertionError, match="differs.*look at the dB scale"):
        xl.lesson.check_answer("t", 0.5, 0.3, hint="look at the dB scale")


@pytest.mark.parametrize(
    "text, inside, outside",
    [
        ("0.67", [0.665, 0.6712, 0.675], [0.6649, 0.6751, 0.70]),
        ("+0.15", [0.146, 0.154], [0.18, -0.15]),
        ("-0.08", [-0.084, -0.0751], [0.08, -0.09]),
        ("3", [3, 2.6, 3.4], [2.4, 3.6]),
        ("0.0", [0.004, -0.004], [0.06]),
        ("1.414", [1.41421], [1.41, 1.42]),
        ("64%", [0.64, 0.6449, 0.6351], [0.65, 64.0]),
        ("64 %", [0.64], [0.66]),
        ("12.5%", [0.125, 0.12549], [0.126]),
    ],
)
def test_a_quote_matches_the_values_that_round_to_it(text, inside, outside):
    (quote,) = find_quotes(f"it scores {text}<!--check:x--> here")
    assert quote.text == text and quote.name == "x"
    assert all(quote.matches(v) for v in inside), [v for v in inside if not quote.matches(v)]
    assert not any(quote.matches(v) for v in outside), [v for v in outside if quote.matches(v)]


def test_find_quotes_reads_signs_ranges_and_names():
    text = "a gain of +0.11<!-- check: gain_50 -->, seeds 0.97-1.00<!--check:r@5--> and (−0.08<!--check:d-->)"
    assert [(q.text, q.name) for q in find_quotes(text)] == [
        ("+0.11", "gain_50"),
        ("1.00", "r@5"),
        ("−0.08", "d"),
    ]
    assert find_quotes("no quote 0.5 <!-- other comment -->") == []


def _lesson(tmp_path, *markdown):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": m} for m in markdown]
    cells.insert(
        1, {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None}
    )
    path = tmp_path / "lesson.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_check_quotes_passes_when_every_quote_is_the_run(tmp_path, capsys):
    path = _lesson(tmp_path, "mAP 0.67<!--check:map--> and ", ["gain ", "+0.15<!--check:gain-->"])
    results = {"map": (0.6712, 0.6, 0.8), "gain": (0.1523, 0.1, None)}
    assert check_quotes(path, results=results, fast=True) == 2
    assert "all 2 quoted numbers match this run" in capsys.readouterr().out


def test_check_quotes_lists_every_stale_or_unchecked_quote(tmp_path):
    path = _lesson(tmp_path, "mAP 0.70<!--check:map-->", "gain +0.15<!--check:gain-->, r 0.2<!--check:r-->")
    results = {"map": (0.6712, 0.6, 0.8), "gain": (0.1523, 0.1, None)}
    with pytest.raises(AssertionError) as err:
        check_quotes(path, results=results, fast=True)
    message = str(err.value)
    assert "2 of 3 quoted numbers differ" in message
    assert "cell 0: quotes map = 0.70, this run gives 0.6712" in message
    assert "cell 2: quotes 0.2 as 'r', but no expect('r', ...) ran" in message
    assert "gain" not in message.split("update the text")[1]


def test_check_quotes_compares_only_the_quoted_run(tmp_path, capsys):
    path = _lesson(tmp_path, "mAP 0.70<!--check:map-->")
    results = {"map": (0.6712, 0.6, 0.8)}
    assert check_quotes(path, results=results, fast=False) == 0
    assert "fast-mode, seed 0 run's; this run (full mode)" in capsys.readouterr().out
    assert check_quotes(path, results=results, fast=True, seed=1) == 0
    assert "this run (seed 1)" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="differ"):
        check_quotes(path, results=results, fast=True, seed=0)


def test_check_quotes_names_a_missing_notebook(tmp_path):
    with pytest.raises(InputValueError, match="no notebook .*give the lesson's file name"):
        check_quotes(tmp_path / "nope.ipynb", fast=True)
