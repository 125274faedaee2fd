"""Lesson helpers: checked numbers and their quotes in markdown, and exercises that run when unsolved."""

from xmodal_lab.lesson.exercises import check_answer, check_exercise
from xmodal_lab.lesson.expect import RESULTS, expect
from xmodal_lab.lesson.quotes import QUOTED_SEED, check_quotes

__all__ = ["QUOTED_SEED", "RESULTS", "check_answer", "check_exercise", "check_quotes", "expect"]
