"""One top-level statement of a submission: what it binds and uses, and whether a task process may run it.

See ``grading.extraction`` ("What a task runs") for the rules.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from instructor.grading.extraction.cells import Cell
from instructor.grading.extraction.submission import Statement
from instructor.grading.extraction.task_tables import DATA_NAMES, SKIPPED_CALLS

SKIPPED_CALL_PREFIXES = ("check_task_", "visualize_")
SKIPPED_METHODS = frozenset({"backward", "step"})
SELF_CHECK_PREFIX = "check_task_"
# names that load MNIST or download something
MNIST_DATASETS = frozenset({"MNIST", "FashionMNIST", "EMNIST", "KMNIST", "QMNIST"})
DATA_IDENTIFIERS = frozenset({"datasets", "ensure_mnist", "urllib", "urllib2", "urllib3", "requests", "httpx",
                              "urlretrieve", "urlopen", "wget", "gdown"})
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)
_TRY = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)


@dataclass
class TopStatement:
    cell: Cell
    node: ast.stmt
    source: str
    line: int
    binds: frozenset[str]
    uses: frozenset[str]  # every name the statement mentions, function bodies included
    runs: bool  # may run in a context (protected names aside)
    dropped: bool  # never part of task code
    context_source: str = ""  # what a context runs: an if/try/for block without its skipped statements

    def statement(self, graded: bool = False) -> Statement:
        return Statement(self.source, self.cell.where, self.line, graded)

    def context_statement(self, graded: bool = False) -> Statement:
        return Statement(self.context_source or self.source, self.cell.where, self.line, graded)


def segment(lines: list[str], node: ast.stmt) -> tuple[str, int]:
    """The source of a top-level statement, decorators included, and its first text line."""
    first, column = node.lineno, node.col_offset
    decorators = getattr(node, "decorator_list", ())
    if decorators:
        first, column = min(first, *(d.lineno for d in decorators)), 0
    last, end = node.end_lineno or first, node.end_col_offset

    def cut(text: str, start: int, stop: int | None) -> str:
        if text.isascii():
            return text[start:stop]
        return text.encode("utf-8")[start:stop].decode("utf-8", "replace")

    if first == last:
        return cut(lines[first - 1], column, end), first
    parts = [cut(lines[first - 1], column, None), *lines[first:last - 1], cut(lines[last - 1], 0, end)]
    return "\n".join(parts), first


def bound_names(node: ast.stmt) -> frozenset[str]:
    """Names a top-level statement binds in the module namespace ("*" for a star import)."""
    names: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, DEFINITIONS):
            names.add(current.name)
            if current is not node:
                continue
            stack.extend(current.decorator_list)
            continue
        if isinstance(current, (ast.Lambda, *_COMPREHENSIONS)):
            continue
        if isinstance(current, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in current.names)
        elif isinstance(current, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in current.names)
        elif isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            names.add(current.id)
        elif isinstance(current, ast.ExceptHandler) and current.name:
            names.add(current.name)
        stack.extend(ast.iter_child_nodes(current))
    return frozenset(names)


def _executed_nodes(node: ast.AST):
    """``node`` and what it contains, without the bodies of nested functions, classes and lambdas."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is not node and isinstance(current, _SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(current))


def _bodies(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists of an if, try or for block."""
    if isinstance(node, _TRY):
        return [node.body, *(handler.body for handler in node.handlers), node.orelse, node.finalbody]
    return [node.body, node.orelse]


def _is_setup_loop(node: ast.stmt) -> bool:
    """A ``for`` loop that stops after its first pass: an unconditional ``break`` in its body."""
    return isinstance(node, ast.For) and any(isinstance(inner, ast.Break) for inner in node.body)


def _skipped_inside(node: ast.stmt, colab_names: frozenset[str]) -> list[ast.stmt]:
    """The statements of an if/try/for block that would be skipped at top level, nested blocks searched."""
    skipped = []
    for body in _bodies(node):
        for inner in body:
            if isinstance(inner, (ast.If, *_TRY)):
                skipped.extend(_skipped_inside(inner, colab_names))
            elif isinstance(inner, (ast.Pass, ast.Break, ast.Continue, *DEFINITIONS)):
                continue
            elif not isinstance(inner, (ast.Import, ast.ImportFrom, *_ASSIGNMENTS)) \
                    or any(statement_flags(inner, colab_names)):
                skipped.append(inner)
    return skipped


def _without(lines: list[str], node: ast.stmt, skipped: list[ast.stmt]) -> str:
    """The source of the top-level block ``node`` with each of the ``skipped`` statements replaced by ``pass``.

    Line numbers stay: a statement's other lines become empty, and what
    followed it on its last line (``; x = 1``) joins its ``pass``.
    """
    first, last = node.lineno, node.end_lineno or node.lineno
    text = [line.encode("utf-8") for line in lines[first - 1:last]]
    text[-1] = text[-1][:node.end_col_offset]
    for inner in sorted(skipped, key=lambda s: (s.lineno, s.col_offset), reverse=True):
        start, stop = inner.lineno - first, (inner.end_lineno or inner.lineno) - first
        text[start] = text[start][:inner.col_offset] + b"pass" + text[stop][inner.end_col_offset:]
        for index in range(start + 1, stop + 1):
            text[index] = b""
    return "\n".join(line.decode("utf-8", "replace") for line in text)


def _pruned_block(cell: Cell, node: ast.stmt, colab_names: frozenset[str]) -> str | None:
    """What a context runs of an if/try/for block: its source without the statements skipped at top level.

    None when nothing of it is left to define a name, or when the result does not parse.
    """
    skipped = _skipped_inside(node, colab_names)
    source = _without(cell.lines, node, skipped) if skipped else segment(cell.lines, node)[0]
    try:
        tree = ast.parse(source)
    except Exception:  # noqa: BLE001 -- an unusual layout: leave the block out
        return None
    if len(tree.body) != 1 or not bound_names(tree.body[0]):
        return None
    return source


def _is_data_identifier(name: str) -> bool:
    """A name that loads MNIST or downloads something (``mnist_classes`` is none)."""
    return name in MNIST_DATASETS or name in DATA_IDENTIFIERS or "download" in name.lower()


def _is_data_module(name: str) -> bool:
    """A dotted module name of an import that loads data (``mnist_data``, ``torchvision.datasets``, ...)."""
    return any(_is_data_identifier(part) or "mnist" in part.lower() for part in name.split("."))


def imports_module(node: ast.stmt, module: str) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == module or alias.name.startswith(module + ".") for alias in node.names)
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        full = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        return any(name == module or name.startswith(module + ".") for name in full)
    return False


def colab_names(cells: list[Cell]) -> frozenset[str]:
    """Names bound by top-level ``google.colab`` imports."""
    names: set[str] = set()
    for cell in cells:
        for node in cell.tree.body if cell.tree is not None else ():
            if imports_module(node, "google.colab"):
                names |= bound_names(node) - {"*"}
    return frozenset(names)


@dataclass(frozen=True)
class _Flags:
    """What a statement does that keeps it out of a context (or out of task code)."""

    magic: bool = False
    data: bool = False
    colab: bool = False
    solution: bool = False
    graded_call: bool = False  # trains, evaluates, plots a task's result, ``.backward()``, ``.step()``
    visual_call: bool = False  # ``visualize_*``
    self_check: bool = False

    def __iter__(self):
        return iter((self.magic, self.data, self.colab, self.solution, self.graded_call, self.visual_call))


def statement_flags(node: ast.stmt, colab_names: frozenset[str]) -> _Flags:
    magic = data = colab = graded_call = visual_call = self_check = False
    binds = bound_names(node)
    if not isinstance(node, DEFINITIONS):
        for inner in _executed_nodes(node):
            if isinstance(inner, ast.Name):
                magic |= inner.id == "get_ipython"
                colab |= inner.id in colab_names and not isinstance(inner.ctx, ast.Store)
                data |= _is_data_identifier(inner.id)
            elif isinstance(inner, ast.Attribute):
                data |= _is_data_identifier(inner.attr)
            elif isinstance(inner, ast.keyword) and inner.arg:
                data |= _is_data_identifier(inner.arg)
            elif isinstance(inner, ast.Import):  # import mnist_data, import torchvision.datasets as tvd
                data |= any(_is_data_module(alias.name) for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom):  # from ex4.mnist_data import ..., from x import MNIST
                data |= bool(inner.module) and _is_data_module(inner.module)
                data |= any(_is_data_identifier(alias.name) for alias in inner.names)
            elif isinstance(inner, ast.alias) and inner.asname:
                data |= _is_data_identifier(inner.asname)
            elif isinstance(inner, ast.Call):
                name, is_method = _call_name(inner)
                data |= "mnist" in name.lower()  # load_mnist(), get_mnist_loaders(), ...
                self_check |= name.startswith(SELF_CHECK_PREFIX)
                visual_call |= name.startswith(SKIPPED_CALL_PREFIXES) and not name.startswith(SELF_CHECK_PREFIX)
                graded_call |= name.startswith(SELF_CHECK_PREFIX) or (
                    name in SKIPPED_METHODS | (SKIPPED_CALLS - {"train"}) if is_method else name in SKIPPED_CALLS)
    data |= bool(binds & DATA_NAMES)
    colab |= imports_module(node, "google.colab") or imports_module(node, "google") and "colab" in binds
    return _Flags(magic, data, colab, imports_module(node, "solution"), graded_call, visual_call, self_check)


def analyse(cell: Cell, node: ast.stmt, colab_names: frozenset[str]) -> TopStatement:
    """One top-level statement: may it run in a context (and as what), may it be task code.

    Imports, definitions and assignments run as they are; an if/try block, or
    a ``for`` loop that stops with ``break`` after its first pass (the given
    loop that shows one batch), runs without the statements inside it that
    would be skipped at top level. A block that loads data, trains,
    evaluates or self-checks anywhere is left out as a whole.
    """
    source, first = segment(cell.lines, node)
    binds = bound_names(node)
    flags = statement_flags(node, colab_names)
    blocked = flags.magic or flags.data or flags.colab or flags.solution or flags.graded_call
    context_source = ""
    if isinstance(node, (ast.Import, ast.ImportFrom, *DEFINITIONS, *_ASSIGNMENTS)):
        runs = not (blocked or flags.visual_call)
    elif isinstance(node, (ast.If, *_TRY)) or _is_setup_loop(node):
        context_source = "" if blocked else _pruned_block(cell, node, colab_names) or ""
        runs = bool(context_source)
    else:
        runs = False
    dropped = (flags.magic or flags.data or flags.colab or flags.solution or flags.self_check
               or isinstance(node, ast.Pass))
    uses = frozenset(inner.id for inner in ast.walk(node) if isinstance(inner, ast.Name))
    return TopStatement(cell, node, source, cell.visible(first), binds, uses, runs, dropped, context_source)


def _call_name(call: ast.Call) -> tuple[str, bool]:
    if isinstance(call.func, ast.Name):
        return call.func.id, False
    if isinstance(call.func, ast.Attribute):
        return call.func.attr, True
    return "", False
