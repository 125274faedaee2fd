"""Lesson helpers: checked claims and checked exercises for the curriculum notebooks.

* ``expect(name, value, low, high)`` asserts a number the lesson interprets, where it is made; markdown
  quotes it as ``0.83<!--check:name-->`` and ``tests/notebooks/test_quoted_numbers.py`` checks the quote.
* ``check_exercise`` / ``check_answer`` compare a student's answer with the kit's; an unsolved stub falls
  back to the kit's answer (so *Run All* in a student copy reaches the end), a wrong answer fails with a hint.
"""

from xmodal_lab.lesson.exercises import check_answer, check_exercise
from xmodal_lab.lesson.expect import RESULTS, expect

__all__ = ["RESULTS", "check_answer", "check_exercise", "expect"]
