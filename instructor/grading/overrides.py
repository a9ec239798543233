"""Corrections of grades by the instructor: ``--overrides FILE.csv`` with the columns ``id,task,points,comment``.

The file is read and checked before anything is graded (``read_overrides``):
every id must be a submission of this run, every task one of the sheet's,
every points value a whole number from 0 to the task's maximum, each
(id, task) given once. After grading, ``apply_overrides`` replaces the points
of each named task by the instructor's and keeps the grader's points beside
them (``Correction``), so that every output shows the correction: original
points, new points and the comment.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from instructor.grading.core import SubmissionGrade
from instructor.grading.judge import TASK_POINTS
from instructor.grading.verdicts import TaskGrade
from instructor.tasks import TASKS

OVERRIDE_COLUMNS = ("id", "task", "points", "comment")


class OverridesError(ValueError):
    """The overrides file cannot be applied; the message names the file, the line and what to fix."""


@dataclass(frozen=True)
class Override:
    student: str
    task: str
    points: int
    comment: str
    line: int  # line of the file, for messages


@dataclass(frozen=True)
class Correction:
    """A task's points as the grader gave them and as the instructor corrected them."""

    original_points: int
    points: int
    comment: str


@dataclass
class CorrectedTaskGrade(TaskGrade):
    """A ``TaskGrade`` whose points the instructor corrected; ``messages`` and ``failed`` stay the grader's."""

    correction: Correction | None = field(default=None)


def correction_of(grade: TaskGrade) -> Correction | None:
    """The instructor's correction of a task's grade, or None."""
    return getattr(grade, "correction", None)


def read_overrides(path: Path, students: Sequence[str]) -> list[Override]:
    """The corrections in the CSV file ``path`` for the submissions ``students`` (their ids).

    Raises OverridesError naming every problem found (at most all lines):
    missing columns, an unknown id or task, points that are not a whole
    number from 0 to the task's maximum, an (id, task) given twice.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverridesError(f"--overrides {path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise OverridesError(f"--overrides {path}: not a CSV file ({exc})") from exc
    if not rows or [cell.strip().lower() for cell in rows[0]][:len(OVERRIDE_COLUMNS)] != list(OVERRIDE_COLUMNS):
        found = ",".join(rows[0]) if rows else "an empty file"
        raise OverridesError(f"--overrides {path}: the first line must be the header "
                             f"{','.join(OVERRIDE_COLUMNS)}, found {found!r}")
    known = set(students)
    problems, overrides, seen = [], [], {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(OVERRIDE_COLUMNS) - 1 or len(row) > len(OVERRIDE_COLUMNS):
            problems.append(f"line {line}: {len(row)} cells, expected {len(OVERRIDE_COLUMNS)} "
                            f"({','.join(OVERRIDE_COLUMNS)}; quote a comment that holds a comma)")
            continue
        student, task, points_text = (cell.strip() for cell in row[:3])
        comment = row[3].strip() if len(row) > 3 else ""
        if student not in known:
            problems.append(f"line {line}: no submission has the id {student!r}")
        if task not in TASKS:
            problems.append(f"line {line}: unknown task {task!r}; the tasks are {', '.join(TASKS)}")
            continue
        maximum = TASK_POINTS[task]
        try:
            points = int(points_text)
        except ValueError:
            problems.append(f"line {line}: points {points_text!r} is not a whole number from 0 to {maximum}")
            continue
        if not 0 <= points <= maximum:
            problems.append(f"line {line}: {points} points is outside 0..{maximum}, the points of task {task}")
            continue
        if (student, task) in seen:
            problems.append(f"line {line}: {student} {task} is corrected twice (also on line {seen[student, task]})")
            continue
        seen[student, task] = line
        overrides.append(Override(student, task, points, comment, line))
    if problems:
        raise OverridesError(f"--overrides {path}: {len(problems)} problems, nothing was graded or written: "
                             + "; ".join(problems))
    return overrides


def apply_overrides(grades: Sequence[SubmissionGrade], students: Sequence[str],
                    overrides: Sequence[Override]) -> None:
    """Replace the points of every overridden task in ``grades`` (``students`` are their ids), in place."""
    by_student = dict(zip(students, grades))
    for override in overrides:
        grade = by_student[override.student]
        original = grade.tasks[override.task]
        grade.tasks[override.task] = CorrectedTaskGrade(
            override.points, original.max_points, list(original.messages), original.status, list(original.failed),
            Correction(original.points, override.points, override.comment))
