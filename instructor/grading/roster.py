"""The class list and the LMS's grade import: ``--roster FILE.csv --lms canvas|moodle --lms-csv OUT.csv``.

The roster is the LMS's own export of the class, so that its ids are the ones
the submissions' layout gives (``layouts.py``):

- Canvas: the gradebook export (Grades → Export), columns ``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``, then the assignments; ``ID``
  is the Canvas user id of the bulk download's file names. The import file
  has those five columns, then the assignment's column (``Name (id)`` of an
  existing assignment, or a new name, which creates one), with the
  "Points Possible" row Canvas's export has under the header.
- Moodle: the assignment's grading worksheet (Submissions → Download
  grading worksheet, "Offline grading worksheet" feedback enabled), whose
  ``Identifier`` column holds ``Participant <id>``, the participant id of the
  bulk download's folders. The import file is the worksheet with ``Grade``
  and ``Feedback comments`` filled in (Upload grading worksheet).

Every rostered student is a row of the import file; one without a
submission has an empty grade, and the reason is in Moodle's feedback
column, in ``JoinedRoster.missing`` (the gradebook JSON) and on the terminal.
A submission whose id is not on the roster is never dropped: it stays in the
gradebook and is listed in ``JoinedRoster.unrostered``.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from instructor.grading.core import SubmissionGrade
from instructor.grading.overrides import correction_of
from instructor.tasks import TASKS

LMS_NAMES = ("canvas", "moodle")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_POSSIBLE = "Points Possible"
MOODLE_IDENTIFIER = "Identifier"
MOODLE_GRADE = "Grade"
MOODLE_FEEDBACK = "Feedback comments"
MOODLE_MODIFIED = "Last modified (grade)"
# the columns each LMS's import needs in the roster, and the default column joined to the submission ids
REQUIRED_COLUMNS = {"canvas": ("Student", "ID"), "moodle": (MOODLE_IDENTIFIER, MOODLE_GRADE, MOODLE_MODIFIED)}
DEFAULT_KEY = {"canvas": "ID", "moodle": MOODLE_IDENTIFIER}
# Moodle writes the participant id as "Participant 123456" (in the site's language)
MOODLE_PARTICIPANT = re.compile(r"(\d+)\s*$")
NO_SUBMISSION = "no submission found"


class RosterError(ValueError):
    """The roster cannot be read or joined; the message names the file and what to fix."""


@dataclass
class Roster:
    path: Path
    lms: str
    header: list[str]
    rows: list[dict[str, str]]
    key: str  # the column whose values are the submissions' ids


@dataclass
class JoinedRoster:
    """The LMS import file's text and what the join found."""

    csv_text: str
    # rostered students without a submission: {"id", "name", "reason"}
    missing: list[dict[str, str]] = field(default_factory=list)
    # ids of submissions that no rostered student has
    unrostered: list[str] = field(default_factory=list)

    def to_json(self, roster: Roster) -> dict:
        return {"file": str(roster.path), "lms": roster.lms, "key": roster.key,
                "students": len(roster.rows), "missing": self.missing, "unrostered": self.unrostered}


def read_roster(path: Path, lms: str, key: str | None = None) -> Roster:
    """The roster CSV ``path`` as the ``lms`` exports it; ``key`` overrides the column joined to the ids."""
    if lms not in LMS_NAMES:
        raise RosterError(f"unknown LMS {lms!r}; choose one of {', '.join(LMS_NAMES)}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RosterError(f"--roster {path}: cannot be read as a CSV file ({type(exc).__name__}: {exc})") from exc
    if not rows:
        raise RosterError(f"--roster {path}: the file is empty; export the class list from {lms.title()}")
    header = [cell.strip() for cell in rows[0]]
    key = key or DEFAULT_KEY[lms]
    missing = [column for column in (*REQUIRED_COLUMNS[lms], key) if column not in header]
    if missing:
        raise RosterError(f"--roster {path}: no column {', '.join(repr(c) for c in dict.fromkeys(missing))} "
                          f"(found {', '.join(header)}); {export_hint(lms)}")
    records = []
    for row in rows[1:]:
        record = dict(zip(header, (cell.strip() for cell in row)))
        if lms == "canvas" and record.get("Student", "") == CANVAS_POINTS_POSSIBLE:
            continue
        if any(record.values()):
            records.append(record)
    keys = [student_key(record, lms, key) for record in records]
    if any(not k for k in keys):
        raise RosterError(f"--roster {path}: {keys.count('')} rows have an empty {key!r}")
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise RosterError(f"--roster {path}: the {key!r} values {', '.join(repeated)} are on several rows")
    return Roster(path, lms, header, records, key)


def export_hint(lms: str) -> str:
    return {"canvas": "use Canvas's gradebook export (Grades → Export)",
            "moodle": "use the assignment's grading worksheet (Submissions → Download grading worksheet)"}[lms]


def student_key(record: dict[str, str], lms: str, key: str) -> str:
    """The id of a roster row as the submissions' layout writes it (Moodle's "Participant 12" is 12)."""
    value = record.get(key, "").strip()
    if lms == "moodle" and key == MOODLE_IDENTIFIER:
        found = MOODLE_PARTICIPANT.search(value)
        return found.group(1) if found else value
    return value


def display_name(record: dict[str, str], lms: str) -> str:
    return record.get("Student" if lms == "canvas" else "Full name", "")


def summary(grade: SubmissionGrade) -> str:
    """One line for the LMS's feedback: points per task, corrections, the total."""
    parts = []
    for task in TASKS:
        result = grade.tasks[task]
        correction = correction_of(result)
        note = f" (corrected from {correction.original_points}: {correction.comment})" if correction else ""
        parts.append(f"{task} {result.points}/{result.max_points}{note}")
    return f"{'; '.join(parts)}; total {grade.points}/{grade.max_points}"


def join(roster: Roster, grades: Sequence[SubmissionGrade], students: Sequence[str],
         assignment: str) -> JoinedRoster:
    """The LMS import file for ``grades`` (``students``: their ids), one row per rostered student.

    ``assignment`` is the Canvas column to fill (ignored for Moodle, whose
    worksheet belongs to one assignment).
    """
    by_id = dict(zip(students, grades))
    keys = [student_key(record, roster.lms, roster.key) for record in roster.rows]
    joined = JoinedRoster("")
    joined.unrostered = [student for student in students if student not in set(keys)]
    out = io.StringIO()
    writer = csv.writer(out)
    if roster.lms == "canvas":
        writer.writerow([*CANVAS_IDENTITY, assignment])
        maximum = max((g.max_points for g in grades), default=0)
        writer.writerow([CANVAS_POINTS_POSSIBLE, "", "", "", "", maximum])
    else:
        columns = roster.header + ([MOODLE_FEEDBACK] if MOODLE_FEEDBACK not in roster.header else [])
        writer.writerow(columns)
    for record, key in zip(roster.rows, keys):
        grade = by_id.get(key)
        if grade is None:
            joined.missing.append({"id": key, "name": display_name(record, roster.lms), "reason": NO_SUBMISSION})
        points = "" if grade is None else str(grade.points)
        if roster.lms == "canvas":
            writer.writerow([*(record.get(column, "") for column in CANVAS_IDENTITY), points])
        else:
            filled = {**record, MOODLE_GRADE: points,
                      MOODLE_FEEDBACK: NO_SUBMISSION if grade is None else summary(grade)}
            writer.writerow([filled.get(column, "") for column in columns])
    joined.csv_text = out.getvalue()
    return joined
