"""Where submissions are and whose they are: nbgrader, Canvas, Moodle and flat folders (no grading).

Each tree is built from the platform's documented naming:
- nbgrader's course directory, ``{nbgrader_step}/{student_id}/{assignment_id}/{notebook_id}.ipynb``
  with the step ``submitted`` (nbgrader docs, "How to structure course files");
- Canvas's "Download Submissions" zip, ``<name>_<user id>_<submission id>_<file>`` and
  ``<name>_late_<user id>_<submission id>_<file>`` for late work;
- Moodle's "Download all submissions" zip, made by mod/assign's download_submissions:
  ``clean_filename(fullname with "_" as " " + "_" + participant id) + "_assignsubmission_file_"`` as a
  folder per student (the default since Moodle 3.1) or as a prefix of each file.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from instructor import grade
from instructor.grading.core import SubmissionGrade
from instructor.grading.layouts import LayoutError, find_submissions, unique_ids
from instructor.grading.report import to_csv, to_json
from instructor.grading.verdicts import TaskGrade

NOTEBOOK = "Ex4_Optimization2.ipynb"


def make(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    return root


def ids(found) -> list[str]:
    return [entry.student for entry in found]


def test_nbgrader_ids_are_the_student_folders(tmp_path):
    course = make(tmp_path / "course", f"submitted/alice/ps4/{NOTEBOOK}", f"submitted/bob/ps4/{NOTEBOOK}",
                  "submitted/bob/ps4/utils.py", "submitted/bob/ps4/ex4/tasks/task_1a.py",
                  f"submitted/bob/ps4/.ipynb_checkpoints/{NOTEBOOK}", "source/ps4/solution_notes.py")
    found = find_submissions([str(course / "submitted")])
    assert ids(found) == ["alice", "bob"] and {f.layout for f in found} == {"nbgrader"}
    assert all(Path(f.path).name == NOTEBOOK for f in found)
    # the submitted folder may also lie below the folder given, or be named explicitly with a file
    assert ids(find_submissions([str(course / "submitted" / "alice")])) == ["alice"]
    assert ids(find_submissions([str(course / "submitted" / "bob" / "ps4" / NOTEBOOK)])) == ["bob"]


def test_canvas_ids_are_user_ids_and_late_work_is_marked(tmp_path):
    folder = make(tmp_path / "submissions", f"doejane_1234_567890_{NOTEBOOK}",
                  "smithbob_late_2345_567891_Ex4_Optimization2-1.ipynb", "leeann_3456_567892_my_export.py",
                  "leeann_3456_567892_utils.py")
    found = find_submissions([str(folder)])
    assert ids(found) == ["1234", "3456", "2345"]  # sorted by file name
    by_id = {f.student: f for f in found}
    assert by_id["2345"].late and not by_id["1234"].late and not by_id["3456"].late
    assert by_id["1234"].name == "doejane" and by_id["3456"].file == "my_export.py"
    assert len(found) == 3  # the copy of utils.py students were given is not a submission


def test_moodle_ids_are_participant_ids_in_folders_or_file_prefixes(tmp_path):
    folder = make(tmp_path / "download", f"Jane Doe_201_assignsubmission_file_/{NOTEBOOK}",
                  "Bob van der Berg_202_assignsubmission_file_/sub/Ex4.py")
    found = find_submissions([str(folder)])
    assert sorted(ids(found)) == ["201", "202"] and {f.name for f in found} == {"Jane Doe", "Bob van der Berg"}
    flat = make(tmp_path / "flat_download", f"Jane Doe_201_assignsubmission_file_{NOTEBOOK}")
    [entry] = find_submissions([str(flat)])
    assert (entry.student, entry.layout, entry.file) == ("201", "moodle", NOTEBOOK)


def test_flat_ids_are_file_names_and_duplicates_are_numbered(tmp_path):
    folder = make(tmp_path / "class", "alice.ipynb", "bob.py", "late/alice.ipynb", "notes.txt")
    found = find_submissions([str(folder)])
    assert {f.layout for f in found} == {"flat"}
    assert unique_ids(found) == ["alice", "bob", "alice-2"]


def test_a_tree_of_two_layouts_is_an_error_naming_both(tmp_path):
    folder = make(tmp_path / "mixed", f"doejane_1234_567890_{NOTEBOOK}",
                  f"Jane Doe_201_assignsubmission_file_/{NOTEBOOK}")
    with pytest.raises(LayoutError) as error:
        find_submissions([str(folder)])
    message = str(error.value)
    assert "canvas" in message and "moodle" in message and "--layout" in message
    assert "doejane_1234_567890" in message and "Jane Doe_201" in message


def test_a_platform_tree_with_stray_files_is_ambiguous(tmp_path):
    folder = make(tmp_path / "canvas", f"doejane_1234_567890_{NOTEBOOK}", "alice.ipynb")
    with pytest.raises(LayoutError, match="canvas.*flat"):
        find_submissions([str(folder)])
    # forcing flat takes every file by its name
    assert sorted(ids(find_submissions([str(folder)], "flat"))) == ["alice", "doejane_1234_567890_Ex4_Optimization2"]


def test_a_forced_layout_names_the_files_that_do_not_fit(tmp_path):
    folder = make(tmp_path / "class", "alice.ipynb", "bob.ipynb")
    with pytest.raises(LayoutError, match=r"2 files do not fit the canvas layout.*alice\.ipynb"):
        find_submissions([str(folder)], "canvas")


def test_missing_paths_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such submission file or folder"):
        find_submissions([str(tmp_path / "missing")])
    make(tmp_path / "empty", "notes.txt")
    with pytest.raises(FileNotFoundError, match="holds no submission"):
        find_submissions([str(tmp_path / "empty")])


def full_marks(path: str) -> SubmissionGrade:
    return SubmissionGrade(path, {"1a": TaskGrade(20, 20), "1b": TaskGrade(10, 10), "2a": TaskGrade(20, 20),
                                  "2b": TaskGrade(10, 10), "3a": TaskGrade(20, 20), "3b": TaskGrade(20, 20)})


def test_late_and_the_layout_id_are_in_the_gradebook(tmp_path):
    folder = make(tmp_path / "canvas", f"doejane_1234_567890_{NOTEBOOK}", f"smithbob_LATE_2345_567891_{NOTEBOOK}")
    found = find_submissions([str(folder)])
    grades = [full_marks(f.path) for f in found]
    students = unique_ids(found)
    entries = json.loads(to_json(grades, students, found))["submissions"]
    assert {e["id"]: e["late"] for e in entries} == {"1234": False, "2345": True}
    rows = list(csv.DictReader(io.StringIO(to_csv(grades, students, found))))
    assert {row["id"]: row["late"] for row in rows} == {"1234": "", "2345": "late"}


def test_cli_grades_an_nbgrader_tree_under_student_ids(tmp_path, monkeypatch):
    course = make(tmp_path, f"submitted/alice/ps4/{NOTEBOOK}", f"submitted/bob/ps4/{NOTEBOOK}")
    graded = []

    def fake_grade_paths(paths, *args, **kwargs):
        graded.extend(paths)
        return [full_marks(p) for p in paths]

    monkeypatch.setattr(grade, "grade_paths", fake_grade_paths)
    out = tmp_path / "g.json"
    assert grade.main(["--json", str(out), str(course / "submitted")]) == 0
    assert [e["id"] for e in json.loads(out.read_text())["submissions"]] == ["alice", "bob"]
    assert len(graded) == 2


def test_cli_refuses_an_ambiguous_tree_before_grading(tmp_path, monkeypatch, capsys):
    folder = make(tmp_path / "mixed", f"doejane_1234_567890_{NOTEBOOK}", f"submitted/bob/ps4/{NOTEBOOK}")
    monkeypatch.setattr(grade, "grade_paths", lambda *args, **kwargs: pytest.fail("graded an ambiguous tree"))
    assert grade.main(["--json", str(tmp_path / "g.json"), str(folder)]) == grade.EXIT_CANNOT_GRADE
    err = capsys.readouterr().err
    assert "nbgrader" in err and "canvas" in err and "nothing was graded" in err
    assert not (tmp_path / "g.json").exists()
