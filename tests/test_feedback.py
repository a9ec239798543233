"""Feedback pages for students, the CSV/JSON gradebook and grade.py's output options, without grading.

The pages are parsed with the standard library's html.parser; grades are
built by hand or drawn (seeded) by ``synthetic_grades``.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from instructor import grade
from instructor.grading.core import SubmissionGrade
from instructor.grading.feedback import (
    CHECK_LABELS,
    feedback_file_names,
    render_feedback,
    safe_name,
    submission_problem,
    write_feedback,
)
from instructor.grading.judge import CHECK_POINTS, TASK_POINTS
from instructor.grading.report import CSV_COLUMNS, student_ids, to_csv, to_json, visible, write_atomically
from instructor.grading.verdicts import GRADING_FAILURES, TaskGrade
from instructor.solution_regions import find_regions
from instructor.tasks import TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ('<script>document.body.dataset.pwned = "1"</script><img src=x onerror="alert(1)">'
           "\" onmouseover='alert(2)' \x1b[2J\x1b[31mred\x00 \u202eevil\u202c \ud800 & &amp;")


# --------------------------------------------------------------------- helpers shared with test_class_report


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None]):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Descendants with ``tag`` and every attribute in ``attrs`` (class_ matches one of the classes)."""
        found = []
        for element in self.iter():
            if tag is not None and element.tag != tag:
                continue
            if all((value in (element.attrs.get("class") or "").split()) if name == "class_"
                   else element.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items()):
                found.append(element)
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'}> with {attrs}"
        return found[0]


VOID = {"meta", "img", "br", "link", "input", "hr", "source"}


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_html(source: str) -> Element:
    builder = TreeBuilder()
    builder.feed(source)
    builder.close()
    return builder.root


def assert_inert(source: str) -> None:
    """No script, no event handler, no external resource, no raw control character in ``source``."""
    document = parse_html(source)
    for element in document.iter():
        assert element.tag not in ("script", "iframe", "object", "embed", "link", "base"), element.tag
        for name, value in element.attrs.items():
            assert not name.startswith("on"), (element.tag, name)
            if name in ("src", "href"):
                assert value.startswith("data:image/png;base64,") or not re.match(r"^[a-z][a-z0-9+.-]*:|^//",
                                                                                 value, re.I), value
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]", source)


def reference_lines() -> list[str]:
    """The non-trivial lines of the reference answers (inside the solution regions of solution.py)."""
    source = (PROJECT_ROOT / "solution.py").read_text()
    lines = {line.strip() for region in find_regions(source, "solution.py") for line in region.body.splitlines()}
    return sorted(line for line in lines if not line.startswith("#") and sum(c.isalnum() for c in line) >= 4)


def task_grade(task: str, failed: list[str], status: str = "graded", message: str | None = None) -> TaskGrade:
    points = CHECK_POINTS[task]
    if status != "graded":
        return TaskGrade(0, TASK_POINTS[task], [message or f"not graded ({status})"], status, [])
    return TaskGrade(sum(p for c, p in points.items() if c not in failed), TASK_POINTS[task],
                     [f"{message or 'wrong'} ({task} {c}) [-{points[c]} P]" for c in failed], "graded", list(failed))


def synthetic_grades(n: int, seed: int = 0) -> list[SubmissionGrade]:
    """``n`` plausible submissions (failed checks, missing tasks, grading failures, review flags) from ``seed``."""
    rng = random.Random(seed)
    grades = []
    for index in range(n):
        tasks = {}
        for task in TASKS:
            draw = rng.random()
            if draw < 0.04:
                tasks[task] = task_grade(task, [], rng.choice(GRADING_FAILURES), "the grading process failed")
            elif draw < 0.10:
                tasks[task] = task_grade(task, [], "missing", f"not graded: the code of {task} was not found")
            elif draw < 0.13:
                tasks[task] = task_grade(task, [], "error", "the code raised ValueError: no")
            else:
                tasks[task] = task_grade(task, [c for c in CHECK_POINTS[task] if rng.random() < 0.25],
                                         message=f"expected x, got y, cell {rng.randint(1, 40)}, line 3")
        review = ["sys._getframe, cell 16 line 3"] if rng.random() < 0.05 else []
        grades.append(SubmissionGrade(f"submissions/student{index:03d}.ipynb", tasks, review))
    return grades


def full_marks(path: str = "a.ipynb") -> SubmissionGrade:
    return SubmissionGrade(path, {task: task_grade(task, []) for task in TASKS})


def example_grade() -> SubmissionGrade:
    grade = full_marks("submissions/alice.ipynb")
    grade.tasks["1a"] = TaskGrade(11, 20, ["SimpleMLP([784, 10]) never returned a negative output, cell 7, line 9 "
                                           "-- the last layer must not be followed by ReLU [-3 P]",
                                           "SimpleMLP([784, 10]) computes a different function [-6 P]"],
                                  "graded", ["negative_outputs", "same_function"])
    grade.tasks["2a"] = TaskGrade(0, 20, ["the code ran past the time limit of 20 s"], "timeout", [])
    grade.tasks["3b"] = TaskGrade(0, 20, ["not graded: compute_accuracy_per_class was not found in the "
                                          "submission"], "missing", [])
    return grade


# --------------------------------------------------------------------- one feedback page


def test_feedback_shows_points_per_task_and_total():
    grade = example_grade()
    document = parse_html(render_feedback(grade, "alice"))
    assert document.find(id="total-points").text() == str(grade.points) == "51"
    assert document.find(id="max-points").text() == "100"
    assert document.find(id="student").text() == "alice"
    for task in TASKS:
        section = document.find("section", data_task=task)
        assert section.find(class_="points").text() == str(grade.tasks[task].points)
        assert section.find(class_="max-points").text() == str(TASK_POINTS[task])
        row = document.find("tr", data_task=task)
        assert row.find_all("td")[1].text() == f"{grade.tasks[task].points} / {TASK_POINTS[task]}"


def test_feedback_lists_passed_checks_and_the_messages_of_lost_points():
    document = parse_html(render_feedback(example_grade(), "alice"))
    section = document.find("section", data_task="1a")
    passed = [li.attrs["data-check"] for li in section.find("ul", class_="passed").find_all("li")]
    lost = section.find("ul", class_="lost").find_all("li")
    assert passed == ["output_shape", "parameter_count", "nonlinear"]
    assert [li.attrs["data-check"] for li in lost] == ["negative_outputs", "same_function"]
    assert CHECK_LABELS["1a"]["negative_outputs"] in lost[0].text()
    assert "(−3 P)" in lost[0].text() and "(−6 P)" in lost[1].text()
    # the message with its hint and cell, without the repeated "[-3 P]"
    assert lost[0].find(class_="message").text() == ("SimpleMLP([784, 10]) never returned a negative output, cell 7, "
                                                     "line 9 -- the last layer must not be followed by ReLU")
    full = document.find("section", data_task="1b")
    assert [li.attrs["data-check"] for li in full.find("ul", class_="passed").find_all("li")] == list(
        CHECK_POINTS["1b"])
    assert not full.find_all("ul", class_="lost")


def test_feedback_notes_tasks_that_could_not_be_graded():
    document = parse_html(render_feedback(example_grade(), "alice"))
    timeout = document.find("section", data_task="2a")
    assert timeout.attrs["data-status"] == "timeout"
    assert "time limit" in timeout.find(class_="status-note").text()
    assert "failure" in timeout.find(class_="status-note").attrs["class"]
    assert not timeout.find_all("ul", class_="passed")  # nothing passed in a task that was not graded
    assert "the code ran past the time limit of 20 s" in timeout.text()
    missing = document.find("section", data_task="3b")
    assert "not found" in missing.find(class_="status-note").text()
    assert "compute_accuracy_per_class was not found" in missing.text()
    assert not document.find("section", data_task="1b").find_all(class_="status-note")
    assert not document.find_all(id="unreadable")


def test_feedback_of_an_unreadable_submission_says_so_without_the_instructors_folders():
    reason = "/home/prof/course/submissions/bob.ipynb: not a readable Jupyter notebook (nbformat 4): bad JSON"
    grade = SubmissionGrade("/home/prof/course/submissions/bob.ipynb",
                            {task: task_grade(task, [], "missing", f"not graded: {reason}") for task in TASKS})
    assert submission_problem(grade) == f"not graded: {reason}"
    source = render_feedback(grade, "bob")
    note = parse_html(source).find(id="unreadable")
    assert "bob.ipynb: not a readable Jupyter notebook" in note.text()
    assert "/home/prof" not in source
    # a student who wrote nothing has different messages per task: not an unreadable file
    assert submission_problem(SubmissionGrade("c.ipynb", {t: task_grade(t, [], "missing", f"{t} not found")
                                                          for t in TASKS})) is None


def test_feedback_escapes_hostile_messages_and_names():
    grade = example_grade()
    grade.path = f"submissions/{HOSTILE}.ipynb"
    grade.tasks["1a"].messages[0] = HOSTILE + " [-3 P]"
    grade.tasks["2a"].messages[0] = HOSTILE
    source = render_feedback(grade, HOSTILE)
    assert_inert(source)
    document = parse_html(source)
    shown = visible(HOSTILE)
    assert document.find(id="student").text() == shown
    assert shown in document.find("section", data_task="1a").find(class_="message").text()
    assert "\\x1b[2J" in shown and "\\u202e" in shown and "\\ud800" in shown
    assert document.find("title").text().endswith(shown)


def test_feedback_holds_no_reference_code():
    lines = reference_lines()
    assert len(lines) > 20
    pages = [render_feedback(grade, student) for grade, student in
             zip(synthetic_grades(40, seed=3) + [example_grade()], [f"s{i}" for i in range(41)])]
    for source in pages:
        shown = parse_html(source).text()
        assert not [line for line in lines if line in source or line in shown]


def test_feedback_holds_no_other_students_data_and_no_review_flags(tmp_path):
    grades = [example_grade(), full_marks("submissions/bob.ipynb"), full_marks("submissions/carol.py")]
    for student, name in zip(grades, ("ALICE", "BOB", "CAROL")):
        student.tasks["3a"] = task_grade("3a", ["single_batch"], message=f"marker-{name}")
        student.review = [f"review-{name}: sys._getframe, cell 3 line 1"]
    files = write_feedback(grades, tmp_path / "feedback")
    assert [f.name for f in files] == ["alice.html", "bob.html", "carol.html"]
    for file, own in zip(files, ("ALICE", "BOB", "CAROL")):
        source = file.read_text(encoding="utf-8")
        assert f"marker-{own}" in source
        assert not [other for other in ("ALICE", "BOB", "CAROL") if other != own and f"marker-{other}" in source]
        assert "review-" not in source


# --------------------------------------------------------------------- file names and safe writing


def test_student_ids_are_file_names_made_unique():
    paths = ["a/alice.ipynb", "b/alice.py", "alice-2.ipynb", "bob.ipynb", "carol"]
    assert student_ids(paths) == ["alice", "alice-2", "alice-2-2", "bob", "carol"]


def test_feedback_file_names_are_safe_and_unique_ignoring_case():
    students = ["alice", "Alice", "../../etc/passwd", ".hidden", "con", "a b<c>", "x" * 300, "", "müller"]
    names = feedback_file_names(students)
    assert len({n.casefold() for n in names}) == len(names)
    for name in names:
        assert re.fullmatch(r"[\w.@+-]+\.html", name) and not name.startswith((".", "-")), name
        assert len(name) <= 110
    assert names[0] == "alice.html" and names[1] == "Alice-2.html"
    assert names[2] == "_.._etc_passwd.html" and names[3] == "hidden.html" and names[4] == "_con.html"
    assert names[8] == "müller.html"
    assert safe_name("a/b\\c:d") == "a_b_c_d"


def test_feedback_for_shared_and_odd_names_stays_in_the_folder(tmp_path):
    grades = [full_marks(p) for p in ("x/alice.ipynb", "y/alice.py", "y/ALICE.py", "z/../..\\evil.ipynb")]
    folder = tmp_path / "out" / "feedback"
    files = write_feedback(grades, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in files) and len(files) == 4
    assert all(f.parent == folder for f in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_feedback_refuses_a_symlink_planted_in_the_folder(tmp_path):
    folder, outside = tmp_path / "feedback", tmp_path / "outside.txt"
    folder.mkdir()
    outside.write_text("keep me")
    (folder / "bob.html").symlink_to(outside)
    with pytest.raises(ValueError, match="symbolic link"):
        write_feedback([full_marks("alice.ipynb"), full_marks("bob.ipynb")], folder)
    assert outside.read_text() == "keep me" and (folder / "bob.html").is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == ["bob.html"]  # refused before writing anything


def test_outputs_never_replace_a_submission_or_follow_a_link(tmp_path):
    submission = tmp_path / "feedback" / "alice.html"
    submission.parent.mkdir()
    submission.write_text("student work")
    with pytest.raises(ValueError, match="submission"):
        write_feedback([full_marks(str(submission))], tmp_path / "feedback", protected=[submission])
    assert submission.read_text() == "student work"
    link = tmp_path / "report.html"
    link.symlink_to(submission)
    with pytest.raises(ValueError, match="symbolic link"):
        write_atomically(link, "report")
    assert submission.read_text() == "student work" and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback", "report.html"]


# --------------------------------------------------------------------- gradebook CSV and JSON


def test_csv_has_one_row_per_student_id_first_then_tasks_and_total():
    grades = [example_grade(), full_marks("other/alice.py"), full_marks("bob.ipynb")]
    rows = list(csv.DictReader(io.StringIO(to_csv(grades))))
    header = next(csv.reader(io.StringIO(to_csv(grades))))
    assert header == list(CSV_COLUMNS) and header[:8] == ["id", *TASKS, "total"]
    assert [row["id"] for row in rows] == ["alice", "alice-2", "bob"]
    assert [int(rows[0][task]) for task in TASKS] == [11, 10, 0, 10, 20, 0]
    assert [row["total"] for row in rows] == ["51", "100", "100"]
    assert rows[0]["path"] == "submissions/alice.ipynb"
    assert rows[0]["not_graded"] == "2a: timeout; 3b: missing"
    assert rows[0]["messages"].startswith("1a: SimpleMLP([784, 10]) never returned a negative output")
    assert rows[1]["messages"] == rows[1]["not_graded"] == ""


def test_csv_cells_are_one_line_and_never_formulas():
    grade = full_marks("=HYPERLINK(evil).ipynb")
    grade.tasks["1a"] = task_grade("1a", ["nonlinear"], message="line one\nline two\x1b[31m")
    grade.review = ["+cmd|' /C calc'!A0"]
    text = to_csv([grade])
    assert len(text.splitlines()) == 2
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["id"] == "'=HYPERLINK(evil)" and row["path"] == "'=HYPERLINK(evil).ipynb"
    assert row["review"] == "'+cmd|' /C calc'!A0"
    assert "line one line two\\x1b[31m" in row["messages"]


def test_json_entries_carry_the_student_id():
    data = json.loads(to_json([full_marks("a/x.ipynb"), full_marks("b/x.ipynb")]))
    assert [entry["id"] for entry in data["submissions"]] == ["x", "x-2"]
    assert data["submissions"][0]["path"] == "a/x.ipynb"


# --------------------------------------------------------------------- grade.py


@pytest.fixture
def class_folder(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name in ("alice.ipynb", "bob.py"):
        (folder / name).write_text("")
    return folder


def fake_grading(calls: list):
    def grade_paths(paths, limits=None, jobs=1, reference_path=None, on_submission_done=None, say=None, seed=None):
        calls.append({"paths": paths, "on_submission_done": on_submission_done})
        grades = [example_grade(), full_marks()]
        for student, path in zip(grades, paths):
            student.path = path
        for done in range(1, len(paths) + 1):
            if on_submission_done is not None:
                on_submission_done(done, len(paths))
        return grades
    return grade_paths


def test_cli_writes_gradebook_feedback_and_report(class_folder, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(grade, "grade_paths", fake_grading(calls))
    out = tmp_path / "out"
    out.mkdir()
    assert grade.main(["--csv", str(out / "g.csv"), "--json", str(out / "g.json"), "--feedback",
                       str(out / "feedback"), "--report", str(out / "report.html"), str(class_folder)]) == 0
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["alice.html", "bob.html"]
    assert [row["id"] for row in csv.DictReader(open(out / "g.csv", encoding="utf-8"))] == ["alice", "bob"]
    report = parse_html((out / "report.html").read_text(encoding="utf-8"))
    assert {a.attrs["href"] for a in report.find_all("a", class_="student")} == {"feedback/alice.html",
                                                                              "feedback/bob.html"}
    captured = capsys.readouterr()
    assert "graded 1/2" not in captured.err  # not a terminal: no progress
    assert calls[0]["on_submission_done"] is None
    assert "wrote 2 feedback pages" in captured.err


def test_cli_shows_progress_on_a_terminal_unless_quiet(class_folder, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(grade, "grade_paths", fake_grading(calls))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert grade.main([str(class_folder)]) == 0
    err = capsys.readouterr().err
    assert "\rgraded 1/2 submissions" in err and "\rgraded 2/2 submissions" in err
    assert grade.main(["--quiet", str(class_folder)]) == 0
    assert "graded" not in capsys.readouterr().err and calls[1]["on_submission_done"] is None


def test_cli_still_writes_the_gradebook_when_the_report_fails(class_folder, tmp_path, monkeypatch, capsys):
    import instructor.grading.class_report

    monkeypatch.setattr(grade, "grade_paths", fake_grading([]))
    monkeypatch.setattr(instructor.grading.class_report, "render_report", lambda *args: 1 / 0)
    assert grade.main(["--report", str(tmp_path / "r.html"), "--csv", str(tmp_path / "g.csv"),
                       str(class_folder)]) == grade.EXIT_CANNOT_GRADE
    assert (tmp_path / "g.csv").is_file() and not (tmp_path / "r.html").exists()
    assert "could not write the class report: ZeroDivisionError" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--report", "--csv", "--json"])
def test_cli_refuses_a_planted_symlink_before_grading(class_folder, tmp_path, monkeypatch, capsys, option):
    calls = []
    monkeypatch.setattr(grade, "grade_paths", fake_grading(calls))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "out.html").symlink_to(victim)
    assert grade.main([option, str(tmp_path / "out.html"), str(class_folder)]) == grade.EXIT_CANNOT_GRADE
    assert calls == [] and victim.read_text() == "keep me"
    assert "symbolic link" in capsys.readouterr().err


def test_cli_refuses_a_report_over_a_submission(class_folder, monkeypatch):
    calls = []
    monkeypatch.setattr(grade, "grade_paths", fake_grading(calls))
    assert grade.main(["--report", str(class_folder / "bob.py"), str(class_folder)]) == grade.EXIT_CANNOT_GRADE
    assert calls == [] and (class_folder / "bob.py").read_text() == ""


def test_cli_warns_when_two_submissions_share_a_name(tmp_path, monkeypatch, capsys):
    for name in ("a/alice.ipynb", "b/alice.py"):
        (tmp_path / name).parent.mkdir()
        (tmp_path / name).write_text("")
    monkeypatch.setattr(grade, "grade_paths", fake_grading([]))
    assert grade.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "2 submissions have the id 'alice'" in capsys.readouterr().err
