"""Gradebook output: a table for the terminal, JSON and CSV files written atomically.

Every submission gets a student id, unique in the class: the id its folder
layout gives (``layouts.unique_ids``), passed as ``students``, or else its
file name without the suffix (``student_ids``); the CSV, the JSON, the
feedback files and the class report all use it. A task whose points the
instructor corrected (``overrides.py``) shows the grader's points, the new
points and the comment in every output.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from instructor.grading.core import SubmissionGrade
from instructor.grading.layouts import FoundSubmission
from instructor.grading.overrides import correction_of
from instructor.grading.text import numbered_apart, visible
from instructor.tasks import TASKS

# a spreadsheet runs a cell that starts with one of these as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def student_ids(paths: Sequence[str]) -> list[str]:
    """The student id of each submission: its file name without suffix, unique in ``paths``.

    ``alice.ipynb`` is ``alice``; control characters are written as escapes
    (``visible``). When two submissions share a name (``a/alice.ipynb``,
    ``b/alice.py``) the later ones get ``-2``, ``-3``, ... appended, in the order given.
    """
    return numbered_apart([visible(Path(path).stem or Path(path).name or "submission", keep_newlines=False)
                           for path in paths])


def ids_of(grades: Sequence[SubmissionGrade], students: Sequence[str] | None = None) -> list[str]:
    """``students`` when given (one id per grade), else the ids ``student_ids`` makes from the paths."""
    if students is None:
        return student_ids([g.path for g in grades])
    if len(students) != len(grades):
        raise ValueError(f"{len(students)} student ids for {len(grades)} grades")
    return list(students)


def corrections_text(grade: SubmissionGrade) -> str:
    """Every corrected task of ``grade``: ``2b: 0 → 9 (comment)``, joined by ``; ``."""
    notes = []
    for task in TASKS:
        correction = correction_of(grade.tasks[task])
        if correction is not None:
            comment = f" ({correction.comment})" if correction.comment else ""
            notes.append(f"{task}: {correction.original_points} → {correction.points}{comment}")
    return "; ".join(notes)


CORRECTED_MARK = "*"


def table(grades: Sequence[SubmissionGrade], found: Sequence[FoundSubmission] | None = None) -> str:
    """One row per submission, one column per task, the total; then every message (control characters shown).

    A corrected task's points are marked ``*`` and its correction is listed
    under the submission; ``found`` (one per grade) adds "late" where the
    layout says so.
    """
    header = ["submission", *TASKS, "total"]
    rows = [[visible(g.path, keep_newlines=False),
             *(f"{g.tasks[t].points}{CORRECTED_MARK if correction_of(g.tasks[t]) else ''}" for t in TASKS),
             f"{g.points}/{g.max_points}"]
            for g in grades]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for index, grade in enumerate(grades):
        # a message shared by several tasks (an unreadable file) is printed once, naming them all
        by_message: dict[str, list[str]] = {}
        for task in TASKS:
            for message in grade.tasks[task].messages:
                by_message.setdefault(message, []).append(task)
        notes = [f"  {', '.join(tasks)}: {visible(message, keep_newlines=False)}"
                 for message, tasks in by_message.items()]
        if corrections_text(grade):
            corrected = visible(corrections_text(grade), keep_newlines=False)
            notes.append(f"  corrected by the instructor: {corrected}")
        if found is not None and found[index].late:
            notes.append("  handed in late")
        if grade.review:
            notes.append(f"  review: {visible('; '.join(grade.review), keep_newlines=False)}")
        if notes:
            lines += ["", f"{visible(grade.path, keep_newlines=False)}:", *notes]
    return "\n".join(lines)


def submission_json(grade: SubmissionGrade, student: str, found: FoundSubmission | None) -> dict:
    """One gradebook entry: the id, ``SubmissionGrade.to_json()``, each task's ``correction``, the layout's facts."""
    entry = {"id": student, **grade.to_json()}
    for task, result in grade.tasks.items():
        correction = correction_of(result)
        if correction is not None:
            entry["tasks"][task]["correction"] = {"original_points": correction.original_points,
                                                  "points": correction.points, "comment": correction.comment}
    if found is not None:
        entry.update(layout=found.layout, late=found.late, name=found.name)
    return entry


def to_json(grades: Sequence[SubmissionGrade], students: Sequence[str] | None = None,
            found: Sequence[FoundSubmission] | None = None, run: dict | None = None,
            roster: dict | None = None) -> str:
    """``{"run": {...}, "submissions": [...], "roster": {...}}``; ``run`` and ``roster`` only when given.

    Each submission is ``submission_json``: its student ``id`` (``students``,
    or made from the paths), points and messages, corrections, and, with
    ``found``, the ``layout``, ``late`` and the student's ``name`` where the
    layout has one. ``run`` is ``run_record.run_record``'s record of the run.
    """
    ids = ids_of(grades, students)
    entries = [submission_json(g, student, found[index] if found is not None else None)
               for index, (student, g) in enumerate(zip(ids, grades))]
    data = {**({"run": run} if run is not None else {}), "submissions": entries,
            **({"roster": roster} if roster is not None else {})}
    return json.dumps(data, indent=2) + "\n"


def spreadsheet_text(text: str) -> str:
    """``text`` for one CSV cell: on one line, and never read as a formula by a spreadsheet."""
    text = " ".join(visible(text).split())
    return "'" + text if text.startswith(FORMULA_STARTS) else text


CSV_COLUMNS = ("id", *TASKS, "total", "max_points", "path", "not_graded", "review", "messages", "late",
               "corrections")


def to_csv(grades: Sequence[SubmissionGrade], students: Sequence[str] | None = None,
           found: Sequence[FoundSubmission] | None = None) -> str:
    """A gradebook: one row per student, the columns ``CSV_COLUMNS``.

    ``id`` is the student id (file name without suffix), then the points of each
    task and the ``total``; ``max_points``; the submission's ``path``;
    ``not_graded`` lists the tasks that could not be graded with their status
    (``2a: timeout; 3b: missing``); ``review`` the places flagged for review;
    ``messages`` every message of a lost point (``1a: ... | 2a: ...``);
    ``late`` is ``late`` where the layout says so (``found``); ``corrections``
    the instructor's corrections (``2b: 0 → 9 (comment)``). Text
    cells are on one line, and a cell starting with ``=``, ``+``, ``-`` or ``@``
    gets a leading ``'`` so that spreadsheets show it instead of running it.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for index, (student, g) in enumerate(zip(ids_of(grades, students), grades)):
        late = "late" if found is not None and found[index].late else ""
        messages = " | ".join(f"{t}: {m}" for t in TASKS for m in g.tasks[t].messages)
        not_graded = "; ".join(f"{t}: {g.tasks[t].status}" for t in TASKS if g.tasks[t].status != "graded")
        writer.writerow([spreadsheet_text(student), *(g.tasks[t].points for t in TASKS), g.points, g.max_points,
                         spreadsheet_text(g.path), not_graded, spreadsheet_text("; ".join(g.review)),
                         spreadsheet_text(messages), late, spreadsheet_text(corrections_text(g))])
    return buffer.getvalue()


def check_output_path(path: Path, protected: Sequence[Path] = ()) -> None:
    """Raise ValueError if ``path`` may not be written: a symlink, a folder or one of ``protected``."""
    if path.is_symlink():
        raise ValueError(f"refusing to write {path}: it is a symbolic link; remove it or choose another file")
    if path.is_dir():
        raise ValueError(f"refusing to write {path}: it is a folder; choose a file")
    for other in protected:
        if _same_file(path, Path(other)):
            raise ValueError(f"refusing to write over the submission {path}; choose another file")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.parent.resolve() / a.name == b.resolve()


def write_atomically(path: Path, text: str, protected: Sequence[Path] = (), sync: bool = True) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and os.replace.

    Refuses (ValueError) to write over any of the ``protected`` files (the
    submissions), over a folder, or through a symbolic link: a link at ``path``
    is never followed, the write is refused. The folder must exist. ``sync``
    flushes the file to disk before it replaces the old one.
    """
    path = Path(path)
    check_output_path(path, protected)
    folder = path.parent.resolve()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace", newline="") as file:
            file.write(text)
            if sync:
                file.flush()
                os.fsync(file.fileno())
        # a link planted since the check is replaced, not followed: os.replace renames over the entry itself
        check_output_path(folder / path.name, protected)
        os.replace(temporary, folder / path.name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
