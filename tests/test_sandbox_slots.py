"""The sandbox's slots: one worker imports what tasks need, the other slots' workers are forked from it.

A tiny setup (a runner that reports what the task process sees, a preloaded
module that records which process imported it) stands in for the tasks, so
that the sandbox starts in a fraction of a second.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from instructor.grading.sandbox import GradingProcessError, Limits, Sandbox, SandboxSetup, TaskRun
from instructor.shipped import PROJECT_ROOT

SLOTS = 3
TASK_TIMEOUT_S = 10.0
RUNNER = textwrap.dedent('''
    import os

    HIGHEST_FD = 4096


    def is_open(fd):
        try:
            os.fstat(fd)
        except OSError:
            return False
        return True


    def run(job):
        return {"fds": [fd for fd in range(HIGHEST_FD) if is_open(fd)], "echo": job["echo"]}


    def describe(exception):
        return f"{type(exception).__name__}: {exception}"
''')
# imported by the workers before they fork tasks; appends the importing process's pid to a log (the worker is
# not confined, the tasks are: they never import it anew, it is already in their memory)
RECORDER = 'import os\nwith open({log!r}, "a") as log:\n    log.write(f"{{os.getpid()}}\\n")\n'


def tiny_setup(folder: Path) -> tuple[SandboxSetup, Path]:
    """A setup whose runner reports the task's open file descriptors; the log of the preload's imports."""
    log = folder / "imports.log"
    log.touch()
    log.chmod(0o666)
    (folder / "slot_runner.py").write_text(RUNNER)
    (folder / "import_recorder.py").write_text(RECORDER.format(log=str(log)))
    setup = SandboxSetup(shipped={"slot_runner.py": folder / "slot_runner.py",
                                  "import_recorder.py": folder / "import_recorder.py"},
                         preload=("import_recorder",), runner="slot_runner", excluded=folder)
    return setup, log


def task(sandbox: Sandbox, slot: int, echo: str) -> dict:
    return sandbox.run_one(sandbox.workers[slot], TaskRun(f"{slot}/{echo}", {"echo": echo}))


def pipe_inodes(pid: int) -> set[str]:
    """The pipes a process holds open ("pipe:[inode]")."""
    folder = Path(f"/proc/{pid}/fd")
    links = (os.readlink(folder / name) for name in os.listdir(folder))
    return {link for link in links if link.startswith("pipe:")}


@pytest.fixture
def sandbox(tmp_path):
    setup, log = tiny_setup(tmp_path)
    with Sandbox(Limits(task_timeout_s=TASK_TIMEOUT_S), SLOTS, setup) as box:
        box.wait_until_ready()
        box.import_log = log
        yield box


def test_one_worker_imports_and_the_other_slots_are_forked_from_it(sandbox):
    pids = [worker.pid for worker in sandbox.workers]
    assert len(set(pids)) == SLOTS and all(pids)
    assert sandbox.import_log.read_text().split() == [str(pids[0])]
    assert sandbox.workers[0].process is not None and all(w.process is None for w in sandbox.workers[1:])
    for pid in pids:  # each in a session of its own: stopping one slot's group never stops another's
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid


def test_every_slot_runs_tasks_and_no_task_sees_more_than_the_first_slots(sandbox):
    outcomes = [task(sandbox, slot, f"slot {slot}") for slot in range(SLOTS)]
    assert outcomes[0].get("error") is None
    assert [outcome["status"] for outcome in outcomes] == ["ok"] * SLOTS
    assert [outcome["result"]["echo"] for outcome in outcomes] == [f"slot {slot}" for slot in range(SLOTS)]
    assert all(outcome["result"]["fds"] == outcomes[0]["result"]["fds"] for outcome in outcomes)


def test_each_worker_holds_only_its_own_slots_pipes(sandbox):
    """No worker keeps another slot's pipe: a slot whose worker dies is seen at once by the grader."""
    held = [pipe_inodes(worker.pid) for worker in sandbox.workers]
    assert all(len(pipes) == 2 for pipes in held)  # its standard input and output
    assert len(set().union(*held)) == 2 * SLOTS


@pytest.mark.parametrize("killed", [0, 1])
def test_a_killed_worker_is_replaced_and_the_other_slots_go_on(sandbox, killed):
    old = sandbox.workers[killed].pid
    os.killpg(old, signal.SIGKILL)
    replaced = task(sandbox, killed, "after the kill")
    assert replaced["status"] == "crashed" and "restarted" in replaced["error"]
    assert sandbox.workers[killed].pid not in (None, old)
    for slot in range(SLOTS):
        assert task(sandbox, slot, "again")["status"] == "ok"
    # the replacement is launched: it imports anew; the others did not import again
    assert sandbox.import_log.read_text().split() == [str(sandbox.workers[0].pid if killed else old),
                                                      str(sandbox.workers[killed].pid)]


def test_a_worker_that_cannot_preload_says_why_in_every_slot(tmp_path):
    setup, _ = tiny_setup(tmp_path)
    broken = SandboxSetup(shipped=setup.shipped, preload=(), runner="no_such_runner", excluded=tmp_path)
    sandbox = Sandbox(Limits(), SLOTS, broken)
    try:
        for worker in sandbox.workers:
            with pytest.raises(GradingProcessError, match="(?s)could not start.*no_such_runner"):
                worker.wait_until_ready()
    finally:
        sandbox.close()


def ended(pid: int) -> bool:
    """Whether ``pid`` has ended (gone, or a zombie nobody waited for yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_closing_the_sandbox_ends_every_worker(tmp_path):
    setup, _ = tiny_setup(tmp_path)
    with Sandbox(Limits(), SLOTS, setup) as box:
        box.wait_until_ready()
        pids = [worker.pid for worker in box.workers]
    assert all(ended(pid) for pid in pids)


AS_USER_SCRIPT = textwrap.dedent('''
    import json, os, shutil, sys, tempfile
    from pathlib import Path
    sys.path.insert(0, "tests")
    from test_sandbox_slots import SLOTS, TASK_TIMEOUT_S, task, tiny_setup
    from instructor.grading.sandbox import Limits, Sandbox

    folder = Path(tempfile.mkdtemp())
    try:
        setup, log = tiny_setup(folder)
        with Sandbox(Limits(task_timeout_s=TASK_TIMEOUT_S), SLOTS, setup) as box:
            box.wait_until_ready()
            statuses = [task(box, slot, "as user")["status"] for slot in range(SLOTS)]
            print(json.dumps({"uid": os.getuid(), "statuses": statuses, "imports": log.read_text().split(),
                              "first": box.workers[0].pid}))
    finally:
        shutil.rmtree(folder)
''')


def test_a_normal_user_gets_forked_slots_too(tmp_path):
    """As uid 65534 (setpriv, as the attack tests grade): one import, every slot serves."""
    from test_grading_attacks import IS_ROOT, NOBODY, as_user_prefix

    if not IS_ROOT:
        pytest.skip("switching to an unprivileged user needs root")
    stash = tmp_path / "interpreter-mount"
    stash.mkdir(mode=0o755)
    prefix = as_user_prefix(NOBODY, stash)
    if not prefix:
        pytest.skip(f"this machine cannot run {sys.executable} as uid {NOBODY}")
    finished = subprocess.run([*prefix, sys.executable, "-c", AS_USER_SCRIPT], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(finished.stdout.splitlines()[-1])
    assert report["uid"] == NOBODY
    assert report["statuses"] == ["ok"] * SLOTS
    assert report["imports"] == [str(report["first"])]


@pytest.mark.parametrize("slot", [0, 1])
def test_stopping_a_stuck_worker_kills_it_and_no_other(sandbox, slot):
    """A worker that no longer reads its pipe (stopped here) is killed by its handle, launched or forked."""
    pids = [worker.pid for worker in sandbox.workers]
    os.kill(pids[slot], signal.SIGSTOP)
    sandbox.workers[slot].stop()
    assert [ended(pid) for pid in pids] == [index == slot for index in range(SLOTS)]
