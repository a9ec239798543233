"""Gradebook output: a table for the terminal, JSON and CSV files written atomically."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from grading.core import TASKS, SubmissionGrade


def table(grades: Sequence[SubmissionGrade]) -> str:
    """One row per submission, one column per task, the total; then every message."""
    header = ["submission", *TASKS, "total"]
    rows = [[g.path, *(str(g.tasks[t].points) for t in TASKS), f"{g.points}/{g.max_points}"] for g in grades]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for grade in grades:
        notes = [f"  {task}: {message}" for task in TASKS for message in grade.tasks[task].messages]
        if notes:
            lines += ["", f"{grade.path}:", *notes]
    return "\n".join(lines)


def to_json(grades: Sequence[SubmissionGrade]) -> str:
    return json.dumps({"submissions": [g.to_json() for g in grades]}, indent=2) + "\n"


def to_csv(grades: Sequence[SubmissionGrade]) -> str:
    """Columns: path, the points of each task, points, max_points, messages (joined by ' | ')."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", *TASKS, "points", "max_points", "messages"])
    for g in grades:
        messages = " | ".join(f"{t}: {m}" for t in TASKS for m in g.tasks[t].messages)
        writer.writerow([g.path, *(g.tasks[t].points for t in TASKS), g.points, g.max_points, messages])
    return buffer.getvalue()


def write_atomically(path: Path, text: str, protected: Sequence[Path] = ()) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and os.replace.

    Refuses to write over any of the ``protected`` files (the submissions).
    """
    target = path.resolve()
    if any(target == p.resolve() for p in protected):
        raise ValueError(f"refusing to write the gradebook over the submission {path}; choose another file")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
