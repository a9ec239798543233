"""Adding a task through the registry alone: a toy task graded through the real sandbox, no generic code changed.

The steps here are those of docs/adding-a-task.md: the answer in a solution
region of the reference, a probe module, a verdict with checks and points,
one ``Task`` in the registry.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from instructor.grading.core import grade_paths
from instructor.grading.sandbox import Limits
from instructor.grading.verdicts import Checks, TaskGrade
from instructor.tasks import REGISTRY
from instructor.tasks.spec import Definition, Task

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOY = "9z"
TOY_ANSWER = '''

def double_all(values):
    """Task 9z: every value doubled."""
    ### BEGIN SOLUTION 9z
    return [2 * value for value in values]
    ### END SOLUTION 9z
'''
TOY_PROBE = '''
from instructor.grading.probes import ProbeError, guarded


def probe(namespace, task_job, state):
    double_all = namespace.get("double_all")
    if double_all is None:
        raise ProbeError("no function double_all is defined")
    return {"values": guarded(lambda: {"out": double_all([1, 2, 3, -4])}),
            "empty": guarded(lambda: {"out": double_all([])})}
'''
TOY_CHECKS = {"values": (3, "doubles every value"), "empty": (1, "an empty list gives an empty list")}


def toy_verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(TOY, 4, TOY_CHECKS, ("values",))
    for check in TOY_CHECKS:
        if student[check] != reference[check]:
            checks.fail(check, f"double_all gave {student[check]}, expected {reference[check]}")
    return checks.grade()


@pytest.mark.slow
def test_a_toy_task_added_through_the_registry_is_graded(tmp_path):
    reference = tmp_path / "solution.py"
    reference.write_text((PROJECT_ROOT / "solution.py").read_text(encoding="utf-8") + TOY_ANSWER, encoding="utf-8")
    (tmp_path / "toy_probe_9z.py").write_text(TOY_PROBE, encoding="utf-8")
    right = tmp_path / "right.py"
    right.write_text(reference.read_text(encoding="utf-8"), encoding="utf-8")
    wrong = tmp_path / "wrong.py"
    wrong.write_text(reference.read_text(encoding="utf-8").replace("return [2 * value for value in values]",
                                                                   "return [value + 2 for value in values][:1]"),
                     encoding="utf-8")
    toy = Task(TOY, "`double_all`", 4, TOY_CHECKS, ("values",), answer=Definition("double_all"),
               probe="toy_probe_9z", verdict=toy_verdict, skipped_calls=("double_all",),
               probe_path=tmp_path / "toy_probe_9z.py")
    with REGISTRY.extended(toy):
        grades = grade_paths([str(right), str(wrong)], Limits(), jobs=2, reference_path=reference)
    assert TOY not in REGISTRY.ids()
    assert [grade.tasks[TOY].points for grade in grades] == [4, 0], [g.tasks[TOY].messages for g in grades]
    assert grades[0].points == grades[0].max_points == 104
    assert grades[1].points == 100 and "double_all gave" in grades[1].tasks[TOY].messages[0]
