"""A worker: a clean process that imports what tasks need once and forks one confined process per task.

Started by ``grading.sandbox.slots`` as ``python -I worker.py``. The first line on
stdin is its configuration; once it has imported what tasks need, it forks
the workers of the other slots (``forked_slots``: a pair of pipes each) and
answers with one "ready" line saying which protections the kernel grants
(each forked worker answers the same on its own pipe). Then each line on stdin is a command naming a
task's work folder; the worker answers each with one line saying how the task
process ended. The worker never reads a job or a result: the grader writes
the job into the work folder and reads the result from there, so no fork can
find another task's code in the memory it inherited.

Process tree of one task, as root::

    worker (unshare(CLONE_NEWPID) before the fork, setns back after it; waits with the timeout)
      └── task (PID 1 of a new PID namespace; enters its cgroup and new network/IPC namespaces, confined,
                then runs the probe on its job)

as a normal user (a user namespace is needed to make the others, and the
worker cannot leave one it entered)::

    worker ── reaper (trusted: setpgid, user namespace, new PID/network/IPC namespaces, waits with the timeout)
                └── task (PID 1 of the new namespace: confined, then runs the probe on its job)

When the task process ends or is killed, the kernel kills every process left
in its PID namespace, so nothing a task started outlives it. Confinement of
the task process, before it reads its job: resource limits, standard streams
on /dev/null, every other file descriptor closed, a fixed environment; as
root a user id of its own (``uid``); Landlock (``confinement.landlock_restrict``):
the Python environment and the shipped modules read-only, its work folder
read-write, no TCP, signals scoped.

Standard library only; ``confinement.py`` is loaded by path; the modules to
preload and the runner of the jobs (its ``run(job)`` and ``describe(exception)``,
named in the configuration) are imported from the sandbox's module folder
and the Python environment.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import resource
import select
import signal
import sys
import traceback

JOB_FILE = "job.json"
RESULT_FILE = "result.json"
# exit statuses of the reaper that say how the task process ended
EXIT_TIMEOUT = 100
EXIT_SIGNALED_BASE = 101  # + signal number
EXIT_REAPER_FAILED = 200
EXIT_CONFINEMENT_FAILED = 99
# CPU seconds granted beyond the wall-clock timeout before the kernel stops a task
CPU_LIMIT_SLACK_S = 2
# the reaper's own wall time beyond the task's timeout before the worker kills it
REAPER_SLACK_S = 10.0
HIGHEST_FD = 65536


def load_module(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def memory_bytes(field: str) -> int:
    """A size of this process from /proc/self/status: "VmSize" (address space, which the memory cap adds to)
    or "VmRSS" (resident memory, what a fork may copy on write); 0 if the kernel does not say."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


def wait_with_timeout(pid: int, timeout_s: float) -> tuple[int | None, bool]:
    """Wait for the child ``pid``; kill it after ``timeout_s``. Returns (wait status, timed out)."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], max(timeout_s, 0.0))
    finally:
        os.close(pidfd)
    timed_out = not ready
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return status, timed_out


class Worker:
    """Forks, confines and reaps one task process per command; never reads a job or a result itself."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.limits = config["limits"]
        self.confinement = load_module("ex4_confinement", config["confinement_path"])
        self.cgroups = load_module("ex4_cgroups", config["cgroups_path"])
        self.memory_root = None  # where task cgroups are made (``cgroups.memory_cgroup_root``), if anywhere
        self.run_job = None
        self.describe_exception = None

    # ------------------------------------------------------------ start

    def preload(self) -> None:
        """Import once what every task needs, so that forks share it; look up the job runner."""
        sys.path[:] = self.config["sys_path"]
        for module in self.config["preload"]:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 -- a missing optional module only costs its import later
                pass
        runner = importlib.import_module(self.config["runner"])
        self.run_job = getattr(runner, self.config["run"])
        self.describe_exception = getattr(runner, self.config["describe"])
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)

    def protections(self) -> dict:
        """What the kernel grants, tried in a throw-away fork: Landlock ABI, namespaces."""
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            report = {"landlock_abi": self.confinement.landlock_abi(), "namespaces": True, "namespace_error": "",
                      "seccomp": True}
            try:
                self.enter_namespaces()
                report["direct_tasks"] = os.geteuid() == 0 and self.reset_pid_namespace()
            except OSError as exc:
                report.update(namespaces=False, namespace_error=str(exc), direct_tasks=False)
            try:
                self.confinement.deny_syscalls()
            except OSError:
                report["seccomp"] = False
            os.write(write_fd, json.dumps(report).encode())
            os._exit(0)
        os.close(write_fd)
        data = b""
        while chunk := os.read(read_fd, 4096):
            data += chunk
        os.close(read_fd)
        os.waitpid(pid, 0)
        report = json.loads(data)
        root = self.cgroups.memory_cgroup_root()
        report["memory_cgroup"] = self.cgroups.usable(root)
        self.memory_root = root if report["memory_cgroup"] else None
        return report

    def enter_namespaces(self) -> None:
        """New PID, network and IPC namespaces for the children of this process."""
        c = self.confinement
        if os.geteuid() != 0:
            c.enter_user_namespace()
        c.unshare(c.CLONE_NEWPID | c.CLONE_NEWNET | c.CLONE_NEWIPC)

    def reset_pid_namespace(self) -> bool:
        """Make this process's next child start in its own PID namespace again (root only); True if it could.

        After unshare(CLONE_NEWPID) every later child joins the first child's
        namespace; pointing the children's namespace back at this process's
        own lets the next unshare make a new one.
        """
        try:
            own = os.open("/proc/self/ns/pid", os.O_RDONLY)
            try:
                return self.confinement.setns(own, self.confinement.CLONE_NEWPID) == 0
            finally:
                os.close(own)
        except OSError:
            return False

    # ------------------------------------------------------------ one task

    def run(self, command: dict) -> dict:
        """Fork the task (under a reaper unless ``direct_tasks``) and wait for it; how it ended, as JSON data."""
        timeout_s = float(command["timeout_s"])
        cgroup = None
        if self.config["memory_cgroup"]:
            # the task's own cap, plus what the preloaded modules it inherits may become once copied on write
            limit = self.limits["memory_bytes"] + memory_bytes("VmRSS")
            cgroup = self.cgroups.create(self.memory_root, os.path.basename(command["workdir"]), limit)
        try:
            if self.config.get("direct_tasks"):
                code = self.run_direct(command, cgroup, timeout_s)
            else:
                pid = os.fork()
                if pid == 0:
                    self.reaper(command, cgroup)
                status, lost = wait_with_timeout(pid, timeout_s + REAPER_SLACK_S)
                with_suppressed(lambda: os.killpg(pid, signal.SIGKILL))
                code = os.WEXITSTATUS(status) if not lost and os.WIFEXITED(status) else None
        finally:
            if cgroup is not None:
                self.cgroups.remove(cgroup)
        if code is None:
            return {"end": "crashed", "detail": "the task's supervisor did not finish"}
        if code == EXIT_TIMEOUT:
            return {"end": "timeout"}
        if EXIT_SIGNALED_BASE <= code < EXIT_REAPER_FAILED:
            return {"end": "signaled", "signal": code - EXIT_SIGNALED_BASE}
        if code == EXIT_REAPER_FAILED:
            return {"end": "crashed", "detail": "the task could not be started"}
        if code == EXIT_CONFINEMENT_FAILED:
            return {"end": "crashed", "detail": "the task could not be confined"}
        return {"end": "exited", "code": code}

    def run_direct(self, command: dict, cgroup: str | None, timeout_s: float) -> int:
        """As root: fork the task itself, PID 1 of a PID namespace of its own; its ending as the reaper's exit code.

        One fork instead of two (a fork of this process costs tens of
        milliseconds); the task enters its cgroup and network and IPC
        namespaces itself, before it reads its job.
        """
        c = self.confinement
        c.unshare(c.CLONE_NEWPID)
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    self.task(command, cgroup)
                finally:
                    os._exit(EXIT_CONFINEMENT_FAILED)
        finally:
            reset = self.reset_pid_namespace()
        try:
            code = ending_code(*wait_with_timeout(pid, timeout_s))
        except BaseException:
            with_suppressed(lambda: os.kill(pid, signal.SIGKILL))
            os.waitpid(pid, 0)
            raise
        if not reset:
            # no later task could get a PID namespace of its own: end, and the grader starts a new worker
            raise SystemExit("the next task's PID namespace could not be prepared")
        return code

    def reaper(self, command: dict, cgroup: str | None) -> None:
        """Trusted: the task's memory cgroup, new namespaces, fork the task process, wait for it with the timeout.

        Never returns.
        """
        try:
            os.setpgid(0, 0)
            self.confinement.set_parent_death_signal(signal.SIGKILL)
            if cgroup is not None:
                self.cgroups.join(cgroup)
            if self.config["namespaces"]:
                self.enter_namespaces()
            pid = os.fork()
            if pid == 0:
                self.task(command)
            status, timed_out = wait_with_timeout(pid, float(command["timeout_s"]))
            if not self.config["namespaces"]:
                with_suppressed(lambda: os.killpg(pid, signal.SIGKILL))
            os._exit(ending_code(status, timed_out))
        except BaseException:  # noqa: BLE001 -- the reaper must always end with its own status
            os._exit(EXIT_REAPER_FAILED)

    def task(self, command: dict, cgroup: str | None = None) -> None:
        """The task process: confine, read the job, run the probe, write the result. Never returns.

        Forked directly by the worker (``run_direct``), it first enters its
        ``cgroup`` and network and IPC namespaces of its own.
        """
        workdir = command["workdir"]
        try:
            if self.config.get("direct_tasks"):
                self.confinement.set_parent_death_signal(signal.SIGKILL)
                if cgroup is not None:
                    self.cgroups.join(cgroup)
                self.confinement.unshare(self.confinement.CLONE_NEWNET | self.confinement.CLONE_NEWIPC)
            job = self.confine(workdir, command)
        except BaseException:  # noqa: BLE001
            os._exit(EXIT_CONFINEMENT_FAILED)
        try:
            try:
                payload = {"status": "ok", "result": self.run_job(job)}
            except BaseException as exc:  # noqa: BLE001 -- SystemExit from student code included
                payload = {"status": "error", "error": self.describe_exception(exc)}
            try:
                data = json.dumps(payload, allow_nan=True).encode()
            except (TypeError, ValueError, RecursionError, OverflowError) as exc:
                data = json.dumps({"status": "error", "error": f"the result could not be encoded: {exc}"}).encode()
            temporary = os.path.join(workdir, RESULT_FILE + ".tmp")
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, os.path.join(workdir, RESULT_FILE))
        finally:
            os._exit(0)

    def confine(self, workdir: str, command: dict) -> dict:
        """Limit this process before any student code runs; returns its job (read, then deleted)."""
        c = self.confinement
        limits = self.limits
        c.set_parent_death_signal(signal.SIGKILL)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, HIGHEST_FD)
        memory = memory_bytes("VmSize") + limits["memory_bytes"]
        cpu = int(command["timeout_s"]) + CPU_LIMIT_SLACK_S
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        c.make_first_to_be_killed()
        os.chdir(workdir)
        job_path = os.path.join(workdir, JOB_FILE)
        with open(job_path, encoding="utf-8") as file:
            job = json.load(file)
        os.unlink(job_path)
        uid = command.get("uid")
        if uid is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
            c.switch_user(uid, bool(command.get("keep_read_search")))
            # a change of user id clears the parent-death signal
            c.set_parent_death_signal(signal.SIGKILL)
        else:
            # the grading user's id: cap its process count at what it runs now plus the task's share
            allowed = processes_of(os.getuid()) + limits["processes"]
            resource.setrlimit(resource.RLIMIT_NPROC, (allowed, allowed))
            if self.config["namespaces"]:
                c.set_capabilities(())
        if self.config["landlock"]:
            c.landlock_restrict(self.config["read_only"], [workdir])
        else:
            c.set_no_new_privs()
        if self.config["seccomp"]:
            c.deny_syscalls()
        os.environ.clear()
        os.environ.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir, MPLBACKEND="Agg",
                          OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        import tempfile

        tempfile.tempdir = workdir
        sys.argv[:] = [""]
        return job

    # ------------------------------------------------------------ loop

    def serve(self, commands, answers) -> None:
        """Run each command read from ``commands``; one line to ``answers`` for each, until end of input."""
        for line in commands:
            if not line.strip():
                continue
            try:
                answer = self.run(json.loads(line))
            except Exception as exc:  # noqa: BLE001 -- one failed fork must not stop the slot
                answer = {"end": "crashed", "detail": f"{type(exc).__name__}: {exc}"}
            answers.write(json.dumps(answer) + "\n")
            answers.flush()

    def fork_slot(self, ready: dict, command_fd: int, answer_fd: int) -> None:
        """Fork the worker of another slot: its own session, serving the pipes ``command_fd``/``answer_fd``.

        The fork keeps of the inherited file descriptors only those two (as its
        standard input and output) and standard error; it says "ready" with its pid.
        It stays this worker's child, never waited for: one that ends stays a
        zombie until this worker ends, so that its pid is not reused while the grader may signal it.
        """
        pid = os.fork()
        if pid != 0:
            return
        try:
            os.setsid()
            os.dup2(command_fd, 0)
            os.dup2(answer_fd, 1)
            os.closerange(3, HIGHEST_FD)
            # fresh stream objects: the inherited ones may hold what this worker read ahead or not yet wrote
            sys.stdin = open(0, encoding="utf-8", closefd=False)
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
            say_ready(sys.stdout, ready)
            self.serve(sys.stdin, sys.stdout)
        finally:
            os._exit(0)


def ending_code(status: int, timed_out: bool) -> int:
    """The exit code a reaper ends with for a task that ended with wait ``status`` (see EXIT_*).

    ``run_direct`` returns the same code, so that both paths are read alike.
    """
    if timed_out:
        return EXIT_TIMEOUT
    if os.WIFSIGNALED(status):
        return EXIT_SIGNALED_BASE + os.WTERMSIG(status)
    return min(os.waitstatus_to_exitcode(status), EXIT_CONFINEMENT_FAILED)


def processes_of(uid: int) -> int:
    """How many processes (threads included, as RLIMIT_NPROC counts them) run as ``uid``."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def with_suppressed(action) -> None:
    try:
        action()
    except OSError:
        pass


def write_line(fd: int, message: dict) -> None:
    """One JSON line to ``fd``, unbuffered; nothing when the reader has gone."""
    with_suppressed(lambda: os.write(fd, (json.dumps(message) + "\n").encode()))


def say_ready(answers, ready: dict) -> None:
    answers.write(json.dumps({**ready, "pid": os.getpid()}) + "\n")
    answers.flush()


def main() -> None:
    config = json.loads(sys.stdin.readline())
    # the worker's ends (command read, answer write) of the pipes of the slots whose workers it forks
    forked_slots = [tuple(pair) for pair in config.get("forked_slots", [])]
    worker = Worker(config)
    try:
        worker.preload()
        granted = worker.protections()
    except Exception:  # noqa: BLE001 -- reported to the grader, which stops with the reason
        failure = {"ready": False, "error": traceback.format_exc(limit=3)}
        # its own answer last: the grader stops this worker once it has read it
        for answer_fd in (*(answer_fd for _, answer_fd in forked_slots), 1):
            write_line(answer_fd, failure)
        return
    worker.config["namespaces"] = config.get("want_namespaces", True) and granted["namespaces"]
    worker.config["landlock"] = config.get("want_landlock", True) and granted["landlock_abi"] >= 1
    worker.config["seccomp"] = config.get("want_landlock", True) and granted["seccomp"]
    worker.config["memory_cgroup"] = config.get("want_namespaces", True) and granted["memory_cgroup"]
    worker.config["direct_tasks"] = worker.config["namespaces"] and granted["direct_tasks"]
    ready = {"ready": True, **granted}
    for command_fd, answer_fd in forked_slots:
        try:
            worker.fork_slot(ready, command_fd, answer_fd)
        except OSError as exc:
            write_line(answer_fd, {"ready": False, "error": f"the worker of this slot could not be forked: {exc}"})
        os.close(command_fd)
        os.close(answer_fd)
    say_ready(sys.stdout, ready)
    worker.serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
