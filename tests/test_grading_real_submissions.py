"""The grader is fair to correct submissions in the shapes students really hand in.

Every shape of ``tests/submission_shapes.py`` (a plot in the 2b cell, a global
``device``, helpers and constants in cells of their own, import aliases,
magics, a wrong first attempt redefined later, Colab-only lines, outputs,
notebooks saved by Colab or VS Code, jupytext and Colab ``.py`` exports, a
plain module, evaluation inside the 2b cell, a re-created train_loader, and
all of it at once) is a correct answer to every task -- each test of
``test_shape_is_correct_code`` proves that by running the file on toy data --
and must get 100/100. Mistakes of ``test_grading_variants.py`` put into
these shapes must cost exactly what they cost there, and only in their task.

Then two deployments: as root with a module the grading process imports from a
private (0o700) folder, and ``grade.py`` run by an unprivileged user.

Marked slow: one grading run of ~26 files (about a minute on two cores),
the correctness runs (about a second per shape), two smaller grading runs.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from submission_shapes import (
    SHAPES,
    Shape,
    as_ipynb,
    check_submission,
    plots_with_private_module,
    reference_notebook,
    write,
)

from instructor.grading.core import grade_paths
from instructor.grading.judge import TASK_POINTS
from instructor.grading.sandbox import Limits
from instructor.shipped import PROJECT_ROOT
from instructor.tasks import TASKS

pytestmark = pytest.mark.slow

TASK_TIMEOUT_S = 20.0
GRADING_JOBS = 2
FULL_POINTS = sum(TASK_POINTS.values())

# (shape, mistake of test_grading_variants.variants()): the mistake put into a real shape
MISTAKES_IN_SHAPES = (
    ("device_global", "3a_percentage"),
    ("device_global", "2a_no_zero_grad"),
    ("import_aliases", "1a_sigmoid"),
    ("magics", "2b_wrong_lr"),
    ("plot_in_2b", "2b_one_shared_optimizer"),
    ("jupytext_percent", "1b_sequential_without_flatten"),
    ("colab_download_py", "3b_precision"),
    ("saved_by_vscode", "2a_loss_tensors"),
)


def mistake_name(shape: str, mistake: str) -> str:
    return f"{shape}__{mistake}"


def variant_cases() -> dict:
    from test_grading_variants import variants

    return variants()


def describe(grade) -> str:
    return "\n".join(f"  {task} {grade.tasks[task].points}/{grade.tasks[task].max_points}: {message}"
                     for task in TASKS for message in grade.tasks[task].messages) or "  (no messages)"


@pytest.fixture(scope="module")
def reference():
    return reference_notebook()


@pytest.fixture(scope="module")
def shape_files(tmp_path_factory, reference) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("real_submissions")
    return {name: write(shape, folder, reference=reference) for name, shape in SHAPES.items()}


@pytest.fixture(scope="module")
def mistake_files(tmp_path_factory, reference) -> dict[str, tuple[Path, dict[str, int]]]:
    """Each mistake written into its shape, with the points every task must get."""
    folder = tmp_path_factory.mktemp("mistakes_in_real_shapes")
    cases = variant_cases()
    files = {}
    for shape, mistake in MISTAKES_IN_SHAPES:
        edits, points = cases[mistake]
        name = mistake_name(shape, mistake)
        files[name] = (write(SHAPES[shape], folder, name, tuple(edits), reference), {**TASK_POINTS, **points})
    return files


@pytest.fixture(scope="module")
def graded(shape_files, mistake_files) -> dict:
    """Grades of every shape and every mistake in a shape, by name, from one grading run."""
    paths = {**shape_files, **{name: path for name, (path, _) in mistake_files.items()}}
    grades = grade_paths([str(p) for p in paths.values()], Limits(task_timeout_s=TASK_TIMEOUT_S),
                         jobs=GRADING_JOBS)
    return dict(zip(paths, grades, strict=True))


# --------------------------------------------------------------------- the shapes are correct code


@pytest.mark.parametrize("name", SHAPES)
def test_shape_is_correct_code(shape_files, name):
    """Run on toy data, the file answers every task as the reference does (self-checks, solution.py)."""
    problems = check_submission(shape_files[name], as_module=SHAPES[name].module_text is not None)
    assert not problems, f"{name} ({SHAPES[name].description}) is not a correct submission:\n" + "\n".join(problems)


@pytest.mark.parametrize("shape, mistake", MISTAKES_IN_SHAPES)
def test_correctness_check_catches_the_mistakes(mistake_files, shape, mistake):
    """The check that proves the shapes correct is not blind: it finds each mistake, in its task."""
    path, points = mistake_files[mistake_name(shape, mistake)]
    [task] = [t for t in TASKS if points[t] < TASK_POINTS[t]]
    try:
        problems = check_submission(path)
    except Exception as exc:  # noqa: BLE001 -- e.g. loss tensors break the notebook's plot of the losses
        problems = [f"{task}: the notebook stops with {type(exc).__name__}: {exc}"]
    assert any(p.startswith(task) for p in problems), f"{mistake} in {shape} went unnoticed: {problems}"


@pytest.mark.parametrize("name", [n for n, s in SHAPES.items() if s.module_text is None])
def test_notebook_shapes_are_valid_files(shape_files, name):
    """Notebooks validate against nbformat's schema; scripts convert back to notebooks with jupytext."""
    path = shape_files[name]
    if path.suffix == ".ipynb":
        notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        nbformat.validate(notebook)
    else:
        import jupytext

        notebook = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py")
        assert any(c.cell_type == "code" and "def compute_accuracy(" in c.source for c in notebook.cells)


def code_of(notebook: nbformat.NotebookNode) -> tuple[str, ...]:
    return tuple(c.source for c in notebook.cells if c.cell_type == "code")


def test_shapes_are_new_to_the_variants(reference):
    """No shape repeats the reference or a variant of test_grading_variants.py: each tests something else.

    Variants are plain .ipynb files; a shape written in another format (Colab
    or VS Code JSON, a script) differs from all of them by its format alone.
    """
    cases = variant_cases()
    assert not set(SHAPES) & set(cases)
    variant_code = {}
    for name, (edits, _) in cases.items():
        notebook = copy.deepcopy(reference)
        for edit in edits:
            edit(notebook)
        variant_code[code_of(notebook)] = name
    for name, shape in SHAPES.items():
        if shape.module_text is not None or shape.write is not as_ipynb:
            continue
        notebook = copy.deepcopy(reference)
        for edit in shape.edits:
            edit(notebook)
        assert code_of(notebook) != code_of(reference), f"{name} does not change the reference's code"
        assert code_of(notebook) not in variant_code, \
            f"{name} has the code of the variant {variant_code[code_of(notebook)]}"


# --------------------------------------------------------------------- the grader on them


@pytest.mark.parametrize("name", SHAPES)
def test_correct_submission_gets_full_points(graded, name):
    grade = graded[name]
    assert (grade.points, grade.max_points) == (FULL_POINTS, FULL_POINTS), (
        f"{name} ({SHAPES[name].description}): {grade.points}/{grade.max_points}\n{describe(grade)}")


@pytest.mark.parametrize("shape, mistake", MISTAKES_IN_SHAPES)
def test_mistake_in_a_real_shape_costs_only_its_task(graded, mistake_files, shape, mistake):
    """The mistake loses what it loses in test_grading_variants.py; every other task keeps full points."""
    name = mistake_name(shape, mistake)
    grade = graded[name]
    got = {task: grade.tasks[task].points for task in TASKS}
    assert got == mistake_files[name][1], f"{mistake} in the shape {shape}: points {got}\n{describe(grade)}"


# --------------------------------------------------------------------- deployments

COURSE_PLOTS = '''"""Plots for the course's exercise sheets: installed on the grading machine, not part of a sheet."""
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def plot_losses(losses: list[list[float]]) -> Figure:
    """One curve per list of losses, in one figure; returns the Figure."""
    fig, ax = plt.subplots(figsize=(10, 6))
    for index, model_losses in enumerate(losses):
        ax.plot(model_losses, label=f"Model {index + 1}")
    ax.set_xlabel("Iteration")
    ax.set_ylabel("Loss")
    ax.legend()
    return fig
'''


def test_root_grading_gives_tasks_the_modules_of_a_private_dir(tmp_path, monkeypatch):
    """As root, a module dir of mode 0o700 on the grading process's sys.path: the 2b cell's import works.

    The grading process (this one) can import ``course_plots``; a correct
    submission whose 2b cell plots with it must get full points.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root: the grader changes the task processes' uid only when it runs as root")
    private = tmp_path / "tmp" / "private_env"
    private.mkdir(parents=True)
    private.chmod(0o700)
    (private / "course_plots.py").write_text(COURSE_PLOTS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(private))
    assert private.stat().st_uid == 0 and private.stat().st_mode & 0o777 == 0o700
    assert importlib.util.find_spec("course_plots") is not None, "the grading process cannot import course_plots"
    shape = Shape("plots_with_private_module", (plots_with_private_module,))
    path = write(shape, tmp_path)
    problems = check_submission(path)
    assert not problems, "the submission itself is wrong:\n" + "\n".join(problems)
    [grade] = grade_paths([str(path)], Limits(task_timeout_s=TASK_TIMEOUT_S), jobs=1)
    assert (grade.points, grade.max_points) == (FULL_POINTS, FULL_POINTS), (
        f"{path.name} with course_plots in {private} (0o700, root): {grade.points}/{grade.max_points}\n"
        f"{describe(grade)}")


NOBODY = 65534
UNPRIVILEGED_SHAPES = ("magics", "plot_in_2b", "saved_by_colab", "plain_module")
MODULES_GRADING_NEEDS = "import torch, torchvision, matplotlib, tqdm, numpy"


def as_nobody(setpriv: str, home: Path, *command: str) -> list[str]:
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME={home}", "LANG=C.UTF-8", *command]


def runs_as_nobody(setpriv: str, home: Path, python: str) -> tuple[bool, str]:
    result = subprocess.run(as_nobody(setpriv, home, python, "-I", "-c", MODULES_GRADING_NEEDS),
                            capture_output=True, text=True, timeout=120)
    return result.returncode == 0, (result.stderr.strip().splitlines() or [""])[-1]


def interpreter_for_nobody(setpriv: str, home: Path, workspace: Path) -> tuple[str | None, str]:
    """A Python with this project's packages that uid 65534 can run, or None and why there is none.

    First this environment's own interpreter. When uid 65534 cannot run it (a
    venv's base interpreter under /root, mode 0o700, as with pyenv), a venv
    made in ``workspace`` around the system's python of the same major.minor
    whose site-packages are this environment's (a .pth file).
    """
    ok, why = runs_as_nobody(setpriv, home, sys.executable)
    if ok:
        return sys.executable, ""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system_python = shutil.which(f"python{version}", path="/usr/local/bin:/usr/bin:/bin")
    site_packages = [p for p in sys.path if p.startswith(sys.prefix) and p.endswith("site-packages")]
    if system_python is None or not site_packages:
        return None, (f"uid {NOBODY} cannot run {sys.executable} ({why}) and there is no system "
                      f"python{version} to use this environment's packages with")
    venv = workspace / "venv"
    packages = venv / "lib" / f"python{version}" / "site-packages"
    packages.mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(system_python)
    (venv / "pyvenv.cfg").write_text(f"home = {Path(system_python).parent}\ninclude-system-site-packages = false\n"
                                     f"version = {version}\n", encoding="utf-8")
    (packages / "project_environment.pth").write_text("\n".join(site_packages) + "\n", encoding="utf-8")
    for folder in (venv, venv / "bin", venv / "lib", packages.parent, packages):
        folder.chmod(0o755)
    python = str(venv / "bin" / "python")
    ok, why_overlay = runs_as_nobody(setpriv, home, python)
    if ok:
        return python, ""
    return None, (f"uid {NOBODY} cannot run {sys.executable} ({why}) nor {system_python} with this "
                  f"environment's packages ({why_overlay})")


def project_files() -> list[str] | None:
    """The project's files as git sees them: tracked, and new ones not ignored; None outside git."""
    try:
        listed = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted({name for name in listed.decode().split("\0") if name})


def copy_readable(files: list[str], target: Path) -> None:
    for name in files:
        source = PROJECT_ROOT / name
        if not source.is_file():  # deleted in the working tree, not yet in git
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    for folder, _, names in os.walk(target):
        os.chmod(folder, 0o755)
        for name in names:
            os.chmod(os.path.join(folder, name), 0o644)


@pytest.fixture
def world_readable_workspace():
    """A folder under /tmp that every user can enter (pytest's tmp_path is private to root)."""
    workspace = Path(tempfile.mkdtemp(prefix="ex4-unprivileged-"))
    workspace.chmod(0o755)
    yield workspace
    shutil.rmtree(workspace, ignore_errors=True)


def test_grade_py_as_an_unprivileged_user(shape_files, world_readable_workspace):
    """grade.py run by uid 65534 (setpriv, env -i) on a readable copy of the project: full points."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run grade.py as uid 65534 with setpriv")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    files = project_files()
    if files is None:
        pytest.skip("the project is not a git checkout: no list of its files to copy")
    workspace = world_readable_workspace
    project, submissions = workspace / "project", workspace / "submissions"
    home, out = workspace / "home", workspace / "out"
    copy_readable(files, project)
    submissions.mkdir(mode=0o755)
    for name in UNPRIVILEGED_SHAPES:
        shutil.copyfile(shape_files[name], submissions / shape_files[name].name)
        (submissions / shape_files[name].name).chmod(0o644)
    for folder in (home, out):
        folder.mkdir()
        os.chown(folder, NOBODY, NOBODY)
    python, why = interpreter_for_nobody(setpriv, home, workspace)
    if python is None:
        pytest.skip(why)
    gradebook = out / "gradebook.json"
    command = as_nobody(setpriv, home, python, "-m", "instructor.grade", "--json", str(gradebook),
                        "--jobs", str(GRADING_JOBS), "--task-timeout", str(TASK_TIMEOUT_S),
                        *sorted(str(p) for p in submissions.iterdir()))
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"grade.py failed as uid {NOBODY} ({python}):\n{result.stdout}\n{result.stderr}"
    entries = json.loads(gradebook.read_text(encoding="utf-8"))["submissions"]
    assert len(entries) == len(UNPRIVILEGED_SHAPES)
    lost = {entry["path"]: {task: g["messages"] for task, g in entry["tasks"].items() if g["points"] < g["max_points"]}
            for entry in entries if (entry["points"], entry["max_points"]) != (FULL_POINTS, FULL_POINTS)}
    assert not lost, f"as uid {NOBODY} ({python}), points were lost:\n{json.dumps(lost, indent=1)}\n{result.stdout}"
