"""What the grader knows about one task: ``Task``, and the two shapes an answer can have.

Imports no torch: the grading process builds the registry and judges plain
JSON with it. The probe, which runs beside the submission's code in the
sandbox and may import torch, is named by its dotted module (``probe``) and
imported only there.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from instructor.grading.verdicts import TaskGrade

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Definition:
    """The answer is one top-level definition (a class or function) named ``name``."""

    name: str


@dataclass(frozen=True)
class Statements:
    """The answer is the last cell assigning ``assigns``; a ``.py`` module may define ``function`` instead."""

    assigns: tuple[str, ...]
    function: str


@dataclass(frozen=True)
class Task:
    """One graded task.

    ``checks``: check -> (points, what it tests, as the feedback pages tell
    students); the points add up to ``points``. ``work_checks``: the checks
    only a working solution passes (``verdicts.Checks``). ``skipped_calls``:
    calls besides the answer's own that a context statement must not make
    (training, plots). ``verdict(student, reference)`` judges the probe's JSON
    results. ``trusted_sources``: job key -> file sent only in the
    reference's own job (e.g. Task 2b's replay). ``merge_reference_parts``: when
    set, the reference's own job runs as one part per sandbox worker side by
    side (the job's "part" is [part, parts]) and this merges their results
    in part order into one. ``probe_path``: the probe's
    file when it is not ``probe``'s module under the project root (a test's
    task). ``gate``: what shows work in an answer, for the README's table
    (see ``verdicts.Checks``): the checks not in ``work_checks`` count only then.
    ``reference_needs``: the other tasks' answers that its namespace
    gets from the reference (1b's cell builds a SimpleMLP); the given code it
    gets always, the other answers never.
    """

    id: str
    title: str
    points: int
    checks: Mapping[str, tuple[int, str]]
    work_checks: tuple[str, ...]
    answer: Definition | Statements
    probe: str
    verdict: Callable[[dict, dict], TaskGrade]
    skipped_calls: tuple[str, ...] = ()
    trusted_sources: Mapping[str, Path] = field(default_factory=lambda: MappingProxyType({}))
    merge_reference_parts: Callable[[list[dict]], dict] | None = None
    probe_path: Path | None = None
    gate: str = ""
    reference_needs: tuple[str, ...] = ()

    def answer_names(self) -> tuple[str, ...]:
        """The reference definitions that answer this task: never sent to a process running its code."""
        return (self.answer.name,) if isinstance(self.answer, Definition) else (self.answer.function,)

    def probe_file(self) -> tuple[str, Path]:
        """(path inside the sandbox's module folder, source file) of the probe module."""
        relative = self.probe.replace(".", "/") + ".py"
        return relative, self.probe_path or PROJECT_ROOT / relative
