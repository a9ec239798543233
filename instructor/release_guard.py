"""The release's guard: no line of a reference answer and no import of the grader in the student bundle."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat

from instructor.solution_regions import find_regions

_COMMENT = re.compile(r"^\s*#")
_HAS_WORD = re.compile(r"\w")


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
