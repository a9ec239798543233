"""Gradebook output: a table for the terminal, JSON and CSV files written atomically.

Every submission gets a student id, its file name without the suffix, unique
in the class (``student_ids``); the CSV, the JSON, the feedback files and the
class report all use it.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from instructor.grading.core import TASKS, SubmissionGrade
from instructor.grading.text import visible

# a spreadsheet runs a cell that starts with one of these as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def student_ids(paths: Sequence[str]) -> list[str]:
    """The student id of each submission: its file name without suffix, unique in ``paths``.

    ``alice.ipynb`` is ``alice``; control characters are written as escapes
    (``visible``). When two submissions share a name (``a/alice.ipynb``,
    ``b/alice.py``) the later ones get ``-2``, ``-3``, ... appended, in the order given.
    """
    taken: set[str] = set()
    ids = []
    for path in paths:
        stem = visible(Path(path).stem or Path(path).name or "submission", keep_newlines=False)
        candidate, number = stem, 1
        while candidate in taken:
            number += 1
            candidate = f"{stem}-{number}"
        taken.add(candidate)
        ids.append(candidate)
    return ids


def shared_ids(paths: Sequence[str]) -> dict[str, list[str]]:
    """Each file name stem that more than one of ``paths`` has, with those paths."""
    by_stem: dict[str, list[str]] = {}
    for path in paths:
        by_stem.setdefault(Path(path).stem or Path(path).name or "submission", []).append(path)
    return {stem: group for stem, group in by_stem.items() if len(group) > 1}


def table(grades: Sequence[SubmissionGrade]) -> str:
    """One row per submission, one column per task, the total; then every message (control characters shown)."""
    header = ["submission", *TASKS, "total"]
    rows = [[visible(g.path, keep_newlines=False), *(str(g.tasks[t].points) for t in TASKS),
             f"{g.points}/{g.max_points}"] for g in grades]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for grade in grades:
        # a message shared by several tasks (an unreadable file) is printed once, naming them all
        by_message: dict[str, list[str]] = {}
        for task in TASKS:
            for message in grade.tasks[task].messages:
                by_message.setdefault(message, []).append(task)
        notes = [f"  {', '.join(tasks)}: {visible(message, keep_newlines=False)}"
                 for message, tasks in by_message.items()]
        if grade.review:
            notes.append(f"  review: {visible('; '.join(grade.review), keep_newlines=False)}")
        if notes:
            lines += ["", f"{visible(grade.path, keep_newlines=False)}:", *notes]
    return "\n".join(lines)


def to_json(grades: Sequence[SubmissionGrade]) -> str:
    """``{"submissions": [...]}``: each submission's ``SubmissionGrade.to_json()`` with its student ``id``."""
    ids = student_ids([g.path for g in grades])
    return json.dumps({"submissions": [{"id": student, **g.to_json()} for student, g in zip(ids, grades)]},
                      indent=2) + "\n"


def spreadsheet_text(text: str) -> str:
    """``text`` for one CSV cell: on one line, and never read as a formula by a spreadsheet."""
    text = " ".join(visible(text).split())
    return "'" + text if text.startswith(FORMULA_STARTS) else text


CSV_COLUMNS = ("id", *TASKS, "total", "max_points", "path", "not_graded", "review", "messages")


def to_csv(grades: Sequence[SubmissionGrade]) -> str:
    """A gradebook: one row per student, the columns ``CSV_COLUMNS``.

    ``id`` is the student id (file name without suffix), then the points of each
    task and the ``total``; ``max_points``; the submission's ``path``;
    ``not_graded`` lists the tasks that could not be graded with their status
    (``2a: timeout; 3b: missing``); ``review`` the places flagged for review;
    ``messages`` every message of a lost point (``1a: ... | 2a: ...``). Text
    cells are on one line, and a cell starting with ``=``, ``+``, ``-`` or ``@``
    gets a leading ``'`` so that spreadsheets show it instead of running it.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for student, g in zip(student_ids([g.path for g in grades]), grades):
        messages = " | ".join(f"{t}: {m}" for t in TASKS for m in g.tasks[t].messages)
        not_graded = "; ".join(f"{t}: {g.tasks[t].status}" for t in TASKS if g.tasks[t].status != "graded")
        writer.writerow([spreadsheet_text(student), *(g.tasks[t].points for t in TASKS), g.points, g.max_points,
                         spreadsheet_text(g.path), not_graded, spreadsheet_text("; ".join(g.review)),
                         spreadsheet_text(messages)])
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
