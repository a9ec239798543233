"""The grader against hostile submissions: grade.py run as a subprocess on attacks and honest copies.

The attacks (built by tests/attack_submissions.py from the reference notebook)
try to get points without the work (reading solution.py, copying the
reference or a classmate's code out of memory, forging the result), to break
the grader (deep, huge and non-numeric results, malformed files, control
characters and lone surrogates in messages), to outlive the run (daemons,
fork bombs, closed descriptors), to reach out (network, signals) and to write
where they must not. All of them are graded in ONE run of grade.py together
with honest copies of the reference notebook, from a copy of the project in a
temporary folder (other work in this checkout must not disturb the
comparison of files before and after). A smaller subset runs again as an
unprivileged user (uid 65534), and three more runs check a planted gradebook
link, two runs at the same time, and ``os.kill(-1, SIGKILL)``.

What every run must show: exit status 0, gradebooks (JSON and CSV) that
parse, every honest copy 100/100 and not flagged for review, every attacked
task at most its safe points (0 where the attack tries to get points without
the work), the attack's other tasks full, attacks using introspection or
low-level tricks flagged for review, no process of the run left, no file
outside the gradebook changed, no connection or datagram reached the test's
listeners, a sentinel process alive, messages without control characters,
lone surrogates or reference code, at most ``MESSAGE_LIMIT`` characters.

Marked slow: about two minutes on two cores. Runs as root (as CI does); the
unprivileged subset needs setpriv and, where the interpreter lives in a
folder only root may enter, unshare (a private mount namespace makes it
reachable); it is skipped with the reason otherwise.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from attack_submissions import (
    FORGED_ROW,
    PROBE_WORD,
    SECRET_FILE,
    SUCCESS_WORD,
    Attack,
    Context,
    attacks,
    kill_all_attack,
    load_reference,
    probe_attack,
    slow_honest,
)

from instructor.grading.extraction import EXTRACTION_TIMEOUT_S
from instructor.solution_regions import find_regions
from instructor.tasks import POINTS, TASKS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "Ex4_Optimization2.ipynb"
REFERENCE = load_reference(NOTEBOOK)
CATALOGUE = {attack.name: attack for attack in attacks(REFERENCE)}
FULL = sum(POINTS.values())
TASK_TIMEOUT_S = 8
JOBS = 2
# wall-clock limits of whole grade.py runs, after which the test stops them; the main run holds one file
# that reads for longer than the extraction budget
MAIN_RUN_LIMIT_S = 150 + EXTRACTION_TIMEOUT_S
SMALL_RUN_LIMIT_S = 90
# time for the processes of a finished run to be gone
SURVIVOR_GRACE_S = 1.0
# longest message (and review entry) a gradebook may hold: "a few hundred characters"
MESSAGE_LIMIT = 1000
# longest terminal line: a message with its task and indentation, or a table row
LINE_LIMIT = MESSAGE_LIMIT + 300
# longest CSV cell: all messages of one submission
CSV_CELL_LIMIT = 20 * MESSAGE_LIMIT
NOBODY = 65534
IS_ROOT = os.geteuid() == 0
# C0 and C1 control characters (the ESC of terminal escape codes, CSI, BEL, CR, ...)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PROBE_PATTERN = re.compile(PROBE_WORD + r" uid=(\d+) map=(\S+) sentinel=(\w+) test=(\w+)")


# --------------------------------------------------------------------- the machinery of one run


@dataclass
class Run:
    """One grade.py run: its submissions, what it printed and wrote, and what it left behind."""

    name: str
    ctx: Context
    token: str  # in the name or environment of every process the run's attacks start
    paths: dict[str, Path] = field(default_factory=dict)  # submission name -> file
    attacks: dict[str, Attack] = field(default_factory=dict)
    honest: list[str] = field(default_factory=list)
    tmp: Path | None = None  # TMPDIR of grade.py
    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    stdout: bytes = b""
    stderr: bytes = b""
    gradebook: dict | None = None
    gradebook_problem: str = ""
    csv_rows: list[dict] | None = None
    csv_text: str = ""
    csv_problem: str = ""
    survivors: dict[int, str] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)  # folder -> differences
    tcp_connections: int = 0
    udp_datagrams: int | None = None
    abstract_connections: int = 0
    sentinel_alive: bool = True

    def failure(self) -> str:
        """Why grade.py did not give a usable gradebook ('' when it did)."""
        if self.timed_out:
            return f"grade.py did not finish within its {self.seconds:.0f} s and was stopped"
        if self.gradebook is None:
            tail = self.stderr.decode(errors="replace").strip().splitlines()[-3:]
            return (f"grade.py exited with status {self.returncode} after {self.seconds:.1f} s and no readable "
                    f"JSON gradebook ({self.gradebook_problem}); stderr ends: {' / '.join(tail)[:600]}")
        return ""

    def entry(self, name: str) -> dict:
        """The gradebook's entry of submission ``name``; fails the test when there is none."""
        problem = self.failure()
        assert not problem, problem
        by_path = {e.get("path"): e for e in self.gradebook.get("submissions", []) if isinstance(e, dict)}
        entry = by_path.get(str(self.paths[name]))
        assert entry is not None, f"the gradebook has no entry for {self.paths[name]}"
        return entry


def points(entry: dict, task: str) -> int:
    return entry["tasks"][task]["points"]


def messages(entry: dict) -> list[str]:
    return [m for task in entry.get("tasks", {}).values() for m in task.get("messages", [])]


def shown(entry: dict) -> str:
    """The points and messages of a gradebook entry, shortened, for assertion messages."""
    lines = [f"points {{{', '.join(f'{t}: {points(entry, t)}' for t in TASKS)}}}, review {entry.get('review')}"]
    lines += [f"  {t}: {m[:300]!r}" for t in TASKS for m in entry["tasks"][t].get("messages", [])]
    return "\n".join(lines)


def make_folder(path: Path, mode: int = 0o755, owner: int | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, owner)
    return path


def project_files() -> list[str]:
    """The project's files: tracked and untracked-but-not-ignored, as in the working tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sorted(name for name in listed if name and (REPO / name).is_file())


def copy_project(target: Path, owner: int | None) -> None:
    """The project's files in ``target``, readable by everyone, owned by ``owner`` (None: root)."""
    make_folder(target, owner=owner)
    for name in project_files():
        destination = target / name
        for folder in reversed(destination.relative_to(target).parents[:-1]):
            if not (target / folder).is_dir():
                make_folder(target / folder, owner=owner)
        try:
            shutil.copy2(REPO / name, destination)
        except FileNotFoundError:  # a temporary file of other work in this checkout, gone meanwhile
            continue
        destination.chmod(destination.stat().st_mode | 0o444)
        if owner is not None:
            os.chown(destination, owner, owner)


# caches that Python libraries (matplotlib, torch) keep in $HOME: the grader's own, not a task's
HOME_CACHES = (".cache", ".config")


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every entry below ``folder`` (not __pycache__, not ``skip`` at the top): content hash and mode, or link."""
    state = {}
    for root, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if f != "__pycache__" and not (root == str(folder) and f in skip)]
        for name in folders + files:
            path = Path(root) / name
            relative = str(path.relative_to(folder))
            if path.is_symlink():
                state[relative] = f"link to {os.readlink(path)}"
            elif path.is_dir():
                state[relative] = "folder"
            elif path.is_file():
                state[relative] = (f"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]} "
                                   f"mode {oct(path.lstat().st_mode & 0o7777)}")
            else:
                state[relative] = "special file"
    return state


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return ([f"new: {p} ({after[p]})" for p in sorted(set(after) - set(before))]
            + [f"gone: {p}" for p in sorted(set(before) - set(after))]
            + [f"changed: {p} ({before[p]} -> {after[p]})" for p in sorted(set(before) & set(after))
               if before[p] != after[p]])


def marked_processes(token: str, roots: tuple[str, ...]) -> dict[int, str]:
    """Live processes whose name, command line or environment holds ``token``, or whose cwd is below ``roots``."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        base = Path("/proc") / entry.name
        try:
            state = (base / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                continue
            comm = (base / "comm").read_text().strip()
            cmdline = (base / "cmdline").read_bytes()
            environ = (base / "environ").read_bytes()
        except (OSError, IndexError):
            continue
        try:
            cwd = os.readlink(base / "cwd")
        except OSError:
            cwd = ""
        if (token in comm or token.encode() in cmdline or token.encode() in environ
                or any(cwd.startswith(root) for root in roots)):
            command = cmdline.replace(b"\0", b" ")[:100].decode(errors="replace")
            found[int(entry.name)] = f"pid {entry.name} name {comm!r} cmdline {command!r} cwd {cwd!r}"
    return found


def kill_marked(token: str, roots: tuple[str, ...], seconds: float = 10.0) -> None:
    """SIGKILL every process of this test's run (found by ``marked_processes``) until none is left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = marked_processes(token, roots)
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


class Listeners:
    """A TCP listener, a UDP socket and an abstract unix socket on this machine that no task may reach."""

    def __init__(self, name: str, udp: bool):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(64)
        self.udp = None
        if udp:
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
        self.abstract_name = f"ex4-attacks-{name}"
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen(64)

    @property
    def tcp_port(self) -> int:
        return self.tcp.getsockname()[1]

    @property
    def udp_port(self) -> int | None:
        return self.udp.getsockname()[1] if self.udp else None

    @staticmethod
    def _accepted(server: socket.socket) -> int:
        server.setblocking(False)
        count = 0
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return count
            connection.close()
            count += 1

    def read(self, run: Run) -> None:
        run.tcp_connections = self._accepted(self.tcp)
        run.abstract_connections = self._accepted(self.abstract)
        if self.udp is not None:
            self.udp.setblocking(False)
            run.udp_datagrams = 0
            while True:
                try:
                    self.udp.recv(65536)
                except OSError:
                    break
                run.udp_datagrams += 1

    def close(self) -> None:
        for sock in (self.tcp, self.udp, self.abstract):
            if sock is not None:
                sock.close()


def start_sentinel(user: int | None) -> subprocess.Popen:
    """A `sleep` that no task may kill: root's, or the grading user's when grading as that user."""
    command = ["sleep", "1000"]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.Popen(command, cwd="/", start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def hidden_ancestor(path: Path) -> Path | None:
    """The outermost folder above ``path`` that others may not enter (e.g. /root, mode 0700), if any."""
    for folder in reversed(path.parents):
        if folder != Path("/") and not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def as_user_prefix(user: int, stash: Path) -> list[str]:
    """The command prefix that runs the rest as ``user`` with a clean environment, or [] if impossible.

    When the interpreter lives in a folder others may not enter (pyenv under
    /root), a private mount namespace covers that folder with an empty tmpfs
    and mounts the interpreter's installation at its old place.
    """
    if not IS_ROOT or not shutil.which("setpriv"):
        return []
    drop = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    base = Path(os.path.realpath(sys.base_prefix))
    hidden = hidden_ancestor(base)
    prefix = []
    if hidden is not None:
        if not shutil.which("unshare"):
            return []
        script = ('set -e; mount --bind "$1" "$2"; mount -t tmpfs -o mode=0755 tmpfs "$3"; mkdir -p "$1"; '
                  'mount --bind "$2" "$1"; shift 3; exec "$@"')
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(base),
                  str(stash), str(hidden)]
    check = subprocess.run([*prefix, *drop, sys.executable, "-c", "import torch"], capture_output=True, check=False)
    return [*prefix, *drop] if check.returncode == 0 else []


def read_gradebooks(run: Run, json_path: Path, csv_path: Path) -> None:
    try:
        if json_path.is_symlink():
            raise ValueError(f"{json_path} is a symbolic link")
        run.gradebook = json.loads(json_path.read_bytes().decode("utf-8"))
        if not isinstance(run.gradebook, dict):
            raise TypeError("not a JSON object")
    except (OSError, ValueError, TypeError) as exc:
        run.gradebook, run.gradebook_problem = None, f"{type(exc).__name__}: {exc}"[:300]
    try:
        if csv_path.is_symlink():
            raise ValueError(f"{csv_path} is a symbolic link")
        run.csv_text = csv_path.read_bytes().decode("utf-8")
        run.csv_rows = list(csv.DictReader(io.StringIO(run.csv_text, newline="")))
    except (OSError, ValueError, csv.Error) as exc:
        run.csv_rows, run.csv_problem = None, f"{type(exc).__name__}: {exc}"[:300]


def new_context(base: Path, name: str, owner: int | None, listeners: Listeners, sentinel: subprocess.Popen,
                marker: str) -> Context:
    root = make_folder(base / name)
    project = root / "project"
    copy_project(project, owner)
    world = make_folder(root / "world", 0o777)
    canary = world / "canary.txt"
    canary.write_text("canary: nothing may change this file\n")
    canary.chmod(0o666)
    out = make_folder(root / "out", owner=owner)
    home = make_folder(root / "home", owner=owner)
    # grade.py starts in a course folder, with a folder of its own on PYTHONPATH: each holds a classmate's notes
    grader_cwd, python_path = make_folder(root / "course", owner=owner), make_folder(root / "pylib", owner=owner)
    for folder in (grader_cwd, python_path):
        (folder / SECRET_FILE).write_text(f"private notes of a classmate, found in {folder.name}\n")
        (folder / SECRET_FILE).chmod(0o644)
    (home / ".bashrc").write_text("# the grading user's shell setup\n")
    if owner is not None:
        os.chown(home / ".bashrc", owner, owner)
    return Context(marker=marker, project=project, submissions=make_folder(root / "submissions", owner=owner),
                   out=out, home=home, world=world, canary=canary, gradebook_csv=out / "grades.csv",
                   known_solutions=(project / "solution.py", REPO / "solution.py"),
                   sentinel_pid=sentinel.pid, test_pid=os.getpid(), tcp_port=listeners.tcp_port,
                   udp_port=listeners.udp_port, abstract_name=listeners.abstract_name, grader_cwd=grader_cwd,
                   python_path=python_path)


def write_submissions(run: Run, order: list[tuple[str, Attack | None]], owner: int | None,
                      builders: dict[str, object] | None = None) -> None:
    """Write every submission of ``order`` (None: an honest copy of the reference notebook)."""
    ctx = run.ctx
    for name, attack in order:
        suffix = attack.suffix if attack else ".ipynb"
        run.paths[name] = ctx.submissions / f"{(attack.file_name if attack else '') or name}{suffix}"
    honest = [name for name, attack in order if attack is None]
    ctx.honest_submission = run.paths[honest[len(honest) // 2]] if honest else None
    for name, attack in order:
        path = run.paths[name]
        if attack is not None:
            attack.build(ctx, path)
            run.attacks[name] = attack
        elif builders and name in builders:
            builders[name](ctx, path)
            run.honest.append(name)
        else:
            shutil.copyfile(NOTEBOOK, path)
            run.honest.append(name)
        if owner is not None:
            os.chown(path, owner, owner)


def start_grader(run: Run, prefix: list[str], owner: int | None, json_path: Path, csv_path: Path,
                 task_timeout: float = TASK_TIMEOUT_S) -> subprocess.Popen:
    run.tmp = make_folder(run.ctx.project.parent / "tmp", owner=owner)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(run.ctx.home), "TMPDIR": str(run.tmp),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "EX4_ATTACK_RUN": run.token,
           "PYTHONPATH": f"{run.ctx.project}{os.pathsep}{run.ctx.python_path}"}
    command = [sys.executable, "-m", "instructor.grade", "--json", str(json_path), "--csv",
               str(csv_path), "--jobs", str(JOBS), "--task-timeout", str(task_timeout),
               *(str(run.paths[name]) for name in run.paths)]
    if prefix:
        command = [*prefix, "env", "-i", *(f"{k}={v}" for k, v in env.items()), *command]
    streams = run.ctx.project.parent
    # files, not pipes: a process that outlives grade.py and holds them must not hang the test
    with open(streams / "stdout.txt", "wb") as stdout, open(streams / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(command, cwd=run.ctx.grader_cwd, env=env, start_new_session=True,
                                   stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    process.started = time.monotonic()
    return process


def finish_grader(run: Run, process: subprocess.Popen, limit: float, json_path: Path, csv_path: Path) -> None:
    """Wait for grade.py (stopping it after ``limit`` s), then record what it left."""
    try:
        process.wait(timeout=max(1.0, limit - (time.monotonic() - process.started)))
    except subprocess.TimeoutExpired:
        run.timed_out = True
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.wait()
    run.seconds = time.monotonic() - process.started
    run.returncode = process.returncode
    streams = run.ctx.project.parent
    run.stdout, run.stderr = (streams / "stdout.txt").read_bytes(), (streams / "stderr.txt").read_bytes()
    read_gradebooks(run, json_path, csv_path)


def record_survivors(run: Run) -> None:
    time.sleep(SURVIVOR_GRACE_S)
    roots = (str(run.tmp),)
    run.survivors = marked_processes(run.token, roots)
    kill_marked(run.token, roots)


def grade_once(base: Path, name: str, order_of: callable, user: int | None, prefix: list[str],
               limit: float, udp: bool = True) -> Run:
    """Build the submissions of one run, grade them with grade.py and record everything to check."""
    marker = "x4k" + uuid.uuid4().hex[:8]
    listeners = Listeners(f"{name}-{marker}", udp=udp)
    sentinel = start_sentinel(user)
    try:
        ctx = new_context(base, name, user, listeners, sentinel, marker)
        run = Run(name, ctx, token=marker)
        write_submissions(run, order_of(), user)
        watched = {"project": ctx.project, "submissions": ctx.submissions, "home": ctx.home, "world": ctx.world,
                   "course": ctx.grader_cwd, "pylib": ctx.python_path}
        skips = {"home": HOME_CACHES}
        before = {label: snapshot(folder, skips.get(label, ())) for label, folder in watched.items()}
        json_path, csv_path = ctx.out / "grades.json", ctx.out / "grades.csv"
        process = start_grader(run, prefix, user, json_path, csv_path)
        try:
            finish_grader(run, process, limit, json_path, csv_path)
        finally:
            record_survivors(run)
        listeners.read(run)
        run.sentinel_alive = sentinel.poll() is None
        run.changed = {label: differences(before[label], snapshot(folder, skips.get(label, ())))
                       for label, folder in watched.items()}
        outputs = snapshot(ctx.out)
        unexpected = [f"{p} ({state})" for p, state in outputs.items()
                      if p not in ("grades.json", "grades.csv") or state.startswith("link")]
        run.changed["gradebook folder"] = [f"not a gradebook file: {u}" for u in unexpected]
        return run
    finally:
        stop(sentinel)
        listeners.close()


def interleave(attack_list: list[Attack], n_honest: int) -> list[tuple[str, Attack | None]]:
    """Honest copies at the start, spread through the attacks and at the end."""
    order: list[tuple[str, Attack | None]] = [(a.name, a) for a in attack_list]
    positions = [round(i * len(order) / (n_honest - 1)) for i in range(n_honest)]
    for index, position in reversed(list(enumerate(positions))):
        order.insert(position, (f"honest_{index + 1}", None))
    return order


# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def workspace():
    """A world-readable temporary folder for all runs of this module, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="ex4-attacks-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def root_run(workspace):
    """Every attack and four honest copies, graded in one run as the current user (root in CI)."""
    return grade_once(workspace, "root", lambda: interleave(list(CATALOGUE.values()), 4), None, [],
                      MAIN_RUN_LIMIT_S)


USER_ATTACKS = [a for a in CATALOGUE.values() if "user" in a.runs]


@pytest.fixture(scope="module")
def user_run(workspace):
    """A subset of the attacks and three honest copies, graded by an unprivileged user (uid 65534)."""
    if not IS_ROOT:
        pytest.skip(f"switching to an unprivileged user needs root; this test runs as uid {os.geteuid()}")
    stash = make_folder(workspace / "interpreter-mount", 0o755)
    prefix = as_user_prefix(NOBODY, stash)
    if not prefix:
        pytest.skip(f"this machine cannot run {sys.executable} as uid {NOBODY} (setpriv, or unshare for an "
                    f"interpreter below a folder only root may enter, is missing or refused)")
    return grade_once(workspace, "user", lambda: interleave(USER_ATTACKS, 3), NOBODY, prefix, SMALL_RUN_LIMIT_S,
                      udp=False)


RUNS = ["root", "user"]


def the_run(request, name: str) -> Run:
    return request.getfixturevalue(f"{name}_run")


def assert_ran(run: Run) -> None:
    """After a check of what the run left behind: it means something only if grading ran to the end."""
    problem = run.failure()
    assert not problem, f"grading did not run to the end, so not every attack was tried: {problem}"


def attack_cases(select=lambda attack: True):
    return [pytest.param(run, attack.name, id=f"{run}-{attack.name}")
            for run in RUNS for attack in CATALOGUE.values() if run in attack.runs and select(attack)]


# --------------------------------------------------------------------- the run itself


@pytest.mark.parametrize("run_name", RUNS)
def test_grader_finishes_with_status_0_and_writes_both_gradebooks(request, run_name):
    run = the_run(request, run_name)
    problem = run.failure()
    assert not problem, problem
    assert run.returncode == 0, f"grade.py exited with {run.returncode}: {run.stderr[-600:]!r}"
    entries = run.gradebook.get("submissions")
    assert isinstance(entries, list) and [e.get("path") for e in entries] == [str(p) for p in run.paths.values()], \
        "the JSON gradebook does not list every submission once, in the order given"
    assert run.csv_rows is not None, f"the CSV gradebook could not be read: {run.csv_problem}"
    assert len(run.csv_rows) == len(run.paths), f"{len(run.csv_rows)} CSV rows for {len(run.paths)} submissions"
    for row, entry in zip(run.csv_rows, entries):
        assert all(task in row for task in TASKS), f"the CSV has no column per task: {list(row)}"
        assert {t: int(row[t]) for t in TASKS} == {t: points(entry, t) for t in TASKS}, \
            f"CSV and JSON disagree for {entry['path']}"


@pytest.mark.parametrize("run_name, honest", [(r, f"honest_{i}") for r, n in (("root", 4), ("user", 3))
                                             for i in range(1, n + 1)])
def test_honest_copy_gets_full_points_and_no_review_flag(request, run_name, honest):
    entry = the_run(request, run_name).entry(honest)
    assert entry["points"] == FULL and all(points(entry, t) == POINTS[t] for t in TASKS), shown(entry)
    assert entry.get("review") == [], f"an honest copy of the reference is flagged: {entry.get('review')}"


@pytest.mark.parametrize("run_name, name", attack_cases(lambda a: a.task is not None))
def test_attacked_task_gets_at_most_its_safe_points(request, run_name, name):
    run, attack = the_run(request, run_name), CATALOGUE[name]
    entry = run.entry(name)
    assert points(entry, attack.task) <= attack.max_points(), \
        f"{name} ({attack.description}): task {attack.task} may get at most {attack.max_points()}\n{shown(entry)}"


@pytest.mark.parametrize("run_name, name", attack_cases(lambda a: a.task is not None and a.confined))
def test_other_tasks_of_an_attack_keep_full_points(request, run_name, name):
    run, attack = the_run(request, run_name), CATALOGUE[name]
    entry = run.entry(name)
    others = {t: points(entry, t) for t in TASKS if t != attack.task}
    assert others == {t: POINTS[t] for t in others}, \
        f"{name} ({attack.description}) attacks only {attack.task}\n{shown(entry)}"


def test_deep_but_valid_code_gets_full_points(root_run):
    entry = root_run.entry("deep_valid_expression")
    assert entry["points"] == FULL, shown(entry)


@pytest.mark.parametrize("name", [a.name for a in CATALOGUE.values() if a.task is None])
def test_malformed_file_gets_zero_with_a_reason(root_run, name):
    entry = root_run.entry(name)
    assert entry["points"] == 0, shown(entry)
    assert any(m.strip() for m in messages(entry)), f"{name}: 0 points without a reason\n{shown(entry)}"


@pytest.mark.parametrize("run_name, name", attack_cases(lambda a: bool(a.review)))
def test_attack_is_flagged_for_review(request, run_name, name):
    run, attack = the_run(request, run_name), CATALOGUE[name]
    review = run.entry(name).get("review")
    assert isinstance(review, list) and review, f"{name} ({attack.description}) is not flagged for review"
    assert any(isinstance(r, str) and any(w.lower() in r.lower() for w in attack.review)
               and re.search(r"line \d+", r) for r in review), \
        f"{name}: expected a flag naming one of {attack.review} and its line, got {review}"


@pytest.mark.parametrize("run_name", RUNS)
def test_no_process_of_the_run_survives(request, run_name):
    run = the_run(request, run_name)
    assert not run.survivors, (f"{len(run.survivors)} processes of the run were still alive after grade.py "
                               "exited (killed by the test):\n" + "\n".join(list(run.survivors.values())[:10]))
    assert_ran(run)


@pytest.mark.parametrize("run_name", RUNS)
def test_no_file_outside_the_gradebook_changes(request, run_name):
    run = the_run(request, run_name)
    changed = {label: found for label, found in run.changed.items() if found}
    assert not changed, "\n".join(f"{label}: {'; '.join(found[:8])}" for label, found in changed.items())
    assert_ran(run)


@pytest.mark.parametrize("run_name", RUNS)
def test_no_connection_or_datagram_reaches_the_test(request, run_name):
    run = the_run(request, run_name)
    reached = {"TCP connections": run.tcp_connections, "UDP datagrams": run.udp_datagrams or 0,
               "abstract unix socket connections": run.abstract_connections}
    assert not any(reached.values()), f"the test's listeners got {reached}"
    assert_ran(run)


@pytest.mark.parametrize("run_name", RUNS)
def test_no_task_can_kill_the_sentinel(request, run_name):
    run = the_run(request, run_name)
    assert run.sentinel_alive, "a task killed the sentinel process"
    assert_ran(run)


@pytest.mark.parametrize("run_name", RUNS)
def test_no_attack_reports_success(request, run_name):
    run = the_run(request, run_name)
    succeeded = {name: [m[:300] for m in messages(run.entry(name)) if SUCCESS_WORD in m] for name in run.attacks}
    succeeded = {name: found for name, found in succeeded.items() if found}
    assert not succeeded, "\n".join(f"{name}: {found}" for name, found in succeeded.items())


def all_strings(value, key=""):
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from all_strings(k, "key")
            yield from all_strings(v, k if isinstance(k, str) else key)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item, key)


def text_problems(text: str, limit: int | None) -> list[str]:
    found = []
    if CONTROL.search(text):
        found.append(f"control character {CONTROL.search(text).group()!r} in {text[:80]!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        found.append(f"lone surrogate in {text[:80]!r}")
    if limit is not None and len(text) > limit:
        found.append(f"{len(text)} characters (at most {limit}): {text[:80]!r}...")
    return found


@pytest.mark.parametrize("run_name", RUNS)
def test_gradebooks_and_terminal_output_are_clean_and_short(request, run_name):
    run = the_run(request, run_name)
    problem = run.failure()
    assert not problem, problem
    found = []
    for key, text in all_strings(run.gradebook):
        if key in ("path", "paths"):
            continue  # the files' exact paths, whatever they hold (JSON escapes them): entry() finds entries by it
        found += [f"JSON {key}: {p}" for p in text_problems(text, None if key == "id" else MESSAGE_LIMIT)]
    if run.csv_rows is None:
        found.append(f"CSV unreadable: {run.csv_problem}")
    for row in run.csv_rows or []:
        for column, cell in row.items():
            found += [f"CSV {column}: {p}" for p in text_problems(cell or "", CSV_CELL_LIMIT)]
    for stream, data in (("stdout", run.stdout), ("stderr", run.stderr)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            found.append(f"{stream} is not UTF-8: {exc}")
            continue
        for line in text.splitlines():
            found += [f"{stream}: {p}" for p in text_problems(line.replace("\t", " "), LINE_LIMIT)]
    assert not found, f"{len(found)} problems:\n" + "\n".join(found[:12])


def test_a_file_name_cannot_draw_a_row_in_the_terminal_table(root_run):
    assert_ran(root_run)
    forged = [line for line in root_run.stdout.decode("utf-8", "replace").splitlines() if line.startswith(FORGED_ROW)]
    assert not forged, f"a file name drew rows of its own in the table: {forged}"
    assert points(root_run.entry("newline_in_file_name"), "1a") == 0


def reference_lines() -> list[str]:
    """The lines of the reference's solution regions: what no message may quote."""
    source = (REPO / "solution.py").read_text()
    lines = {line.strip() for region in find_regions(source) for line in region.body.splitlines()}
    return sorted(line for line in lines if len(line) >= 16 and not line.startswith("#"))


def own_source(path: Path) -> str:
    text = path.read_text(errors="replace")
    if path.suffix != ".ipynb":
        return text
    try:
        return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in json.loads(text)["cells"] if c.get("cell_type") == "code")
    except (ValueError, KeyError, TypeError):
        return text


@pytest.mark.parametrize("run_name", RUNS)
def test_messages_never_quote_reference_code(request, run_name):
    run = the_run(request, run_name)
    quoted = []
    for name in run.attacks:
        own = own_source(run.paths[name])
        secret = [line for line in reference_lines() if line not in own]
        quoted += [f"{name}: {line!r} in {m[:200]!r}" for m in messages(run.entry(name)) for line in secret
                   if line in m]
    assert not quoted, "\n".join(quoted[:10])


def probe_report(run: Run, name: str = "probe") -> dict | None:
    """What the probe task said about itself: uid outside any user namespace, what it could see."""
    for message in messages(run.entry(name)):
        match = PROBE_PATTERN.search(message)
        if match:
            uid, mapping, sentinel, test = match.groups()
            outside = int(uid)
            parts = mapping.split("_")
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                inside, start, count = map(int, parts)
                if inside <= int(uid) < inside + count:
                    outside = start + int(uid) - inside
            return {"uid": outside, "sentinel": sentinel, "test": test}
    return None


@pytest.mark.parametrize("run_name", RUNS)
def test_task_cannot_see_processes_outside_its_sandbox(request, run_name):
    run = the_run(request, run_name)
    report = probe_report(run)
    if report is None:
        pytest.skip("the gradebook does not show the probe's exception text: nothing to judge")
    assert report["sentinel"] == report["test"] == "invisible", \
        f"the task process is not in a PID namespace of its own: it found the sentinel {report['sentinel']} " \
        f"and the test process {report['test']}"
    if run_name == "root":
        assert report["uid"] != 0, "the task process runs as root"


# --------------------------------------------------------------------- a planted gradebook link


# what a new submission reader may take to import its parsers on a busy two-core machine
READER_RESTART_ALLOWANCE_S = 5.0


def test_a_class_with_stalling_files_finishes_in_about_the_time_of_the_others(workspace):
    """Two honest copies alone, then beside a cell that stalls IPython and a file that stalls jupytext."""
    plain = grade_once(workspace, "plain", lambda: interleave([], 2), None, [], SMALL_RUN_LIMIT_S)
    stalls = [CATALOGUE["stall_magic_cell"], CATALOGUE["stall_cell_markers"]]
    stalled = grade_once(workspace, "stalled", lambda: interleave(stalls, 2), None, [], MAIN_RUN_LIMIT_S)
    for run in (plain, stalled):
        assert_ran(run)
        for name in run.honest:
            assert run.entry(name)["points"] == FULL, shown(run.entry(name))
    assert stalled.entry("stall_magic_cell")["points"] == FULL, shown(stalled.entry("stall_magic_cell"))
    markers = stalled.entry("stall_cell_markers")
    assert markers["points"] == 0 and any("took more than" in m for m in messages(markers)), shown(markers)
    # twice the submissions to grade, one file read until the extraction budget ends, and the reader that was
    # stopped there forked again (it imports nbformat and jupytext anew): no more
    assert stalled.seconds < 2 * plain.seconds + EXTRACTION_TIMEOUT_S + READER_RESTART_ALLOWANCE_S, \
        (plain.seconds, stalled.seconds)


def test_gradebook_path_that_is_a_link_is_refused(workspace):
    """--json names a link to a canary: the grader refuses (status 2, a message), the canary is unchanged.

    Decision: refuse rather than replace the link. A gradebook written to a
    place other than the one the instructor names would be lost silently;
    a refusal names the link, and the canary stays untouched either way.
    """
    root = make_folder(workspace / "link")
    submission = root / "honest.ipynb"
    shutil.copyfile(NOTEBOOK, submission)
    canary = root / "canary.txt"
    canary.write_text("canary\n")
    link = root / "grades.json"
    link.symlink_to(canary)
    result = subprocess.run([sys.executable, "-m", "instructor.grade", "--json", str(link), "--csv",
                             str(root / "grades.csv"), "--jobs", "1", str(submission)], cwd=REPO,
                            capture_output=True, timeout=SMALL_RUN_LIMIT_S, check=False)
    assert canary.read_text() == "canary\n", "the gradebook was written through the link into the canary"
    assert link.is_symlink() and os.readlink(link) == str(canary), "the link was changed"
    assert result.returncode == 2, f"exit status {result.returncode}, expected 2 (refused)"
    error = result.stderr.decode(errors="replace")
    assert "link" in error.lower() and "grades.json" in error, f"no clear message: {error[-400:]!r}"


# --------------------------------------------------------------------- two runs at the same time


@pytest.mark.skipif(not IS_ROOT, reason="task users of their own exist only when grading as root")
def test_two_runs_at_the_same_time_leave_each_other_alone(workspace):
    """Two grade.py runs at once, each with long-running honest tasks: neither stops the other's tasks."""
    slow = slow_honest(REFERENCE)
    probe = probe_attack(REFERENCE)
    runs, processes, sentinels, listeners = [], [], [], []
    order = [("probe", probe), ("slow_1", None), ("honest_1", None), ("slow_2", None), ("honest_2", None),
             ("honest_3", None)]
    try:
        for name in ("concurrent_a", "concurrent_b"):
            marker = "x4k" + uuid.uuid4().hex[:8]
            listeners.append(Listeners(f"{name}-{marker}", udp=False))
            sentinels.append(start_sentinel(None))
            run = Run(name, new_context(workspace, name, None, listeners[-1], sentinels[-1], marker), token=marker)
            write_submissions(run, order, None, builders={"slow_1": slow, "slow_2": slow})
            runs.append(run)
        processes = [start_grader(run, [], None, run.ctx.out / "grades.json", run.ctx.out / "grades.csv",
                                  task_timeout=15) for run in runs]
        for run, process in zip(runs, processes):
            finish_grader(run, process, SMALL_RUN_LIMIT_S, run.ctx.out / "grades.json", run.ctx.out / "grades.csv")
    finally:
        for run in runs:
            if run.tmp is not None:
                kill_marked(run.token, (str(run.tmp),))
        for sentinel in sentinels:
            stop(sentinel)
        for listener in listeners:
            listener.close()
    for run in runs:
        assert run.returncode == 0 and not run.failure(), f"{run.name}: {run.failure() or run.returncode}"
        for name in run.honest:
            entry = run.entry(name)
            assert entry["points"] == FULL, f"{run.name} {name}:\n{shown(entry)}"
    reports = [probe_report(run) for run in runs]
    if None not in reports:
        assert reports[0]["uid"] != reports[1]["uid"], \
            f"both runs gave their first task the same user id {reports[0]['uid']}"


# --------------------------------------------------------------------- os.kill(-1): last, and only when safe


@pytest.mark.skipif(not IS_ROOT, reason="os.kill(-1) is only tried when grading as root")
def test_kill_minus_one_stays_in_the_sandbox(workspace, root_run):
    """A task sends SIGKILL to every process it may signal: only its own sandbox dies.

    Tried only when the main run showed the task processes unprivileged and
    in PID namespaces of their own (the probe) and the sentinel alive: else
    kill(-1) could reach processes of other grading runs on this machine.
    """
    report = probe_report(root_run) if not root_run.failure() else None
    if not (report and report["sentinel"] == report["test"] == "invisible" and report["uid"] != 0
            and root_run.sentinel_alive):
        pytest.skip("the main run did not show tasks confined to a PID namespace of their own as another user "
                    f"(probe: {report}; "
                    f"{root_run.failure() or 'see test_task_cannot_see_processes_outside_its_sandbox'}):"
                    " os.kill(-1) could reach other processes")
    attack = kill_all_attack(REFERENCE)
    run = grade_once(workspace, "kill_all", lambda: [("honest_1", None), (attack.name, attack), ("honest_2", None)],
                     None, [], SMALL_RUN_LIMIT_S)
    assert run.sentinel_alive, "os.kill(-1) in a task killed a process outside the sandbox"
    assert run.returncode == 0 and not run.failure(), run.failure() or f"exit status {run.returncode}"
    for name in run.honest:
        assert run.entry(name)["points"] == FULL, shown(run.entry(name))
    entry = run.entry(attack.name)
    assert all(points(entry, t) == POINTS[t] for t in TASKS if t != attack.task), shown(entry)
    assert not run.survivors, "\n".join(run.survivors.values())
