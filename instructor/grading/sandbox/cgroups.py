"""A memory cgroup per task: all memory of the task's processes counted together, whatever form it takes.

Runs in the workers (loaded by path, standard library only). Where the kernel
lets the grading process create cgroups (as root, cgroup v1 with the memory
controller, or cgroup v2 with ``memory`` enabled for the grader's cgroup), each
task process moves itself into a fresh cgroup below the grader's own before it
reads its job (under a reaper, the reaper does, before it starts the task):
anonymous memory, shared memory, page cache and kernel memory of every process
the task starts count against one limit, and the kernel's out-of-memory killer
acts inside that cgroup only. Elsewhere ``memory_cgroup_root`` returns None and
the grader says so at start.
"""
from __future__ import annotations

import os
import time

CGROUP_ROOT = "/sys/fs/cgroup"
# file names of the limit in cgroup v1 and v2
LIMIT_FILE = {1: "memory.limit_in_bytes", 2: "memory.max"}
NAME_PREFIX = "ex4-task-"
# a task's cgroup is removed once its last process has gone; the kernel may take a moment to notice
REMOVE_ATTEMPTS = 200
REMOVE_PAUSE_S = 0.01


def memory_cgroup_root() -> tuple[str, int] | None:
    """(the folder of this process's memory cgroup, cgroup version), or None when there is none to use."""
    try:
        with open("/proc/self/cgroup", encoding="ascii", errors="replace") as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = os.path.join(CGROUP_ROOT, "memory", path.lstrip("/"))
            return (folder, 1) if os.path.isdir(folder) else None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if number == "0" and not controllers:
            folder = os.path.join(CGROUP_ROOT, path.lstrip("/"))
            try:
                with open(os.path.join(folder, "cgroup.subtree_control"), encoding="ascii") as file:
                    enabled = file.read().split()
            except OSError:
                return None
            return (folder, 2) if "memory" in enabled else None
    return None


def create(root: tuple[str, int], name: str, limit_bytes: int) -> str:
    """A new cgroup ``name`` below ``root`` whose processes may use ``limit_bytes`` together; its folder."""
    folder, version = root
    path = os.path.join(folder, NAME_PREFIX + name)
    os.mkdir(path)
    try:
        _write(os.path.join(path, LIMIT_FILE[version]), str(limit_bytes))
        if version == 2 and os.path.exists(os.path.join(path, "memory.swap.max")):
            _write(os.path.join(path, "memory.swap.max"), "0")
    except OSError:
        remove(path)
        raise
    return path


def join(path: str) -> None:
    """Move the calling process (and so every process it starts from now on) into the cgroup at ``path``."""
    _write(os.path.join(path, "cgroup.procs"), "0")


def remove(path: str) -> None:
    """Remove the cgroup at ``path`` once its processes are gone (they die with their PID namespace)."""
    for _ in range(REMOVE_ATTEMPTS):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(REMOVE_PAUSE_S)


def usable(root: tuple[str, int] | None) -> bool:
    """Whether a task cgroup can be created, limited and removed below ``root``."""
    if root is None:
        return False
    try:
        remove(create(root, f"probe-{os.getpid()}", 1 << 30))
    except OSError:
        return False
    return True


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as file:
        file.write(text)
