"""Run task jobs in confined processes and collect their results as checked JSON data.

Layout of one grading run::

    grader (this process) -- never runs student code; writes each job into a fresh work folder
      +-- zygote.py, one per --jobs slot: imports torch once, never reads a job or a result
            +-- one reaper + task process per (submission, task): see grading/zygote.py

What a task process can do (details in the README, "Untrusted code"):

* Landlock: read only the Python environment (the folders on the grading
  process's ``sys.path``, minus the project), the shipped modules and system
  libraries; read and write only its own work folder; execute nothing; no TCP
  bind or connect; no signal to a process outside its sandbox.
* Its own PID, network and IPC namespaces (a user namespace too when the
  grader is not root): every process it starts dies with it; no network.
* As root: a user id of its own, drawn at random for each task from a range
  no account uses and checked unused by any running process.
* Limits: wall-clock timeout, address space, CPU time, file size, processes.

The grader checks at start what the kernel grants and says in one line what
is not protected. The task's result file is read without following links,
capped in size and parsed as plain JSON; ``clean_result`` then bounds its
nesting, numbers and strings before any verdict sees it.
"""
from __future__ import annotations

import json
import math
import os
import queue
import secrets
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType

from instructor.shipped import PROJECT_ROOT, student_code_files

GRADING_DIR = Path(__file__).resolve().parent
ZYGOTE_SCRIPT = GRADING_DIR / "zygote.py"
CONFINEMENT_SCRIPT = GRADING_DIR / "confinement.py"
# what the task modules' probes import from the grader, copied read-only beside the student code
# (instructor/shipped.py), and the task modules the caller names; never the reference or its replays
TASK_SIDE_MODULES = ("instructor/__init__.py", "instructor/grading/__init__.py", "instructor/grading/probes.py",
                     "instructor/grading/task_namespace.py", "instructor/grading/verdicts.py",
                     "instructor/grading/student_text.py")
PROBES_MODULE = "instructor.grading.probes"
# imported by the zygote before forking, so that tasks do not pay for them
PRELOADED_MODULES = ("numpy", "tqdm", "utils", "ex4.self_checks", "ex4.model_properties", PROBES_MODULE)
# world-readable system folders a freshly imported extension module may load libraries or data from
SYSTEM_READ_ONLY = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/etc/ld.so.cache",
                    "/usr/share/fonts", "/etc/fonts", "/dev/urandom", "/dev/random")
# user ids for task processes when grading as root: above every account and container mapping
UID_RANGE = (1 << 28, (1 << 31) - 2)
JOB_FILE = "job.json"
RESULT_FILE = "result.json"
# time for a zygote to start and import torch
STARTUP_TIMEOUT_S = 180.0
# wall time beyond a task's timeout for the zygote to answer (fork, namespaces, reaping)
ANSWER_SLACK_S = 20.0
SCRATCH_MODE = 0o711
# seconds between attempts to write a job while the disk is full
DISK_FULL_RETRY_S = 0.5
MODULES_MODE = 0o755
MODULE_FILE_MODE = 0o444
WORKDIR_MODE = 0o700
# a result larger than this, nested deeper, or holding longer strings counts as unreadable / is cut
MAX_RESULT_BYTES = 2 << 20
MAX_RESULT_ITEMS = 200_000
MAX_RESULT_DEPTH = 16
MAX_STRING_CHARS = 400
# integers beyond this cannot be exact floats; they count as non-numbers
MAX_EXACT_INT = 1 << 53


@dataclass(frozen=True)
class Limits:
    """Per-task limits: wall-clock seconds, extra address space, file size, processes of its uid."""

    task_timeout_s: float = 20.0
    memory_bytes: int = 2 << 30
    file_bytes: int = 16 << 20
    processes: int = 256


@dataclass(frozen=True)
class TaskRun:
    """One job to run: ``key`` names it in the outcomes; ``job`` is written to the task's work folder."""

    key: str
    job: dict
    # wall-clock limit of this task; None: the run's --task-timeout
    timeout_s: float | None = None


class GradingProcessError(RuntimeError):
    """The grading machinery itself failed (not the student's code)."""


# --------------------------------------------------------------------- results


def sanitize_text(text: str, limit: int = MAX_STRING_CHARS) -> str:
    """``text`` without control characters or lone surrogates, at most ``limit`` characters."""
    cleaned = "".join(ch if (ch.isprintable() or ch == " ") and not 0xD800 <= ord(ch) <= 0xDFFF else " "
                      for ch in text[: limit * 4])
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def clean_result(value: object) -> object:
    """A copy of a parsed result with bounded depth; non-finite-safe numbers; clean strings.

    Raises ValueError when nested deeper than MAX_RESULT_DEPTH. Integers too
    large for a float and non-string dict keys become None / are dropped;
    NaN and infinities stay floats (verdicts count them as wrong answers).
    """
    count = [0]

    def clean(item: object, depth: int) -> object:
        if depth > MAX_RESULT_DEPTH:
            raise ValueError(f"the result is nested deeper than {MAX_RESULT_DEPTH} levels")
        count[0] += 1
        if count[0] > MAX_RESULT_ITEMS:
            raise ValueError(f"the result holds more than {MAX_RESULT_ITEMS} values")
        if isinstance(item, bool) or item is None:
            return item
        if isinstance(item, int):
            return item if abs(item) <= MAX_EXACT_INT else None
        if isinstance(item, float):
            return item
        if isinstance(item, str):
            return sanitize_text(item)
        if isinstance(item, list):
            return [clean(x, depth + 1) for x in item]
        if isinstance(item, dict):
            return {sanitize_text(k): clean(v, depth + 1) for k, v in item.items() if isinstance(k, str)}
        return None

    return clean(value, 0)


def parse_result(data: bytes) -> dict:
    """The outcome a task wrote: {"status": "ok", "result": ...} or {"status": "error", "error": str}."""
    try:
        payload = clean_result(json.loads(data.decode("utf-8", errors="replace")))
    except (ValueError, RecursionError, MemoryError) as exc:
        return {"status": "crashed", "error": f"sent back an unreadable result ({sanitize_text(str(exc), 80)})"}
    if not isinstance(payload, dict) or payload.get("status") not in ("ok", "error"):
        return {"status": "crashed", "error": "sent back a malformed result"}
    if payload["status"] == "error":
        return {"status": "error", "error": payload.get("error") if isinstance(payload.get("error"), str)
                else "an unreadable error"}
    if not isinstance(payload.get("result"), dict):
        return {"status": "crashed", "error": "sent back a malformed result"}
    return {"status": "ok", "result": payload["result"]}


def read_result(workdir: Path) -> bytes | None:
    """The result file's bytes, read without following a link; None if absent, a link or too large."""
    try:
        fd = os.open(workdir / RESULT_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULT_BYTES:
            return None
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def describe_end(end: dict, timeout_s: float) -> dict:
    """An outcome for a task that wrote no usable result, from how its process ended."""
    kind = end.get("end")
    if kind == "timeout":
        return {"status": "timeout",
                "error": f"did not finish within {timeout_s:g} s (infinite loop or far too slow) and was stopped"}
    if kind == "signaled":
        hints = {9: " (memory cap or process limit)", 24: " (CPU time limit)", 11: " (crash)",
                 25: " (file size limit)"}
        number = end.get("signal")
        return {"status": "crashed", "error": f"was killed by signal {number}{hints.get(number, '')}"}
    if kind == "exited":
        return {"status": "crashed", "error": f"exited with status {end.get('code')} before reporting a result "
                                              "(sys.exit/os._exit in the code?)"}
    return {"status": "crashed", "error": sanitize_text(str(end.get("detail", "the task process failed")))}


# --------------------------------------------------------------------- environment


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything in it, however deep or write-protected (a task may build both)."""
    if not os.path.lexists(path):
        return
    # rm works without recursion limits; u+rwX first lets a non-root grader enter folders made read-only
    subprocess.run(["chmod", "-R", "u+rwX", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


def is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def task_sys_path(grader_sys_path: list[str]) -> list[str]:
    """The grading process's import path without the project (solution.py, tests, grader).

    A Python environment inside the project folder stays: of the folders in
    the project, or above it, only those within ``sys.prefix`` or within a
    ``site-packages`` folder are kept.
    """
    prefixes = [Path(p).resolve() for p in {sys.prefix, sys.exec_prefix}]
    kept = []
    for entry in grader_sys_path:
        if not entry:
            continue
        path = Path(entry).resolve()
        packages = any(part in ("site-packages", "dist-packages") for part in path.parts)
        in_environment = packages or any(is_within(path, prefix) and prefix != PROJECT_ROOT for prefix in prefixes)
        if is_within(PROJECT_ROOT, path) or (is_within(path, PROJECT_ROOT) and not in_environment):
            continue
        if str(path) not in kept:
            kept.append(str(path))
    return kept


def unreadable_for(uid: int, paths: list[str]) -> list[str]:
    """Those of ``paths`` (folders) that a process with ``uid`` cannot list; checked in a fork as that uid."""
    existing = [(path, os.path.isdir(path)) for path in paths if os.path.exists(path)]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            blocked = []
            for path, is_folder in existing:
                try:
                    if is_folder:
                        os.listdir(path)
                    else:
                        open(path, "rb").close()
                except OSError:
                    blocked.append(path)
            os.write(write_fd, json.dumps(blocked).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    data = b""
    while chunk := os.read(read_fd, 1 << 16):
        data += chunk
    os.close(read_fd)
    os.waitpid(pid, 0)
    return json.loads(data or b"[]")


def uid_in_use(uid: int) -> bool:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    return True
            except OSError:
                continue
    return False


def fresh_uid(taken: set[int]) -> int:
    """A user id no process runs as and this run has not handed out yet."""
    while True:
        uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
        if uid not in taken and not uid_in_use(uid):
            taken.add(uid)
            return uid


def zygote_environment(scratch: Path) -> dict[str, str]:
    """The environment of the zygotes: what libraries need to load, nothing of the grader's own."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(HOME=str(scratch), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               MPLCONFIGDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1", CUDA_VISIBLE_DEVICES="")
    return env


# --------------------------------------------------------------------- sandbox


class Zygote:
    """The grader's handle on one zygote process: send a command, wait for its answer with a deadline."""

    def __init__(self, config: dict, scratch: Path) -> None:
        self.config = config
        self.scratch = scratch
        self.process: subprocess.Popen | None = None
        self.granted: dict = {}
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-I", str(ZYGOTE_SCRIPT)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.scratch,
                                        env=zygote_environment(self.scratch), start_new_session=True)
        self.process.stdin.write((json.dumps(self.config) + "\n").encode())
        self.process.stdin.flush()
        answer = self.answer(STARTUP_TIMEOUT_S)
        if not answer or not answer.get("ready"):
            self.stop()
            detail = (answer or {}).get("error", "no answer")
            raise GradingProcessError(f"the grading process could not start: {detail}")
        self.granted = answer

    def answer(self, timeout_s: float) -> dict | None:
        """The next line from the zygote, parsed; None after ``timeout_s`` or when it died."""
        stdout = self.process.stdout
        deadline = time.monotonic() + timeout_s
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stdout], [], [], remaining)[0]:
                return None
            chunk = os.read(stdout.fileno(), 1 << 16)
            if not chunk:
                return None
            line += chunk
        try:
            return json.loads(line)
        except ValueError:
            return None

    def run(self, command: dict, timeout_s: float) -> dict:
        """How the task ended ({"end": ...}); a zygote that does not answer is replaced."""
        try:
            self.process.stdin.write((json.dumps(command) + "\n").encode())
            self.process.stdin.flush()
            answer = self.answer(timeout_s + ANSWER_SLACK_S)
        except OSError:
            answer = None
        if answer is None:
            self.stop()
            self.start()
            return {"end": "crashed", "detail": "the grading process did not answer; it was restarted"}
        return answer

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, 9)
        except OSError:
            pass
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


def module_name(relative: str) -> str:
    """The dotted name of the module at ``relative`` in the module folder ("a/b/__init__.py" -> "a.b")."""
    return relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


class Sandbox:
    """Confined task processes for one grading run; use as a context manager."""

    def __init__(self, limits: Limits, slots: int, kernel_confinement: bool = True,
                 task_modules: Mapping[str, Path] = MappingProxyType({})) -> None:
        """``kernel_confinement=False`` (benchmarks only: what the confinement costs) skips Landlock,
        namespaces and the user switch; the resource limits stay. ``task_modules``: module-folder path ->
        source of the task modules the probes run (``instructor/tasks``), copied and preloaded too."""
        self.limits = limits
        self.scratch = Path(tempfile.mkdtemp(prefix="ex4-grading-"))
        self.scratch.chmod(SCRATCH_MODE)
        self.modules = self.scratch / "modules"
        self.work = self.scratch / "work"
        self.modules.mkdir(mode=MODULES_MODE)
        self.modules.chmod(MODULES_MODE)
        self.work.mkdir(mode=SCRATCH_MODE)
        self.work.chmod(SCRATCH_MODE)
        for relative in student_code_files():
            self._copy_module(PROJECT_ROOT / relative, relative)
        for relative in TASK_SIDE_MODULES:
            self._copy_module(PROJECT_ROOT / relative, relative)
        for relative, source in task_modules.items():
            self._copy_module(source, relative)
        self.as_root = os.geteuid() == 0 and kernel_confinement
        self.taken_uids: set[int] = set()
        sys_path = [str(self.modules), *task_sys_path(list(sys.path))]
        read_only = [p for p in sys_path] + [p for p in SYSTEM_READ_ONLY if os.path.exists(p)]
        self.keep_read_search = False
        if self.as_root:
            self.keep_read_search = bool(unreadable_for(fresh_uid(self.taken_uids), sys_path))
        config = {"sys_path": sys_path, "read_only": read_only, "limits": asdict(limits),
                  "preload": [*PRELOADED_MODULES, *(module_name(relative) for relative in task_modules)],
                  "probes_module": PROBES_MODULE,
                  "confinement_path": str(CONFINEMENT_SCRIPT),
                  "want_landlock": kernel_confinement, "want_namespaces": kernel_confinement}
        self.zygotes: list[Zygote] = []
        try:
            for _ in range(max(1, slots)):
                self.zygotes.append(Zygote(config, self.scratch))
        except BaseException:
            self.close()
            raise
        self.granted = self.zygotes[0].granted
        if self.keep_read_search and self.granted.get("landlock_abi", 0) < 1:
            self.close()
            raise GradingProcessError(
                "the Python environment is in a folder the task user cannot read "
                f"({', '.join(unreadable_for(fresh_uid(set()), sys_path)[:3])}) and this kernel has no Landlock "
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
        """What this kernel and user do not protect against, for the one line said at start."""
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
            gaps.append("no seccomp: student code can connect to unix sockets of services on this machine")
        if not self.as_root:
            gaps.append("not root: Landlock does not cover chmod, so student code can change the permissions "
                        "of the grading user's files")
        if not self.granted.get("namespaces"):
            gaps.append("no namespaces (" + sanitize_text(self.granted.get("namespace_error", ""), 80)
                        + "): processes a task starts may outlive it, and the network stays reachable")
        return gaps

    def run_all(self, runs: list[TaskRun], on_done: Callable[[str, dict], None] | None = None,
                keep: bool = True) -> dict[str, dict]:
        """Run every job, spread over the zygotes; outcome per key (an empty dict unless ``keep``).

        ``on_done(key, outcome)`` is called as each task ends.
        """
        pending: queue.Queue[TaskRun] = queue.Queue()
        for run in runs:
            pending.put(run)
        outcomes: dict[str, dict] = {}
        lock = threading.Lock()

        def work(zygote: Zygote) -> None:
            while True:
                try:
                    run = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    outcome = self.run_one(zygote, run)
                except Exception as exc:  # noqa: BLE001 -- one failed task must not stop the others
                    outcome = {"status": "crashed", "error": f"grading failed: {type(exc).__name__}: {exc}"}
                with lock:
                    if keep:
                        outcomes[run.key] = outcome
                    if on_done is not None:
                        on_done(run.key, outcome)

        threads = [threading.Thread(target=work, args=(zygote,), daemon=True) for zygote in self.zygotes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return outcomes

    def run_one(self, zygote: Zygote, run: TaskRun) -> dict:
        uid = fresh_uid(self.taken_uids) if self.as_root else None
        workdir = self.work / secrets.token_hex(8)
        workdir.mkdir(mode=WORKDIR_MODE)
        try:
            self.write_job(workdir / JOB_FILE, run.job)
            if uid is not None:
                os.chown(workdir, uid, uid)
            timeout_s = run.timeout_s or self.limits.task_timeout_s
            end = zygote.run({"workdir": str(workdir), "uid": uid, "timeout_s": timeout_s,
                              "keep_read_search": self.keep_read_search}, timeout_s)
            data = read_result(workdir)
            if data is None:
                return describe_end(end, timeout_s)
            if end.get("end") == "timeout":
                return describe_end(end, timeout_s)
            return parse_result(data)
        finally:
            remove_tree(workdir)

    def write_job(self, path: Path, job: dict) -> None:
        """Write ``job`` to ``path``; while the disk is full (another task filled it), wait for it to be freed.

        A task's files are removed when it ends, so waiting one task timeout
        lets the class go on after a task that filled the disk.
        """
        text = json.dumps(job)
        deadline = time.monotonic() + self.limits.task_timeout_s + ANSWER_SLACK_S
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    file.write(text)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(DISK_FULL_RETRY_S)

    def close(self) -> None:
        for zygote in self.zygotes:
            try:
                zygote.stop()
            except Exception:  # noqa: BLE001 -- closing must go on for every zygote and the folder
                pass
        remove_tree(self.scratch)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
