"""Run submissions' task code in separate, limited processes and collect plain JSON results.

Layout of one grading run::

    grader (this process)  -- never runs student code
      +-- child.py, one per --jobs slot: imports torch once (python -I, scratch dir on sys.path)
            +-- one fork per (submission, task): confined, runs the probe, returns JSON

Confinement of a task process (``child.confine``): its own process group,
a wall-clock timeout (then SIGKILL), an address-space cap, a CPU-time cap, a
file-size cap, no core files, standard streams on /dev/null, cwd in its own
work folder under the scratch folder. When the grader runs as root the task
process also drops to an unprivileged uid of its own (``UID_BASE`` + slot),
which owns nothing but its work folder: it cannot change the project, the
submissions or other users' files (world-writable places such as /tmp stay
writable, as for any unprivileged user). Without root there is no uid change:
student code then has the grading user's file permissions, and only the
other limits apply -- grade as root, or in a container, for untrusted code.

The scratch folder holds read-only copies of the notebook's companion modules
(utils.py, mnist_data.py, self_checks.py, and model_properties.py, which the
probes import too); the project folder, solution.py
and the tests are not on the task's ``sys.path``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from solution_regions import TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHILD_SCRIPT = Path(__file__).resolve().parent / "child.py"
PROBES_SCRIPT = Path(__file__).resolve().parent / "probes.py"
# modules a notebook imports next to itself; copied read-only into the scratch folder
COMPANION_MODULES = ("utils.py", "mnist_data.py", "self_checks.py", "model_properties.py")
# imported by the grading process before forking, so that tasks do not pay for them
PRELOADED_MODULES = ("utils", "self_checks")
# unprivileged uids for task processes when grading as root: one per parallel slot
UID_BASE = 61000
# time for the grading process to start and import torch, on top of the task timeouts
STARTUP_ALLOWANCE_S = 120.0
# extra wall time per task: fork, workdir, reaping
TASK_OVERHEAD_S = 5.0
SCRATCH_MODE = 0o755
REFERENCE_KEY = "reference"
COMPANION_MODE = 0o444


@dataclass(frozen=True)
class Limits:
    """Per-task limits: wall-clock seconds, extra address space, file size, processes of its uid."""

    task_timeout_s: float = 20.0
    memory_bytes: int = 2 << 30
    file_bytes: int = 16 << 20
    processes: int = 256


class GradingProcessError(RuntimeError):
    """The grading process itself failed (not the student's code)."""


def make_scratch() -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="ex4-grading-"))
    scratch.chmod(SCRATCH_MODE)
    for name in COMPANION_MODULES:
        source = PROJECT_ROOT / name
        if source.is_file():
            target = scratch / name
            shutil.copyfile(source, target)
            target.chmod(COMPANION_MODE)
    return scratch


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


def start_child(scratch: Path, submissions: list[dict], reference_tasks: list[dict], limits: Limits,
                slot: int) -> subprocess.Popen:
    """Start one grading process for ``submissions`` (each {"key", "tasks": [task_job]}).

    With ``reference_tasks`` it first runs those (the reference's task jobs) the same way.
    """
    preload = [m for m in PRELOADED_MODULES if (scratch / f"{m}.py").is_file()]
    job = {"scratch": str(scratch), "probes_path": str(PROBES_SCRIPT), "preload": preload,
           "limits": asdict(limits), "reference_tasks": reference_tasks, "uid": UID_BASE + slot if os.geteuid() == 0 else None,
           "submissions": submissions}
    process = subprocess.Popen([sys.executable, "-I", str(CHILD_SCRIPT)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=scratch,
                               env=child_environment())
    process.job_text = json.dumps(job)
    return process


def finish_child(process: subprocess.Popen, submissions: list[dict], limits: Limits) -> dict[str, dict]:
    """Outcomes per submission key and task; a failed grading process fails its unfinished tasks."""
    n_tasks = sum(len(s["tasks"]) for s in submissions) + len(TASKS)
    timeout = STARTUP_ALLOWANCE_S + n_tasks * (limits.task_timeout_s + TASK_OVERHEAD_S)
    try:
        stdout, stderr = process.communicate(process.job_text.encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    outcomes: dict[str, dict] = {}
    for line in stdout.decode(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("tasks"), dict):
            outcomes[str(record.get("key"))] = record["tasks"]
    failure = stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {process.returncode}"]
    for submission in submissions:
        done = outcomes.setdefault(submission["key"], {})
        for task_job in submission["tasks"]:
            done.setdefault(task_job["task"], {
                "status": "crashed", "error": f"the grading process failed before this task: {failure[0]}"})
    return outcomes


def reference_results(outcomes: dict[str, dict]) -> dict[str, dict]:
    failed = {task: outcome.get("error") for task, outcome in outcomes.items() if outcome.get("status") != "ok"}
    if failed or set(outcomes) != set(TASKS):
        raise GradingProcessError(f"the reference solution could not be probed: {failed or 'no results'}")
    return {task: outcome["result"] for task, outcome in outcomes.items()}


def run_in_sandbox(submissions: list[dict], reference_tasks: list[dict], limits: Limits,
                   jobs: int) -> tuple[dict[str, dict], dict[str, dict]]:
    """Run all task jobs of ``submissions``, spread over ``jobs`` grading processes in parallel.

    Returns the outcomes per submission key and task, and the reference's results per task
    (computed by the first grading process in a fork of its own, before any submission).
    Raises GradingProcessError when the reference's results cannot be computed.
    """
    scratch = make_scratch()
    try:
        groups = [submissions[slot::jobs] for slot in range(max(1, min(jobs, len(submissions))))]
        processes = [start_child(scratch, group, reference_tasks if slot == 0 else [], limits, slot)
                     for slot, group in enumerate(groups)]
        outcomes: dict[str, dict] = {}
        # one thread per process feeds its job and reads its results, so all run at once
        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            for result in pool.map(lambda pg: finish_child(pg[0], pg[1], limits), zip(processes, groups)):
                outcomes.update(result)
        return outcomes, reference_results(outcomes.pop(REFERENCE_KEY, {}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
