"""What a grading run was, so that it can be repeated: the record the gradebook JSON carries under ``run``.

The grader draws every probe's inputs from one seed (``core.grade_paths``'s
``seed``). Grading the same files again with the recorded seed, the same
``solution.py``, task definitions and grader code gives the same points and
messages; the record holds hashes of each, so a later run can tell whether
they changed.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import secrets
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from instructor.grading.core import SEED_RANGE
from instructor.tasks import REGISTRY

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
GRADER_FOLDER = Path(__file__).resolve().parent
# the version of the grader when git cannot say (an unpacked copy); raise it with every change of the points
GRADER_VERSION = "2026.12"
GIT_TIMEOUT_S = 5


def new_seed() -> int:
    """A fresh seed for a run that was not given one (the range ``core.grade_paths`` draws from)."""
    return secrets.randbelow(SEED_RANGE)


def sha256_of_files(files: Iterable[Path], root: Path = PROJECT_ROOT) -> str:
    """One SHA-256 over the files' root-relative names and contents, in sorted order."""
    digest = hashlib.sha256()
    for file in sorted({Path(f).resolve() for f in files}):
        name = file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name
        digest.update(name.encode("utf-8") + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def task_definition_files() -> list[Path]:
    """The source files of the registry's tasks: specs and verdicts, probes, what the sandbox copies for them."""
    files = {Path(sys.modules[task.verdict.__module__].__file__).resolve() for task in REGISTRY.tasks()}
    files.update(source.resolve() for source in REGISTRY.sandbox_modules().values())
    for task in REGISTRY.tasks():
        files.update(Path(source).resolve() for source in task.trusted_sources.values())
    return sorted(files)


def grader_version(root: Path = PROJECT_ROOT) -> str:
    """``git describe --always --dirty`` of the project, or ``GRADER_VERSION`` outside a git checkout."""
    try:
        completed = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root,
                                   capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return GRADER_VERSION
    described = completed.stdout.strip()
    return f"{GRADER_VERSION} ({described})" if completed.returncode == 0 and described else GRADER_VERSION


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_record(seed: int, reference_path: Path, options: dict, now: datetime | None = None) -> dict:
    """The ``run`` entry of the gradebook JSON.

    ``seed``: the seed of every probe's inputs; ``grader_version``; SHA-256 of
    ``reference_path`` (solution.py), of the task definitions and of the
    grader's own code; ``options``: what the run was asked to do (JSON
    values); ``date``: UTC, ISO 8601; the versions of Python and torch.
    """
    return {
        "seed": seed,
        "grader_version": grader_version(),
        "solution_sha256": sha256_of_files([Path(reference_path)]),
        "tasks_sha256": sha256_of_files(task_definition_files()),
        "grader_sha256": sha256_of_files(GRADER_FOLDER.glob("*.py")),
        "options": options,
        "date": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": package_version("torch"),
    }

