"""Corrections by the instructor (--overrides): checked before grading, shown in all five outputs (no grading)."""
from __future__ import annotations

import csv
import io
import json

import pytest
from test_feedback import HOSTILE, assert_inert, example_grade, full_marks, parse_html, task_grade

from instructor import grade
from instructor.grading.class_report import render_report
from instructor.grading.feedback import render_feedback
from instructor.grading.judge import TASK_POINTS
from instructor.grading.overrides import OverridesError, apply_overrides, correction_of, read_overrides
from instructor.grading.report import table, to_csv, to_json
from instructor.tasks import TASKS

STUDENTS = ["alice", "bob"]


def overrides_file(tmp_path, text: str):
    path = tmp_path / "overrides.csv"
    path.write_text(text, encoding="utf-8")
    return path


def corrected_class(tmp_path):
    """alice (51 points, 2b corrected 10 -> 7 with a comment) and bob (full marks, 3b corrected 20 -> 0)."""
    grades = [example_grade(), full_marks("submissions/bob.ipynb")]
    grades[0].tasks["2b"] = task_grade("2b", ["one_epoch_each"])
    path = overrides_file(tmp_path, 'id,task,points,comment\nalice,2b,7,"late penalty, agreed in class"\n'
                                    "bob,3b,0,copied from a classmate\n")
    apply_overrides(grades, STUDENTS, read_overrides(path, STUDENTS))
    return grades


def test_overrides_replace_points_and_keep_the_graders(tmp_path):
    grades = corrected_class(tmp_path)
    alice, bob = grades
    correction = correction_of(alice.tasks["2b"])
    assert (correction.original_points, correction.points) == (9, 7)
    assert correction.comment == "late penalty, agreed in class"
    assert alice.tasks["2b"].points == 7 and alice.points == 51 - 10 + 7
    assert alice.tasks["2b"].failed == ["one_epoch_each"] and alice.tasks["2b"].messages  # the grader's evidence
    assert bob.points == 80 and correction_of(bob.tasks["3a"]) is None


def test_corrections_appear_in_the_table_json_and_csv(tmp_path):
    grades = corrected_class(tmp_path)
    text = table(grades)
    assert "7*" in text and "corrected by the instructor: 2b: 9 → 7 (late penalty, agreed in class)" in text
    entries = json.loads(to_json(grades, STUDENTS))["submissions"]
    assert entries[0]["tasks"]["2b"]["correction"] == {"original_points": 9, "points": 7,
                                                      "comment": "late penalty, agreed in class"}
    assert entries[0]["tasks"]["2b"]["points"] == 7 and entries[1]["points"] == 80
    assert "correction" not in entries[0]["tasks"]["1a"]
    rows = list(csv.DictReader(io.StringIO(to_csv(grades, STUDENTS))))
    assert rows[0]["2b"] == "7" and rows[0]["total"] == "48"
    assert rows[0]["corrections"] == "2b: 9 → 7 (late penalty, agreed in class)"
    assert rows[1]["corrections"] == "3b: 20 → 0 (copied from a classmate)"


def test_corrections_appear_on_the_feedback_page_and_in_the_class_report(tmp_path):
    grades = corrected_class(tmp_path)
    page = parse_html(render_feedback(grades[0], "alice"))
    note = page.find("section", data_task="2b").find("p", class_="correction")
    assert note.attrs["data-original-points"] == "9"
    assert "from 9 to 7 points: late penalty, agreed in class" in note.text()
    assert page.find(id="total-points").text() == "48"
    assert not page.find("section", data_task="1a").find_all("p", class_="correction")
    report = parse_html(render_report(grades, None, STUDENTS))
    rows = report.find("table", id="corrections-table").find_all("tr", data_task="2b")
    assert len(rows) == 1 and rows[0].find("td", class_="original").text() == "9"
    assert rows[0].find("td", class_="corrected").text() == "7"
    assert len(report.find("table", id="corrections-table").find_all("tr", data_task="3b")) == 1
    assert report.find(id="n-corrections").text() == "2"


def test_a_hostile_comment_stays_inert(tmp_path):
    grades = [full_marks("alice.ipynb"), full_marks("bob.ipynb")]
    path = tmp_path / "o.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        comment = HOSTILE.replace("\ud800", "") + "\nsecond line"  # a lone surrogate cannot be written as UTF-8
        csv.writer(file).writerows([["id", "task", "points", "comment"], ["alice", "1a", "5", comment]])
    apply_overrides(grades, STUDENTS, read_overrides(path, STUDENTS))
    assert_inert(render_feedback(grades[0], "alice"))
    assert_inert(render_report(grades, None, STUDENTS))


@pytest.mark.parametrize("text, problem", [
    ("id,task,points,comment\ncarol,1a,5,\n", "no submission has the id 'carol'"),
    ("id,task,points,comment\nalice,4a,5,\n", "unknown task '4a'"),
    (f"id,task,points,comment\nalice,1b,{TASK_POINTS['1b'] + 1},\n", f"outside 0..{TASK_POINTS['1b']}"),
    ("id,task,points,comment\nalice,1b,-1,\n", "outside 0..10"),
    ("id,task,points,comment\nalice,1b,7.5,\n", "'7.5' is not a whole number"),
    ("id,task,points,comment\nalice,1b,5,a\nalice,1b,6,b\n", "corrected twice (also on line 2)"),
    ("student,task,points\nalice,1b,5\n", "the first line must be the header id,task,points,comment"),
    ("", "the first line must be the header"),
    ("id,task,points,comment\nalice,1b,5,a,b,c\n", "6 cells, expected 4"),
])
def test_a_bad_overrides_file_says_what_is_wrong(tmp_path, text, problem):
    with pytest.raises(OverridesError) as error:
        read_overrides(overrides_file(tmp_path, text), STUDENTS)
    assert problem in str(error.value) and "overrides.csv" in str(error.value)


def test_every_task_can_be_corrected_to_its_bounds(tmp_path):
    lines = "".join(f"alice,{task},{TASK_POINTS[task]},\nbob,{task},0,\n" for task in TASKS)
    overrides = read_overrides(overrides_file(tmp_path, "id,task,points,comment\n" + lines), STUDENTS)
    grades = [full_marks("alice.ipynb"), full_marks("bob.ipynb")]
    apply_overrides(grades, STUDENTS, overrides)
    assert [g.points for g in grades] == [100, 0]


def fake_grading(calls):
    def grade_paths(paths, *args, **kwargs):
        calls.append(paths)
        return [full_marks(p) for p in paths]
    return grade_paths


@pytest.fixture
def class_folder(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name in ("alice.ipynb", "bob.py"):
        (folder / name).write_text("")
    return folder


def test_cli_applies_overrides_to_every_output(class_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(grade, "grade_paths", fake_grading([]))
    path = overrides_file(tmp_path, "id,task,points,comment\nbob,2a,12,partly by hand\n")
    out = tmp_path / "out"
    out.mkdir()
    assert grade.main(["--overrides", str(path), "--json", str(out / "g.json"), "--csv", str(out / "g.csv"),
                       "--feedback", str(out / "fb"), "--report", str(out / "r.html"), str(class_folder)]) == 0
    data = json.loads((out / "g.json").read_text())
    assert data["submissions"][1]["tasks"]["2a"]["correction"]["original_points"] == 20
    assert data["run"]["options"]["overrides"]["file"] == str(path)
    assert "2a: 20 → 12 (partly by hand)" in (out / "g.csv").read_text(encoding="utf-8")
    assert "from 20 to 12 points: partly by hand" in (out / "fb" / "bob.html").read_text(encoding="utf-8")
    assert "corrections-table" in (out / "r.html").read_text(encoding="utf-8")


def test_cli_with_a_bad_overrides_file_grades_and_writes_nothing(class_folder, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(grade, "grade_paths", fake_grading(calls))
    path = overrides_file(tmp_path, "id,task,points,comment\ncarol,2a,12,\nbob,2a,50,\n")
    previous = tmp_path / "g.csv"
    previous.write_text("earlier gradebook")
    assert grade.main(["--overrides", str(path), "--csv", str(previous), "--json", str(tmp_path / "g.json"),
                       str(class_folder)]) == grade.EXIT_CANNOT_GRADE
    err = capsys.readouterr().err
    assert "no submission has the id 'carol'" in err and "outside 0..20" in err and "nothing was graded" in err
    assert calls == [] and previous.read_text() == "earlier gradebook" and not (tmp_path / "g.json").exists()
