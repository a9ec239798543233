"""What every task's verdict uses: a task's grade, its checks, tolerant comparisons of JSON numbers.

Runs in the grader's process on plain JSON data only. Each task's verdict
(``verdict`` in ``instructor/tasks/task_<id>.py``) compares the submission's probe
results with the reference's: its points are split over named checks
(``checks`` of its ``Task``), a check gives all its points or none, and
every failed check adds a message saying what was expected and what
happened. ``instructor/grading/judge.py`` turns a task process's outcome
into a grade: 0 points and one message when the code is missing, does not
parse, raises while being set up, exits, or is stopped by a limit.

"Points only for work": checks of properties that an answer with no work
in it also has (a type, keys, a length, a shape: the untouched stub, a
constant, an empty model, a training that never steps) give points only when
the answer shows work: a check that needs a working solution passed, or the
task's own evidence (values of a known mistake computed on this run's random
inputs, outputs that follow the input and the weights, weights moved by
optimizer steps). The gate never asks for the main result to be right: every
other check is judged on its own evidence. ``Checks.gated()`` names the
gated checks; the README's table marks them (``instructor/points_table.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# float32 forward passes of the same weights agree to this (different op order, BLAS paths)
OUTPUT_TOL = {"atol": 1e-4, "rtol": 1e-4}
# accuracies are ratios of small integers; float32 arithmetic is exact to this
ACCURACY_TOL = 1e-6
FLOAT_TYPES = ("float", "numpy.float64", "numpy.float32")


# how a task's grading ended: "graded" (verdicts ran), or why it could not be graded
TASK_STATUSES = ("graded", "missing", "error", "timeout", "crashed", "unreadable")
# statuses that are failures of the grading itself rather than wrong answers
GRADING_FAILURES = ("timeout", "crashed", "unreadable")


@dataclass
class TaskGrade:
    """Points of one task; ``failed`` names the checks that lost points (keys of the task's checks)."""

    points: int
    max_points: int
    messages: list[str] = field(default_factory=list)
    status: str = "graded"
    failed: list[str] = field(default_factory=list)


NO_WORK_MESSAGE = "the answer shows no work, so the checks of types, keys, lengths or shapes give no points either"


def gated_checks(checks: dict, work_checks: tuple[str, ...]) -> list[str]:
    """The checks that give points only when the answer shows work: all but the work checks."""
    return [name for name in checks if name not in work_checks]


@dataclass
class Checks:
    """Collects pass/fail per named check of one task.

    ``checks`` maps each check to its points (they add up to
    ``max_points``) and its label; ``work_checks`` are the checks that only a working
    solution passes. The other checks test properties that a stub or a
    constant also has (a type, keys, a length): they give points only when a
    work check passed or the values are those of a known mistake computed on
    this run's random inputs (``evidence_of_work``). ``no_work_reason``
    says what was looked for and not found, for the message.
    """

    task: str
    max_points: int
    checks: dict[str, tuple[int, str]]
    work_checks: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)
    # set when the values show real computation, e.g. they match a known mistake
    evidence_of_work: bool = False
    no_work_reason: str = ""

    def fail(self, check: str, message: str) -> None:
        self.failed.setdefault(check, message)

    def gated(self) -> list[str]:
        return gated_checks(self.checks, self.work_checks)

    def worked(self) -> bool:
        return self.evidence_of_work or any(check not in self.failed for check in self.work_checks
                                            if check in self.checks)

    def grade(self) -> TaskGrade:
        points = {name: check_points for name, (check_points, _) in self.checks.items()}
        # one message per cause: checks failed for the same reason share it, with their points summed
        lost: dict[str, int] = {}
        for name, message in self.failed.items():
            lost[message] = lost.get(message, 0) + points.get(name, 0)
        messages = [f"{message} [-{p} P]" for message, p in lost.items()]
        if not self.worked():
            passed = [name for name in points if name not in self.failed]
            if passed:
                reason = f" ({self.no_work_reason})" if self.no_work_reason else ""
                messages.append(f"{NO_WORK_MESSAGE}{reason} [-{sum(points[name] for name in passed)} P]")
            return TaskGrade(0, self.max_points, messages, "graded", list(points))
        earned = sum(p for name, p in points.items() if name not in self.failed)
        return TaskGrade(earned, self.max_points, messages, "graded", list(self.failed))


def finite(value: object) -> bool:
    """A real number that is neither NaN nor infinite (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def close(a: float | None, b: float | None, atol: float, rtol: float) -> bool:
    """Whether ``a`` is within tolerance of ``b``; NaN is close only to NaN, non-numbers to nothing."""
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


def flat(values: object) -> list:
    if isinstance(values, list):
        return [x for v in values for x in flat(v)]
    return [values]


def max_difference(actual: list, expected: list) -> float | None:
    """Largest absolute difference of two nested lists of numbers, None if their shapes differ."""
    actual, expected = flat(actual), flat(expected)
    if len(actual) != len(expected) or not all(finite(a) for a in actual):
        return None
    return max((abs(a - b) for a, b in zip(actual, expected)), default=0.0)


def all_close(actual: list, expected: list, tol: dict) -> bool:
    actual, expected = flat(actual), flat(expected)
    return len(actual) == len(expected) and all(finite(a) and close(float(a), b, **tol)
                                                for a, b in zip(actual, expected))


def closest_outputs(candidates: list | None, expected: list) -> list | None:
    """The candidate outputs (one per weight ordering) closest to ``expected``; None if there are none."""
    scored = [(difference, index) for index, candidate in enumerate(candidates or [])
              if (difference := max_difference(candidate, expected)) is not None]
    if not scored:
        return (candidates or [None])[0]
    return candidates[min(scored)[1]]
