"""What the sandbox needs to know of this machine: the Python environment, free user ids, stale folders.

Runs in the grading process, before and between tasks; nothing here runs
untrusted code.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

# user ids for task processes when grading as root: above every account and container mapping
UID_RANGE = (1 << 28, (1 << 31) - 2)
# time for a fresh interpreter to say its import path
SYS_PATH_TIMEOUT_S = 60.0
SCRATCH_PREFIX = "ex4-grading-"
# in the scratch folder: "pid start-time" of the grading process, so that a later run can tell it is gone
OWNER_FILE = "owner"


class GradingProcessError(RuntimeError):
    """The grading machinery itself failed (not the student's code)."""


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


def task_sys_path(environment_path: list[str], excluded: Path) -> list[str]:
    """``environment_path`` (see ``environment_sys_path``) without the folder ``excluded`` (the project).

    A Python environment inside the excluded folder stays: of the folders in
    it, or above it, only those within ``sys.prefix`` or within a
    ``site-packages`` folder are kept.
    """
    prefixes = [Path(p).resolve() for p in {sys.prefix, sys.exec_prefix}]
    kept = []
    for entry in environment_path:
        if not entry:
            continue
        path = Path(entry).resolve()
        packages = any(part in ("site-packages", "dist-packages") for part in path.parts)
        in_environment = packages or any(is_within(path, prefix) and prefix != excluded for prefix in prefixes)
        if is_within(excluded, path) or (is_within(path, excluded) and not in_environment):
            continue
        if str(path) not in kept:
            kept.append(str(path))
    return kept


def environment_sys_path() -> list[str]:
    """The import path of this interpreter started on its own: stdlib, site-packages and what ``.pth`` files add.

    Asked of a fresh interpreter that ignores ``PYTHONPATH`` (``-E``) and does
    not put its working directory first (``-P``), started in ``/``: nothing
    of where and how the grader was started reaches a task's ``sys.path`` or
    its Landlock read grants.
    """
    flags = ["-E", "-P"] + (["-s"] if sys.flags.no_user_site else [])
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    try:
        listed = subprocess.run([sys.executable, *flags, "-c", "import json, sys; print(json.dumps(sys.path))"],
                                cwd="/", env=env, capture_output=True, check=True, timeout=SYS_PATH_TIMEOUT_S)
        paths = json.loads(listed.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise GradingProcessError(f"the Python environment's import path could not be read: {exc}") from exc
    return [path for path in paths if isinstance(path, str) and path]


def remove_stale_scratch(folder: Path) -> list[Path]:
    """Remove the scratch folders in ``folder`` left by runs whose grading process is gone; those removed.

    Only folders of this user with an owner file naming a process that no
    longer runs (a grader killed, e.g. by the out-of-memory killer) are
    removed; another run's folder stays while its grader runs.
    """
    removed = []
    for entry in folder.glob(SCRATCH_PREFIX + "*"):
        try:
            if entry.is_symlink() or not entry.is_dir() or entry.stat().st_uid != os.geteuid():
                continue
            owner = (entry / OWNER_FILE).read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError):
            continue
        if len(owner) == 2 and owner != process_identity(int(owner[0]) if owner[0].isdigit() else -1):
            remove_tree(entry)
            removed.append(entry)
    return removed


def process_identity(pid: int) -> list[str]:
    """[pid, start time] of a running process (a reused pid has another start time); [] when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []
    # field 22 of /proc/PID/stat is the start time; fields[0] here is field 3
    return [str(pid), fields[19]] if len(fields) > 19 else []


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


def worker_environment(scratch: Path) -> dict[str, str]:
    """The environment of the worker processes: what libraries need to load, nothing of the grader's own."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(HOME=str(scratch), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               MPLCONFIGDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1", CUDA_VISIBLE_DEVICES="")
    return env
