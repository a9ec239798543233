"""The student release: contents, stubs, no answers, determinism, refusals, round trip."""
from __future__ import annotations

import ast
import copy
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from instructor import release, release_guard, release_stubs
from instructor.shipped import STUDENT_CODE
from instructor.solution_regions import find_regions
from instructor.tasks import TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_PATH = PROJECT_ROOT / release.NOTEBOOK_NAME
SOLUTION_PATH = PROJECT_ROOT / release.SOLUTION_NAME
BUNDLE_NAME = "student"
EXPECTED_BUNDLE_FILES = {
    release.MARKER_NAME,
    "Ex4_Optimization2.ipynb",
    "README.md",
    "data/README.md",
    "requirements.txt",
    "utils.py",
    *(path.relative_to(PROJECT_ROOT).as_posix() for path in (PROJECT_ROOT / "ex4").rglob("*.py")),
}
FORBIDDEN_NAMES = ("solution.py", "solution_regions.py", "grade.py", "grading", "tests", "instructor",
                   "conftest.py", "release.py", "replay_2b.py")
INSTRUCTOR_BLOCK_LINES = 6  # the fenced "TODO: Remove this line" block and a blank line


@pytest.fixture(scope="module")
def reference() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_PATH, as_version=nbformat.NO_CONVERT)


@pytest.fixture(scope="module")
def solution_source() -> str:
    return SOLUTION_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("release") / BUNDLE_NAME
    assert release.main([str(out_dir)]) == 0
    return out_dir


@pytest.fixture(scope="module")
def student(bundle) -> nbformat.NotebookNode:
    return nbformat.read(bundle / release.NOTEBOOK_NAME, as_version=nbformat.NO_CONVERT)


def bundle_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def zip_files(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_bundle_holds_exactly_the_student_files(bundle):
    assert set(bundle_files(bundle)) == EXPECTED_BUNDLE_FILES


def test_zip_holds_the_bundle_under_its_folder_name(bundle):
    zipped = zip_files(bundle.with_name(BUNDLE_NAME + ".zip"))
    assert list(zipped) == sorted(zipped)
    with zipfile.ZipFile(bundle.with_name(BUNDLE_NAME + ".zip")) as archive:
        # the same timestamp on every entry, whenever the release ran
        assert {info.date_time for info in archive.infolist()} == {release.ZIP_DATE_TIME}
    assert zipped == {f"{BUNDLE_NAME}/{name}": data for name, data in bundle_files(bundle).items()
                      if name != release.MARKER_NAME}


def test_zip_leaves_the_marker_file_out_but_is_recognised_as_a_bundle(bundle):
    zip_path = bundle.with_name(BUNDLE_NAME + ".zip")
    assert not [name for name in zip_files(zip_path) if name.endswith(release.MARKER_NAME)]
    assert (bundle / release.MARKER_NAME).is_file()
    # a second release may replace the zip because the zip says it is one
    assert release._zip_is_bundle(zip_path, BUNDLE_NAME)


@pytest.mark.parametrize("forbidden", FORBIDDEN_NAMES)
def test_bundle_holds_no_instructor_file(bundle, forbidden):
    names = set(bundle_files(bundle)) | set(zip_files(bundle.with_name(BUNDLE_NAME + ".zip")))
    assert not [name for name in names if forbidden in name.split("/")]


def test_answer_lines_cover_every_task(reference, solution_source):
    """The leak scan below is only as good as its list of answer lines."""
    answers = release_guard.answer_lines(solution_source, reference)
    for region in find_regions(solution_source):
        region_lines = {line.strip() for line in region.body.splitlines()}
        assert region_lines & answers, f"no answer line of task {region.task} is scanned for"


def test_no_reference_answer_line_anywhere_in_the_bundle(bundle, reference, solution_source, tmp_path):
    """Every line of every file, and of every string in the notebook's JSON, in the folder and the zip."""
    answers = release_guard.answer_lines(solution_source, reference)
    with zipfile.ZipFile(bundle.with_name(BUNDLE_NAME + ".zip")) as archive:
        archive.extractall(tmp_path)
    assert release_guard.find_leaks(bundle, answers) == []
    assert release_guard.find_leaks(tmp_path / BUNDLE_NAME, answers) == []


def test_the_leak_scan_finds_an_answer_line(tmp_path, reference, solution_source):
    answers = release_guard.answer_lines(solution_source, reference)
    (tmp_path / "notes.py").write_text("x = 1\n    " + sorted(answers)[0] + "\n")
    assert release_guard.find_leaks(tmp_path, answers) == [f"notes.py: {sorted(answers)[0]}"]


def test_every_region_is_a_stub(student, solution_source):
    expected_count = len(find_regions(solution_source))
    regions = [(index, region, release_stubs.inside_function(cell.source, region.begin_line, f"cell {index}"))
               for index, cell in enumerate(student.cells) if cell.cell_type == "code"
               for region in find_regions(cell.source)]
    assert len(regions) == expected_count
    for index, region, in_function in regions:
        body = region.body.splitlines()
        assert f"# TODO: Task {region.task} - write your code here" in region.body, f"cell {index}"
        statements = ast.parse("\n".join(line.strip() for line in body)).body
        if in_function:
            assert [type(statement) for statement in statements] == [ast.Raise], f"cell {index}"
            assert "NotImplementedError" in body[-1]
        else:
            assert statements and all(isinstance(statement, ast.Assign)
                                      and isinstance(statement.value, ast.Constant)
                                      and statement.value.value is None
                                      for statement in statements), f"cell {index}"


@pytest.mark.parametrize("body, expected", [
    ("model1 = A()\nmodel2, (model3, *rest) = f()\nmodel1 = g()", ["model1", "model2", "model3", "rest"]),
    ("optimizers = []\nfor i in range(3):\n    inner = i\nlosses: list = []", ["optimizers", "losses"]),
])
def test_top_level_stub_names_come_from_the_region(body, expected):
    assert release_stubs.top_level_assigned_names(body) == expected


def test_top_level_stubs_assign_none_to_the_reference_names(student):
    """Regions outside functions (1b at the top level, 2b in the given loop over the models)."""
    stub_names = {region.task: release_stubs.top_level_assigned_names(region.body)
                  for cell in student.cells if cell.cell_type == "code"
                  for region in find_regions(cell.source)
                  if not release_stubs.inside_function(cell.source, region.begin_line, "cell")}
    assert stub_names == {"1b": ["model1", "model2", "model3"], "2b": ["optimizer", "model_losses"]}


def test_outputs_counts_and_metadata_are_cleared(student):
    for cell in student.cells:
        assert cell.metadata == {}
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert set(student.metadata) == {"kernelspec", "language_info"}


def test_instructor_lines_are_removed(reference, student):
    for index, (before, after) in enumerate(zip(reference.cells, student.cells)):
        if "solution import" in before.source:
            assert "solution" not in after.source
            assert (len(before.source.splitlines()) - len(after.source.splitlines())
                    == INSTRUCTOR_BLOCK_LINES), f"cell {index}"
            assert after.source == release_stubs.strip_instructor_lines(before.source)
            assert "from ex4.self_checks import *" in after.source


def test_student_requirements_drop_the_test_tools(bundle):
    requirements = (bundle / "requirements.txt").read_text()
    names = {line.split("=")[0].split(">")[0].strip() for line in requirements.splitlines()
             if line and not line.startswith("#")}
    assert {"torch", "torchvision", "jupyter"} <= names
    assert not names & set(release.INSTRUCTOR_ONLY_REQUIREMENTS)


def test_round_trip_gives_the_reference_code_back(reference, solution_source):
    """fill(release(reference)) has the reference's cells, minus the instructor lines."""
    filled = release_stubs.fill_stubs(release_stubs.release_notebook(reference, solution_source), solution_source)
    assert [cell.cell_type for cell in filled.cells] == [cell.cell_type for cell in reference.cells]
    for index, (want, got) in enumerate(zip(reference.cells, filled.cells)):
        expected = (release_stubs.strip_instructor_lines(want.source) if want.cell_type == "code"
                    else want.source)
        assert got.source == expected, f"cell {index}"


def test_round_trip_restores_every_region(reference, solution_source):
    released = release_stubs.release_notebook(reference, solution_source)
    filled = release_stubs.fill_stubs(released, solution_source)
    changed = [index for index, (stub, full) in enumerate(zip(released.cells, filled.cells))
               if stub.source != full.source]
    with_regions = [index for index, cell in enumerate(reference.cells)
                    if cell.cell_type == "code" and find_regions(cell.source)]
    assert changed == with_regions


def test_release_is_byte_identical_when_run_twice(tmp_path, bundle):
    first, second = tmp_path / "a" / BUNDLE_NAME, tmp_path / "b" / BUNDLE_NAME
    release.build_release(first)
    release.build_release(second)
    assert bundle_files(first) == bundle_files(second) == bundle_files(bundle)
    assert (first.with_name(BUNDLE_NAME + ".zip").read_bytes()
            == second.with_name(BUNDLE_NAME + ".zip").read_bytes())


def test_release_replaces_its_own_previous_bundle(tmp_path):
    out_dir = tmp_path / BUNDLE_NAME
    release.build_release(out_dir)
    zip_bytes = out_dir.with_name(BUNDLE_NAME + ".zip").read_bytes()
    (out_dir / "stale.txt").write_text("left over from an older release")
    release.build_release(out_dir)
    assert set(bundle_files(out_dir)) == EXPECTED_BUNDLE_FILES
    assert out_dir.with_name(BUNDLE_NAME + ".zip").read_bytes() == zip_bytes


def test_release_never_deletes_a_folder_it_did_not_write(tmp_path):
    out_dir = tmp_path / BUNDLE_NAME
    out_dir.mkdir()
    (out_dir / "my_work.txt").write_text("precious")
    with pytest.raises(release_stubs.ReleaseError, match="not a student bundle"):
        release.build_release(out_dir)
    assert (out_dir / "my_work.txt").read_text() == "precious"
    assert not out_dir.with_name(BUNDLE_NAME + ".zip").exists()


def test_release_never_overwrites_a_zip_it_did_not_write(tmp_path):
    zip_path = tmp_path / (BUNDLE_NAME + ".zip")
    zip_path.write_bytes(b"not a zip of ours")
    with pytest.raises(release_stubs.ReleaseError, match="not a zip written by release.py"):
        release.build_release(tmp_path / BUNDLE_NAME)
    assert zip_path.read_bytes() == b"not a zip of ours"
    assert not (tmp_path / BUNDLE_NAME).exists()


def cell_with(notebook: nbformat.NotebookNode, text: str) -> int:
    matches = [index for index, cell in enumerate(notebook.cells)
               if cell.cell_type == "code" and text in cell.source]
    assert len(matches) == 1, f"expected one code cell containing {text!r}"
    return matches[0]


@pytest.mark.parametrize("marker, expected_error", [
    ("### END SOLUTION 2b", "BEGIN SOLUTION 2b is never closed"),
    ("### BEGIN SOLUTION 3a", "END SOLUTION 3a without a BEGIN"),
    ("### END SOLUTION 1b", "BEGIN SOLUTION 1b is never closed"),
])
def test_release_refuses_a_malformed_region_and_names_the_cell(tmp_path, reference, marker,
                                                               expected_error):
    broken = copy.deepcopy(reference)
    index = cell_with(broken, marker)
    cell = broken.cells[index]
    cell.source = "\n".join(line for line in cell.source.splitlines() if line.strip() != marker)
    notebook_path = tmp_path / "broken.ipynb"
    nbformat.write(broken, notebook_path)
    out_dir = tmp_path / BUNDLE_NAME
    with pytest.raises(release_stubs.ReleaseError, match=f"cell {index}, line .*{expected_error}"):
        release.build_release(out_dir, notebook_path=notebook_path)
    assert not out_dir.exists() and not out_dir.with_name(BUNDLE_NAME + ".zip").exists()


@pytest.mark.parametrize("task", TASKS)
def test_release_refuses_a_region_without_markers(tmp_path, reference, task):
    """Both markers gone: the answer would ship as given code."""
    broken = copy.deepcopy(reference)
    index = cell_with(broken, f"### BEGIN SOLUTION {task}\n")
    cell = broken.cells[index]
    last_begin = cell.source.rindex(f"### BEGIN SOLUTION {task}")
    head, tail = cell.source[:last_begin], cell.source[last_begin:]
    cell.source = head + "\n".join(line for line in tail.splitlines()
                                   if line.strip() not in {f"### BEGIN SOLUTION {task}",
                                                           f"### END SOLUTION {task}"})
    notebook_path = tmp_path / "broken.ipynb"
    nbformat.write(broken, notebook_path)
    names_the_cell = rf"task {task} has .*(cells \[{index}\]|no cell)"
    with pytest.raises(release_stubs.ReleaseError, match=names_the_cell):
        release.build_release(tmp_path / BUNDLE_NAME, notebook_path=notebook_path)
    assert not (tmp_path / BUNDLE_NAME).exists()


def test_cli_reports_a_refusal_without_a_traceback(tmp_path, capsys):
    (tmp_path / BUNDLE_NAME).mkdir()
    (tmp_path / BUNDLE_NAME / "keep.txt").write_text("mine")
    assert release.main([str(tmp_path / BUNDLE_NAME)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


@pytest.mark.slow
def test_grader_gives_zero_to_the_release_and_full_points_to_the_reference(bundle):
    """Grades the released and the reference notebook in one run of the grader (~30 s)."""
    grading_core = pytest.importorskip("grading.core")
    released, full = grading_core.grade_paths(
        [str(bundle / release.NOTEBOOK_NAME), str(NOTEBOOK_PATH)], jobs=2)
    assert {task: grade.points for task, grade in released.tasks.items()} == {task: 0 for task in TASKS}
    assert {task: grade.points for task, grade in full.tasks.items()} == {
        task: grade.max_points for task, grade in full.tasks.items()}
    assert full.points == full.max_points == 100


def test_release_clears_outputs_of_an_executed_notebook(reference, solution_source):
    executed = copy.deepcopy(reference)
    for count, cell in enumerate(cell for cell in executed.cells if cell.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a printed answer\n")]
        cell.metadata["tags"] = ["nbval-ignore-output"]
    executed.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    student = release_stubs.release_notebook(executed, solution_source)
    assert all(cell.outputs == [] and cell.execution_count is None and cell.metadata == {}
               for cell in student.cells if cell.cell_type == "code")
    assert student.metadata["language_info"] == {"name": "python"}


def test_student_readme_says_where_to_write_and_what_is_graded(bundle):
    readme = " ".join((bundle / "README.md").read_text(encoding="utf-8").split())
    assert "Write your code only inside these marked regions" in readme
    assert "the grader runs your definitions (classes and functions) and task cells as they are" in readme
    assert "graded from the code between" not in readme
    for name in BUNDLE_FILES_OF_THE_PROJECT:
        assert f"`{name}`" in readme, f"the student README does not describe {name}"


BUNDLE_FILES_OF_THE_PROJECT = [f"{entry}/" if (PROJECT_ROOT / entry).is_dir() else entry for entry in STUDENT_CODE]


# --------------------------------------------------------------------- task modules: the grader stays home


def test_the_student_code_ships_byte_for_byte(bundle):
    shipped = sorted((bundle / "ex4" / "tasks").glob("task_*.py"))
    assert [path.name for path in shipped] == [f"task_{task}.py" for task in TASKS]
    for relative in ["utils.py", *(p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "ex4").rglob("*.py")
                                   if "__pycache__" not in p.parts)]:
        assert (bundle / relative).read_bytes() == (PROJECT_ROOT / relative).read_bytes(), relative
    assert release_guard.find_grader_imports(bundle) == []


def test_the_bundle_self_checks_run_without_the_project(bundle):
    """In the bundle folder alone, the self-checks import and run, and nothing of the grader is imported."""
    code = ("import sys, ex4.self_checks, ex4.sheet\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('instructor', 'solution')]\n"
            "ex4.self_checks.check_task_3a(lambda model, loader: 0.5)\n"
            "print({info.id: info.points for info in ex4.sheet.TASKS})\n")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run([sys.executable, "-c", code], cwd=bundle, env=environment, capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "Task 3a self-check" in completed.stdout and "'3b': 20" in completed.stdout


def test_student_code_importing_the_grader_is_found(tmp_path):
    (tmp_path / "ex4").mkdir()
    (tmp_path / "ex4" / "task_9z.py").write_text("from instructor.grading.verdicts import Checks\n\n"
                                                 "def verdict(student, reference):\n    pass\n")
    (tmp_path / "utils.py").write_text("import torch\nimport solution\n")
    assert release_guard.find_grader_imports(tmp_path) == [
        "ex4/task_9z.py: imports instructor.grading.verdicts", "utils.py: imports solution"]
