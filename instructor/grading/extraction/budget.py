"""Extraction within a time and memory budget: a submission cannot stall or exhaust the grading process.

``extract`` hands the file's path to a reader process, forked from the
grading process once and reused for every submission; it sends the
``Submission`` back as JSON. The reader imports the parsers (nbformat,
jupytext: seconds) itself, so the grading process never does, and says when
it is ready; ``timeout_s`` counts from then. The reader's
address space is capped (``EXTRACTION_MEMORY_BYTES`` beyond what it
has after the imports); a reader that takes more than ``timeout_s`` on one file, or
answers more than ``MAX_ANSWER_BYTES``, is killed and the next file gets a
fresh one. A file that exceeds the budget raises ``SubmissionError`` with the
reason: that submission gets 0, the class goes on.
"""
from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import threading
import time
from pathlib import Path

from instructor.grading.extraction.choosing import extract_in_process
from instructor.grading.extraction.reading import load_parsers
from instructor.grading.extraction.submission import (
    Submission,
    SubmissionError,
    submission_from_json,
    submission_to_json,
)
from instructor.grading.text import escaped
from instructor.tasks import REGISTRY

# wall-clock seconds one submission may take to read; an honest notebook takes a few hundredths
EXTRACTION_TIMEOUT_S = 10.0
# address space the reader may add to what it inherits
EXTRACTION_MEMORY_BYTES = 2 << 30
# wall-clock seconds the reader may take to import the parsers (a second or two on an idle machine)
READER_START_TIMEOUT_S = 120.0
# optional IRI checkers of jsonschema (which nbformat imports): building rfc3987_syntax's grammar takes 1.5 s
# of CPU, and no notebook schema checks an IRI; the reader imports neither
UNUSED_OPTIONAL_MODULES = ("rfc3987", "rfc3987_syntax")
# the byte the reader sends once its parsers are imported
READY = b"r"
# the reader's answer: bigger means more than any task could run (MAX_CODE_CHARS, JSON-escaped, per task)
MAX_ANSWER_BYTES = 64 << 20
# a request (a path) and an answer (JSON) are each their length in this many bytes (big-endian), then the data
LENGTH_BYTES = 8
READ_CHUNK_BYTES = 1 << 16
# above every file descriptor the reader may have inherited
MAX_FD = 1 << 16


class _Reader:
    """A forked process that reads submissions one at a time: a path in, a JSON answer out.

    Both ways each message is its length, then its bytes: a path may hold any
    character, a newline too.
    """

    def __init__(self) -> None:
        self.parent = os.getpid()
        # the reader knows the registry's tasks as they were when it was forked
        self.task_ids = tuple(REGISTRY.ids())
        request_read, self.requests = os.pipe()
        self.answers, answer_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the reader: never returns
            _serve(request_read, answer_write)
        os.close(request_read)
        os.close(answer_write)
        self.ready = False

    def ask(self, path: Path, timeout_s: float) -> tuple[bytes | None, str]:
        """(the answer's JSON, ""), or (None, why it was stopped: "time", "size", "ended", "start")."""
        if not self.ready:
            started = self._read(len(READY), time.monotonic() + READER_START_TIMEOUT_S)
            if started != READY:
                return None, "start"
            self.ready = True
        deadline = time.monotonic() + timeout_s
        request = os.fsencode(str(path.resolve()))
        _write_all(self.requests, len(request).to_bytes(LENGTH_BYTES, "big") + request)
        header = self._read(LENGTH_BYTES, deadline)
        if isinstance(header, str):
            return None, header
        length = int.from_bytes(header, "big")
        if length > MAX_ANSWER_BYTES:
            return None, "size"
        data = self._read(length, deadline)
        return (None, data) if isinstance(data, str) else (data, "")

    def _read(self, size: int, deadline: float) -> bytes | str:
        chunks, got = [], 0
        while got < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.answers], [], [], remaining)[0]:
                return "time"
            chunk = os.read(self.answers, min(READ_CHUNK_BYTES, size - got))
            if not chunk:
                return "ended"
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def stop(self) -> int:
        """Kill the reader; its wait status."""
        for fd in (self.requests, self.answers):
            os.close(fd)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return os.waitpid(self.pid, 0)[1]


_reader: _Reader | None = None
_reader_lock = threading.Lock()


def extract(path: Path, timeout_s: float = EXTRACTION_TIMEOUT_S) -> Submission:
    """Per task, what the task process runs for the submission at ``path``, read within the budget.

    Raises ``SubmissionError`` when the file cannot be read, or reading it
    takes more than ``timeout_s`` seconds or ``EXTRACTION_MEMORY_BYTES``.
    """
    global _reader
    path = Path(path)
    with _reader_lock:
        if _reader is not None and _reader.parent == os.getpid() and _reader.task_ids != tuple(REGISTRY.ids()):
            _reader.stop()  # a task was added or removed since it was forked (a test's registry)
            _reader = None
        if _reader is None or _reader.parent != os.getpid():  # none yet, or inherited through a fork
            _reader = _Reader()
        try:
            data, stopped = _reader.ask(path, timeout_s)
        except OSError:
            data, stopped = None, "ended"
        status = 0
        if stopped:
            status = _reader.stop()
            _reader = None
    if stopped == "time":
        raise SubmissionError(f"{escaped(path.name)}: reading the file took more than {timeout_s:g} s and was "
                              "stopped (thousands of magic lines or cell markers?)")
    if stopped == "size":
        raise SubmissionError(f"{escaped(path.name)}: reading the file gave more than "
                              f"{MAX_ANSWER_BYTES >> 20} MB of code")
    if stopped == "start":
        raise SubmissionError(f"{escaped(path.name)}: the reader of submissions could not import its parsers "
                              f"within {READER_START_TIMEOUT_S:g} s (is nbformat or jupytext broken?)")
    if stopped:
        reason = f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no answer"
        raise SubmissionError(f"{escaped(path.name)}: reading the file failed ({reason}; more than "
                              f"{EXTRACTION_MEMORY_BYTES >> 30} GB of memory?)")
    answer = json.loads(data)
    if "error" in answer:
        raise SubmissionError(str(answer["error"]))
    return submission_from_json(answer["submission"])


def _serve(requests: int, answers: int) -> None:
    """In the reader: import the parsers, cap memory, say ready, then answer each path read from ``requests``.

    Every other file descriptor it inherited (the grading process's pipes to
    the sandbox workers among them) is closed first. Exits when ``requests`` ends.
    """
    try:
        kept = sorted({0, 1, 2, requests, answers})
        for low, high in zip(kept, [*kept[1:], MAX_FD]):
            os.closerange(low + 1, high)
        for name in UNUSED_OPTIONAL_MODULES:
            sys.modules.setdefault(name, None)  # None: importing it raises ImportError, which jsonschema expects
        load_parsers()
        memory = _address_space_bytes() + EXTRACTION_MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        _write_all(answers, READY)
        while (header := _read_exactly(requests, LENGTH_BYTES)) is not None:
            request = _read_exactly(requests, int.from_bytes(header, "big"))
            if request is None:
                break
            path = Path(os.fsdecode(request))
            try:
                answer = {"submission": submission_to_json(extract_in_process(path))}
            except SubmissionError as exc:
                answer = {"error": str(exc)}
            except (RecursionError, MemoryError, ValueError, TypeError, OSError) as exc:
                answer = {"error": f"{escaped(path.name)}: the file could not be read ({type(exc).__name__})"}
            data = json.dumps(answer).encode()
            _write_all(answers, len(data).to_bytes(LENGTH_BYTES, "big") + data)
    finally:
        os._exit(0)


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd`` (the grading process's requests); None when the pipe ends first."""
    chunks, got = [], 0
    while got < size:
        chunk = os.read(fd, min(READ_CHUNK_BYTES, size - got))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:READ_CHUNK_BYTES]):]


def _address_space_bytes() -> int:
    """This process's current address-space size (VmSize), which the memory cap adds to."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0
