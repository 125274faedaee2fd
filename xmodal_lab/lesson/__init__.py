"""Lesson helpers: checked claims and checked exercises for the curriculum notebooks.

``expect`` asserts a number the lesson interprets where it is made (markdown quotes it as
``0.83<!--check:name-->``); an unsolved exercise falls back to the kit's answer so *Run All* reaches the end.
"""

from xmodal_lab.lesson.exercises import check_answer, check_exercise
from xmodal_lab.lesson.expect import RESULTS, expect

__all__ = ["RESULTS", "check_answer", "check_exercise", "expect"]
