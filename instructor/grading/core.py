"""Grade submissions: extract each task's code, run it in the sandbox, judge it against the reference.

For every task the sandbox namespace holds the given code, the reference
answers the task needs (``reference_needs``; 1b and 2b build and train a
SimpleMLP) and, on top, only the submission's code for that task -- so a
broken SimpleMLP costs Task 1a and nothing else. The reference
is probed by the same machinery (in a fork that runs no student code) and
the verdicts are computed here, from plain JSON.
"""
from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from instructor.grading.extraction import (
    Submission,
    SubmissionError,
    TaskCode,
    extract,
    reference_code,
)
from instructor.grading.judge import grade_task
from instructor.grading.sandbox import GradingProcessError, Limits, TaskRun
from instructor.grading.task_sandbox import task_sandbox
from instructor.grading.text import one_line as sanitize_text
from instructor.grading.verdicts import TaskGrade
from instructor.shipped import PROJECT_ROOT
from instructor.solution_regions import find_regions
from instructor.tasks import REGISTRY

REFERENCE_PATH = PROJECT_ROOT / "solution.py"
REFERENCE_KEY = "reference"
DEFAULT_LIMITS = Limits()
# the reference's own runs (2b replays a dozen trainings) get more time than a student's task
REFERENCE_TIMEOUT_FACTOR = 3
MIN_REFERENCE_TIMEOUT_S = 60.0
# the grader draws the inputs of every probe from a seed in range(SEED_RANGE), new for each run unless given
SEED_RANGE = 1 << 31
# a message in the gradebook is cut to this many characters
MAX_MESSAGE_CHARS = 500
# reference lines at least this long are removed from messages; shorter ones are too common to matter
MIN_REDACTED_LINE_CHARS = 20
# a run of this many letters, digits and +/= without a space is encoded data, not a message
ENCODED_DATA = re.compile(r"[A-Za-z0-9+/=]{40,}")


def reference_needs(task: str, definitions: dict[str, str]) -> tuple[str, ...]:
    """The reference definitions a task's namespace gets: the given code and the answers the task declares.

    The given code (definitions that answer no task, e.g. SimpleFixedMLP) is
    what every student has. Of the tasks' answers a job carries only those
    its ``Task.reference_needs`` names (1b's cell builds a SimpleMLP, 2b's
    trains with ``train``), never its own: the other answers never enter a
    process that runs student code.
    """
    spec = REGISTRY.task(task)
    answers = REGISTRY.answer_names()
    return tuple(name for name in definitions
                 if name not in spec.answer_names() and (name not in answers or name in spec.reference_needs))


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


def task_job(task: str, code: TaskCode, reference: tuple[tuple[str, ...], dict[str, str]], seed: int,
             trusted: bool = False) -> dict:
    """The JSON job for one task (see grading/task_namespace.py): sources and statements only.

    The reference sources are the imports, the given code and the answers of
    the other tasks this one needs (``reference_needs``), never the answer of
    ``task`` itself. Only a
    ``trusted`` job (the reference's own) carries the task's trusted sources (Task 2b's replay).
    """
    imports, definitions = reference
    spec = REGISTRY.task(task)
    job = {"task": task, "probe": spec.probe, "kind": code.kind, "seed": seed,
           "reference": [*imports, *(definitions[name] for name in reference_needs(task, definitions))],
           "context": [statement.to_json() for statement in code.context],
           "task_code": [statement.to_json() for statement in code.task_code]}
    if trusted:
        job.update({key: path.read_text(encoding="utf-8") for key, path in spec.trusted_sources.items()})
    return job


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


def grade_paths(paths: list[str], limits: Limits = DEFAULT_LIMITS, jobs: int = 1,
                reference_path: Path = REFERENCE_PATH,
                on_submission_done: Callable[[int, int], None] | None = None,
                say: Callable[[str], None] | None = None,
                kernel_confinement: bool = True, seed: int | None = None) -> list[SubmissionGrade]:
    """Grade every submission in ``paths``; results in the same order.

    Raises FileNotFoundError if a path does not exist (nothing is graded then)
    and GradingProcessError if the grading machinery cannot run. A submission
    that cannot be read gets 0 points with the reason. ``on_submission_done``
    is called with (done, total) as submissions finish; ``say`` receives the
    one line about what the sandbox does not protect on this machine.
    ``kernel_confinement=False`` is for benchmarks only (see ``Sandbox``).
    ``seed`` fixes every probe's inputs (the same seed gives the same points
    and messages); None draws a new one.
    """
    check_paths(paths)
    reference = reference_code(reference_path)
    seed = secrets.randbelow(SEED_RANGE) if seed is None else seed
    task_ids = REGISTRY.ids()
    # the workers start first: they import torch (seconds) while the reader reads the reference and the submissions
    sandbox = task_sandbox(limits, jobs, kernel_confinement)
    try:
        reference_submission = extract(reference_path)
        extracted: dict[int, Submission | str] = {index: extract_safely(Path(path)) for index, path in enumerate(paths)}
    except BaseException:
        sandbox.close()
        raise
    reference_timeout_s = max(limits.task_timeout_s * REFERENCE_TIMEOUT_FACTOR, MIN_REFERENCE_TIMEOUT_S)
    parts = {task: max(1, jobs) if REGISTRY.task(task).merge_reference_parts is not None else 1 for task in task_ids}
    reference_runs = own_reference_runs(reference_submission, reference, seed, parts, reference_timeout_s)
    runs: list[TaskRun] = []
    remaining: dict[int, int] = {}
    for index, submission in extracted.items():
        if isinstance(submission, Submission):
            tasks = [task for task, code in submission.tasks.items() if code.kind != "missing"]
            remaining[index] = len(tasks)
            runs += [TaskRun(f"{index}/{task}", task_job(task, submission.tasks[task], reference, seed),
                             group=str(index)) for task in tasks]
    done = [sum(1 for n in remaining.values() if n == 0) + sum(1 for s in extracted.values() if isinstance(s, str))]

    expected: dict[str, dict] = {}
    task_grades: dict[str, TaskGrade] = {}

    def finished(key: str, outcome: dict) -> None:
        # judged at once and the raw result dropped: a class's results never pile up in memory
        owner, task = key.split("/")
        task_grades[key] = grade_task(task, outcome, expected[task])
        if on_submission_done is None:
            return
        remaining[int(owner)] -= 1
        if remaining[int(owner)] == 0:
            done[0] += 1
            on_submission_done(done[0], len(paths))

    with sandbox:
        sandbox.wait_until_ready()
        if say is not None and sandbox.not_protected():
            say("grade.py: not protected on this machine: " + "; ".join(sandbox.not_protected()))
        # the reference first and alone: no student task can slow it down
        reference_outcomes = sandbox.run_all(reference_runs)
        expected.update(reference_results({task: merged_reference_outcome(task, reference_outcomes, parts[task])
                                           for task in task_ids}))
        sandbox.run_all(runs, finished, keep=False)
    secret_lines = distinctive_lines(region.body for region in find_regions(
        reference_path.read_text(encoding="utf-8"), str(reference_path)))
    grades = []
    for index, path in enumerate(paths):
        submission = extracted[index]
        grade = SubmissionGrade(path)
        if isinstance(submission, Submission):
            grade.review = list(getattr(submission, "review", ()))
        for task in task_ids:
            if isinstance(submission, str):
                outcome = {"status": "missing", "error": submission}
            elif submission.tasks[task].kind == "missing":
                outcome = {"status": "missing", "error": submission.tasks[task].problem}
            else:
                outcome = None
            task_grade = task_grades.get(f"{index}/{task}") if outcome is None else None
            if task_grade is None:
                task_grade = grade_task(task, outcome or {"status": "crashed", "error": "no result"}, expected[task])
            task_grade.messages = [redact(sanitize_text(message, MAX_MESSAGE_CHARS), secret_lines)
                                   for message in task_grade.messages]
            grade.tasks[task] = task_grade
        grades.append(grade)
    return grades


def distinctive_lines(sources) -> list[str]:
    """The lines of the reference's answers (its solution regions) long enough to be recognised in a message.

    Given code, which students have too, is not among them.
    """
    lines = {" ".join(line.split()) for source in sources for line in source.splitlines()}
    return sorted((line for line in lines if len(line) >= MIN_REDACTED_LINE_CHARS), key=len, reverse=True)


def redact(message: str, secret_lines: list[str]) -> str:
    """``message`` without what student code may have smuggled into it.

    Quoted lines of the reference's answers, long unbroken runs of letters and
    digits (encoded data, e.g. base64) and the grader's own folders (the
    project, the Python environment, the home folder) are replaced.
    """
    for line in secret_lines:
        if line in message:
            message = message.replace(line, "[reference code removed]")
    message = ENCODED_DATA.sub("[…]", message)
    for folder in private_folders():
        message = message.replace(folder, "…")
    return message


def private_folders() -> list[str]:
    """Folders of the grading machine that messages must not show, longest first."""
    folders = {str(PROJECT_ROOT), sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path.home())}
    return sorted((f for f in folders if len(f) > 1), key=len, reverse=True)


def extract_safely(path: Path) -> Submission | str:
    """The submission's code, or why it cannot be read (never raises for a bad submission)."""
    try:
        return extract(path)
    except SubmissionError as exc:
        return sanitize_text(str(exc))
    except (RecursionError, MemoryError, ValueError, TypeError, OSError) as exc:
        return f"{path.name}: the file could not be read ({type(exc).__name__})"


def reference_key(task: str, part: int) -> str:
    return f"{REFERENCE_KEY}/{task}#{part}"


def own_reference_runs(reference_submission: Submission, reference: tuple[tuple[str, ...], dict[str, str]],
                       seed: int, parts: dict[str, int], timeout_s: float) -> list[TaskRun]:
    """The reference's own runs: ``parts[task]`` parts of each task, the split tasks first (they take longest)."""
    runs = []
    for task, n_parts in parts.items():
        for part in range(n_parts):
            job = task_job(task, reference_submission.tasks[task], reference, seed, trusted=True)
            if n_parts > 1:
                job["part"] = [part, n_parts]
            runs.append(TaskRun(reference_key(task, part), job, timeout_s))
    return sorted(runs, key=lambda run: "part" not in run.job)


def merged_reference_outcome(task: str, outcomes: dict[str, dict], parts: int) -> dict:
    """The reference's outcome of ``task``: its parts' results merged by the task (the first failure otherwise)."""
    own = [outcomes.get(reference_key(task, part), {}) for part in range(parts)]
    failed = next((outcome for outcome in own if outcome.get("status") != "ok"), None)
    if failed is not None or parts == 1:
        return failed or own[0]
    try:
        return {"status": "ok", "result": REGISTRY.task(task).merge_reference_parts([o["result"] for o in own])}
    except (KeyError, TypeError, ValueError) as exc:
        return {"status": "error", "error": f"its parts could not be merged: {exc}"}


def reference_results(outcomes: dict[str, dict]) -> dict[str, dict]:
    failed = {task: outcome.get("error") for task, outcome in outcomes.items() if outcome.get("status") != "ok"}
    if failed:
        raise GradingProcessError(f"the reference solution could not be probed: {failed}")
    return {task: outcome["result"] for task, outcome in outcomes.items()}
