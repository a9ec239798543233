"""Choose, per task, the statements its process runs (``TaskCode``), from the parsed cells of a submission.

See ``grading.extraction`` ("What a task runs") for the rules.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from instructor.grading.extraction.cells import Cell
from instructor.grading.extraction.reading import normalise_newlines, read_cells
from instructor.grading.extraction.review import review_flags
from instructor.grading.extraction.statements import (
    DEFINITIONS,
    TopStatement,
    analyse,
    colab_names,
    segment,
)
from instructor.grading.extraction.submission import Statement, Submission, SubmissionError, TaskCode
from instructor.grading.extraction.task_tables import DEFINITION_TASKS, PROTECTED_NAMES, STATEMENT_TASKS
from instructor.tasks import REGISTRY


def _defines(name: str) -> re.Pattern:
    return re.compile(rf"^[ \t]*(?:(?:async[ \t]+)?def|class)[ \t]+{re.escape(name)}\b"
                      rf"|^[ \t]*{re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)", re.M)


class _Assigns:
    """Finds a line of unparsable code that assigns one of ``names`` (``a, optimizers = ...``)."""

    _TARGET = re.compile(r"[\w \t,\[\]*.:]*[-+*/@%&|^]?")

    def __init__(self, names: tuple[str, ...]):
        self._names = _mentions(names)

    def search(self, text: str) -> bool:
        for line in text.split("\n"):
            equals = line.find("=")
            while 0 <= equals < len(line) - 1 and line[equals + 1] == "=":
                equals = line.find("=", equals + 2)
            if equals > 0 and line[equals - 1] not in "=!<>" and self._TARGET.fullmatch(line[:equals]) \
                    and self._names.search(line[:equals]):
                return True
        return False


def _assigns(names: tuple[str, ...]) -> _Assigns:
    return _Assigns(names)


def _mentions(names: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")


def _broken(cells: list[Cell], pattern: re.Pattern | _Assigns) -> list[Cell]:
    return [cell for cell in cells if cell.error and pattern.search(cell.raw)]


def _unparsable(what: str, cell: Cell) -> TaskCode:
    return TaskCode("missing", problem=f"{cell.place}, which holds {what}, cannot be parsed: {cell.error}")


def _not_found(what: str, names: tuple[str, ...], cells: list[Cell]) -> TaskCode:
    broken = _broken(cells, _mentions(names))
    if broken:
        return _unparsable(what, broken[-1])
    return TaskCode("missing", problem=f"{what} was not found in the submission")


def _context(statements: list[TopStatement], own: str | None, graded: TopStatement | None,
             excluded: frozenset[int] = frozenset(), task_code: tuple[TopStatement, ...] = ()) -> tuple[Statement, ...]:
    protected = PROTECTED_NAMES - {own}
    chosen = [s for s in statements if s.runs and not (s.binds & protected) and id(s.cell) not in excluded]
    used = frozenset().union(*(s.uses for s in (*chosen, *task_code) if not is_plain_import(s.node)))
    return tuple(s.context_statement(s is graded) for s in chosen
                 if not is_plain_import(s.node) or "*" in s.binds or s.binds & used
                 or (isinstance(s.node, ast.ImportFrom) and s.node.module == "__future__"))


def is_plain_import(node: ast.stmt) -> bool:
    return isinstance(node, (ast.Import, ast.ImportFrom))


def _definition_task(name: str, kind: str, statements: list[TopStatement], cells: list[Cell]) -> TaskCode | None:
    """The task whose answer is the last top-level definition of ``name``; None if there is none."""
    sites = [s for s in statements if s.runs and name in s.binds]
    broken = _broken(cells, _defines(name))
    if broken and (not sites or broken[-1].position > sites[-1].cell.position):
        return _unparsable(f"`{name}`", broken[-1])
    if not sites:
        return None
    return TaskCode(kind, context=_context(statements, name, sites[-1]))


def _statement_task(task: str, statements: list[TopStatement], cells: list[Cell]) -> TaskCode:
    targets, function = STATEMENT_TASKS[task]
    what = f"the Task {task} code (assigning {', '.join(targets)})"
    assigning = [s.cell for s in statements if s.binds & set(targets) and not s.dropped]
    broken = _broken(cells, _assigns(targets))
    if broken and (not assigning or broken[-1].position > assigning[-1].position):
        return _unparsable(what, broken[-1])
    if assigning:
        return _block_task(task, assigning[-1], statements, cells, function)
    by_function = _definition_task(function, "function", statements, cells)
    if by_function is not None:
        return by_function
    marker = f"### BEGIN SOLUTION {task}"
    marked = [cell for cell in cells
              if cell.is_code and marker in cell.raw and (cell.tree is not None or cell.error)]
    if marked and marked[-1].error:
        return _unparsable(what, marked[-1])
    if marked:
        return _block_task(task, marked[-1], statements, cells, function)
    return _not_found(what, targets + (function,), cells)


def _block_task(task: str, chosen: Cell, statements: list[TopStatement], cells: list[Cell], function: str) -> TaskCode:
    """The chosen cell's statements (graded) and the code cells after it (ungraded), up to another task's cell.

    The ungraded cells go on over markdown cells (a training loop after a
    line of text, a comment paragraph that jupytext made a markdown cell) up to
    a cell that defines or assigns another task's names, or cannot be parsed.
    In a .py file the code cells right before the chosen one, up to text or
    another task's cell, are added too (ungraded): jupytext splits code at
    blank lines, so they are likely part of the student's cell.
    The context is what runs before the chosen cell, and the definitions and
    imports of later cells whose names nothing before it binds (cells run out
    of order). The task's own function (``build_equivalent_models``/
    ``train_models``) may be defined and called: its definition stays where
    it is.
    """
    others = PROTECTED_NAMES.union(*(set(t) for name, (t, _) in STATEMENT_TASKS.items() if name != task))
    block = [chosen]
    for cell in cells[chosen.position + 1:]:
        if not cell.is_code or cell.separator or (cell.tree is None and not cell.error):
            continue  # text, or a cell magic that is not Python
        if cell.tree is None or any(s.binds & others for s in cell.statements):
            break
        block.append(cell)
    if not chosen.where:  # a .py file: jupytext splits code at blank lines, the student's cell may start earlier
        for cell in reversed(cells[:chosen.position]):
            if not cell.is_code or cell.separator or cell.tree is None or any(
                    s.binds & others for s in cell.statements):
                break
            block.insert(0, cell)
    protected = PROTECTED_NAMES - {function}
    code = tuple(s for cell in block for s in cell.statements if not s.dropped and not (s.binds & protected))
    bound_before = frozenset().union(*(s.binds for s in statements if s.cell.position < block[0].position))
    later = frozenset(id(s) for s in statements if s.cell.position > chosen.position
                      and not (isinstance(s.node, (*DEFINITIONS, ast.Import, ast.ImportFrom))
                               and "*" not in s.binds and not (s.binds & bound_before)))
    context = _context([s for s in statements if id(s) not in later], function, None,
                       frozenset(map(id, block)), code)
    return TaskCode("statements", context=context, task_code=tuple(s.statement(s.cell is chosen) for s in code))


def extract_in_process(path: Path) -> Submission:
    """Per task, what the task process runs for the submission at ``path``; in this process, unbounded.

    Only for trusted files (the reference) and for ``extract``'s child process.
    """
    path = Path(path)
    cells = read_cells(path)
    colab = colab_names(cells)
    statements: list[TopStatement] = []
    for cell in cells:
        if cell.tree is not None:
            cell.statements = [analyse(cell, node, colab) for node in cell.tree.body]
            statements.extend(cell.statements)
    tasks: dict[str, TaskCode] = {}
    for task, name in DEFINITION_TASKS.items():
        found = _definition_task(name, "definition", statements, cells)
        tasks[task] = found if found is not None else _not_found(f"`{name}`", (name,), cells)
    for task in STATEMENT_TASKS:
        tasks[task] = _statement_task(task, statements, cells)
    ordered = {task: tasks[task] for task in REGISTRY.ids()}
    return Submission(ordered, review_flags(cells))


def reference_code(path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    """The imports and the top-level class/def sources of the reference module at ``path``."""
    try:
        source = normalise_newlines(Path(path).read_text(encoding="utf-8"))
        tree = ast.parse(source)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise SubmissionError(f"{path}: the reference cannot be read: {exc}") from exc
    lines = source.split("\n")
    imports, definitions = [], {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(segment(lines, node)[0])
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            definitions[node.name] = segment(lines, node)[0]
    return tuple(imports), definitions
