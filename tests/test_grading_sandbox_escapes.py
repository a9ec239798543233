"""Attacks found by reviewing the sandbox: each must fail and cost nothing, beside an honest copy.

Every attack runs first in a graded function and then lets the honest code
run; it raises ``ATTACK-SUCCEEDED`` when the attack worked, so the task's
points say whether the sandbox held. Marked slow: one grading run.
"""
from __future__ import annotations

import os
import socket
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest

from instructor.grading.core import grade_paths
from instructor.grading.judge import TASK_POINTS
from instructor.grading.sandbox import Limits
from instructor.shipped import PROJECT_ROOT

pytestmark = pytest.mark.slow

NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
SUCCESS = "ATTACK-SUCCEEDED"
HEADERS = {
    "2a": "          show_progress: bool = True) -> list[float]:\n",
    "3a": "def compute_accuracy(model: nn.Module, dataloader: DataLoader) -> float:\n",
    "3b": "                               dataloader: DataLoader) -> dict[int, float]:\n",
}
# deeper than Python's recursion limit: a recursive removal of the work folder would fail
NESTED_FOLDERS = 3000


def with_attack(task: str, attack: str) -> nbformat.NotebookNode:
    """The reference notebook with ``attack`` run first in the graded function of ``task``."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    header = HEADERS[task]
    [cell] = [c for c in notebook.cells if c.cell_type == "code" and header in c.source]
    indented = "".join(f"    {line}\n" for line in attack.strip("\n").splitlines())
    cell.source = cell.source.replace(header, header + indented, 1)
    return notebook


def unix_socket_attack(path: Path) -> str:
    return f'''
import socket as _s
try:
    _c = _s.socket(_s.AF_UNIX, _s.SOCK_STREAM)
    _c.connect({str(path)!r})
    _c.sendall(b"from the task")
except OSError:
    pass
else:
    raise RuntimeError("{SUCCESS}: unix socket")
'''


SETSID_ATTACK = f'''
import os as _os
try:
    _os.setsid()
except OSError:
    pass
else:
    raise RuntimeError("{SUCCESS}: setsid")
'''

SETPGID_ATTACK = f'''
import os as _os
try:
    _os.setpgid(0, 0)
except OSError:
    pass
else:
    raise RuntimeError("{SUCCESS}: setpgid")
'''

NESTED_FOLDERS_ATTACK = f'''
import os as _os
_here = _os.getcwd()
_fd = _os.open(_here, _os.O_RDONLY)
for _ in range({NESTED_FOLDERS}):
    _os.makedirs("d", exist_ok=True)
    _os.chdir("d")
_os.chdir(_fd)
_os.close(_fd)
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("escapes")
    # a world-reachable unix socket, as a service on the machine would have
    socket_folder = Path(tempfile.mkdtemp(prefix="ex4-socket-"))
    socket_folder.chmod(0o777)
    socket_path = socket_folder / "service.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    socket_path.chmod(0o777)
    server.listen()
    server.settimeout(0.5)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            received.append(connection.recv(100))
            connection.close()

    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    notebooks = {"honest": nbformat.read(NOTEBOOK, as_version=4),
                 "unix_socket": with_attack("3a", unix_socket_attack(socket_path)),
                 "setsid": with_attack("2a", SETSID_ATTACK),
                 "setpgid": with_attack("3a", SETPGID_ATTACK),
                 "nested_folders": with_attack("3b", NESTED_FOLDERS_ATTACK)}
    paths = {}
    for name, notebook in notebooks.items():
        paths[name] = folder / f"{name}.ipynb"
        nbformat.write(notebook, paths[name])
    scratch_before = set(Path(tempfile.gettempdir()).glob("ex4-grading-*"))
    try:
        grades = grade_paths([str(p) for p in paths.values()], Limits(task_timeout_s=20), jobs=2)
    finally:
        stop.set()
        listener.join()
        server.close()
        socket_path.unlink()
        socket_folder.rmdir()
    leftovers = set(Path(tempfile.gettempdir()).glob("ex4-grading-*")) - scratch_before
    return {"grades": dict(zip(paths, grades)), "received": received, "leftovers": leftovers}


@pytest.mark.parametrize("name", ["honest", "unix_socket", "setsid", "setpgid", "nested_folders"])
def test_the_attack_fails_and_costs_nothing(graded, name):
    grade = graded["grades"][name]
    messages = [m for task in grade.tasks.values() for m in task.messages]
    assert not any(SUCCESS in m for m in messages), messages
    assert grade.points == sum(TASK_POINTS.values()), messages


def test_no_service_on_the_machine_hears_from_a_task(graded):
    assert graded["received"] == []


def test_deeply_nested_folders_are_removed_with_the_run(graded):
    assert graded["leftovers"] == set()
    assert os.path.isdir(tempfile.gettempdir())
