"""The grading process: imports torch once, then runs every task of every submission in a fork.

Started by ``grading.sandbox`` as ``python -I child.py`` (isolated mode: the
project is not on ``sys.path``, so student code cannot import ``solution`` or
the tests). It reads one JSON job from stdin and writes one JSON line per
submission to stdout. It never runs student code itself: each task -- the
reference's own tasks first, when the job asks for them -- runs in a
forked process that first confines itself (see ``confine``), runs the probe
and sends back plain JSON through a pipe. Only JSON crosses process
boundaries; nothing is unpickled.

Standard library and torch only; ``probes.py`` is loaded by its path.
"""
from __future__ import annotations

import importlib.util
import json
import os
import resource
import select
import signal
import sys
import time
from pathlib import Path

# a task's result larger than this is cut off and counts as unreadable
MAX_RESULT_BYTES = 8 << 20
READ_CHUNK_BYTES = 1 << 16
# CPU seconds granted beyond the wall-clock timeout before the kernel stops a task
CPU_LIMIT_SLACK_S = 2
WORKDIR_MODE = 0o700
# key of the results of the reference's own tasks: run like a submission, never mixed with one
REFERENCE_KEY = "reference"


def load_probes(path: str):
    spec = importlib.util.spec_from_file_location("ex4_grading_probes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def virtual_memory_bytes() -> int:
    """Current address-space size of this process (VmSize), which the memory cap adds to."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def confine(workdir: str, limits: dict, uid: int | None) -> None:
    """Limit the current (forked) process before any student code runs.

    Standard streams go to /dev/null (prints are harmless and invisible), the
    address space may grow by ``memory_bytes``, CPU time and file size are
    capped, and as root the process becomes ``uid`` (an unprivileged id that
    owns only ``workdir``) in its own process group.
    """
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    memory = virtual_memory_bytes() + limits["memory_bytes"]
    cpu = int(limits["task_timeout_s"]) + CPU_LIMIT_SLACK_S
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if uid is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.chdir(workdir)
    os.environ["TMPDIR"] = os.environ["HOME"] = workdir
    import tempfile

    tempfile.tempdir = workdir


def grandchild(probes, task_job: dict, workdir: str, limits: dict, uid: int | None, write_fd: int) -> None:
    """Body of the forked process; always ends with os._exit."""
    try:
        try:
            confine(workdir, limits, uid)
            import torch

            torch.set_num_threads(1)
            payload = {"status": "ok", "result": probes.run_probe(task_job)}
        except BaseException as exc:  # noqa: BLE001 -- SystemExit from student code included
            payload = {"status": "error", "error": probes.describe_exception(exc)}
        try:
            data = json.dumps(payload).encode()
        except (TypeError, ValueError) as exc:
            data = json.dumps({"status": "error", "error": f"result could not be encoded: {exc}"}).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
    finally:
        os._exit(0)


def describe_wait_status(status: int, timed_out: bool, timeout_s: float) -> str:
    if timed_out:
        return f"did not finish within {timeout_s:g} s (infinite loop or far too slow) and was stopped"
    if os.WIFSIGNALED(status):
        signal_number = os.WTERMSIG(status)
        name = signal.Signals(signal_number).name
        hints = {"SIGKILL": " (memory cap or process limit)", "SIGXCPU": " (CPU time limit)",
                 "SIGSEGV": " (crash)", "SIGXFSZ": " (file size limit)"}
        return f"was killed by {name}{hints.get(name, '')}"
    return f"exited with status {os.waitstatus_to_exitcode(status)} before reporting a result " \
           "(sys.exit/os._exit in the code?)"


def kill_user_processes(uid: int | None, pid: int) -> None:
    """Stop the task's process group and, when it ran as its own uid, every process of that uid."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    if uid is None:
        return
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uids = next((line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")), [])
        if str(uid) in uids:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def collect(pid: int, read_fd: int, timeout_s: float, uid: int | None) -> dict:
    """Read the task's JSON until EOF or the timeout, then reap it."""
    deadline = time.monotonic() + timeout_s
    chunks, size, timed_out = [], 0, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_fd, READ_CHUNK_BYTES)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESULT_BYTES:
            break
    os.close(read_fd)
    if timed_out or size > MAX_RESULT_BYTES:
        kill_user_processes(uid, pid)
    _, status = os.waitpid(pid, 0)
    kill_user_processes(uid, pid)
    if timed_out:
        return {"status": "timeout", "error": describe_wait_status(status, True, timeout_s)}
    if not chunks:
        return {"status": "crashed", "error": describe_wait_status(status, False, timeout_s)}
    try:
        payload = json.loads(b"".join(chunks))
    except ValueError:
        return {"status": "crashed", "error": "sent back an unreadable result"}
    if not isinstance(payload, dict) or payload.get("status") not in ("ok", "error"):
        return {"status": "crashed", "error": "sent back a malformed result"}
    return payload


def run_task(probes, task_job: dict, workdir: str, limits: dict, uid: int | None) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        grandchild(probes, task_job, workdir, limits, uid, write_fd)
    os.close(write_fd)
    return collect(pid, read_fd, limits["task_timeout_s"], uid)


def make_workdir(scratch: str, name: str, uid: int | None) -> str:
    workdir = Path(scratch) / "work" / name
    workdir.mkdir(parents=True, mode=WORKDIR_MODE)
    if uid is not None:
        os.chown(workdir, uid, uid)
    return str(workdir)


def main() -> None:
    job = json.load(sys.stdin)
    scratch = job["scratch"]
    sys.path[:0] = [scratch]
    import torch  # noqa: F401 -- imported once here, shared by every fork
    import torch.nn.functional  # noqa: F401
    import torch.optim  # noqa: F401
    import torch._dynamo  # noqa: F401 -- the first optimizer imports it: 2 s that every fork would pay

    for module in job["preload"]:
        __import__(module)
    probes = load_probes(job["probes_path"])
    uid = job["uid"]
    if job["reference_tasks"]:
        job["submissions"].insert(0, {"key": REFERENCE_KEY, "tasks": job["reference_tasks"]})
    for submission in job["submissions"]:
        outcomes = {}
        for task_job in submission["tasks"]:
            workdir = make_workdir(scratch, f"{submission['key']}-{task_job['task']}", uid)
            outcomes[task_job["task"]] = run_task(probes, task_job, workdir, job["limits"], uid)
        print(json.dumps({"key": submission["key"], "tasks": outcomes}), flush=True)


if __name__ == "__main__":
    main()
