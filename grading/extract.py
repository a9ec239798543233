"""Pull the graded code out of a submission: a notebook or a Python module.

Nothing is executed here; the source is only parsed with ``ast``. Markers
(``### BEGIN SOLUTION``) are not needed: a task is found by what it defines.

* 1a, 2a, 3a, 3b: the last top-level ``class SimpleMLP`` / ``def train`` /
  ``def compute_accuracy`` / ``def compute_accuracy_per_class``.
* 1b: the last cell that assigns ``model1``/``model2``/``model3`` at top level
  (its statements), else a ``def build_equivalent_models``.
* 2b: the last cell that assigns ``optimizers`` at top level, else a
  ``def train_models``; else the cell holding ``### BEGIN SOLUTION 2b``.

Besides the task's code, a task gets every top-level import of the
submission and the helper functions, classes and constants that its code
uses (transitively). A cell with a syntax error costs only the tasks whose
names it mentions.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path


DEFINITION_TASKS = {"1a": "SimpleMLP", "2a": "train", "3a": "compute_accuracy",
                    "3b": "compute_accuracy_per_class"}
# statement tasks: names the cell assigns, and the function a module defines instead
STATEMENT_TASKS = {"1b": (("model1", "model2", "model3"), "build_equivalent_models"),
                   "2b": (("optimizers",), "train_models")}
# given code and the answers of all tasks always come from the reference
PROTECTED_NAMES = frozenset({"SimpleFixedMLP", *DEFINITION_TASKS.values(),
                             *(function for _, function in STATEMENT_TASKS.values())})
_MAGIC_LINE = re.compile(r"^(?P<indent>\s*)[%!]")


@dataclass(frozen=True)
class TaskCode:
    """What one task runs: ``kind`` is definition, function, statements or missing."""

    kind: str
    imports: tuple[str, ...] = ()  # the submission's imports that this task's code uses
    definition: str = ""  # a class/def to execute before probing ('' for statements)
    code: str = ""  # statements the probe executes itself (1b/2b in a notebook)
    helpers: tuple[str, ...] = ()
    problem: str = ""  # why the task is missing


@dataclass(frozen=True)
class Submission:
    tasks: dict[str, TaskCode] = field(default_factory=dict)


@dataclass(frozen=True)
class _Import:
    source: str
    names: frozenset[str] | None  # the names it binds; None for ``from x import *``


@dataclass(frozen=True)
class _Cell:
    index: int  # 1-based, counting code cells only
    source: str
    tree: ast.Module | None
    error: str = ""


class SubmissionError(ValueError):
    """The file cannot be read as a notebook or Python module at all."""


def read_cells(path: Path) -> list[_Cell]:
    """The code cells of a notebook (or the whole module as one cell), parsed."""
    if path.suffix == ".ipynb":
        sources = notebook_code_sources(path)
    else:
        try:
            sources = [path.read_text(encoding="utf-8")]
        except (OSError, UnicodeDecodeError) as exc:
            raise SubmissionError(f"{path}: not a readable Python file ({exc})") from exc
    return [parse_cell(index + 1, source) for index, source in enumerate(sources)]


def notebook_code_sources(path: Path) -> list[str]:
    """The sources of a v4 notebook's code cells, in order.

    Read as plain JSON (the nbformat v4 layout) rather than with nbformat: importing
    nbformat loads jsonschema's format grammars, about 3.5 s per grading run, and
    the grader needs no validation -- only the code.
    """
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
        return [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                for cell in cells if cell.get("cell_type") == "code"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise SubmissionError(f"{path}: not a readable Jupyter notebook (nbformat 4): "
                              f"{type(exc).__name__}: {exc}") from exc


def parse_cell(index: int, source: str) -> _Cell:
    """Parse one cell; IPython magics and shell lines become ``pass``."""
    lines = [_MAGIC_LINE.sub(lambda m: m["indent"] + "pass  # ", line) for line in source.splitlines()]
    text = "\n".join(lines)
    try:
        return _Cell(index, text, ast.parse(text))
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return _Cell(index, text, None, f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"
                     + (f" (line {line})" if line else ""))


def extract(path: Path) -> Submission:
    """The graded code of the submission at ``path``."""
    cells = read_cells(path)
    imports: list[_Import] = []
    definitions: dict[str, tuple[_Cell, str]] = {}
    constants: dict[str, str] = {}
    for cell in cells:
        if cell.tree is None:
            continue
        for node in cell.tree.body:
            segment = _node_lines(cell.source, node)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                    imports.append(_Import(segment, _bound_names(node)))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                definitions[node.name] = (cell, _node_lines(cell.source, node))
            elif isinstance(node, ast.Assign) and _is_constant(node.value):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = segment
    helpers = {name: source for name, (_, source) in definitions.items() if name not in PROTECTED_NAMES}
    helpers.update((name, source) for name, source in constants.items() if name not in PROTECTED_NAMES)
    tasks = {}
    for task, name in DEFINITION_TASKS.items():
        tasks[task] = _definition_task(name, definitions, cells, helpers)
    for task, (targets, function) in STATEMENT_TASKS.items():
        tasks[task] = _statement_task(task, targets, function, definitions, cells, helpers)
    return Submission({task: _with_imports(code, imports) for task, code in tasks.items()})


def _bound_names(node: ast.Import | ast.ImportFrom) -> frozenset[str] | None:
    if any(alias.name == "*" for alias in node.names):
        return None
    return frozenset((alias.asname or alias.name).split(".")[0] for alias in node.names)


def _with_imports(task_code: TaskCode, imports: list[_Import]) -> TaskCode:
    """``task_code`` with the imports its code uses: heavy unused ones (torchvision) cost time."""
    used: set[str] = set()
    for source in (task_code.definition, task_code.code, *task_code.helpers):
        used |= _names_used(source)
    chosen = tuple(i.source for i in imports if i.names is None or i.names & used)
    return dataclasses.replace(task_code, imports=chosen)


def _node_lines(source: str, node: ast.stmt) -> str:
    """The whole lines of a top-level statement, decorators included."""
    lines = source.splitlines()
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[first - 1:node.end_lineno])


def _is_constant(value: ast.expr) -> bool:
    """A literal or arithmetic on literals, e.g. ``HIDDEN = 32`` or ``SIZES = [784, 32]``."""
    allowed = (ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp,
               ast.operator, ast.unaryop, ast.Load)
    return all(isinstance(node, allowed) for node in ast.walk(value))


def _names_used(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _helpers_for(source: str, helpers: dict[str, str]) -> tuple[str, ...]:
    """The helper sources ``source`` uses, directly or through other helpers, in definition order."""
    needed: set[str] = set()
    pending = _names_used(source)
    while pending:
        name = pending.pop()
        if name in helpers and name not in needed:
            needed.add(name)
            pending |= _names_used(helpers[name])
    return tuple(source for name, source in helpers.items() if name in needed)


def _broken_cell_mentioning(names: tuple[str, ...], cells: list[_Cell]) -> _Cell | None:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    broken = [cell for cell in cells if cell.tree is None and pattern.search(cell.source)]
    return broken[-1] if broken else None


def _missing(what: str, names: tuple[str, ...], cells: list[_Cell]) -> TaskCode:
    broken = _broken_cell_mentioning(names, cells)
    if broken is not None:
        return TaskCode("missing", problem=f"code cell {broken.index}, which holds {what}, "
                                           f"cannot be parsed: {broken.error}")
    return TaskCode("missing", problem=f"{what} was not found in the submission")


def _definition_task(name: str, definitions: dict, cells: list[_Cell], helpers: dict) -> TaskCode:
    if name not in definitions:
        return _missing(f"`{name}`", (name,), cells)
    cell, source = definitions[name]
    broken = _broken_cell_mentioning((name,), [c for c in cells if c.index > cell.index])
    if broken is not None:
        return _missing(f"`{name}`", (name,), [broken])
    return TaskCode("definition", definition=source, helpers=_helpers_for(source, helpers))


def _assigned_names(node: ast.stmt) -> set[str]:
    targets = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _statement_task(task: str, targets: tuple[str, ...], function: str, definitions: dict,
                    cells: list[_Cell], helpers: dict) -> TaskCode:
    marker = f"### BEGIN SOLUTION {task}"
    candidates = [cell for cell in cells if cell.tree is not None and any(
        _assigned_names(node) & set(targets) for node in cell.tree.body)]
    if not candidates and function not in definitions:
        candidates = [cell for cell in cells if cell.tree is not None and marker in cell.source]
    if candidates:
        cell = candidates[-1]
        later_broken = _broken_cell_mentioning(targets, [c for c in cells if c.index > cell.index])
        if later_broken is not None:
            return _missing(f"the Task {task} code", targets, [later_broken])
        kept = [node for node in cell.tree.body
                if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        and node.name in PROTECTED_NAMES)]
        code = "\n".join(_node_lines(cell.source, node) for node in kept)
        return TaskCode("statements", code=code, helpers=_helpers_for(code, helpers))
    if function in definitions:
        _, source = definitions[function]
        return TaskCode("function", definition=source, helpers=_helpers_for(source, helpers))
    return _missing(f"the Task {task} code (assigning {', '.join(targets)})", targets + (function,), cells)



def reference_code(path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    """The imports and the top-level class/def sources of the reference module at ``path``."""
    cells = read_cells(path)
    if cells[0].tree is None:
        raise SubmissionError(f"{path}: the reference does not parse: {cells[0].error}")
    imports, definitions = [], {}
    for node in cells[0].tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(_node_lines(cells[0].source, node))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            definitions[node.name] = _node_lines(cells[0].source, node)
    return tuple(imports), definitions
