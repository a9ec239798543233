"""One module per graded task: its points, its self-check and, in the instructor's copy, its grading.

Each ``task_<id>.py`` holds everything about its task: ``TASK`` and
``POINTS``, the self-check students run (``task_<id>_results`` and
``check_task_<id>``) with the diagnoses of known mistakes, and below its
grader-only line the grader's probe (run beside the submission's code) and
verdict (points and messages). Students receive each module up to that line.

A task's points are split over named checks, ``CHECKS``: check -> (points,
what it tests, as the feedback pages tell students); a comment above an
entry names a mistake it catches. A check gives all its points or none.
``WORK_CHECKS`` are the checks that only a working solution passes: the
others (types, keys, lengths) count only beside one of them, or when the
values are those of a known mistake (``instructor/grading/verdicts.Checks``).
"""
from __future__ import annotations

from ex4.tasks import task_1a, task_1b, task_2a, task_2b, task_3a, task_3b

TASK_MODULES = (task_1a, task_1b, task_2a, task_2b, task_3a, task_3b)
TASKS = tuple(module.TASK for module in TASK_MODULES)
POINTS = {module.TASK: module.POINTS for module in TASK_MODULES}
