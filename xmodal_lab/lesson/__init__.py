"""Lesson helpers: checked claims and checked exercises for the curriculum notebooks.

Two conventions keep every lesson honest and every student copy runnable:

* ``expect(name, value, low, high)`` asserts a number the lesson interprets, right where it is made, and
  records it. A markdown cell that quotes that number writes it as ``0.83<!--check:name-->`` (the comment is
  invisible when rendered); ``tests/notebooks/test_quoted_numbers.py`` fails when a quoted number lies
  outside the range its ``expect`` call asserts.
* ``check_exercise`` / ``check_answer`` compare a student's answer with the kit's. An unsolved exercise
  (its stub raises ``NotImplementedError`` or leaves ``...``) falls back to the kit's answer and says so, so
  that *Run All* in a student copy still reaches the end; a wrong answer fails with a hint.
"""

from xmodal_lab.lesson.exercises import ExerciseResult, check_answer, check_exercise
from xmodal_lab.lesson.expect import RESULTS, expect

__all__ = ["RESULTS", "ExerciseResult", "check_answer", "check_exercise", "expect"]
