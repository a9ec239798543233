"""Grade submissions: extract each task's code, run it in the sandbox, judge it against the reference.

For every task the sandbox namespace holds the reference definitions the task
needs (``REFERENCE_NEEDS``) and, on top, only the submission's code for that
task -- so a broken SimpleMLP costs Task 1a and nothing else. The reference
is probed by the same machinery (in a fork that runs no student code) and
the verdicts are computed here, from plain JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grading.extract import Submission, SubmissionError, TaskCode, extract, reference_code
from grading.sandbox import PROJECT_ROOT, Limits, run_in_sandbox
from grading.verdicts import TaskGrade, grade_task
from solution_regions import TASKS
REFERENCE_PATH = PROJECT_ROOT / "solution.py"
# definitions each task's namespace takes from the reference (the given class and other tasks' answers)
REFERENCE_NEEDS = {
    "1a": ("SimpleFixedMLP",),
    "1b": ("SimpleFixedMLP", "SimpleMLP"),
    "2a": ("SimpleFixedMLP", "SimpleMLP"),
    "2b": ("SimpleFixedMLP", "SimpleMLP", "train"),
    "3a": ("SimpleFixedMLP", "SimpleMLP"),
    "3b": ("SimpleFixedMLP", "SimpleMLP"),
}


@dataclass
class SubmissionGrade:
    path: str
    tasks: dict[str, TaskGrade] = field(default_factory=dict)
    # places where the code uses introspection or low-level process tricks, e.g. "sys._getframe, cell 16 line 3"
    review: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(grade.points for grade in self.tasks.values())

    @property
    def max_points(self) -> int:
        return sum(grade.max_points for grade in self.tasks.values())

    def to_json(self) -> dict:
        return {"path": self.path, "points": self.points, "max_points": self.max_points,
                "review": list(self.review),
                "tasks": {task: {"points": g.points, "max_points": g.max_points, "status": g.status,
                                 "failed": list(g.failed), "messages": list(g.messages)}
                          for task, g in self.tasks.items()}}


def task_job(task: str, code: TaskCode, reference: tuple[tuple[str, ...], dict[str, str]]) -> dict:
    """The JSON job for one task: sources only, executed in the sandbox in this order."""
    imports, definitions = reference
    return {"task": task, "kind": code.kind, "reference_imports": list(imports),
            "reference_definitions": [definitions[name] for name in REFERENCE_NEEDS[task]],
            "imports": list(code.imports), "helpers": list(code.helpers),
            "definition": code.definition, "code": code.code}


SUBMISSION_SUFFIXES = (".ipynb", ".py")


def expand_paths(paths: list[str]) -> list[str]:
    """``paths`` with every folder replaced by the submissions directly inside it.

    A folder stands for its ``*.ipynb`` and ``*.py`` files (not those in
    subfolders), sorted by name. Raises FileNotFoundError for a folder that
    holds none; other paths are kept as given.
    """
    expanded = []
    for path in paths:
        folder = Path(path)
        if not folder.is_dir():
            expanded.append(path)
            continue
        found = sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix in SUBMISSION_SUFFIXES)
        if not found:
            raise FileNotFoundError(f"the folder {path} holds no submission: no "
                                    f"{' or '.join('*' + s for s in SUBMISSION_SUFFIXES)} file directly inside it")
        expanded.extend(found)
    return expanded


def check_paths(paths: list[str]) -> None:
    """Raise FileNotFoundError naming every path that is not a file."""
    missing = [path for path in paths if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"no such submission file: {', '.join(missing)} "
                                "(give paths to .ipynb notebooks or .py modules)")


def grade_paths(paths: list[str], limits: Limits = Limits(), jobs: int = 1,
                reference_path: Path = REFERENCE_PATH) -> list[SubmissionGrade]:
    """Grade every submission in ``paths``; results in the same order.

    Raises FileNotFoundError if a path does not exist (nothing is graded then).
    A submission that cannot be read gets 0 points with the reason.
    """
    check_paths(paths)
    reference = reference_code(reference_path)
    extracted: dict[str, Submission | str] = {}
    for key, path in enumerate(paths):
        try:
            extracted[str(key)] = extract(Path(path))
        except SubmissionError as exc:
            extracted[str(key)] = str(exc)
    sandbox_jobs = [{"key": key, "tasks": [task_job(task, code, reference)
                                           for task, code in submission.tasks.items() if code.kind != "missing"]}
                    for key, submission in extracted.items() if isinstance(submission, Submission)]
    reference_submission = extract(reference_path)
    reference_jobs = [task_job(task, reference_submission.tasks[task], reference) for task in TASKS]
    outcomes, expected_results = run_in_sandbox(sandbox_jobs, reference_jobs, limits, jobs)
    grades = []
    for key, path in enumerate(paths):
        submission = extracted[str(key)]
        grade = SubmissionGrade(path)
        for task in TASKS:
            if isinstance(submission, str):
                outcome = {"status": "missing", "error": submission}
            elif submission.tasks[task].kind == "missing":
                outcome = {"status": "missing", "error": submission.tasks[task].problem}
            else:
                outcome = outcomes.get(str(key), {}).get(task, {"status": "crashed", "error": "no result"})
            grade.tasks[task] = grade_task(task, outcome, expected_results[task])
        grades.append(grade)
    return grades
