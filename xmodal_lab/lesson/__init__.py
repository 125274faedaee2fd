"""Lesson helpers: checked claims and checked exercises for the curriculum notebooks.

``expect`` asserts a number the lesson interprets where it is made (markdown quotes it as
``0.83<!--check:name-->``) and ``check_quotes`` compares those quotes with the run; an unsolved exercise falls
back to the kit's answer so *Run All* reaches the end.
"""

from xmodal_lab.lesson.exercises import check_answer, check_exercise
from xmodal_lab.lesson.expect import RESULTS, expect
from xmodal_lab.lesson.quotes import QUOTED_SEED, check_quotes

__all__ = ["QUOTED_SEED", "RESULTS", "check_answer", "check_exercise", "check_quotes", "expect"]
