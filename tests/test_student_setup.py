"""What a student installs and how the notebook finds its helpers anywhere (issue: students anywhere).

The bundle's requirements give torch/torchvision as lowest versions, the student README says how to
install the CPU-only build and that Colab needs nothing; the notebook's first code cell unpacks
missing helpers from the bundle's zip. The slow test runs the released notebook, filled with the
reference answers, in a folder holding only the notebook and the zip (the data comes from
EX4_MNIST_DIR) and expects every self-check to say "Well done".
"""
from __future__ import annotations

import ast
import os
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from ex4 import environment
from ex4.checking import WELL_DONE
from instructor import release, release_stubs
from instructor.tasks import TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_NAME = "student"
SETUP_FUNCTION = "unpack_missing_helpers"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("release") / BUNDLE_NAME
    release.build_release(out_dir)
    return out_dir


def requirement_lines(text: str) -> dict[str, str]:
    """package -> its requirement line, comments left out."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {re.split(r"[<>=!~]", line, maxsplit=1)[0]: line for line in lines}


# ----------------------------------------------------------------------------- install
def test_the_bundle_asks_for_the_lowest_versions_the_project_pins_exactly(bundle):
    student = requirement_lines((bundle / "requirements.txt").read_text(encoding="utf-8"))
    project = requirement_lines((PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8"))
    for package, minimum in environment.MINIMUM_VERSIONS.items():
        assert student[package] == f"{package}>={minimum}"
        assert project[package].startswith(f"{package}=="), "the course machines keep the exact pin"
    assert not set(student) & set(release.INSTRUCTOR_ONLY_REQUIREMENTS)
    assert {name: line for name, line in project.items()
            if name not in environment.MINIMUM_VERSIONS and name not in release.INSTRUCTOR_ONLY_REQUIREMENTS} == {
        name: line for name, line in student.items() if name not in environment.MINIMUM_VERSIONS}
    assert "==" not in (bundle / "requirements.txt").read_text(encoding="utf-8")


def test_the_student_readme_states_the_checked_versions_the_cpu_build_and_colab(bundle):
    readme = " ".join((bundle / "README.md").read_text(encoding="utf-8").split())
    python = ".".join(map(str, environment.MINIMUM_PYTHON))
    versions = environment.MINIMUM_VERSIONS
    assert (f"Python {python} or newer with torch {versions['torch']} and torchvision "
            f"{versions['torchvision']} or newer") in readme
    assert f"pip install torch torchvision --index-url {environment.CPU_INDEX_URL}" in readme
    assert "Colab has PyTorch installed: nothing to install" in readme


def test_the_notebook_names_the_versions_its_first_cell_checks():
    notebook = nbformat.read(PROJECT_ROOT / release.NOTEBOOK_NAME, as_version=4)
    introduction = " ".join(notebook.cells[0].source.split())
    python = ".".join(map(str, environment.MINIMUM_PYTHON))
    versions = environment.MINIMUM_VERSIONS
    assert (f"You need Python {python} or newer with torch {versions['torch']} and torchvision "
            f"{versions['torchvision']} or newer") in introduction
    assert "PyTorch 2.X" not in introduction


# ----------------------------------------------------------------------------- the first code cell
def first_code_cell(notebook_path: Path) -> str:
    notebook = nbformat.read(notebook_path, as_version=4)
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code")


def unpack_function(notebook_path: Path = PROJECT_ROOT / release.NOTEBOOK_NAME):
    """The first code cell's unpacking function, defined as the cell defines it (imports and defs only)."""
    tree = ast.parse(first_code_cell(notebook_path))
    tree.body = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))
                 and not (isinstance(node, ast.ImportFrom) and node.module == "ex4.environment")]
    namespace: dict = {}
    exec(compile(tree, "<first cell>", "exec"), namespace)
    return namespace[SETUP_FUNCTION]


def test_the_first_code_cell_unpacks_then_checks_the_versions():
    statements = ast.parse(first_code_cell(PROJECT_ROOT / release.NOTEBOOK_NAME)).body
    calls = [ast.unparse(node.value.func) for node in statements
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    assert calls == [SETUP_FUNCTION, "check_versions"]


@pytest.fixture()
def zip_path(bundle) -> Path:
    return bundle.with_name(BUNDLE_NAME + ".zip")


def helper_files(zip_path: Path) -> dict[str, bytes]:
    """The helpers of the zip (utils.py and ex4/...) by their path next to the notebook."""
    with zipfile.ZipFile(zip_path) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()
                if name.split("/", 1)[1] == "utils.py" or name.split("/", 1)[1].startswith("ex4/")}


def folder_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts}


def test_missing_helpers_are_unpacked_from_the_zip_in_the_folder(tmp_path, zip_path, monkeypatch, capsys):
    (tmp_path / zip_path.name).write_bytes(zip_path.read_bytes())
    (tmp_path / "other.zip").write_bytes(b"not a zip")
    monkeypatch.chdir(tmp_path)
    unpack_function()((tmp_path,))
    unpacked = {name: data for name, data in folder_files(tmp_path).items() if not name.endswith(".zip")}
    assert unpacked == helper_files(zip_path)
    assert capsys.readouterr().out == ""


def test_a_students_own_file_is_never_overwritten(tmp_path, zip_path, monkeypatch):
    (tmp_path / zip_path.name).write_bytes(zip_path.read_bytes())
    (tmp_path / "utils.py").write_text("# my own utils\n")
    monkeypatch.chdir(tmp_path)
    unpack_function()((tmp_path,))
    assert (tmp_path / "utils.py").read_text() == "# my own utils\n"
    assert (tmp_path / "ex4" / "self_checks.py").read_bytes() == helper_files(zip_path)["ex4/self_checks.py"]


def test_nothing_happens_when_the_helpers_are_there(tmp_path, zip_path, monkeypatch, capsys):
    (tmp_path / zip_path.name).write_bytes(zip_path.read_bytes())
    (tmp_path / "ex4").mkdir()
    (tmp_path / "ex4" / "self_checks.py").write_text("# given\n")
    (tmp_path / "utils.py").write_text("# given\n")
    monkeypatch.chdir(tmp_path)
    unpack_function()((tmp_path,))
    assert set(folder_files(tmp_path)) == {zip_path.name, "utils.py", "ex4/self_checks.py"}
    assert capsys.readouterr().out == ""


def test_without_a_zip_one_message_says_what_to_upload(tmp_path, monkeypatch):
    (tmp_path / "unrelated.zip").write_bytes(b"PK not really")
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("holiday/utils.py", "# not the exercise\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        unpack_function()((tmp_path, tmp_path / "missing"))
    message = str(error.value)
    assert "utils.py and ex4/" in message and "Upload the zip file of this exercise, unchanged" in message
    assert str(tmp_path) in message
    assert folder_files(tmp_path).keys() == {"unrelated.zip", "photos.zip"}


# ----------------------------------------------------------------------------- the whole student journey
# a shorter run: the test trains on the first samples only (the self-checks use synthetic data)
N_TRAIN_SAMPLES = 3200
N_TEST_SAMPLES = 1000
CELL_TIMEOUT_S = 600
LOADER_LINES = {
    "train_loader = DataLoader(train_set,":
        f"train_loader = DataLoader(torch.utils.data.Subset(train_set, range({N_TRAIN_SAMPLES})),",
    "test_loader = DataLoader(test_set,":
        f"test_loader = DataLoader(torch.utils.data.Subset(test_set, range({N_TEST_SAMPLES})),",
}


def filled_student_notebook(bundle: Path) -> nbformat.NotebookNode:
    """The released notebook with every stub filled with the reference region, on fewer samples."""
    student = nbformat.read(bundle / release.NOTEBOOK_NAME, as_version=4)
    filled = release_stubs.fill_stubs(student, (PROJECT_ROOT / release.SOLUTION_NAME).read_text(encoding="utf-8"))
    for old, new in LOADER_LINES.items():
        cells = [cell for cell in filled.cells if cell.cell_type == "code" and old in cell.source]
        assert len(cells) == 1, old
        cells[0].source = cells[0].source.replace(old, new)
    return filled


@pytest.mark.slow
def test_the_filled_release_runs_with_only_the_notebook_and_the_zip(bundle, zip_path, tmp_path, monkeypatch):
    """Release, fill, execute (~2 min), self-checks, grade: the helpers come from the zip, all well done, 100 points."""
    nbclient = pytest.importorskip("nbclient")
    mnist = os.environ.get("EX4_MNIST_DIR")
    if not mnist:
        pytest.skip("set EX4_MNIST_DIR to a folder with the MNIST files")
    folder = tmp_path / "colab"
    folder.mkdir()
    (folder / zip_path.name).write_bytes(zip_path.read_bytes())
    notebook = filled_student_notebook(bundle)
    nbformat.write(notebook, folder / release.NOTEBOOK_NAME)
    monkeypatch.setenv("EX4_MNIST_DIR", mnist)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()

    outputs = ["".join(output.get("text", "") for output in cell.outputs)
               for cell in notebook.cells if cell.cell_type == "code"]
    verdicts = [text for text in outputs if "self-check" in text]
    assert len(verdicts) == len(TASKS) and all(text.rstrip().endswith(WELL_DONE) for text in verdicts), verdicts
    assert notebook.cells[1].outputs == [], "the setup cell says nothing when it unpacked the helpers"
    assert folder_files(folder).keys() >= helper_files(zip_path).keys()

    # and the grader gives the executed notebook full points
    from instructor.grading.core import grade_paths

    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    (grade,) = grade_paths([str(executed)])
    assert grade.points == grade.max_points == 100, grade
