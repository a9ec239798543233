"""Similar answers of a graded class into the instructor's outputs: the gradebook JSON and the class report.

Never into a student's feedback page: a pair is a lead for the instructor to
read both answers, not a finding.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from html import escape
from pathlib import Path

from instructor.grading.extraction import Submission, SubmissionError, extract
from instructor.grading.similarity import SimilarityReport, compare_class, given_and_reference, release_stub
from instructor.shipped import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
REPORT_ANCHOR = '<section id="submissions">'


def _read(path: Path) -> Submission | None:
    try:
        return extract(path)
    except (SubmissionError, RecursionError, MemoryError, ValueError, TypeError, OSError):
        return None


def class_similarity(paths: Sequence[str], ids: Sequence[str], reference_path: Path,
                     notebook: Path = NOTEBOOK) -> SimilarityReport:
    """Similar pairs over the submissions at ``paths`` (student ``ids`` in the same order).

    The given code is the stub that ``instructor.release`` makes of
    ``notebook``; the reference answers (``reference_path``) say which tasks
    are a few forced lines.
    """
    with tempfile.TemporaryDirectory(prefix="ex4-similarity-") as folder:
        stub = extract(release_stub(Path(folder), notebook, reference_path))
    given, reference_tokens = given_and_reference(extract(reference_path), stub)
    submissions = {student: _read(Path(path)) for student, path in zip(ids, paths)}
    return compare_class(submissions, given, reference_tokens)


def with_similarity(gradebook_json: str, report: SimilarityReport | None) -> str:
    """The gradebook JSON text with ``similar`` and ``similar_not_compared`` added at its top level.

    Unchanged when there is no ``report`` (the comparison failed).
    """
    if report is None:
        return gradebook_json
    data = json.loads(gradebook_json)
    data.update(report.to_json())
    return json.dumps(data, indent=2) + "\n"


def similarity_section(report: SimilarityReport, points: dict[str, dict[str, int]]) -> str:
    """The class report's section: each pair side by side with the students' points of that task and in total.

    ``points``: student id -> {"total": ..., task: ...}.
    """
    parts = ['<section id="similar"><h2>Similar answers</h2>',
             "<p>Pairs whose own code for a task is nearly the same once names, strings, formatting and comments "
             "are set aside and the given code is removed (docs/similarity.md). Read both answers before you "
             "conclude anything; students never see this list.</p>"]
    if report.pairs:
        parts.append('<table id="similar-table"><thead><tr><th>Task</th><th>Student</th><th class="num">Task points'
                     '</th><th class="num">Total</th><th>Student</th><th class="num">Task points</th>'
                     '<th class="num">Total</th><th class="num">Similarity</th></tr></thead><tbody>')
        for pair in report.pairs:
            cells = []
            for student in pair.ids:
                own = points.get(student, {})
                cells.append(f'<td class="mono">{escape(student)}</td><td class="num">{own.get(pair.task, "–")}</td>'
                             f'<td class="num">{own.get("total", "–")}</td>')
            parts.append(f'<tr><td>{escape(pair.task)}</td>{"".join(cells)}'
                         f'<td class="num">{pair.score:.2f}</td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No pair of answers is above the threshold.</p>")
    if report.not_compared:
        parts.append('<ul id="similar-not-compared">' + "".join(
            f"<li>Task {escape(task)} not compared: {escape(reason)}</li>"
            for task, reason in report.not_compared.items()) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def with_similarity_section(report_html: str, section: str) -> str:
    """``report_html`` with ``section`` before its list of all submissions (or at the end of its body)."""
    anchor = REPORT_ANCHOR if REPORT_ANCHOR in report_html else "</body>"
    before, found, after = report_html.partition(anchor)
    return before + section + "\n" + found + after if found else report_html + section
