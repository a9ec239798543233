"""The grader's side of the worker processes: one launched worker, forked into the workers of the other slots.

``start_workers`` launches one worker (``python -I worker.py``) and hands it a
pair of pipes for every other slot, made here up front. Once it has imported
what tasks need and probed the kernel, that worker forks one worker per
other slot, each in a session of its own and serving its own pair of pipes:
the imports cost CPU once, and the forks share their memory pages.
``WorkerHandle`` talks to one worker (one JSON line each way per task),
whether launched or forked; a worker that dies is replaced by a launched one.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from instructor.grading.sandbox.environment import GradingProcessError, worker_environment

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker.py"
# time for a worker to start and import what it preloads
STARTUP_TIMEOUT_S = 180.0
# wall time beyond a task's timeout for the worker to answer (fork, namespaces, reaping)
ANSWER_SLACK_S = 20.0
# time for a killed worker to be gone
STOP_TIMEOUT_S = 10.0


class WorkerHandle:
    """The grader's handle on one worker process: send a command, wait for its answer with a deadline.

    Without ``pipes`` the worker is launched at once (and forks the workers of
    ``forked_slots``, see ``launch``); with ``pipes`` (the grader's ends of a
    forked worker's pipes: command writer, answer reader) it is forked by the
    launched worker once that is ready. ``wait_until_ready`` waits for its
    "ready" line, so that the grader works meanwhile.
    """

    def __init__(self, config: dict, scratch: Path, pipes: tuple | None = None,
                 forked_slots: tuple[tuple[int, int], ...] = ()) -> None:
        self.config = config
        self.scratch = scratch
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None  # its own process group's id too
        self.pidfd: int | None = None  # a forked worker's: says whether ``pid`` is still that worker
        self.granted: dict = {}
        if pipes is None:
            self.launch(forked_slots)
        else:
            self.to_worker, self.from_worker = pipes

    def start(self) -> None:
        self.launch()
        self.wait_until_ready()

    def launch(self, forked_slots: tuple[tuple[int, int], ...] = ()) -> None:
        """Start a worker process and send its configuration; returns without waiting for it.

        ``forked_slots``: for each slot whose worker it forks once ready, the
        worker's ends of that slot's pipes (command read end, answer write end).
        """
        self.granted = {}
        self.process = subprocess.Popen([sys.executable, "-I", str(WORKER_SCRIPT)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.scratch,
                                        env=worker_environment(self.scratch), start_new_session=True,
                                        pass_fds=[fd for pair in forked_slots for fd in pair])
        self.pid = self.process.pid
        self.to_worker, self.from_worker = self.process.stdin, self.process.stdout
        self.send({**self.config, "forked_slots": [list(pair) for pair in forked_slots]})

    def send(self, message: dict) -> None:
        self.to_worker.write((json.dumps(message) + "\n").encode())
        self.to_worker.flush()

    def wait_until_ready(self) -> None:
        """Wait for the worker's "ready" line (its preloaded imports done); raises GradingProcessError without it."""
        if self.granted:
            return
        answer = self.answer(STARTUP_TIMEOUT_S)
        if not answer or not answer.get("ready"):
            self.stop()
            detail = (answer or {}).get("error", "no answer")
            raise GradingProcessError(f"the grading process could not start: {detail}")
        pid = answer.pop("pid")
        if self.process is None:
            try:
                self.pidfd = os.pidfd_open(pid)
                self.pid = pid
            except OSError:  # already gone: its first command finds its pipe closed and replaces it
                pass
        self.granted = answer

    def answer(self, timeout_s: float) -> dict | None:
        """The next line from the worker, parsed; None after ``timeout_s`` or when it died."""
        deadline = time.monotonic() + timeout_s
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.from_worker], [], [], remaining)[0]:
                return None
            chunk = os.read(self.from_worker.fileno(), 1 << 16)
            if not chunk:
                return None
            line += chunk
        try:
            return json.loads(line)
        except ValueError:
            return None

    def run(self, command: dict, timeout_s: float) -> dict:
        """How the task ended ({"end": ...}); a worker that does not answer is replaced."""
        try:
            self.send(command)
            answer = self.answer(timeout_s + ANSWER_SLACK_S)
        except OSError:
            answer = None
        if answer is None:
            self.stop()
            self.start()
            return {"end": "crashed", "detail": "the grading process did not answer; it was restarted"}
        return answer

    def stop(self) -> None:
        """Kill the worker's process group (its own session: never another slot's worker) and close its pipes."""
        if self.process is not None:
            with_suppressed(lambda: os.killpg(self.process.pid, signal.SIGKILL))
            self.process.kill()
            self.process.wait()
        elif self.pidfd is not None:
            # a forked worker is not the grader's child: while it has not ended, its pid is still its own
            if not select.select([self.pidfd], [], [], 0)[0]:
                with_suppressed(lambda: os.killpg(self.pid, signal.SIGKILL))
            with_suppressed(lambda: signal.pidfd_send_signal(self.pidfd, signal.SIGKILL))
            select.select([self.pidfd], [], [], STOP_TIMEOUT_S)
            os.close(self.pidfd)
        self.process = self.pidfd = self.pid = None
        for stream in (self.to_worker, self.from_worker):
            with_suppressed(stream.close)


def start_workers(config: dict, scratch: Path, slots: int) -> list[WorkerHandle]:
    """One handle per slot: the first slot's worker is launched and forks the others' once it is ready."""
    pipes = [(os.pipe(), os.pipe()) for _ in range(slots - 1)]  # ((command read, write), (answer read, write))
    worker_ends = tuple((command[0], answer[1]) for command, answer in pipes)
    workers: list[WorkerHandle] = []
    try:
        workers.append(WorkerHandle(config, scratch, forked_slots=worker_ends))
    finally:
        for fd in (fd for pair in worker_ends for fd in pair):
            os.close(fd)  # the first worker holds them now: a slot's worker that dies closes its answer pipe
        if not workers:
            for command, answer in pipes:
                os.close(command[1])
                os.close(answer[0])
    for command, answer in pipes:
        workers.append(WorkerHandle(config, scratch, (os.fdopen(command[1], "wb"), os.fdopen(answer[0], "rb", 0))))
    return workers


def with_suppressed(action) -> None:
    try:
        action()
    except OSError:
        pass
