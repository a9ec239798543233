"""What extraction hands to the grader: per task, the statements its process runs; review flags.

Plain frozen data, written to JSON and read back (``submission_to_json``/``submission_from_json``)
when extraction runs in a child process (``grading.extraction.budget``).
"""
from __future__ import annotations

from dataclasses import dataclass


class SubmissionError(ValueError):
    """The file cannot be read as a notebook or Python module at all."""


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its source and where the student sees its first line."""

    source: str
    where: str  # "cell N" in a notebook, "" in a .py file
    line: int  # 1-based line of the first line: in the cell, or in the .py file
    graded: bool = False  # its failure fails the task (else it costs only the names it defines)

    def to_json(self) -> dict:
        return {"source": self.source, "where": self.where, "line": self.line, "graded": self.graded}


@dataclass(frozen=True)
class TaskCode:
    """What one task runs: ``kind`` is definition, function, statements or missing."""

    kind: str
    context: tuple[Statement, ...] = ()  # run first, each guarded unless graded
    task_code: tuple[Statement, ...] = ()  # kind "statements": run by the probe after the context
    problem: str = ""  # why the task is missing


@dataclass(frozen=True)
class Submission:
    tasks: dict[str, TaskCode]
    review: tuple[str, ...] = ()  # e.g. "sys._getframe, cell 16 line 3"


def submission_to_json(submission: Submission) -> dict:
    return {"tasks": {task: {"kind": code.kind, "problem": code.problem,
                             "context": [s.to_json() for s in code.context],
                             "task_code": [s.to_json() for s in code.task_code]}
                      for task, code in submission.tasks.items()},
            "review": list(submission.review)}


def submission_from_json(data: dict) -> Submission:
    """The ``Submission`` that ``submission_to_json`` wrote (trusted data: extraction's own output)."""
    def statements(items: list) -> tuple[Statement, ...]:
        return tuple(Statement(str(s["source"]), str(s["where"]), int(s["line"]), bool(s["graded"])) for s in items)

    tasks = {task: TaskCode(str(code["kind"]), statements(code["context"]), statements(code["task_code"]),
                            str(code["problem"]))
             for task, code in data["tasks"].items()}
    return Submission(tasks, tuple(str(flag) for flag in data["review"]))
