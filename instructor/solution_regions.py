"""Find the solution regions of the graded tasks in source code.

A region is the lines between ``### BEGIN SOLUTION <task>`` and
``### END SOLUTION <task>``, both markers at the same indentation. The
reference notebook and ``solution.py`` use the same regions; tests compare
them and the release replaces them with stubs.
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from instructor.tasks import REGISTRY

_MARKER = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) SOLUTION(?P<rest>.*)$")


class MalformedRegionError(ValueError):
    """A solution region's markers are missing, unbalanced or name an unknown task."""


@dataclass(frozen=True)
class Region:
    task: str
    indent: str
    begin_line: int  # index of the BEGIN marker line
    end_line: int  # index of the END marker line
    body: str  # the lines strictly between the markers

    def normalized(self) -> str:
        """The region's code with comments and formatting removed, for comparison."""
        # comment lines may be indented less than the code; they would stop dedent
        code_lines = [line for line in self.body.splitlines() if not line.lstrip().startswith("#")]
        return ast.dump(ast.parse(textwrap.dedent("\n".join(code_lines))))


def find_regions(source: str, where: str = "source") -> list[Region]:
    """All solution regions in ``source``, in order; ``where`` names it in errors."""
    lines = source.splitlines()
    regions = []
    open_marker = None
    for index, line in enumerate(lines):
        match = _MARKER.match(line)
        if not match:
            continue
        task = match["rest"].strip()
        position = f"{where}, line {index + 1}"
        if task not in REGISTRY.ids():
            raise MalformedRegionError(
                f"{position}: '{line.strip()}' names task '{task}'; "
                f"write '### {match['kind']} SOLUTION <task>' with a task of {', '.join(REGISTRY.ids())}")
        if match["kind"] == "BEGIN":
            if open_marker is not None:
                raise MalformedRegionError(
                    f"{position}: BEGIN SOLUTION {task} inside the region opened on line "
                    f"{open_marker[0] + 1}; close that one first with END SOLUTION {open_marker[1]}")
            open_marker = (index, task, match["indent"])
            continue
        if open_marker is None:
            raise MalformedRegionError(f"{position}: END SOLUTION {task} without a BEGIN SOLUTION")
        begin, begin_task, indent = open_marker
        if task != begin_task or match["indent"] != indent:
            raise MalformedRegionError(
                f"{position}: END SOLUTION {task} does not match BEGIN SOLUTION {begin_task} "
                f"on line {begin + 1} (task and indentation must be the same)")
        regions.append(Region(task, indent, begin, index, "\n".join(lines[begin + 1:index])))
        open_marker = None
    if open_marker is not None:
        raise MalformedRegionError(
            f"{where}, line {open_marker[0] + 1}: BEGIN SOLUTION {open_marker[1]} is never closed")
    return regions
