"""Compare the graded code of the notebook with solution.py.

Two things must agree: the top-level definitions that the tasks fill in
(compared as syntax trees, so comments, formatting and docstrings may differ)
and the solution regions, task by task, in order.
"""
from __future__ import annotations

import ast

from nbformat import NotebookNode

from instructor.solution_regions import MalformedRegionError, Region, find_regions

GRADED_DEFINITIONS = ("SimpleFixedMLP", "SimpleMLP", "train", "compute_accuracy",
                      "compute_accuracy_per_class")
_DEFINITION_TYPES = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def code_cells(notebook: NotebookNode) -> list[tuple[str, str]]:
    """(name for messages, source) of every code cell, in order."""
    return [(f"notebook cell {index}", cell.source)
            for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]


def _without_docstrings(node: ast.AST) -> ast.AST:
    """``node`` with the docstring of every class and function in it removed (in place)."""
    for child in ast.walk(node):
        has_docstring = (isinstance(child, _DEFINITION_TYPES)
                         and ast.get_docstring(child, clean=False) is not None)
        if has_docstring:
            child.body = child.body[1:] or [ast.Pass()]
    return node


def top_level_definitions(sources: list[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Dumped syntax tree, without docstrings, of each top-level class and function.

    Returns the definitions by name and the problems found: sources that do
    not parse and names defined more than once.
    """
    definitions: dict[str, str] = {}
    problems = []
    for where, source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            problems.append(f"{where} is not valid Python (line {error.lineno}: {error.msg})")
            continue
        for node in tree.body:
            if isinstance(node, _DEFINITION_TYPES):
                if node.name in definitions:
                    problems.append(f"{where} defines {node.name} a second time")
                definitions[node.name] = ast.dump(_without_docstrings(node))
    return definitions, problems


def all_regions(sources: list[tuple[str, str]]) -> list[Region]:
    """The solution regions of all sources in order; a region may not span two sources."""
    return [region for where, source in sources for region in find_regions(source, where)]


def sync_differences(notebook: NotebookNode, module_source: str,
                     names: tuple[str, ...] = GRADED_DEFINITIONS) -> list[str]:
    """Every way in which the notebook's graded code differs from ``module_source``; [] if none."""
    cells = code_cells(notebook)
    module = [("solution.py", module_source)]
    notebook_definitions, differences = top_level_definitions(cells)
    module_definitions, module_problems = top_level_definitions(module)
    differences += module_problems
    for name in names:
        if name not in module_definitions:
            differences.append(f"{name}: not defined at the top level of solution.py")
        elif name not in notebook_definitions:
            differences.append(f"{name}: not defined at the top level of the notebook")
        elif notebook_definitions[name] != module_definitions[name]:
            differences.append(f"{name}: the notebook's definition differs from solution.py's")
    try:
        notebook_regions = all_regions(cells)
        module_regions = all_regions(module)
    except MalformedRegionError as error:
        return differences + [f"solution regions: {error}"]
    notebook_tasks = [region.task for region in notebook_regions]
    module_tasks = [region.task for region in module_regions]
    if notebook_tasks != module_tasks:
        return differences + [f"solution regions: the notebook has tasks {notebook_tasks}, "
                              f"solution.py has {module_tasks}"]
    for number, (in_notebook, in_module) in enumerate(zip(notebook_regions, module_regions), 1):
        where = f"solution region {number} (task {in_notebook.task})"
        try:
            same = in_notebook.normalized() == in_module.normalized()
        except SyntaxError as error:
            differences.append(f"{where}: not valid Python on its own ({error.msg})")
            continue
        if not same:
            differences.append(
                f"{where}: the notebook's code differs from solution.py's "
                f"(solution.py lines {in_module.begin_line + 2}-{in_module.end_line})")
    return differences
