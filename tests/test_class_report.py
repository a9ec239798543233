"""The class report: figures through the Axes API, the page parsed, 300 students in seconds, a real browser."""
from __future__ import annotations

import base64
import shutil
import subprocess
import time

import pytest
from test_feedback import HOSTILE, assert_inert, full_marks, parse_html, reference_lines, synthetic_grades, task_grade

from instructor.grading.class_report import (
    check_failures,
    failed_checks_figure,
    feedback_links,
    grading_failures,
    render_report,
    task_point_counts,
    task_points_figure,
    total_points_figure,
)
from instructor.grading.core import SubmissionGrade
from instructor.grading.feedback import write_feedback
from instructor.grading.judge import CHECK_POINTS, TASK_POINTS
from instructor.grading.report import student_ids, visible, write_atomically
from instructor.grading.verdicts import TaskGrade
from instructor.tasks import TASKS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def with_total(path: str, total: int) -> SubmissionGrade:
    """A submission with ``total`` points: tasks filled in order, the rest lost in the last check."""
    grade = full_marks(path)
    left = total
    for task in TASKS:
        points = min(left, TASK_POINTS[task])
        left -= points
        grade.tasks[task] = TaskGrade(points, TASK_POINTS[task], [] if points == TASK_POINTS[task] else ["x"],
                                      "graded", [] if points == TASK_POINTS[task] else [list(CHECK_POINTS[task])[-1]])
    assert grade.points == total
    return grade


def small_class() -> list[SubmissionGrade]:
    """Five students whose failed checks, statuses and review flags are known."""
    ann, ben, cid, dan, eve = (full_marks(f"subs/{name}.ipynb") for name in ("ann", "ben", "cid", "dan", "eve"))
    ann.tasks["1a"] = task_grade("1a", ["same_function", "nonlinear"])
    ben.tasks["1a"] = task_grade("1a", ["same_function"])
    cid.tasks["1a"] = task_grade("1a", ["same_function"])
    cid.tasks["3b"] = task_grade("3b", ["nan_for_absent_class"])
    dan.tasks["2a"] = task_grade("2a", [], "timeout", "the code ran past the time limit of 20 s")
    dan.tasks["2b"] = task_grade("2b", [], "crashed", "the grading process failed before this task")
    dan.tasks["3a"] = task_grade("3a", [], "missing", "not graded: compute_accuracy was not found")
    dan.review = ["sys._getframe, cell 16 line 3"]
    unreadable = "not graded: eve.ipynb: not a readable Jupyter notebook (nbformat 4): Expecting value"
    eve.tasks = {task: task_grade(task, [], "missing", unreadable) for task in TASKS}
    return [ann, ben, cid, dan, eve]


# --------------------------------------------------------------------- figures


def test_total_points_figure_counts_submissions_per_range():
    grades = [with_total(f"s{i}.py", total) for i, total in enumerate([0, 5, 9, 10, 55, 89, 90, 100, 100])]
    figure = total_points_figure(grades)
    [axes] = figure.axes
    assert [patch.get_height() for patch in axes.patches] == [3, 1, 0, 0, 0, 1, 0, 0, 1, 3]
    assert [label.get_text() for label in axes.get_xticklabels()] == [
        "0–9", "10–19", "20–29", "30–39", "40–49", "50–59", "60–69", "70–79", "80–89", "90–100"]
    assert axes.get_title() == "Total points (9 submissions)"
    assert axes.get_xlabel() == "total points" and axes.get_ylabel() == "submissions"


def test_task_points_figure_has_one_histogram_per_task():
    grades = small_class()
    figure = task_points_figure(grades)
    assert len(figure.axes) == len(TASKS)
    for axes, task in zip(figure.axes, TASKS):
        heights = [patch.get_height() for patch in axes.patches]
        assert len(heights) == TASK_POINTS[task] + 1
        assert heights == task_point_counts(grades, task)
        assert axes.get_title().startswith(f"Task {task} ({TASK_POINTS[task]} P")
    heights_1a = [patch.get_height() for patch in figure.axes[0].patches]
    # ann 20-6-3 = 11, ben and cid 14, dan 20, eve 0
    assert heights_1a[11] == 1 and heights_1a[14] == 2 and heights_1a[20] == 1 and heights_1a[0] == 1
    assert sum(heights_1a) == 5
    assert figure.axes[5].get_title() == "Task 3b (20 P, mean 15.6)"


def test_failed_checks_figure_shows_the_most_failed_checks_first():
    figure = failed_checks_figure(small_class())
    [axes] = figure.axes
    assert [patch.get_width() for patch in axes.patches] == [3, 1, 1]
    assert [label.get_text() for label in axes.get_yticklabels()] == [
        "1a same_function", "1a nonlinear", "3b nan_for_absent_class"]
    assert axes.get_title() == "Most often failed checks"


def test_figures_of_an_empty_class_are_empty():
    assert sum(p.get_height() for p in total_points_figure([]).axes[0].patches) == 0
    assert failed_checks_figure([]).axes[0].get_title() == "No check failed"


# --------------------------------------------------------------------- what the report counts


def test_check_failures_count_students_of_graded_tasks_only():
    failures = check_failures(small_class())
    assert [(f.task, f.check, f.points, f.students) for f in failures] == [
        ("1a", "same_function", 6, ["ann", "ben", "cid"]),
        ("1a", "nonlinear", 3, ["ann"]),
        ("3b", "nan_for_absent_class", 2, ["cid"])]


def test_grading_failures_are_kept_apart_from_wrong_answers():
    failures = grading_failures(small_class())
    assert [(f.student, f.task, f.status) for f in failures] == [
        ("eve", "", "unreadable submission"), ("dan", "2a", "timeout"), ("dan", "2b", "crashed")]
    assert "not a readable Jupyter notebook" in failures[0].message


# --------------------------------------------------------------------- the page


def test_report_page_lists_counts_checks_review_and_failures():
    grades = small_class()
    document = parse_html(render_report(grades))
    assert document.find(id="n-submissions").text() == "5"
    assert document.find(id="n-grading-failures").text() == "3"
    rows = document.find("table", id="checks").find("tbody").find_all("tr")
    assert [(r.attrs["data-task"], r.attrs["data-check"], r.find("td", class_="count").text()) for r in rows] == [
        ("1a", "same_function", "3"), ("1a", "nonlinear", "1"), ("3b", "nan_for_absent_class", "1")]
    assert [s.text() for s in rows[0].find_all(class_="student")] == ["ann", "ben", "cid"]
    review = document.find("table", id="review-table").find("tbody").find_all("tr")
    assert len(review) == 1 and "dan" in review[0].text() and "sys._getframe, cell 16 line 3" in review[0].text()
    failures = document.find("section", id="grading-failures").find("tbody").find_all("tr")
    assert [r.attrs["data-status"] for r in failures] == ["unreadable submission", "timeout", "crashed"]
    # the wrong answers' section names no grading failure and no missing task
    checks_section = document.find("section", id="failed-checks").text()
    assert "timeout" not in checks_section and "eve" not in checks_section
    tasks = {r.attrs["data-task"]: [td.text() for td in r.find_all("td")] for r in
             document.find("table", id="tasks").find("tbody").find_all("tr")}
    # task, max, mean, full, zero, then graded, missing, error, timeout, crashed, unreadable
    assert tasks["2a"] == ["2a", "20", "12.0", "3", "2", "3", "1", "0", "1", "0", "0"]
    assert tasks["1a"][2] == "11.8"


def test_report_embeds_its_figures_as_png_and_loads_nothing():
    source = render_report(small_class())
    images = parse_html(source).find_all("img")
    assert len(images) == 3
    for image in images:
        prefix = "data:image/png;base64,"
        assert image.attrs["src"].startswith(prefix) and image.attrs["alt"]
        assert base64.b64decode(image.attrs["src"][len(prefix):]).startswith(PNG_SIGNATURE)
    assert_inert(source)
    assert "<style>" in source and "http://" not in source and "https://" not in source


def test_report_escapes_hostile_names_messages_and_review_flags():
    grades = small_class()
    hostile_name = HOSTILE.replace("/", "|")  # a file name holds no slash
    grades[0].path = f"subs/{hostile_name}.ipynb"
    grades[3].review = [HOSTILE]
    grades[3].tasks["2a"].messages = [HOSTILE]
    source = render_report(grades)
    assert_inert(source)
    document = parse_html(source)
    assert visible(HOSTILE) in document.find("table", id="review-table").text()
    assert visible(HOSTILE) in document.find("table", id="failures-table").text()
    assert visible(hostile_name) in document.find("table", id="checks").text()  # ann's id
    assert visible(hostile_name) in document.find("table", id="submissions-table").text()


def test_report_holds_no_reference_code():
    source = render_report(synthetic_grades(60, seed=1))
    shown = parse_html(source).text()
    assert not [line for line in reference_lines() if line in source or line in shown]


def test_report_links_each_student_to_their_feedback(tmp_path):
    grades = small_class()
    files = write_feedback(grades, tmp_path / "feedback")
    links = feedback_links(student_ids([g.path for g in grades]), files, tmp_path / "report.html")
    document = parse_html(render_report(grades, links))
    hrefs = {a.text(): a.attrs["href"] for a in document.find("table", id="submissions-table").find_all("a")}
    assert hrefs == {name: f"feedback/{name}.html" for name in ("ann", "ben", "cid", "dan", "eve")}
    assert all((tmp_path / href).is_file() for href in hrefs.values())


def test_empty_class_gives_a_report():
    document = parse_html(render_report([]))
    assert "No submissions" in document.find(id="n-submissions").text()


# --------------------------------------------------------------------- a large class


def test_300_students_get_feedback_and_a_report_in_seconds(tmp_path):
    grades = synthetic_grades(300, seed=0)
    start = time.perf_counter()
    files = write_feedback(grades, tmp_path / "feedback")
    links = feedback_links(student_ids([g.path for g in grades]), files, tmp_path / "report.html")
    write_atomically(tmp_path / "report.html", render_report(grades, links))
    elapsed = time.perf_counter() - start
    assert len(files) == len(set(files)) == 300
    document = parse_html((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert document.find(id="n-submissions").text() == "300"
    assert len(document.find("table", id="submissions-table").find("tbody").find_all("tr")) == 300
    assert elapsed < 15, f"{elapsed:.1f} s for 300 feedback pages and the report"


# --------------------------------------------------------------------- a real browser


def find_chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="no chromium installed (looked for /usr/bin/chromium, "
                                                    "chromium, chromium-browser, google-chrome)")
def test_report_renders_in_a_headless_browser_and_runs_no_script(tmp_path):
    import matplotlib.image

    grades = small_class() + synthetic_grades(30, seed=2)
    grades[0].tasks["1a"].messages = [HOSTILE]
    grades[3].review = [HOSTILE]
    report = tmp_path / "report.html"
    write_atomically(report, render_report(grades))
    browser = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400",
               "--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([*browser, "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "Most often failed checks" in dom and "pwned" in dom  # the text of the hostile message is shown ...
    assert "data-pwned" not in dom and "<script" not in dom  # ... as text: no script element, nothing ran
    screenshot = tmp_path / "report.png"
    subprocess.run([*browser, f"--screenshot={screenshot}", report.as_uri()], capture_output=True, timeout=120)
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[0] >= 1000 and pixels.std() > 0.05  # a page with content, not a blank one
