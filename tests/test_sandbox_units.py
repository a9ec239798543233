"""The sandbox's handling of untrusted results and paths, without starting a task process."""
from __future__ import annotations

import json
import math
import os
import sys

import pytest

from instructor.grading.sandbox import environment, handle
from instructor.grading.sandbox.environment import task_sys_path
from instructor.grading.sandbox.protocol import (
    MAX_RESULT_BYTES,
    MAX_RESULT_DEPTH,
    RESULT_FILE,
    clean_result,
    parse_result,
    read_result,
)
from instructor.grading.text import MAX_STRING_CHARS
from instructor.grading.text import one_line as sanitize_text
from instructor.shipped import PROJECT_ROOT


def test_sanitize_text_removes_escape_codes_surrogates_and_caps_length():
    text = "\x1b[2J\x1b[Hfake table\r\n" + "\ud800" + "x" * 10_000
    cleaned = sanitize_text(text)
    assert "\x1b" not in cleaned and "\r" not in cleaned and "\n" not in cleaned
    assert "\ud800" not in cleaned
    assert len(cleaned) <= MAX_STRING_CHARS
    assert cleaned.startswith("[2J [Hfake table")


def test_clean_result_rejects_deep_nesting():
    deep: list = []
    for _ in range(MAX_RESULT_DEPTH + 2):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        clean_result({"value": deep})


def test_clean_result_turns_huge_ints_into_non_numbers_and_keeps_nan():
    cleaned = clean_result({"value": 10 ** 400, "small": 3, "nan": math.nan, "flag": True, 1: "dropped"})
    assert cleaned["value"] is None and cleaned["small"] == 3 and cleaned["flag"] is True
    assert math.isnan(cleaned["nan"])
    assert list(cleaned) == ["value", "small", "nan", "flag"]


@pytest.mark.parametrize("data, status", [
    (b"not json", "crashed"),
    (b"[1, 2]", "crashed"),
    (b'{"status": "ok", "result": 5}', "crashed"),
    (b'{"status": "forged"}', "crashed"),
    (b"[" * 5000 + b"]" * 5000, "crashed"),
    (b'{"status": "error", "error": "ValueError: \\ud800\\u001b[2J"}', "error"),
    (b'{"status": "ok", "result": {"value": 1}}', "ok"),
])
def test_parse_result_accepts_only_the_result_layout(data, status):
    outcome = parse_result(data)
    assert outcome["status"] == status
    if status == "error":
        assert "\x1b" not in outcome["error"] and "\ud800" not in outcome["error"]


def test_read_result_does_not_follow_a_link(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(json.dumps({"status": "ok", "result": {"value": 1}}))
    (tmp_path / RESULT_FILE).symlink_to(secret)
    assert read_result(tmp_path) is None


def test_read_result_refuses_an_oversized_file(tmp_path):
    (tmp_path / RESULT_FILE).write_bytes(b" " * (MAX_RESULT_BYTES + 1))
    assert read_result(tmp_path) is None


def test_read_result_reads_a_regular_file(tmp_path):
    (tmp_path / RESULT_FILE).write_bytes(b'{"status": "ok", "result": {}}')
    assert read_result(tmp_path) == b'{"status": "ok", "result": {}}'


def test_the_task_path_leaves_out_the_project_but_keeps_the_environment():
    site_packages = [p for p in sys.path if "site-packages" in p]
    kept = task_sys_path([str(PROJECT_ROOT), str(PROJECT_ROOT / "tests"), str(PROJECT_ROOT / "grading"),
                          str(PROJECT_ROOT.parent), "", *site_packages], PROJECT_ROOT)
    assert str(PROJECT_ROOT) not in kept and str(PROJECT_ROOT.parent) not in kept
    assert not any(p.startswith(str(PROJECT_ROOT / "tests")) or p.startswith(str(PROJECT_ROOT / "grading"))
                   for p in kept)
    assert [os.path.realpath(p) for p in site_packages] == kept


def test_a_fresh_uid_is_unused_and_unique():
    taken: set[int] = set()
    uids = {environment.fresh_uid(taken) for _ in range(50)}
    assert len(uids) == 50 and uids == taken
    assert all(environment.UID_RANGE[0] <= uid < environment.UID_RANGE[1] for uid in uids)
    assert not any(environment.uid_in_use(uid) for uid in uids)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the check switches to another user id")
def test_folders_another_user_cannot_enter_are_found():
    import shutil
    import tempfile

    # pytest's tmp_path lies in a folder only root may enter; this one is open to all
    root = tempfile.mkdtemp(prefix="ex4-readable-")
    try:
        os.chmod(root, 0o755)
        private = os.path.join(root, "private")
        inner = os.path.join(private, "site-packages")
        public = os.path.join(root, "public")
        os.makedirs(inner)
        os.makedirs(public)
        os.chmod(private, 0o700)
        assert environment.unreadable_for(environment.fresh_uid(set()), [inner, public]) == [inner]
    finally:
        shutil.rmtree(root)


CHMOD_GAP = ("not root: Landlock does not cover chmod, so student code can change the permissions of the grading "
             "user's files")


@pytest.mark.parametrize("granted, as_root, expected", [
    ({"landlock_abi": 7, "namespaces": True, "seccomp": True, "memory_cgroup": True}, True, []),
    ({"landlock_abi": 7, "namespaces": True, "seccomp": True, "memory_cgroup": True}, False, [CHMOD_GAP]),
    ({"landlock_abi": 0, "namespaces": True, "seccomp": True, "memory_cgroup": True}, False,
     ["no Landlock: student code can read and write whatever the grading user can", CHMOD_GAP]),
    ({"landlock_abi": 3, "namespaces": False, "namespace_error": "unshare: Operation not permitted",
      "seccomp": False}, True,
     ["Landlock ABI 3 < 4: TCP is not blocked", "Landlock ABI 3 < 6: signals to other processes are not scoped",
      "no seccomp: student code can connect to unix sockets of services on this machine, use file locks and "
      "create memory (memfd) that no limit counts",
      "no memory cgroup per task: memory is capped per process (address space), so a task may use the cap once "
      "in each process it starts",
      "no namespaces (unshare: Operation not permitted): processes a task starts may outlive it, and the network "
      "stays reachable"]),
])
def test_the_grader_says_what_this_kernel_does_not_protect(granted, as_root, expected):
    box = object.__new__(handle.Sandbox)
    box.granted, box.as_root = granted, as_root
    assert box.not_protected() == expected


# --------------------------------------------------------------------- round two (issue 17)


def test_runs_of_one_group_never_run_at_the_same_time():
    """Three workers, four submissions of three tasks: a submission's tasks wait for each other."""
    import threading
    import time

    from instructor.grading.sandbox.handle import _Schedule
    from instructor.grading.sandbox.protocol import TaskRun

    runs = [TaskRun(f"{group}/{task}", {}, group=str(group)) for group in range(4) for task in range(3)]
    schedule = _Schedule(runs)
    running: list[str] = []
    overlaps, finished = [], []
    lock = threading.Lock()

    def work():
        while (run := schedule.take()) is not None:
            with lock:
                if run.group in running:
                    overlaps.append(run.key)
                running.append(run.group)
            time.sleep(0.01)
            with lock:
                running.remove(run.group)
                finished.append(run.key)
            schedule.done(run)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not overlaps
    assert sorted(finished) == sorted(run.key for run in runs)


def test_runs_without_a_group_fill_every_worker():
    from instructor.grading.sandbox.handle import _Schedule
    from instructor.grading.sandbox.protocol import TaskRun

    schedule = _Schedule([TaskRun(f"reference/{task}", {}) for task in range(3)])
    assert [schedule.take().key for _ in range(3)] == ["reference/0", "reference/1", "reference/2"]
    assert schedule.take() is None


def test_stale_scratch_folders_of_a_dead_grader_are_removed(tmp_path):
    import subprocess

    ended = subprocess.Popen(["true"])
    ended.wait()
    stale, live, foreign = (tmp_path / f"{environment.SCRATCH_PREFIX}{name}" for name in ("stale", "live", "other"))
    for folder in (stale, live, foreign):
        folder.mkdir()
        (folder / "work").mkdir()
    # a grader that ended (its pid, with a start time no process has), one that runs (this one)
    (stale / environment.OWNER_FILE).write_text(f"{ended.pid} 1")
    (live / environment.OWNER_FILE).write_text(" ".join(environment.process_identity(os.getpid())))
    assert environment.remove_stale_scratch(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and foreign.exists()


def test_the_task_path_comes_from_the_environment_not_from_cwd_or_pythonpath(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "on-pythonpath"))
    monkeypatch.chdir(tmp_path)
    found = environment.environment_sys_path()
    assert not any(str(tmp_path) in entry for entry in found) and "" not in found
    assert any(entry.endswith(("site-packages", "dist-packages")) for entry in found)
    assert os.path.dirname(os.__file__) in found  # the standard library


SECCOMP_PROBE = '''
import ctypes, fcntl, json, os, socket, struct, sys
sys.path.insert(0, sys.argv[1])
import confinement
confinement.deny_syscalls()
denied = {}
shared = open(sys.argv[2], "rb")
libc = ctypes.CDLL(None, use_errno=True)
tries = {
    "flock": lambda: fcntl.flock(shared, fcntl.LOCK_SH | fcntl.LOCK_NB),
    "F_SETLK": lambda: fcntl.lockf(shared, fcntl.LOCK_SH | fcntl.LOCK_NB),
    "F_GETLK": lambda: fcntl.fcntl(shared, fcntl.F_GETLK, struct.pack("hhqqi", 1, 0, 0, 0, 0)),
    "F_OFD_SETLK": lambda: fcntl.fcntl(shared, 37, struct.pack("hhqqi", 0, 0, 0, 1, 0)),
    "memfd_create": lambda: os.memfd_create("x"),
    "unix socket": lambda: socket.socket(socket.AF_UNIX),
    "F_GETFL": lambda: fcntl.fcntl(shared, fcntl.F_GETFL),
    "inet socket": lambda: socket.socket(socket.AF_INET).close(),
}
for name, action in tries.items():
    try:
        action()
        denied[name] = False
    except OSError:
        denied[name] = True
denied["shmget"] = libc.shmget(0, 4096, 0o1600) < 0
confinement.make_first_to_be_killed()
denied["oom_score_adj"] = open("/proc/self/oom_score_adj").read().strip()
print(json.dumps(denied))
'''


def test_seccomp_denies_locks_memfd_and_shared_memory_but_not_ordinary_calls(tmp_path):
    import subprocess

    from instructor.grading.sandbox.handle import CONFINEMENT_SCRIPT

    shared = tmp_path / "shared.txt"
    shared.write_text("read-only for the tasks")
    probe = subprocess.run([sys.executable, "-c", SECCOMP_PROBE, str(CONFINEMENT_SCRIPT.parent), str(shared)],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0 and "PR_SET_SECCOMP" in probe.stderr:
        pytest.skip(f"this kernel refuses seccomp filters: {probe.stderr.strip()[-200:]}")
    denied = json.loads(probe.stdout)
    assert denied == {"flock": True, "F_SETLK": True, "F_GETLK": True, "F_OFD_SETLK": True, "memfd_create": True,
                      "unix socket": True, "F_GETFL": False, "inet socket": False, "shmget": True,
                      "oom_score_adj": "1000"}


def test_visible_keeps_a_path_on_its_row():
    from instructor.grading.text import visible

    path = "alice\nFORGED  20  100/100\r\x1b[2J\u202e.ipynb"
    shown = visible(path, keep_newlines=False)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown and "\u202e" not in shown
    assert shown == "alice\\x0aFORGED  20  100/100\\x0d\\x1b[2J\\u202e.ipynb"
    assert visible("two\nlines\tand a tab") == "two\nlines\tand a tab"
