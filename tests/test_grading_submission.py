"""Grading tests: `pytest tests --submission PATH` checks PATH task by task (default solution.py).

Every task of the submission must get full points; a failing test shows the
grader's messages (what was expected, what happened).
"""
from __future__ import annotations

import pytest

from instructor.grading.core import grade_paths
from instructor.grading.sandbox import Limits
from instructor.tasks import TASKS


@pytest.fixture(scope="module")
def submission_grade(submission):
    [grade] = grade_paths([str(submission)], Limits(), jobs=1)
    return grade


@pytest.mark.parametrize("task", TASKS)
def test_task_gets_full_points(submission_grade, task):
    grade = submission_grade.tasks[task]
    assert grade.points == grade.max_points, (
        f"Task {task}: {grade.points}/{grade.max_points} points\n" + "\n".join(grade.messages))
