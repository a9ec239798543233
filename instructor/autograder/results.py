"""Gradescope's ``results.json`` from one gradebook entry, and which submitted file is graded.

One test per check of every task: its name is the task and the check's label
(what the feedback pages show), its ``score`` the check's points when the
gradebook does not list it under the task's ``failed`` checks, else 0. A
task that could not be graded (missing, raised, timed out) scores 0 on every
check. The tests' scores add up to the gradebook's points, which is also the
top-level ``score``.

Visibility: the checks are ``visible`` (students see them at once: they are
the feedback). Review flags (introspection, process tricks: see
``grading/extract.py``) go into one test of 0 points with visibility
``hidden``, never shown to students, and into the instructor-only stdout:
``after_published`` would show them to the student once grades are
published, telling a student which tricks the grader noticed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from instructor.grading.extraction import DEFINITION_TASKS, STATEMENT_TASKS

CHECK_VISIBILITY = "visible"
REVIEW_VISIBILITY = "hidden"
# the autograder's own output (which file, sandbox diagnostics) is for instructors
STDOUT_VISIBILITY = "hidden"
SUBMISSION_SUFFIXES = (".ipynb", ".py")
SHEET_NAME = "Ex4_Optimization2.ipynb"
# folders that upload tools and editors add: never the student's answer
IGNORED_PARTS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__"})
# the names a submission defines or assigns: the more of them a file holds, the likelier it is the answer
GRADED_NAMES = (*DEFINITION_TASKS.values(),
                *(name for targets, function in STATEMENT_TASKS.values() for name in (*targets, function)))


def check_tables() -> dict[str, tuple[str, dict[str, tuple[int, str]]]]:
    """Task -> (its title, check -> (points, label)): the one place that reads the task definitions."""
    from instructor.tasks import REGISTRY

    return {task.id: (task.title, dict(task.checks)) for task in REGISTRY.tasks()}


def test_name(task: str, title: str, label: str) -> str:
    return f"Task {task} {title}: {label}"


def task_tests(task: str, title: str, checks: dict[str, tuple[int, str]], graded: dict) -> list[dict]:
    """One Gradescope test per check of ``task``, from the gradebook's entry ``graded`` of that task."""
    messages = "\n".join(graded.get("messages", []))
    was_graded = graded.get("status") == "graded"
    failed = set(graded.get("failed", []))
    tests = []
    for check, (points, label) in checks.items():
        passed = was_graded and check not in failed
        if passed:
            output = "passed"
        elif was_graded:
            output = f"not passed. What the grader found for Task {task}:\n{messages}"
        else:
            output = f"Task {task} could not be graded ({graded.get('status')}):\n{messages}"
        tests.append({"name": test_name(task, title, label), "score": points if passed else 0,
                      "max_score": points, "status": "passed" if passed else "failed",
                      "output": output, "visibility": CHECK_VISIBILITY})
    return tests


def gradescope_results(entry: dict, tables: dict[str, tuple[str, dict[str, tuple[int, str]]]],
                       chosen_note: str) -> dict:
    """``results.json`` for the gradebook JSON's ``entry`` of one submission (``{"points", "tasks", ...}``).

    Raises ValueError when the checks' points do not add up to the gradebook's
    points (a correction applied to a task, or tables out of step with the
    grade): Gradescope would show a total that is not the gradebook's.
    """
    tests = []
    for task, (title, checks) in tables.items():
        task_grade = entry["tasks"][task]
        task_part = task_tests(task, title, checks, task_grade)
        if sum(test["score"] for test in task_part) != task_grade["points"]:
            raise ValueError(f"Task {task}: the checks' points ({sum(t['score'] for t in task_part)}) are not "
                             f"the gradebook's {task_grade['points']}")
        tests += task_part
    if entry.get("review"):
        tests.append({"name": "Review (instructors only): places that use introspection or process tricks",
                      "score": 0, "max_score": 0, "status": "failed", "output": "\n".join(entry["review"]),
                      "visibility": REVIEW_VISIBILITY})
    output = [chosen_note, f"Total: {entry['points']}/{entry['max_points']} points."]
    unreadable = unreadable_reason(entry)
    if unreadable:
        output.insert(1, f"Your submission could not be read, so nothing in it was graded: {unreadable}")
    return {"score": entry["points"], "output": "\n".join(output), "stdout_visibility": STDOUT_VISIBILITY,
            "tests": tests}


def unreadable_reason(entry: dict) -> str | None:
    """The one reason shared by every task when the file itself could not be read, else None."""
    tasks = entry["tasks"].values()
    reasons = {tuple(task["messages"]) for task in tasks}
    if all(task["status"] == "missing" for task in tasks) and len(reasons) == 1:
        return " ".join(next(iter(reasons)))
    return None


def nothing_to_grade(note: str, tables: dict[str, tuple[str, dict[str, tuple[int, str]]]]) -> dict:
    """``results.json`` when the submission holds no file to grade: 0 points, every check listed."""
    tests = [test for task, (title, checks) in tables.items()
             for test in task_tests(task, title, checks, {"status": "missing", "messages": [note]})]
    return {"score": 0, "output": note, "stdout_visibility": STDOUT_VISIBILITY, "tests": tests}


@dataclass(frozen=True)
class Choice:
    path: Path | None  # the file to grade, None when there is none
    note: str  # what students read about it


def _graded_names_in(path: Path) -> int:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return sum(1 for name in GRADED_NAMES
               if re.search(rf"(\bdef\s+{name}\b|\bclass\s+{name}\b|\b{name}\s*(:[^=\n]*)?=)", text))


def choose_submission(folder: Path) -> Choice:
    """The file of ``folder`` (searched recursively) to grade, and a note saying which and why.

    Rule: a ``.ipynb`` or ``.py`` file (hidden files and editor folders
    left out); among several, the one that defines or assigns the most of the
    graded names (``SimpleMLP``, ``train``, ``model1``, ...); then a notebook
    before a ``.py`` file; then the one named ``Ex4_Optimization2.ipynb``; then
    the first by path.
    """
    candidates = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix in SUBMISSION_SUFFIXES
                        and not any(part.startswith(".") or part in IGNORED_PARTS
                                    for part in path.relative_to(folder).parts))
    if not candidates:
        return Choice(None, "No notebook (.ipynb) or Python file (.py) was found in your submission: upload your "
                            f"{SHEET_NAME} (or its .py export). Nothing was graded.")
    names = {path: _graded_names_in(path) for path in candidates}
    chosen = min(candidates, key=lambda p: (-names[p], p.suffix != ".ipynb", p.name != SHEET_NAME,
                                            p.relative_to(folder).as_posix()))
    shown = chosen.relative_to(folder).as_posix()
    if len(candidates) == 1:
        return Choice(chosen, f"Graded {shown}.")
    others = ", ".join(p.relative_to(folder).as_posix() for p in candidates if p != chosen)
    return Choice(chosen, f"Graded {shown}, one of {len(candidates)} files submitted (the others: {others}). "
                          f"Rule: the file that defines the most of the graded names ({names[chosen]} of "
                          f"{len(GRADED_NAMES)}), then a notebook before a .py file, then {SHEET_NAME}, then the "
                          "first by name.")
