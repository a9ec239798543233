"""The grader gives honest one-mistake submissions exactly the points of the published rubric.

The cases and their points (``tests/rubric_corpus.py``) were written from the
README's table before grading. All cases are graded in one run; each must get
its written points for its task and full points for every other task.
"""
from __future__ import annotations

import nbformat
import pytest
from rubric_corpus import CASES

from instructor.grading.core import grade_paths
from instructor.grading.judge import TASK_POINTS
from instructor.grading.sandbox import Limits
from instructor.shipped import PROJECT_ROOT
from instructor.tasks import TASKS

pytestmark = pytest.mark.slow

NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
# long enough for a task on a busy two-core machine
TEST_TASK_TIMEOUT_S = 10.0
GRADING_JOBS = 2
MIN_CASES = 30


def build_cases(folder, cases=CASES) -> dict[str, str]:
    """The notebooks of ``cases`` written to ``folder``: case name -> path."""
    paths = {}
    for case in cases:
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        for edit in case.edits:
            edit(notebook)
        path = folder / f"{case.name}.ipynb"
        nbformat.write(notebook, path)
        paths[case.name] = str(path)
    return paths


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    paths = build_cases(tmp_path_factory.mktemp("rubric"))
    grades = grade_paths(list(paths.values()), Limits(task_timeout_s=TEST_TASK_TIMEOUT_S), jobs=GRADING_JOBS)
    return dict(zip(paths, grades))


def test_the_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= MIN_CASES
    assert len({case.name for case in CASES}) == len(CASES)
    assert all(0 <= case.points < TASK_POINTS[case.task] for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_points_are_those_of_the_rubric(graded, case):
    grade = graded[case.name]
    got = {task: grade.tasks[task].points for task in TASKS}
    expected = {**TASK_POINTS, case.task: case.points}
    messages = "\n".join(f"{task}: {message}" for task in TASKS for message in grade.tasks[task].messages)
    assert got == expected, f"{case.name} ({case.reason}): expected {expected}, got {got}\n{messages}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_lost_point_is_explained(graded, case):
    assert graded[case.name].tasks[case.task].messages, f"{case.name}: points lost without a message"
