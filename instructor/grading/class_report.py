"""The class at a glance: one self-contained HTML page for the instructor.

Distribution of the total points and of the points per task (figures), the
checks most often failed with the students who failed them, the submissions
flagged for review, and, apart from the wrong answers, the failures of the
grading itself: tasks whose status is one of ``GRADING_FAILURES`` and
submissions that could not be read. The figures are built by functions that
return a matplotlib ``Figure`` (Agg canvas, no pyplot state) and are embedded
as base64 PNG; the page loads nothing and runs no script.
"""
from __future__ import annotations

import base64
import io
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ex4.sheet import SHEET_TITLE
from instructor.grading.core import SubmissionGrade
from instructor.grading.feedback import check_label, page, submission_problem, text
from instructor.grading.judge import CHECK_POINTS
from instructor.grading.overrides import correction_of
from instructor.grading.report import ids_of
from instructor.grading.verdicts import GRADING_FAILURES, TASK_STATUSES
from instructor.tasks import TASKS

# totals are counted in bins of this many points, the last bin includes the maximum
TOTAL_BIN_WIDTH = 10
# the failed-checks figure shows at most this many checks
MAX_CHECKS_SHOWN = 15


@dataclass
class CheckFailure:
    """One check and the students (ids) who failed it."""

    task: str
    check: str
    points: int
    students: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return check_label(self.task, self.check)


@dataclass
class GradingFailure:
    """A task that could not be graded because of the grading, or a submission that could not be read."""

    student: str
    path: str
    task: str  # "" for the whole submission
    status: str
    message: str


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def max_total(grades: Sequence[SubmissionGrade]) -> int:
    return max((g.max_points for g in grades), default=0) or sum(
        sum(points.values()) for points in CHECK_POINTS.values())


def total_bins(maximum: int) -> list[tuple[int, int]]:
    """Inclusive (low, high) point ranges of width TOTAL_BIN_WIDTH; the last one ends at ``maximum``."""
    lows = list(range(0, maximum, TOTAL_BIN_WIDTH)) or [0]
    return [(low, low + TOTAL_BIN_WIDTH - 1) for low in lows[:-1]] + [(lows[-1], maximum)]


def total_counts(grades: Sequence[SubmissionGrade]) -> tuple[list[str], list[int]]:
    """Labels ("0–9", ..., "90–100") and the number of submissions whose total lies in each."""
    bins = total_bins(max_total(grades))
    counts = [0] * len(bins)
    for grade in grades:
        index = next((i for i, (low, high) in enumerate(bins) if low <= grade.points <= high),
                     0 if grade.points < 0 else len(bins) - 1)
        counts[index] += 1
    return [f"{low}–{high}" for low, high in bins], counts


def total_points_figure(grades: Sequence[SubmissionGrade]) -> Figure:
    """Bar chart: how many submissions have a total in each range of TOTAL_BIN_WIDTH points."""
    labels, counts = total_counts(grades)
    figure = new_figure(8, 3.5)
    axes = figure.add_subplot()
    axes.bar(range(len(counts)), counts, color="#2b6cb0")
    axes.set_xticks(range(len(counts)), labels)
    axes.set_xlabel("total points")
    axes.set_ylabel("submissions")
    axes.set_title(f"Total points ({len(grades)} submissions)")
    axes.yaxis.get_major_locator().set_params(integer=True)
    return figure


def task_point_counts(grades: Sequence[SubmissionGrade], task: str) -> list[int]:
    """How many submissions got 0, 1, ..., max points in ``task``."""
    maximum = max((g.tasks[task].max_points for g in grades if task in g.tasks),
                  default=sum(CHECK_POINTS.get(task, {}).values()))
    counts = [0] * (maximum + 1)
    for grade in grades:
        if task in grade.tasks:
            counts[min(max(grade.tasks[task].points, 0), maximum)] += 1
    return counts


def task_points_figure(grades: Sequence[SubmissionGrade]) -> Figure:
    """One bar chart per task: how many submissions got each number of points (x: 0 ... max)."""
    columns = 3
    rows = -(-len(TASKS) // columns)
    figure = new_figure(11, 3 * rows)
    for index, task in enumerate(TASKS):
        axes = figure.add_subplot(rows, columns, index + 1)
        counts = task_point_counts(grades, task)
        axes.bar(range(len(counts)), counts, color="#2f855a")
        points = [g.tasks[task].points for g in grades if task in g.tasks]
        mean = f", mean {statistics.fmean(points):.1f}" if points else ""
        axes.set_title(f"Task {task} ({len(counts) - 1} P{mean})")
        axes.set_xlabel("points")
        axes.set_ylabel("submissions")
        axes.set_xlim(-0.6, len(counts) - 0.4)
        axes.yaxis.get_major_locator().set_params(integer=True)
    return figure


def check_failures(grades: Sequence[SubmissionGrade], students: Sequence[str] | None = None) -> list[CheckFailure]:
    """Every check failed by at least one graded task, most often failed first (then in task order)."""
    students = list(students) if students is not None else ids_of(grades)
    failures: dict[tuple[str, str], CheckFailure] = {}
    for student, grade in zip(students, grades):
        for task in TASKS:
            result = grade.tasks.get(task)
            if result is None or result.status != "graded":
                continue
            for check in dict.fromkeys(result.failed):
                failure = failures.setdefault((task, check), CheckFailure(
                    task, check, CHECK_POINTS.get(task, {}).get(check, 0)))
                failure.students.append(student)
    order = {key: i for i, key in enumerate((t, c) for t in TASKS for c in CHECK_POINTS.get(t, {}))}
    return sorted(failures.values(), key=lambda f: (-len(f.students), order.get((f.task, f.check), len(order))))


def failed_checks_figure(grades: Sequence[SubmissionGrade], failures: Sequence[CheckFailure] | None = None) -> Figure:
    """Horizontal bars: how many submissions failed each of the MAX_CHECKS_SHOWN most failed checks."""
    failures = list(failures if failures is not None else check_failures(grades))[:MAX_CHECKS_SHOWN]
    figure = new_figure(9, max(1.5, 0.35 * len(failures) + 1))
    axes = figure.add_subplot()
    labels = [f"{f.task} {f.check}" for f in failures]
    axes.barh(range(len(failures)), [len(f.students) for f in failures], color="#c05621")
    axes.set_yticks(range(len(failures)), labels)
    axes.invert_yaxis()
    axes.set_xlabel("submissions that failed the check")
    axes.set_title("Most often failed checks" if failures else "No check failed")
    axes.xaxis.get_major_locator().set_params(integer=True)
    return figure


def grading_failures(grades: Sequence[SubmissionGrade],
                     students: Sequence[str] | None = None) -> list[GradingFailure]:
    """Submissions that could not be read (task ""), then tasks whose status is a failure of the grading."""
    students = list(students) if students is not None else ids_of(grades)
    unreadable, failed_tasks = [], []
    for student, grade in zip(students, grades):
        problem = submission_problem(grade)
        if problem is not None:
            unreadable.append(GradingFailure(student, grade.path, "", "unreadable submission", problem))
            continue
        for task in TASKS:
            result = grade.tasks.get(task)
            if result is not None and result.status in GRADING_FAILURES:
                failed_tasks.append(GradingFailure(student, grade.path, task, result.status,
                                                   " | ".join(result.messages)))
    return unreadable + failed_tasks


def figure_html(figure: Figure, description: str) -> str:
    """``figure`` as an <img> with an embedded PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<figure><img alt="{text(description)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{text(description)}</figcaption></figure>")


def student_list(students: Sequence[str], links: dict[str, str]) -> str:
    items = ", ".join(student_cell(s, links) for s in students)
    return f"<details><summary>{len(students)} students</summary><p>{items}</p></details>"


def student_cell(student: str, links: dict[str, str]) -> str:
    if student in links:
        return f'<a class="student" href="{text(links[student])}">{text(student)}</a>'
    return f'<span class="student">{text(student)}</span>'


def feedback_links(students: Sequence[str], files: Sequence[Path], report: Path) -> dict[str, str]:
    """Relative links from the ``report`` file to each student's feedback file."""
    base = Path(report).resolve().parent
    return {student: quote(Path(os.path.relpath(Path(file).resolve(), base)).as_posix())
            for student, file in zip(students, files)}


def corrections_section(grades: Sequence[SubmissionGrade], students: Sequence[str], links: dict[str, str]) -> str:
    """The instructor's corrections: student, task, the grader's points, the new points, the comment."""
    rows = [(student, task, correction_of(grade.tasks[task])) for student, grade in zip(students, grades)
            for task in TASKS if task in grade.tasks and correction_of(grade.tasks[task]) is not None]
    parts = ['<section id="corrections"><h2>Corrections</h2>']
    if not rows:
        parts.append("<p>No grade was corrected.</p></section>")
        return "\n".join(parts)
    parts.append('<table id="corrections-table"><thead><tr><th>Student</th><th>Task</th>'
                 '<th class="num">Grader</th><th class="num">Corrected</th><th>Comment</th></tr></thead><tbody>')
    parts += [f'<tr data-task="{text(task)}"><td>{student_cell(student, links)}</td><td>{text(task)}</td>'
              f'<td class="num original">{c.original_points}</td><td class="num corrected">{c.points}</td>'
              f"<td>{text(c.comment)}</td></tr>" for student, task, c in rows]
    parts.append("</tbody></table><p><small>Points in this report are the corrected ones; the checks failed "
                 "are the grader's.</small></p></section>")
    return "\n".join(parts)


def render_report(grades: Sequence[SubmissionGrade], links: dict[str, str] | None = None,
                  students: Sequence[str] | None = None) -> str:
    """The class report page; ``links`` maps student ids to the href of their feedback file.

    ``students`` are the submissions' ids (default: made from their paths).
    """
    links = links or {}
    students = ids_of(grades, students)
    totals = [g.points for g in grades]
    maximum = max_total(grades)
    failures = check_failures(grades, students)
    problems = grading_failures(grades, students)
    flagged = [(s, g) for s, g in zip(students, grades) if g.review]
    n_corrected = sum(correction_of(result) is not None for g in grades for result in g.tasks.values())
    body = [f"<h1>{text(SHEET_TITLE)}: class report</h1>"]

    if grades:
        body.append('<table id="overview"><tbody>'
                    f'<tr><th>Submissions</th><td class="num" id="n-submissions">{len(grades)}</td></tr>'
                    f'<tr><th>Mean total</th><td class="num" id="mean-total">{statistics.fmean(totals):.1f} / '
                    f"{maximum}</td></tr>"
                    f'<tr><th>Median total</th><td class="num">{statistics.median(totals):g}</td></tr>'
                    f'<tr><th>Lowest / highest</th><td class="num">{min(totals)} / {max(totals)}</td></tr>'
                    f'<tr><th>Full points</th><td class="num">{sum(t == maximum for t in totals)}</td></tr>'
                    f'<tr><th>Flagged for review</th><td class="num">{len(flagged)}</td></tr>'
                    f'<tr><th>Corrected tasks</th><td class="num" id="n-corrections">{n_corrected}</td></tr>'
                    f'<tr><th>Grading failures</th><td class="num" id="n-grading-failures">{len(problems)}</td></tr>'
                    "</tbody></table>")
    else:
        body.append('<p id="n-submissions">No submissions were graded.</p>')

    body.append('<section id="distribution"><h2>Points</h2>')
    body.append(figure_html(total_points_figure(grades), "Number of submissions per range of total points"))
    body.append(figure_html(task_points_figure(grades), "Number of submissions per points in each task"))
    header = "".join(f'<th class="num">{text(s)}</th>' for s in TASK_STATUSES)
    rows = []
    for task in TASKS:
        results = [g.tasks[task] for g in grades if task in g.tasks]
        points = [r.points for r in results]
        task_max = max((r.max_points for r in results), default=0)
        statuses = "".join(f'<td class="num">{sum(r.status == s for r in results)}</td>' for s in TASK_STATUSES)
        mean = f"{statistics.fmean(points):.1f}" if points else "–"
        rows.append(f'<tr data-task="{text(task)}"><td>{text(task)}</td><td class="num">{task_max}</td>'
                    f'<td class="num">{mean}</td>'
                    f'<td class="num">{sum(p == task_max for p in points) if points else 0}</td>'
                    f'<td class="num">{sum(p == 0 for p in points)}</td>{statuses}</tr>')
    body.append('<table id="tasks"><thead><tr><th>Task</th><th class="num">Max</th><th class="num">Mean</th>'
                '<th class="num">Full points</th><th class="num">0 points</th>' + header +
                "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
                "<p><small>Status per task: graded (the checks ran), missing (no code found), error (the code "
                "raised), and failures of the grading: "
                f"{text(', '.join(GRADING_FAILURES))}.</small></p></section>")

    body.append('<section id="failed-checks"><h2>Most often failed checks</h2>')
    if failures:
        body.append(figure_html(failed_checks_figure(grades, failures),
                                "Number of submissions that failed each check"))
        body.append('<table id="checks"><thead><tr><th>Task</th><th>Check</th><th class="num">Points</th>'
                    '<th class="num">Students</th><th class="num">Share</th><th>Who</th></tr></thead><tbody>')
        for failure in failures:
            body.append(f'<tr data-task="{text(failure.task)}" data-check="{text(failure.check)}">'
                        f"<td>{text(failure.task)}</td><td>{text(failure.label)} "
                        f'<span class="mono">({text(failure.check)})</span></td>'
                        f'<td class="num">{failure.points}</td>'
                        f'<td class="num count">{len(failure.students)}</td>'
                        f'<td class="num">{100 * len(failure.students) / len(grades):.0f} %</td>'
                        f"<td>{student_list(failure.students, links)}</td></tr>")
        body.append("</tbody></table>")
    else:
        body.append("<p>No graded task failed a check.</p>")
    body.append("<p><small>Counts only tasks that were graded; a task that was missing, raised or could not "
                "be graded is counted in the table of statuses above.</small></p></section>")

    body.append(corrections_section(grades, students, links))

    body.append('<section id="review"><h2>Flagged for review</h2>')
    if flagged:
        body.append("<p>The code of these submissions uses introspection or low-level process tricks; "
                    "read it before you publish the points.</p>")
        body.append('<table id="review-table"><thead><tr><th>Student</th><th>Submission</th><th>Where</th></tr>'
                    "</thead><tbody>")
        for student, grade in flagged:
            places = "<br>".join(f'<span class="mono">{text(place)}</span>' for place in grade.review)
            body.append(f"<tr><td>{student_cell(student, links)}</td><td class=\"mono\">{text(grade.path)}</td>"
                        f"<td>{places}</td></tr>")
        body.append("</tbody></table>")
    else:
        body.append("<p>No submission was flagged.</p>")
    body.append("</section>")

    body.append('<section id="grading-failures"><h2>Failures of the grading</h2>')
    if problems:
        body.append("<p>These are not wrong answers: the grader could not read the submission or could not "
                    "finish the task. Check them by hand, or grade them again (e.g. with a larger "
                    "<span class=\"mono\">--task-timeout</span>).</p>")
        body.append('<table id="failures-table"><thead><tr><th>Student</th><th>Submission</th><th>Task</th>'
                    "<th>Status</th><th>Message</th></tr></thead><tbody>")
        for problem in problems:
            body.append(f'<tr data-status="{text(problem.status)}"><td>{student_cell(problem.student, links)}</td>'
                        f'<td class="mono">{text(problem.path)}</td><td>{text(problem.task or "all")}</td>'
                        f"<td>{text(problem.status)}</td>"
                        f'<td class="message">{text(problem.message)}</td></tr>')
        body.append("</tbody></table>")
    else:
        body.append("<p>None: every submission was read and every task that has code ran to a verdict.</p>")
    body.append("</section>")

    body.append('<section id="submissions"><h2>All submissions</h2>'
                '<table id="submissions-table"><thead><tr><th>Student</th>' +
                "".join(f'<th class="num">{text(t)}</th>' for t in TASKS) +
                '<th class="num">Total</th><th>Notes</th></tr></thead><tbody>')
    for student, grade in zip(students, grades):
        notes = [f"{t}: {grade.tasks[t].status}" for t in TASKS if t in grade.tasks and
                 grade.tasks[t].status != "graded"] + (["flagged for review"] if grade.review else [])
        notes += [f"{t}: corrected from {correction_of(grade.tasks[t]).original_points}" for t in TASKS
                  if t in grade.tasks and correction_of(grade.tasks[t]) is not None]
        cells = "".join(f'<td class="num">{grade.tasks[t].points if t in grade.tasks else "–"}</td>' for t in TASKS)
        body.append(f"<tr><td>{student_cell(student, links)}</td>{cells}"
                    f'<td class="num">{grade.points}</td><td>{text("; ".join(notes))}</td></tr>')
    body.append("</tbody></table></section>")
    return page(f"{SHEET_TITLE}: class report", "\n".join(body))
