"""The registry of graded tasks: per task, everything the grader knows, in the order of the sheet.

Each task has two modules here:

* ``task_<id>.py``: its ``TASK`` (a ``spec.Task``): points and title (from
  ``ex4/sheet.py``), checks with points and labels, work checks, the
  answer's shape, the calls a context statement must not make, and the
  verdict (the probe's JSON in, a ``TaskGrade`` out). Imports no torch.
* ``probe_<id>.py``: the probe, run in the sandbox beside the submission's
  code: ``probe(namespace, task_job, state)`` returns plain JSON, and an
  optional ``provide(task_job, provided, state)`` adds to the namespace.

Extraction, the grading pipeline, feedback, the README's points table and the
release read ``REGISTRY``; the grading process imports the probes never, the
sandbox by the dotted name in each job. ``REGISTRY.extended(task)`` adds a
task for the duration of a ``with`` block (the toy task of the tests).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Set
from contextlib import contextmanager
from pathlib import Path

from instructor.tasks import task_1a, task_1b, task_2a, task_2b, task_3a, task_3b
from instructor.tasks.spec import PROJECT_ROOT, Definition, Statements, Task

# the package's own files the probes import in the sandbox (never replay_2b.py: the reference's side only)
PACKAGE_FILES = ("instructor/tasks/__init__.py", "instructor/tasks/spec.py")


class LiveMapping(Mapping):
    """A read-only mapping recomputed from the registry at every use."""

    def __init__(self, compute: Callable[[], dict]) -> None:
        self._compute = compute

    def __getitem__(self, key):
        return self._compute()[key]

    def __iter__(self) -> Iterator:
        return iter(self._compute())

    def __len__(self) -> int:
        return len(self._compute())


class LiveSet(Set):
    """A read-only set recomputed from the registry at every use; operators give frozensets."""

    def __init__(self, compute: Callable[[], frozenset]) -> None:
        self._compute = compute

    @classmethod
    def _from_iterable(cls, iterable) -> frozenset:
        return frozenset(iterable)

    def __contains__(self, item) -> bool:
        return item in self._compute()

    def __iter__(self) -> Iterator:
        return iter(self._compute())

    def __len__(self) -> int:
        return len(self._compute())

    def union(self, *others) -> frozenset:
        return self._compute().union(*others)


class Registry:
    """The graded tasks in order; the tables other modules read are views of it."""

    def __init__(self, tasks: tuple[Task, ...]) -> None:
        self._tasks = list(tasks)
        ids = [task.id for task in tasks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"task ids must be unique, got {ids}")

    def tasks(self) -> tuple[Task, ...]:
        return tuple(self._tasks)

    def ids(self) -> tuple[str, ...]:
        return tuple(task.id for task in self._tasks)

    def task(self, task_id: str) -> Task:
        for task in self._tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"no task {task_id!r}: the tasks are {', '.join(self.ids())}")

    @contextmanager
    def extended(self, *tasks: Task) -> Iterator[Registry]:
        """The registry with ``tasks`` appended, until the ``with`` block ends."""
        taken = set(self.ids()) & {task.id for task in tasks}
        if taken:
            raise ValueError(f"tasks {sorted(taken)} are registered already")
        self._tasks.extend(tasks)
        try:
            yield self
        finally:
            for task in tasks:
                self._tasks.remove(task)

    def definition_tasks(self) -> Mapping[str, str]:
        """Live view: task -> the name of the definition that answers it."""
        return LiveMapping(lambda: {t.id: t.answer.name for t in self._tasks if isinstance(t.answer, Definition)})

    def statement_tasks(self) -> Mapping[str, tuple[tuple[str, ...], str]]:
        """Live view: task -> (names its cell assigns, the function a module defines instead)."""
        return LiveMapping(lambda: {t.id: (t.answer.assigns, t.answer.function) for t in self._tasks
                                    if isinstance(t.answer, Statements)})

    def answer_names(self, *given: str) -> Set[str]:
        """Live view: the names of every task's answer, with ``given`` (names of given code)."""
        return LiveSet(lambda: frozenset(given).union(*(t.answer_names() for t in self._tasks)))

    def skipped_calls(self) -> Set[str]:
        """Live view: calls that train, evaluate or plot: statements making them stay out of a context."""
        return LiveSet(lambda: frozenset().union(*(t.skipped_calls for t in self._tasks)))

    def sandbox_modules(self) -> dict[str, Path]:
        """Module-folder path -> source file of what the probes import from here: this package and the probes."""
        files = {relative: PROJECT_ROOT / relative for relative in PACKAGE_FILES}
        for task in self._tasks:
            module = task.verdict.__module__
            if module.startswith(__name__ + "."):
                relative = module.replace(".", "/") + ".py"
                files[relative] = PROJECT_ROOT / relative
            relative, source = task.probe_file()
            files[relative] = source
        return files


REGISTRY = Registry(tuple(module.TASK for module in (task_1a, task_1b, task_2a, task_2b, task_3a, task_3b)))
# the sheet's tasks and points, for code that needs no task added in a test
TASKS = REGISTRY.ids()
POINTS = {task.id: task.points for task in REGISTRY.tasks()}
