"""The student notebook from the reference: TODO stubs instead of answers, no outputs, no instructor lines.

Stubs keep the ``### BEGIN SOLUTION <task>`` / ``### END SOLUTION <task>``
markers, so that the grader and ``fill_stubs`` find the student's code. A
stub inside a function raises ``NotImplementedError``; a top-level stub
assigns ``None`` to every name the reference region assigns at its top level.
"""
from __future__ import annotations

import ast
import copy
import re
import textwrap
from collections import Counter

import nbformat

from instructor.solution_regions import MalformedRegionError, Region, find_regions
from instructor.tasks import TASKS

SOLUTION_NAME = "solution.py"
# notebook metadata that students get; the rest (e.g. the Python version of the
# instructor's machine) is left out
KEPT_NOTEBOOK_METADATA = ("kernelspec",)
KEPT_LANGUAGE_INFO = {"name": "python"}
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
