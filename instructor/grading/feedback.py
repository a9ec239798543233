"""Feedback for students: one self-contained HTML page per submission.

A page holds the points of every task and the total, the checks a task
passed (``CHECK_POINTS``), the checks that lost points with the grader's
message (what was expected, what happened, the hint and the cell), and a note
for a task that could not be graded. It holds nothing but that submission's
grade: no code, no other student's data, and no review flags (those are for
the instructor, in the class report). Pages use inline CSS only, load
nothing and run no script; a Content-Security-Policy forbids both, so a
message that slipped past escaping could still not load or run anything.
Every message and path is text from student code and is HTML-escaped, with
control characters shown as escapes (``report.visible``).
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from ex4.sheet import SHEET_TITLE
from instructor.grading.core import SubmissionGrade
from instructor.grading.judge import CHECK_LABELS, CHECK_POINTS
from instructor.grading.overrides import correction_of
from instructor.grading.report import check_output_path, ids_of, visible, write_atomically
from instructor.grading.text import numbered_apart
from instructor.grading.verdicts import GRADING_FAILURES, TaskGrade
from instructor.tasks import TASKS

# why a task was not graded, by TaskGrade.status, for students
STATUS_NOTES = {
    "missing": "This task was not graded: its code was not found in the submission, or could not be read.",
    "error": "This task got no points: its code raised an error before it could be checked.",
    "timeout": "This task could not be graded: it ran past the time limit (an endless loop, or very slow "
               "code). Your instructor sees this and checks it.",
    "crashed": "This task could not be graded: the process running it stopped (too much memory, or the "
               "code ended the process). Your instructor sees this and checks it.",
    "unreadable": "This task could not be graded: the grader could not read its results (did the code "
                  "replace objects the grader passed in?). Your instructor sees this and checks it.",
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}h3{font-size:1rem}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;
vertical-align:top}td.num,th.num{text-align:right}
.message,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;
white-space:pre-wrap;overflow-wrap:anywhere}
.note{background:#fff4ce;border-left:4px solid #c9a400;padding:.4rem .8rem}
.failure{background:#fde7e9;border-left:4px solid #c50f1f;padding:.4rem .8rem}
ul.passed li::marker{content:"✓ ";color:#107c10}ul.lost li::marker{content:"✗ ";color:#c50f1f}
.lost li{margin-bottom:.5rem}.total{font-size:1.2rem;font-weight:bold}
.correction{background:#e6f4ea;border-left:4px solid #107c10;padding:.4rem .8rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto}
details summary{cursor:pointer}
"""

# verdicts.Checks ends every message with the points it cost
LOST_POINTS_SUFFIX = re.compile(r"\s*\[-\d+ P\]\s*$")
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def text(value: object) -> str:
    """``value`` as HTML text: control characters made visible, then escaped (quotes included)."""
    return html.escape(visible(str(value)), quote=True)


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{text(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def check_label(task: str, check: str) -> str:
    return CHECK_LABELS.get(task, {}).get(check) or check.replace("_", " ")


def passed_checks(task: str, grade: TaskGrade) -> list[str]:
    """The checks of ``task`` that gave their points: none unless the task was graded."""
    if grade.status != "graded":
        return []
    return [check for check in CHECK_POINTS.get(task, {}) if check not in grade.failed]


def submission_problem(grade: SubmissionGrade) -> str | None:
    """Why the whole submission could not be read, or None when it could.

    The grader gives an unreadable file (not a notebook, not Python) status
    "missing" in every task with one and the same message; a submission
    without a task at all could not be graded either.
    """
    if not grade.tasks:
        return "no task of this submission was graded"
    messages = {tuple(task.messages) for task in grade.tasks.values()}
    if all(task.status == "missing" for task in grade.tasks.values()) and len(messages) == 1:
        [only] = messages
        if len(only) == 1 and len(grade.tasks) > 1:
            return only[0]
    return None


def without_folders(message: str, path: str) -> str:
    """``message`` with the submission's full path shortened to its file name (folders are the instructor's)."""
    name = Path(path).name
    return message.replace(path, name) if path and path != name else message


def task_section(task: str, grade: TaskGrade, path: str) -> str:
    parts = [f'<section class="task" id="task-{text(task)}" data-task="{text(task)}" '
             f'data-status="{text(grade.status)}">',
             f'<h2>Task {text(task)}: <span class="points">{grade.points}</span> / '
             f'<span class="max-points">{grade.max_points}</span> points</h2>']
    correction = correction_of(grade)
    if correction is not None:
        comment = f": {correction.comment}" if correction.comment else ""
        parts.append(f'<p class="correction" data-original-points="{correction.original_points}">Corrected by your '
                     f"instructor from {correction.original_points} to {correction.points} points{text(comment)}</p>")
    if grade.status != "graded":
        css = "failure" if grade.status in GRADING_FAILURES else "note"
        note = STATUS_NOTES.get(grade.status, f"This task was not graded (status: {grade.status}).")
        parts.append(f'<p class="{css} status-note">{text(note)}</p>')
    points = CHECK_POINTS.get(task, {})
    passed = passed_checks(task, grade)
    if passed:
        parts.append("<h3>Passed</h3>\n<ul class=\"passed\">")
        parts += [f'<li data-check="{text(check)}">{text(check_label(task, check))} '
                  f'<span class="check-points">(+{points[check]} P)</span></li>' for check in passed]
        parts.append("</ul>")
    messages = [without_folders(m, path) for m in grade.messages]
    if grade.failed or messages:
        heading = "Lost points" if grade.status == "graded" else "What the grader reported"
        parts.append(f"<h3>{heading}</h3>\n<ul class=\"lost\">")
        paired = len(grade.failed) == len(messages)
        for index, check in enumerate(grade.failed):
            lost = f' <span class="check-points">(−{points[check]} P)</span>' if check in points else ""
            # the check's points are shown beside its label; the message's own "[-4 P]" would repeat them
            shown = LOST_POINTS_SUFFIX.sub("", messages[index]) if paired else ""
            message = f'<div class="message">{text(shown)}</div>' if paired else ""
            parts.append(f'<li data-check="{text(check)}"><strong>{text(check_label(task, check))}</strong>'
                         f'{lost}{message}</li>')
        if not paired:
            parts += [f'<li><div class="message">{text(message)}</div></li>' for message in messages]
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def render_feedback(grade: SubmissionGrade, student: str) -> str:
    """The feedback page of one submission; ``student`` is its student id."""
    tasks = [task for task in TASKS if task in grade.tasks]
    name = Path(grade.path).name
    body = [f"<h1>{text(SHEET_TITLE)}: feedback</h1>",
            f'<p>Student: <strong id="student">{text(student)}</strong>, submission '
            f'<span class="mono" id="submission">{text(name)}</span></p>',
            f'<p class="total">Total: <span id="total-points">{grade.points}</span> / '
            f'<span id="max-points">{grade.max_points}</span> points</p>']
    problem = submission_problem(grade)
    if problem is not None:
        body.append('<p class="failure" id="unreadable">The submission could not be read, so no task was '
                    f'graded: <span class="message">{text(without_folders(problem, grade.path))}</span> '
                    "Your instructor sees this and checks it.</p>")
    rows = [f'<tr data-task="{text(t)}"><td>Task {text(t)}</td><td class="num">{grade.tasks[t].points} / '
            f'{grade.tasks[t].max_points}{" (corrected)" if correction_of(grade.tasks[t]) else ""}</td>'
            f"<td>{text(status_word(grade.tasks[t].status))}</td></tr>"
            for t in tasks]
    body.append('<table id="summary">\n<thead><tr><th>Task</th><th class="num">Points</th><th>Graded</th></tr>'
                "</thead>\n<tbody>\n" + "\n".join(rows) +
                f'\n<tr class="total-row"><th>Total</th><th class="num">{grade.points} / {grade.max_points}</th>'
                "<th></th></tr>\n</tbody>\n</table>")
    body += [task_section(task, grade.tasks[task], grade.path) for task in tasks]
    body.append("<p><small>Each check gives all its points or none. The grader runs every task on its own "
                "with small synthetic data; a message names what was expected and what happened.</small></p>")
    return page(f"{SHEET_TITLE}: feedback for {student}", "\n".join(body))


def status_word(status: str) -> str:
    return {"graded": "yes", "missing": "no: not found", "error": "no: raised an error",
            "timeout": "no: time limit", "crashed": "no: process stopped",
            "unreadable": "no: results unreadable"}.get(status, f"no: {status}")


# Windows cannot create files with these names, whatever the suffix
RESERVED_NAMES = frozenset(["con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                            *(f"lpt{i}" for i in range(10))])
MAX_NAME_LENGTH = 100


def safe_name(student: str) -> str:
    """``student`` as a file name stem: letters, digits, ``._-@+`` only; not hidden, not reserved."""
    name = unicodedata.normalize("NFC", student)
    name = re.sub(r"[^\w.@+-]", "_", name)[:MAX_NAME_LENGTH]
    name = name.lstrip(".-") or "submission"
    if name.split(".")[0].casefold() in RESERVED_NAMES:
        name = "_" + name
    return name


def feedback_file_names(students: Sequence[str]) -> list[str]:
    """One file name ``<student>.html`` per student id, made safe, and unique even where case is ignored."""
    return [f"{name}.html" for name in numbered_apart([safe_name(student) for student in students],
                                                      key=str.casefold)]


def write_feedback(grades: Sequence[SubmissionGrade], folder: Path, protected: Sequence[Path] = (),
                   on_file_written: Callable[[int, int], None] | None = None,
                   students: Sequence[str] | None = None) -> list[Path]:
    """Write one feedback page per submission into ``folder`` (created if needed); returns the files.

    ``students`` are the submissions' ids (default: made from their paths).
    Each file is written atomically and never through a symbolic link or over
    one of the ``protected`` files (ValueError). Existing pages of other
    students in ``folder`` are left alone.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    students = ids_of(grades, students)
    targets = [folder / name for name in feedback_file_names(students)]
    for target in targets:  # refuse before writing anything
        check_output_path(target, protected)
    for done, (grade, student, target) in enumerate(zip(grades, students, targets), start=1):
        write_atomically(target, render_feedback(grade, student), protected, sync=False)
        if on_file_written is not None:
            on_file_written(done, len(targets))
    return targets
