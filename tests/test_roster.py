"""--roster with --lms canvas|moodle: every rostered student a row of the import file, nobody dropped (no grading).

The rosters are the LMS's own exports: Canvas's gradebook export (columns Student, ID, SIS User ID,
SIS Login ID, Section, the assignments, read-only totals; a "Points Possible" row under the header),
and Moodle's grading worksheet of an assignment (mod/assign's offline grading worksheet: Identifier
"Participant <id>", Full name, ..., Grade, Maximum Grade, ..., Last modified (grade), Feedback comments;
its import needs Identifier, Grade and Last modified (grade)).
"""
from __future__ import annotations

import csv
import io
import json

import pytest
from test_feedback import full_marks

from instructor import grade
from instructor.grading.overrides import Override, apply_overrides
from instructor.grading.roster import NO_SUBMISSION, RosterError, join, read_roster

CANVAS_EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Sheet 4 (5501),Current Score
    Points Possible,,,,,100.00,(read only)
"Doe, Jane",1234,S1,jdoe,Group A,,
"Smith, Bob",2345,S2,bsmith,Group A,,
"Lee, Ann",3456,S3,alee,Group B,,
"""
MOODLE_WORKSHEET = """Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,\
Last modified (submission),Last modified (grade),Feedback comments
Participant 201,Jane Doe,jane@example.org,Submitted for grading,,100.00,Yes,"Monday, 1 December 2026, 10:00 AM",-,
Participant 202,Bob Berg,bob@example.org,No submission,,100.00,Yes,-,-,
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_import_has_every_rostered_student_and_reports_the_rest(tmp_path):
    roster = read_roster(write(tmp_path, "canvas.csv", CANVAS_EXPORT), "canvas")
    grades = [full_marks("doejane_1234_1_a.ipynb"), full_marks("x_9999_2_a.ipynb")]
    grades[0].tasks["1a"].points = 5
    joined = join(roster, grades, ["1234", "9999"], "Sheet 4 (5501)")
    rows = rows_of(joined.csv_text)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Sheet 4 (5501)"]
    assert rows[1][0] == "Points Possible" and rows[1][-1] == "100"
    assert [row[1] for row in rows[2:]] == ["1234", "2345", "3456"]
    assert rows[2] == ["Doe, Jane", "1234", "S1", "jdoe", "Group A", "85"]
    assert rows[3][-1] == "" and rows[4][-1] == ""
    assert joined.missing == [{"id": "2345", "name": "Smith, Bob", "reason": NO_SUBMISSION},
                              {"id": "3456", "name": "Lee, Ann", "reason": NO_SUBMISSION}]
    assert joined.unrostered == ["9999"]


def test_moodle_import_is_the_worksheet_with_grades_and_feedback(tmp_path):
    roster = read_roster(write(tmp_path, "moodle.csv", MOODLE_WORKSHEET), "moodle")
    grades = [full_marks("Jane Doe_201_assignsubmission_file_/a.ipynb")]
    apply_overrides(grades, ["201"], [Override("201", "3b", 15, "checked by hand", 2)])
    joined = join(roster, grades, ["201"], "ignored")
    header, *rows = rows_of(joined.csv_text)
    assert header == rows_of(MOODLE_WORKSHEET)[0]
    records = [dict(zip(header, row)) for row in rows]
    assert [r["Identifier"] for r in records] == ["Participant 201", "Participant 202"]
    assert records[0]["Grade"] == "95" and "3b 15/20 (corrected from 20: checked by hand)" in \
        records[0]["Feedback comments"]
    assert records[0]["Last modified (grade)"] == "-" and records[0]["Email address"] == "jane@example.org"
    assert records[1]["Grade"] == "" and records[1]["Feedback comments"] == NO_SUBMISSION
    assert joined.unrostered == [] and [m["id"] for m in joined.missing] == ["202"]


@pytest.mark.parametrize("lms, text, problem", [
    ("canvas", "Name,Email\nJane,j@x\n", "no column 'Student', 'ID'"),
    ("moodle", "Identifier,Full name\nParticipant 1,Jane\n", "no column 'Grade', 'Last modified (grade)'"),
    ("canvas", 'Student,ID\n"Doe, Jane",1\n"Doe, J.",1\n', "the 'ID' values 1 are on several rows"),
    ("canvas", "", "the file is empty"),
])
def test_a_bad_roster_says_what_is_wrong(tmp_path, lms, text, problem):
    with pytest.raises(RosterError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        read_roster(write(tmp_path, "r.csv", text), lms)


def test_cli_writes_the_canvas_import_and_records_the_join(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "download"
    folder.mkdir()
    for name in ("doejane_1234_11_Ex4.ipynb", "smithbob_late_2345_12_Ex4.ipynb", "guest_7777_13_Ex4.ipynb"):
        (folder / name).write_text("")
    monkeypatch.setattr(grade, "grade_paths", lambda paths, *args, **kwargs: [full_marks(p) for p in paths])
    out = tmp_path / "import.csv"
    assert grade.main(["--roster", str(write(tmp_path, "canvas.csv", CANVAS_EXPORT)), "--lms", "canvas",
                       "--lms-csv", str(out), "--lms-assignment", "Sheet 4 (5501)", "--json",
                       str(tmp_path / "g.json"), str(folder)]) == 0
    rows = rows_of(out.read_text(encoding="utf-8"))
    assert {row[1]: row[-1] for row in rows[2:]} == {"1234": "100", "2345": "100", "3456": ""}
    data = json.loads((tmp_path / "g.json").read_text())
    assert data["roster"]["unrostered"] == ["7777"] and [m["id"] for m in data["roster"]["missing"]] == ["3456"]
    assert [e["id"] for e in data["submissions"]] == ["1234", "7777", "2345"]  # the unrostered one stays
    err = capsys.readouterr().err
    assert "1 rostered students have no submission" in err and "Lee, Ann (3456)" in err
    assert "1 submissions have no rostered student" in err and "7777" in err


def test_cli_needs_roster_lms_and_lms_csv_together(tmp_path, capsys):
    with pytest.raises(SystemExit):
        grade.main(["--roster", "r.csv", str(tmp_path)])
    assert "--roster, --lms and --lms-csv go together" in capsys.readouterr().err


def test_cli_refuses_a_bad_roster_before_grading(tmp_path, monkeypatch, capsys):
    (tmp_path / "alice.ipynb").write_text("")
    monkeypatch.setattr(grade, "grade_paths", lambda *args, **kwargs: pytest.fail("graded despite a bad roster"))
    assert grade.main(["--roster", str(write(tmp_path, "r.csv", "Name\nx\n")), "--lms", "moodle", "--lms-csv",
                       str(tmp_path / "out.csv"), str(tmp_path / "alice.ipynb")]) == grade.EXIT_CANNOT_GRADE
    assert "no column 'Identifier'" in capsys.readouterr().err and not (tmp_path / "out.csv").exists()
