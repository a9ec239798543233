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
    ({"landlock_abi": 7, "namespaces": True, "seccomp": True}, True, []),
    ({"landlock_abi": 7, "namespaces": True, "seccomp": True}, False, [CHMOD_GAP]),
    ({"landlock_abi": 0, "namespaces": True, "seccomp": True}, False,
     ["no Landlock: student code can read and write whatever the grading user can", CHMOD_GAP]),
    ({"landlock_abi": 3, "namespaces": False, "namespace_error": "unshare: Operation not permitted",
      "seccomp": False}, True,
     ["Landlock ABI 3 < 4: TCP is not blocked", "Landlock ABI 3 < 6: signals to other processes are not scoped",
      "no seccomp: student code can connect to unix sockets of services on this machine, use file locks and "
      "create memory (memfd) that no limit counts",
      "no namespaces (unshare: Operation not permitted): processes a task starts may outlive it, and the network "
      "stays reachable"]),
])
def test_the_grader_says_what_this_kernel_does_not_protect(granted, as_root, expected):
    box = object.__new__(handle.Sandbox)
    box.granted, box.as_root = granted, as_root
    assert box.not_protected() == expected
