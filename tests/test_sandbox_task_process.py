"""The task process as root: forked by the worker itself, PID 1 of a PID namespace and network of its own.

A tiny runner stands in for the probes: it reports the task's pid and
network interfaces, so that the sandbox starts in a fraction of a second.
"""
from __future__ import annotations

import os
import subprocess
import textwrap
import threading
import time

import pytest

from instructor.grading.sandbox import Limits, Sandbox, SandboxSetup, TaskRun

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the worker forks tasks directly only as root")

TASKS_IN_A_ROW = 4
RUNNER = textwrap.dedent('''
    import os
    import socket
    import time


    def run(job):
        time.sleep(job["sleep_s"])
        return {"pid": os.getpid(), "interfaces": [name for _, name in socket.if_nameindex()]}


    def describe(exception):
        return f"{type(exception).__name__}: {exception}"
''')
# long enough to look at the running task from outside
SLEEP_S = 1.5


@pytest.fixture
def sandbox(tmp_path):
    (tmp_path / "pid_runner.py").write_text(RUNNER)
    setup = SandboxSetup(shipped={"pid_runner.py": tmp_path / "pid_runner.py"}, preload=(), runner="pid_runner",
                         excluded=tmp_path)
    with Sandbox(Limits(), 1, setup) as box:
        box.wait_until_ready()
        yield box


def test_every_task_in_a_row_is_pid_1_of_its_own_namespace_with_only_loopback(sandbox):
    assert sandbox.granted["direct_tasks"]
    outcomes = sandbox.run_all([TaskRun(f"row/{index}", {"sleep_s": 0}) for index in range(TASKS_IN_A_ROW)])
    assert [outcome["status"] for outcome in outcomes.values()] == ["ok"] * TASKS_IN_A_ROW, outcomes
    assert all(outcome["result"] == {"pid": 1, "interfaces": ["lo"]} for outcome in outcomes.values()), outcomes


def test_the_task_is_the_workers_child_in_a_memory_cgroup_of_its_own(sandbox):
    done: dict = {}
    running = threading.Thread(target=lambda: done.update(sandbox.run_all([TaskRun("slow/0", {"sleep_s": SLEEP_S})])))
    running.start()
    worker = sandbox.workers[0].pid
    deadline = time.monotonic() + SLEEP_S
    children, cgroup, status = [], "", ""
    # the task enters its cgroup right after the fork, before it reads its job
    while "ex4-task-" not in cgroup and time.monotonic() < deadline:
        children = subprocess.run(["pgrep", "-P", str(worker)], capture_output=True, text=True).stdout.split()
        cgroup = read_or_empty(f"/proc/{children[0]}/cgroup") if len(children) == 1 else ""
        status = read_or_empty(f"/proc/{children[0]}/status") if len(children) == 1 else ""
    running.join()
    assert done["slow/0"]["status"] == "ok"
    assert len(children) == 1, f"the worker's children while the task ran: {children}"
    # the worker's child is PID 1 of a namespace of its own (its pid here, then 1): the task, no reaper between
    namespace_pids = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[1:]
    assert namespace_pids == [children[0], "1"], status
    if sandbox.granted["memory_cgroup"]:
        assert "ex4-task-" in cgroup, cgroup


def read_or_empty(path: str) -> str:
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return ""
