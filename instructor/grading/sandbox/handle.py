"""The grader's handle on the sandbox: start the worker processes, hand them task runs, collect outcomes.

``Sandbox`` starts one worker (``worker.py``) per slot (``slots``: one
launched, the others forked from it) and runs every ``TaskRun`` on the first
free one, never two runs of the same group at the same time.
Guarantees: see ``grading.sandbox``.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from instructor.grading.sandbox.environment import (
    OWNER_FILE,
    SCRATCH_PREFIX,
    GradingProcessError,
    environment_sys_path,
    fresh_uid,
    process_identity,
    remove_stale_scratch,
    remove_tree,
    task_sys_path,
    unreadable_for,
)
from instructor.grading.sandbox.protocol import (
    JOB_FILE,
    Limits,
    TaskRun,
    describe_end,
    parse_result,
    read_result,
    write_job,
)
from instructor.grading.sandbox.slots import ANSWER_SLACK_S, WorkerHandle, start_workers
from instructor.grading.text import one_line

SANDBOX_DIR = Path(__file__).resolve().parent
CONFINEMENT_SCRIPT = SANDBOX_DIR / "confinement.py"
CGROUPS_SCRIPT = SANDBOX_DIR / "cgroups.py"
# world-readable system folders a freshly imported extension module may load libraries or data from
SYSTEM_READ_ONLY = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/etc/ld.so.cache",
                    "/usr/share/fonts", "/etc/fonts", "/dev/urandom", "/dev/random")
SCRATCH_MODE = 0o711
MODULES_MODE = 0o755
MODULE_FILE_MODE = 0o444
WORKDIR_MODE = 0o700


@dataclass(frozen=True)
class SandboxSetup:
    """What the task processes run, given by the caller (the sandbox knows nothing of what a task is).

    ``shipped``: files copied read-only into the sandbox's module folder
    (relative path there -> source file). ``preload``: modules imported once,
    before the other slots' workers and the tasks are forked. ``runner``: the module whose
    ``run(job) -> dict`` runs a job and whose ``describe(exception) -> str``
    says what went wrong. ``excluded``: a folder kept out of the tasks'
    import path and read grants (the project, with the reference solution).
    """

    shipped: dict[str, Path]
    preload: tuple[str, ...]
    runner: str
    excluded: Path
    run: str = "run"
    describe: str = "describe"


class _Schedule:
    """The runs still to start, handed out so that no two runs of one group run at the same time."""

    def __init__(self, runs: list[TaskRun]) -> None:
        self.pending = list(runs)
        self.running: set[str] = set()
        self.changed = threading.Condition()

    def take(self) -> TaskRun | None:
        """The first pending run whose group is not running (waiting for one); None when all are started."""
        with self.changed:
            while self.pending:
                for index, run in enumerate(self.pending):
                    if not run.group or run.group not in self.running:
                        self.running.add(run.group)
                        return self.pending.pop(index)
                self.changed.wait()
            return None

    def done(self, run: TaskRun) -> None:
        with self.changed:
            self.running.discard(run.group)
            self.changed.notify_all()


class Sandbox:
    """Confined task processes for one grading run; use as a context manager."""

    def __init__(self, limits: Limits, slots: int, setup: SandboxSetup, kernel_confinement: bool = True) -> None:
        """``kernel_confinement=False`` (benchmarks only: what the confinement costs) skips Landlock,
        namespaces, seccomp and the user switch; the resource limits stay."""
        self.limits = limits
        remove_stale_scratch(Path(tempfile.gettempdir()))
        self.scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        self.scratch.chmod(SCRATCH_MODE)
        (self.scratch / OWNER_FILE).write_text(" ".join(process_identity(os.getpid())), encoding="ascii")
        self.modules = self.scratch / "modules"
        self.work = self.scratch / "work"
        self.modules.mkdir(mode=MODULES_MODE)
        self.modules.chmod(MODULES_MODE)
        self.work.mkdir(mode=SCRATCH_MODE)
        self.work.chmod(SCRATCH_MODE)
        for relative, source in setup.shipped.items():
            self._copy_module(source, relative)
        self.as_root = os.geteuid() == 0 and kernel_confinement
        self.taken_uids: set[int] = set()
        sys_path = [str(self.modules), *task_sys_path(environment_sys_path(), setup.excluded)]
        self.sys_path = sys_path
        read_only = [*sys_path, *(p for p in SYSTEM_READ_ONLY if os.path.exists(p))]
        self.keep_read_search = False
        if self.as_root:
            self.keep_read_search = bool(unreadable_for(fresh_uid(self.taken_uids), sys_path))
        config = {"sys_path": sys_path, "read_only": read_only, "limits": asdict(limits),
                  "preload": list(setup.preload), "runner": setup.runner, "run": setup.run,
                  "describe": setup.describe, "confinement_path": str(CONFINEMENT_SCRIPT),
                  "cgroups_path": str(CGROUPS_SCRIPT),
                  "want_landlock": kernel_confinement, "want_namespaces": kernel_confinement}
        self.workers: list[WorkerHandle] = []
        self.granted: dict = {}
        try:
            self.workers = start_workers(config, self.scratch, max(1, slots))
        except BaseException:
            self.close()
            raise

    def wait_until_ready(self) -> None:
        """Wait until every worker has imported what it preloads (``run_all`` does; the workers start
        in the background when the sandbox is made). Raises GradingProcessError when one cannot start."""
        if self.granted:
            return
        for worker in self.workers:
            worker.wait_until_ready()
        self.granted = self.workers[0].granted
        if self.keep_read_search and self.granted.get("landlock_abi", 0) < 1:
            self.close()
            raise GradingProcessError(
                "the Python environment is in a folder the task user cannot read "
                f"({', '.join(unreadable_for(fresh_uid(set()), self.sys_path)[:3])}) and this kernel has no Landlock "
                "to confine a task that may read it: make the environment readable by all users "
                "(e.g. chmod -R o+rX on it, or install it outside a private home folder), or grade as a normal user")

    def _copy_module(self, source: Path, relative: str) -> None:
        target = self.modules / relative
        for folder in reversed(target.relative_to(self.modules).parents[:-1]):
            (self.modules / folder).mkdir(mode=MODULES_MODE, exist_ok=True)
            (self.modules / folder).chmod(MODULES_MODE)
        shutil.copyfile(source, target)
        target.chmod(MODULE_FILE_MODE)

    def not_protected(self) -> list[str]:
        """What this kernel and user do not protect against, for the one line said at start (once ready)."""
        gaps = []
        abi = self.granted.get("landlock_abi", 0)
        if abi < 1:
            gaps.append("no Landlock: student code can read and write whatever the "
                        + ("task user id" if self.as_root else "grading user") + " can")
        else:
            if abi < 4:
                gaps.append(f"Landlock ABI {abi} < 4: TCP is not blocked")
            if abi < 6:
                gaps.append(f"Landlock ABI {abi} < 6: signals to other processes are not scoped")
        if not self.granted.get("seccomp"):
            gaps.append("no seccomp: student code can connect to unix sockets of services on this machine, "
                        "use file locks and create memory (memfd) that no limit counts")
        if not self.granted.get("memory_cgroup"):
            gaps.append("no memory cgroup per task: memory is capped per process (address space), so a task "
                        "may use the cap once in each process it starts")
        if not self.as_root:
            gaps.append("not root: Landlock does not cover chmod, so student code can change the permissions "
                        "of the grading user's files")
        if not self.granted.get("namespaces"):
            gaps.append("no namespaces (" + one_line(self.granted.get("namespace_error", ""), 80)
                        + "): processes a task starts may outlive it, and the network stays reachable")
        return gaps

    def run_all(self, runs: list[TaskRun], on_done: Callable[[str, dict], None] | None = None,
                keep: bool = True) -> dict[str, dict]:
        """Run every job, spread over the workers; outcome per key (an empty dict unless ``keep``).

        ``on_done(key, outcome)`` is called as each task ends. Runs of one
        ``group`` wait for each other; the others fill the free workers in order.
        """
        self.wait_until_ready()
        schedule = _Schedule(runs)
        outcomes: dict[str, dict] = {}
        lock = threading.Lock()

        def work(worker: WorkerHandle) -> None:
            while (run := schedule.take()) is not None:
                try:
                    outcome = self.run_one(worker, run)
                except Exception as exc:  # noqa: BLE001 -- one failed task must not stop the others
                    outcome = {"status": "crashed", "error": f"grading failed: {type(exc).__name__}: {exc}"}
                finally:
                    schedule.done(run)
                with lock:
                    if keep:
                        outcomes[run.key] = outcome
                    if on_done is not None:
                        on_done(run.key, outcome)

        threads = [threading.Thread(target=work, args=(worker,), daemon=True) for worker in self.workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return outcomes

    def run_one(self, worker: WorkerHandle, run: TaskRun) -> dict:
        uid = fresh_uid(self.taken_uids) if self.as_root else None
        workdir = self.work / secrets.token_hex(8)
        workdir.mkdir(mode=WORKDIR_MODE)
        try:
            write_job(workdir / JOB_FILE, run.job, self.limits.task_timeout_s + ANSWER_SLACK_S)
            if uid is not None:
                os.chown(workdir, uid, uid)
            timeout_s = run.timeout_s or self.limits.task_timeout_s
            end = worker.run({"workdir": str(workdir), "uid": uid, "timeout_s": timeout_s,
                              "keep_read_search": self.keep_read_search}, timeout_s)
            data = read_result(workdir)
            if data is None or end.get("end") == "timeout":
                return describe_end(end, timeout_s)
            return parse_result(data)
        finally:
            remove_tree(workdir)

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.stop()
            except Exception:  # noqa: BLE001 -- closing must go on for every worker and the folder
                pass
        remove_tree(self.scratch)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
