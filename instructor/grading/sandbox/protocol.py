"""The job/result protocol between the grader and a task process, and the limits of one task.

The grader writes a job (plain JSON) into the task's own work folder
(``write_job``); the task process reads and deletes it before running
anything untrusted, and writes its outcome to ``RESULT_FILE``. The grader
reads that file without following links, capped in size (``read_result``),
parses it as plain JSON and bounds its nesting, numbers and strings
(``parse_result``) before anything else sees it. A task that wrote no usable
result is described from how its process ended (``describe_end``).
"""
from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from instructor.grading.text import MAX_STRING_CHARS, one_line

JOB_FILE = "job.json"
RESULT_FILE = "result.json"
# a result larger than this, nested deeper, or holding more values counts as unreadable
MAX_RESULT_BYTES = 2 << 20
MAX_RESULT_ITEMS = 200_000
MAX_RESULT_DEPTH = 16
# integers beyond this cannot be exact floats; they count as non-numbers
MAX_EXACT_INT = 1 << 53
# seconds between attempts to write a job while the disk is full
DISK_FULL_RETRY_S = 0.5
JOB_FILE_MODE = 0o600


@dataclass(frozen=True)
class Limits:
    """Per-task limits: wall-clock seconds, extra address space, file size, processes of its uid."""

    task_timeout_s: float = 20.0
    memory_bytes: int = 2 << 30
    file_bytes: int = 16 << 20
    processes: int = 256


@dataclass(frozen=True)
class TaskRun:
    """One job to run: ``key`` names it in the outcomes; ``job`` is written to the task's work folder.

    Runs with the same non-empty ``group`` (one submission's tasks) never run
    at the same time: what one of them does cannot reach another while it runs.
    """

    key: str
    job: dict
    # wall-clock limit of this task; None: the run's --task-timeout
    timeout_s: float | None = None
    group: str = ""


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
            return one_line(item)
        if isinstance(item, list):
            return [clean(x, depth + 1) for x in item]
        if isinstance(item, dict):
            return {one_line(k): clean(v, depth + 1) for k, v in item.items() if isinstance(k, str)}
        return None

    return clean(value, 0)


def parse_result(data: bytes) -> dict:
    """The outcome a task wrote: {"status": "ok", "result": ...} or {"status": "error", "error": str}."""
    try:
        payload = clean_result(json.loads(data.decode("utf-8", errors="replace")))
    except (ValueError, RecursionError, MemoryError) as exc:
        return {"status": "crashed", "error": f"sent back an unreadable result ({one_line(str(exc), 80)})"}
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
    return {"status": "crashed", "error": one_line(str(end.get("detail", "the task process failed")))}


def write_job(path: Path, job: dict, patience_s: float) -> None:
    """Write ``job`` to ``path``; while the disk is full (another task filled it), retry for ``patience_s``.

    A task's files are removed when it ends, so waiting one task timeout
    lets the class go on after a task that filled the disk.
    """
    text = json.dumps(job)
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, JOB_FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(DISK_FULL_RETRY_S)


__all__ = ["JOB_FILE", "MAX_STRING_CHARS", "RESULT_FILE", "Limits", "TaskRun", "clean_result", "describe_end",
           "parse_result", "read_result", "write_job"]
