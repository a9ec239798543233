"""Build the student bundle: ``python -m instructor.release OUT_DIR``.

Writes ``OUT_DIR/`` and ``OUT_DIR.zip`` beside it. The bundle holds the
notebook with every solution region replaced by a TODO stub, its outputs
cleared and the instructor-only lines removed, plus the files students need
(``instructor/shipped.py``). It never holds ``solution.py``, the tests or the
grader, and the build fails rather than ship a line of a reference answer.

Stubs keep the ``### BEGIN SOLUTION <task>`` / ``### END SOLUTION <task>``
markers, so that the grader and ``fill_stubs`` find the student's code. A
stub inside a function raises ``NotImplementedError``; a top-level stub
assigns ``None`` to every name the reference region assigns at its top level.

Round trip (tested): ``fill_stubs(release_notebook(ref), solution.py)`` has
the cells of ``ref`` with the same types and sources, except that the
instructor-only lines are gone from the code cells (``strip_instructor_lines``);
outputs, execution counts and cell metadata are cleared.

Running the release twice gives byte-identical files, the zip included.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
import zipfile
from collections import Counter
from pathlib import Path

import nbformat

from ex4.environment import MINIMUM_VERSIONS
from instructor.shipped import PROJECT_ROOT, bundle_files
from instructor.solution_regions import MalformedRegionError, Region, find_regions
from instructor.tasks import TASKS

NOTEBOOK_NAME = "Ex4_Optimization2.ipynb"
SOLUTION_NAME = "solution.py"
REQUIREMENTS_NAME = "requirements.txt"
# packages only the instructor's tests need
INSTRUCTOR_ONLY_REQUIREMENTS = ("pytest", "nbval", "jupytext", "ruff")
STUDENT_REQUIREMENTS_HEADER = ("# What the notebook needs; any torch/torchvision from these versions on works "
                               "(README.md: a CPU-only install).")
# written into every bundle: only a folder holding it is ever replaced
MARKER_NAME = ".ex4-student-bundle"
MARKER_TEXT = ("Student bundle written by release.py. The next release replaces this "
               "folder; do not keep your work in it.\n")
# notebook metadata that students get; the rest (e.g. the Python version of the
# instructor's machine) is left out
KEPT_NOTEBOOK_METADATA = ("kernelspec",)
KEPT_LANGUAGE_INFO = {"name": "python"}
# fixed zip entry timestamp (the earliest a zip can store) and Unix permissions
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o644
FOLDER_MODE = 0o755
ZIP_CREATE_SYSTEM_UNIX = 3
# a comment line that names an import of the reference solution
_SOLUTION_IMPORT = re.compile(r"^\s*#.*\b(from\s+solution\s+import|import\s+solution)\b")
_LIVE_SOLUTION_IMPORT = re.compile(r"^\s*(from\s+solution\s+import|import\s+solution)\b")
_COMMENT = re.compile(r"^\s*#")
_HAS_WORD = re.compile(r"\w")


class ReleaseError(RuntimeError):
    """The release cannot be built safely; the message says what to fix."""


# ----------------------------------------------------------------------------- stubs
def _fence(task: str, indent: str) -> list[str]:
    return [f"{indent}# -----",
            f"{indent}# TODO: Task {task} - write your code here",
            f"{indent}# -----"]


def top_level_assigned_names(body: str) -> list[str]:
    """Names that the top-level statements of ``body`` assign, in order of first assignment."""
    names: list[str] = []

    def collect(target: ast.expr) -> None:
        if isinstance(target, ast.Name) and target.id not in names:
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                collect(element)
        elif isinstance(target, ast.Starred):
            collect(target.value)

    for statement in ast.parse(textwrap.dedent(body)).body:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                collect(target)
        elif isinstance(statement, ast.AnnAssign):
            collect(statement.target)
    return names


def inside_function(source: str, line_index: int, where: str) -> bool:
    """Whether line ``line_index`` (0-based) of ``source`` lies inside a def."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ReleaseError(f"{where}: the code does not parse ({error.msg}, line {error.lineno}); "
                           "fix the reference notebook before releasing") from None
    line_number = line_index + 1
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
               and node.lineno <= line_number <= node.end_lineno
               for node in ast.walk(tree))


def stub_lines(region: Region, in_function: bool, where: str) -> list[str]:
    """The lines that replace the body of ``region`` in the student notebook."""
    lines = _fence(region.task, region.indent)
    if in_function:
        return lines + [f'{region.indent}raise NotImplementedError("Task {region.task}: '
                        'write your code here")']
    names = top_level_assigned_names(region.body)
    if not names:
        raise ReleaseError(
            f"{where}: the top-level region of task {region.task} assigns no name, so no stub "
            "can be derived; assign the task's results to names (e.g. `model1 = ...`)")
    return lines + [f"{region.indent}{name} = None  # TODO" for name in names]


def stub_source(source: str, where: str) -> str:
    """``source`` with the body of every solution region replaced by its stub."""
    try:
        regions = find_regions(source, where=where)
    except MalformedRegionError as error:
        raise ReleaseError(f"refusing to release: {error}") from None
    lines = source.splitlines()
    # replace from the bottom so that earlier line indices stay valid
    for region in reversed(regions):
        stub = stub_lines(region, inside_function(source, region.begin_line, where), where)
        lines[region.begin_line + 1:region.end_line] = stub
    stubbed = "\n".join(lines)
    try:
        ast.parse(stubbed)
    except SyntaxError as error:
        raise ReleaseError(f"{where}: the stubbed code does not parse ({error.msg}, "
                           f"line {error.lineno})") from None
    return stubbed


def strip_instructor_lines(source: str) -> str:
    """``source`` without the comment blocks that mention importing ``solution``.

    The whole run of consecutive comment lines around such a line goes (the
    fenced "TODO: Remove this line" block), with one of the blank lines that
    surrounded it.
    """
    lines = source.splitlines()
    keep = [True] * len(lines)
    for index, line in enumerate(lines):
        if not _SOLUTION_IMPORT.match(line):
            continue
        start, end = index, index
        while start > 0 and _COMMENT.match(lines[start - 1]):
            start -= 1
        while end + 1 < len(lines) and _COMMENT.match(lines[end + 1]):
            end += 1
        if end + 1 < len(lines) and not lines[end + 1].strip() and (
                start == 0 or not lines[start - 1].strip()):
            end += 1
        keep[start:end + 1] = [False] * (end + 1 - start)
    return "\n".join(line for line, kept in zip(lines, keep) if kept)


# ----------------------------------------------------------------------------- notebook
def _count_tasks(regions: list[Region]) -> Counter:
    return Counter(region.task for region in regions)


def _notebook_regions(notebook: nbformat.NotebookNode) -> list[tuple[int, Region]]:
    """(cell index, region) of every solution region in the code cells."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        try:
            found.extend((index, region) for region in find_regions(cell.source, where=f"cell {index}"))
        except MalformedRegionError as error:
            raise ReleaseError(f"refusing to release: {error}") from None
    return found


def check_regions(notebook: nbformat.NotebookNode, solution_source: str) -> None:
    """Refuse a notebook whose regions differ in number per task from ``solution.py``'s."""
    expected = _count_tasks(find_regions(solution_source, where=SOLUTION_NAME))
    found = _notebook_regions(notebook)
    got = _count_tasks([region for _, region in found])
    for task in TASKS:
        if got[task] == expected[task]:
            continue
        cells = sorted({index for index, region in found if region.task == task})
        where = f"cells {cells}" if cells else "no cell"
        raise ReleaseError(
            f"refusing to release: task {task} has {got[task]} solution region(s) in the notebook "
            f"({where}) but {expected[task]} in {SOLUTION_NAME}; a region whose markers are "
            "missing would ship its answer. Put back the '### BEGIN SOLUTION "
            f"{task}' / '### END SOLUTION {task}' lines around the answer")


def release_notebook(notebook: nbformat.NotebookNode,
                     solution_source: str) -> nbformat.NotebookNode:
    """The student version of ``notebook``: stubs, no outputs, no instructor lines."""
    check_regions(notebook, solution_source)
    student = copy.deepcopy(notebook)
    student.metadata = nbformat.NotebookNode(
        {key: copy.deepcopy(notebook.metadata[key]) for key in KEPT_NOTEBOOK_METADATA
         if key in notebook.metadata})
    student.metadata["language_info"] = nbformat.NotebookNode(dict(KEPT_LANGUAGE_INFO))
    for index, cell in enumerate(student.cells):
        cell.metadata = nbformat.NotebookNode()
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        cell.source = stub_source(strip_instructor_lines(cell.source), where=f"cell {index}")
        if any(_LIVE_SOLUTION_IMPORT.match(line) for line in cell.source.splitlines()):
            raise ReleaseError(f"refusing to release: cell {index} imports the solution module")
    nbformat.validate(student)
    return student


def fill_stubs(notebook: nbformat.NotebookNode, solution_source: str) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose regions hold the reference code from ``solution_source``.

    The n-th region of a task in the notebook gets the n-th region of that
    task in ``solution.py``, re-indented to the notebook region's indentation.
    """
    answers: dict[str, list[Region]] = {}
    for region in find_regions(solution_source, where=SOLUTION_NAME):
        answers.setdefault(region.task, []).append(region)
    n_filled: Counter = Counter()
    filled = copy.deepcopy(notebook)
    for index, cell in enumerate(filled.cells):
        if cell.cell_type != "code":
            continue
        replacements = []
        for region in find_regions(cell.source, where=f"cell {index}"):
            occurrence = n_filled[region.task]
            if occurrence >= len(answers.get(region.task, [])):
                raise ReleaseError(f"cell {index}: {SOLUTION_NAME} has no region number "
                                   f"{occurrence + 1} for task {region.task}")
            body = textwrap.indent(textwrap.dedent(answers[region.task][occurrence].body),
                                   region.indent)
            replacements.append((region, body.splitlines()))
            n_filled[region.task] += 1
        lines = cell.source.splitlines()
        for region, body_lines in reversed(replacements):
            lines[region.begin_line + 1:region.end_line] = body_lines
        cell.source = "\n".join(lines)
    return filled


# ----------------------------------------------------------------------------- leak guard
def answer_lines(solution_source: str, reference_notebook: nbformat.NotebookNode) -> set[str]:
    """Stripped code lines of the reference regions that the students are not given.

    Lines that also occur outside every region (in ``solution.py`` or the
    reference notebook), comments and lines without a word character are
    given code or carry no answer.
    """
    sources = [solution_source] + [cell.source for cell in reference_notebook.cells
                                   if cell.cell_type == "code"]
    inside, outside = set(), set()
    for source in sources:
        lines = source.splitlines()
        in_region = [False] * len(lines)
        for region in find_regions(source):
            for index in range(region.begin_line, region.end_line + 1):
                in_region[index] = True
        for line, is_answer in zip(lines, in_region):
            (inside if is_answer else outside).add(line.strip())
    return {line for line in inside - outside
            if _HAS_WORD.search(line) and not _COMMENT.match(line)}


def _texts_of_file(path: Path) -> list[str]:
    """Every text a file holds: for a notebook, each string anywhere in its JSON."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return [text]
    strings = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(text))
    return strings


def find_leaks(bundle_dir: Path, answers: set[str]) -> list[str]:
    """'file: line' for every answer line that a file of the bundle contains."""
    leaks = []
    for path in sorted(p for p in bundle_dir.rglob("*") if p.is_file()):
        for text in _texts_of_file(path):
            for line in sorted(answers & {line.strip() for line in text.splitlines()}):
                leaks.append(f"{path.relative_to(bundle_dir)}: {line}")
    return leaks


# ----------------------------------------------------------------------------- bundle
def find_grader_imports(bundle_dir: Path) -> list[str]:
    """Python files of the bundle that import the grader (``instructor``) or the reference (``solution``)."""
    found = []
    for path in sorted(bundle_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        reasons = [f"imports {name}" for name in imported if name.split(".")[0] in ("instructor", "solution")]
        if reasons:
            found.append(f"{path.relative_to(bundle_dir).as_posix()}: {', '.join(reasons)}")
    return found


def student_requirements(requirements: str) -> str:
    """``requirements`` without comments and instructor-only packages; torch and torchvision as
    "at least" the versions the notebook needs (``ex4/environment.py``), not the course machines' pin."""
    kept = [STUDENT_REQUIREMENTS_HEADER]
    for line in requirements.splitlines():
        name = re.split(r"[<>=!~\[;\s]", line.strip(), maxsplit=1)[0].lower()
        if not name or name.startswith("#") or name in INSTRUCTOR_ONLY_REQUIREMENTS:
            continue
        kept.append(f"{name}>={MINIMUM_VERSIONS[name]}" if name in MINIMUM_VERSIONS else line)
    return "\n".join(kept) + "\n"


def _is_bundle(path: Path) -> bool:
    return (path / MARKER_NAME).is_file()


def _zip_is_bundle(path: Path, folder_name: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            # zips of earlier releases held the marker file itself
            return (archive.comment == MARKER_TEXT.encode("utf-8")
                    or f"{folder_name}/{MARKER_NAME}" in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _check_out_dir(out_dir: Path, zip_path: Path) -> None:
    if out_dir.exists() and not (out_dir.is_dir() and _is_bundle(out_dir)):
        raise ReleaseError(
            f"refusing to overwrite {out_dir}: it exists and is not a student bundle written by "
            f"release.py (no {MARKER_NAME} file in it). Choose another OUT_DIR or remove it yourself")
    if zip_path.exists() and not _zip_is_bundle(zip_path, out_dir.name):
        raise ReleaseError(
            f"refusing to overwrite {zip_path}: it exists and is not a zip written by release.py. "
            "Choose another OUT_DIR or remove the zip yourself")


def write_bundle_files(folder: Path, root: Path, notebook: nbformat.NotebookNode) -> None:
    """Write the student notebook and the copied files into the empty ``folder``."""
    for bundle_path, project_path in sorted(bundle_files(root).items()):
        target = folder / bundle_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((root / project_path).read_bytes())
    (folder / REQUIREMENTS_NAME).write_text(
        student_requirements((root / REQUIREMENTS_NAME).read_text(encoding="utf-8")),
        encoding="utf-8")
    (folder / NOTEBOOK_NAME).write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
    (folder / MARKER_NAME).write_text(MARKER_TEXT, encoding="utf-8")


def write_zip(folder: Path, zip_path: Path, top_name: str) -> None:
    """Zip ``folder`` as ``top_name/...``: sorted entries, fixed timestamps and modes.

    The marker file stays out of the zip (students unpack it anywhere); the
    zip carries the marker text as its comment instead.
    """
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.comment = MARKER_TEXT.encode("utf-8")
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER_NAME):
            info = zipfile.ZipInfo(f"{top_name}/{path.relative_to(folder).as_posix()}",
                                   date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ZIP_FILE_MODE << 16
            info.create_system = ZIP_CREATE_SYSTEM_UNIX
            archive.writestr(info, path.read_bytes())


def build_release(out_dir: Path, root: Path = PROJECT_ROOT, notebook_path: Path | None = None) -> Path:
    """Write the student bundle to ``out_dir`` and ``out_dir``.zip; return the zip's path.

    ``notebook_path`` defaults to the reference notebook in ``root``. Nothing
    is written when the notebook's regions are missing or malformed, or when
    a line of a reference answer would end up in the bundle.
    """
    out_dir = Path(out_dir).resolve()
    zip_path = out_dir.with_name(out_dir.name + ".zip")
    _check_out_dir(out_dir, zip_path)
    notebook_path = root / NOTEBOOK_NAME if notebook_path is None else Path(notebook_path)
    reference = nbformat.read(notebook_path, as_version=nbformat.NO_CONVERT)
    solution_source = (root / SOLUTION_NAME).read_text(encoding="utf-8")
    student = release_notebook(reference, solution_source)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        staging.chmod(FOLDER_MODE)
        write_bundle_files(staging, root, student)
        grader_imports = find_grader_imports(staging)
        if grader_imports:
            raise ReleaseError("refusing to release: student code would import the grader or the reference "
                               "(move that code to instructor/):\n  " + "\n  ".join(grader_imports))
        leaks = find_leaks(staging, answer_lines(solution_source, reference))
        if leaks:
            raise ReleaseError("refusing to release: reference answer lines would ship:\n  "
                               + "\n  ".join(leaks))
        staging_zip = staging.parent / (staging.name + ".zip")
        write_zip(staging, staging_zip, out_dir.name)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
        os.replace(staging_zip, zip_path)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
        (staging.parent / (staging.name + ".zip")).unlink(missing_ok=True)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the bundle; OUT_DIR.zip is written beside it")
    args = parser.parse_args(argv)
    try:
        zip_path = build_release(args.out_dir)
    except ReleaseError as error:
        print(f"release.py: {error}", file=sys.stderr)
        return 1
    print(f"Student bundle written to {args.out_dir} and {zip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
