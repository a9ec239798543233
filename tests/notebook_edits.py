"""Edits of the reference notebook's solution regions, shared by the tests that build submissions from it."""
from __future__ import annotations

import textwrap

import nbformat

from instructor.solution_regions import find_regions


def region_replaced(source: str, task: str, body: str, occurrence: int = 0) -> str:
    """``source`` with the body of its ``occurrence``-th region of ``task`` replaced by ``body``."""
    region = [r for r in find_regions(source) if r.task == task][occurrence]
    lines = source.splitlines()
    new_body = textwrap.indent(textwrap.dedent(body).strip("\n"), region.indent).splitlines()
    return "\n".join(lines[:region.begin_line + 1] + new_body + lines[region.end_line:])


def with_region(notebook: nbformat.NotebookNode, task: str, body: str, occurrence: int = 0) -> None:
    """Replace the body of the ``occurrence``-th solution region of ``task`` (first cell holding it)."""
    for cell in notebook.cells:
        regions = [r for r in find_regions(cell.source) if r.task == task] if cell.cell_type == "code" else []
        if len(regions) > occurrence:
            cell.source = region_replaced(cell.source, task, body, occurrence)
            return
    raise AssertionError(f"the reference notebook has no region {occurrence} of task {task}")
