"""The lesson helpers: ``expect`` asserts and records, exercise checks fall back or fail with a hint."""

from __future__ import annotations

import pytest
import torch

import xmodal_lab as xl
from xmodal_lab.errors import InputTypeError, InputValueError


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
