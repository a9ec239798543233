"""One cell of a submission: its IPython syntax removed, parsed with ``ast``, a map to the student's lines.

IPython syntax is recognised with IPython's ``TransformerManager``: line
magics and shell lines are left out (``pass``), ``%time statement`` keeps the
statement, the body of a ``%%time``, ``%%timeit`` or ``%%capture`` cell is
Python and any other cell magic leaves the cell out. A cell with more than
``MAX_MAGIC_LINES`` lines that IPython would rewrite is skipped whole: each
rewrite re-reads the cell, so such a cell costs quadratic time, and it holds
no answer anyway.
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field

from instructor.grading.text import escaped

# cell magics whose body is Python and is kept
KEPT_CELL_MAGICS = frozenset({"time", "timeit", "capture"})
MAX_CELL_CHARS = 200_000
MAX_CODE_CHARS = 1_000_000
# a cell with more magic or shell lines than this is skipped whole, like a cell magic that is not Python
MAX_MAGIC_LINES = 100
# how far ahead a line changed by IPython's transformer is looked for in the cell
MAGIC_LOOKAHEAD = 50


@dataclass
class Cell:
    position: int  # index in the submission's list of cells
    where: str  # "cell N" (notebook) or "" (.py)
    is_code: bool = False
    separator: bool = False  # markdown, raw, or a code cell holding only a string: ends a task's cells
    raw: str = ""  # the code as the student wrote it (for a .py: jupytext's cell)
    first_line: int = 1  # the line the student sees for raw's first line
    tree: ast.Module | None = None
    error: str = ""  # why the cell could not be read
    lines: list[str] = field(default_factory=list)  # the parsed text, magics replaced by `pass`
    line_of: list[int] = field(default_factory=list)  # parsed text line (0-based) -> the student's line
    # the cell's statements.TopStatement list, filled by choosing (cells knows nothing of statements)
    statements: list = field(default_factory=list)

    @property
    def place(self) -> str:
        return self.where or f"the code at line {self.first_line}"

    def visible(self, text_line: int) -> int:
        """The student's line for 1-based line ``text_line`` of the parsed text."""
        if not self.line_of:
            return text_line
        return self.line_of[min(max(text_line, 1), len(self.line_of)) - 1]


_TRANSFORMER = None
# a line IPython's transformer rewrites, each rewrite re-reading the whole cell: a magic or shell line
# (`%ls`, `!ls`), a magic or shell assignment (`files = %ls`, `out = !ls`), a help request (`len?`)
_MAGIC_LINE = re.compile(r"^\s*[%!?]|^[^#]*=\s*[%!]|^\s*[^#\s][^#]*\?\s*$")
# `%time statement` runs the statement: it is kept
_TIMED_LINE = re.compile(r"^\s*%(?:time|timeit)\s+(?P<statement>[^\s\\-].*?)\s*$")


def load_transformer():
    """IPython's transformer, imported and built once per process."""
    global _TRANSFORMER
    if _TRANSFORMER is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _TRANSFORMER = TransformerManager()
    return _TRANSFORMER


def _transform(text: str) -> str:
    try:
        return load_transformer().transform_cell(text)
    except Exception:  # noqa: BLE001 -- IPython cannot read it: parse it as it is
        return text


def _cell_magic(raw_lines: list[str]) -> tuple[str, int] | None:
    """(magic name, index of its line) when the cell is a ``%%`` cell magic."""
    first = next((index for index, line in enumerate(raw_lines) if line.strip()), None)
    if first is None or not raw_lines[first].startswith("%%"):
        return None
    transformed = _transform(raw_lines[first] + "\n")
    name = ""
    try:
        call = ast.parse(transformed).body[0].value
        if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "run_cell_magic":
            name = str(call.args[0].value)
    except Exception:  # noqa: BLE001 -- not a cell magic IPython knows
        name = ""
    return name, first


def _python_text(raw: str) -> tuple[list[str], list[int]] | None:
    """The cell as Python lines (magics become ``pass``) and the raw line index of each; None to skip it."""
    raw_lines = raw.split("\n")
    offset = 0
    magic = _cell_magic(raw_lines)
    if magic is not None:
        name, first = magic
        if name not in KEPT_CELL_MAGICS:
            return None
        offset = first + 1
    body_lines = raw_lines[offset:]
    first_code = next((line for line in body_lines if line.strip()), "")
    if not any(marker in raw for marker in ("%", "!", "?", ">>>", "In [")) and not first_code[:1].isspace():
        return body_lines, [index + offset for index in range(len(body_lines))]  # nothing for IPython to do
    magic_lines = sum(1 for line in body_lines if _MAGIC_LINE.search(line))
    if magic_lines > MAX_MAGIC_LINES:
        return None  # IPython's transformer takes quadratic time on such a cell; it holds no answer anyway
    transformed = _transform("\n".join(body_lines) + "\n").split("\n")
    if len(transformed) > 1 and transformed[-1] == "":
        transformed.pop()  # the newline added above
    if len(transformed) == len(body_lines):
        origin = list(range(len(body_lines)))
    else:  # IPython dropped leading blank lines or joined continued lines: match what is left, in order
        origin, cursor = [], 0
        for text in transformed:
            key = text.strip()
            window = range(cursor, min(len(body_lines), cursor + MAGIC_LOOKAHEAD))
            found = next((index for index in window if body_lines[index].strip() == key), None)
            found = min(cursor, len(body_lines) - 1) if found is None else found
            origin.append(found)
            cursor = found + 1
    changed = [new != body_lines[index] for new, index in zip(transformed, origin)]
    lines = []
    for text, is_changed, index in zip(transformed, changed, origin):
        if is_changed and "get_ipython()" in text:
            timed = _TIMED_LINE.match(body_lines[index])
            indent = text[:len(text) - len(text.lstrip())]
            text = indent + (timed["statement"] if timed else "pass")
        lines.append(text)
    return lines, [index + offset for index in origin]


def parse_cell(cell: Cell, budget: list[int]) -> None:
    """Parse ``cell`` with IPython syntax removed; set its tree, or its error."""
    raw_line_of = cell.line_of or list(range(1, cell.raw.count("\n") + 2))
    if len(cell.raw) > MAX_CELL_CHARS:
        cell.error = f"it has {len(cell.raw)} characters, more than the {MAX_CELL_CHARS} a cell may have"
        return
    budget[0] -= len(cell.raw)
    if budget[0] < 0:
        cell.error = f"the submission has more than {MAX_CODE_CHARS} characters of code before it"
        return
    prepared = _python_text(cell.raw)
    if prepared is None:
        return  # a cell magic whose body is not Python (%%bash, %%writefile, ...)
    lines, origin = prepared
    cell.line_of = [raw_line_of[min(index, len(raw_line_of) - 1)] for index in origin] or [raw_line_of[0]]
    cell.lines = lines
    text = "\n".join(lines)
    try:
        with warnings.catch_warnings():
            # a student's "\#" in a markdown string of a script export is their business, not the grader's
            warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
            cell.tree = ast.parse(text)
    except Exception as exc:  # noqa: BLE001 -- SyntaxError, MemoryError, RecursionError, surrogates, ...
        cell.error = _parse_error(cell, exc)
        return
    body = cell.tree.body
    cell.separator = bool(body) and all(_is_string(node) for node in body)


def _is_string(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _parse_error(cell: Cell, exc: BaseException) -> str:
    if isinstance(exc, (MemoryError, RecursionError)):
        return f"{type(exc).__name__}: the code is nested too deeply"
    if isinstance(exc, SyntaxError):
        where = f" (line {cell.visible(exc.lineno)})" if exc.lineno else ""
        return escaped(f"SyntaxError: {exc.msg}{where}")
    if isinstance(exc, UnicodeError):
        return "it holds characters that are not valid Unicode text"
    return escaped(f"{type(exc).__name__}: {exc}")[:200]
