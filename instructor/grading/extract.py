"""Read a submission and say, for every task, which of its statements the task process runs.

Nothing is executed here: sources are only parsed with ``ast``.

Reading
    A ``.ipynb`` file is read with nbformat (any nbformat 4.x as Jupyter,
    JupyterLab, Colab or VS Code write it; older versions are converted), a
    ``.py`` file with jupytext (percent ``# %%`` and light formats, Colab's
    "Download .py" with markdown as string literals, plain modules). A file
    that cannot be read as a whole (not JSON, no list of cells, not UTF-8,
    larger than ``MAX_NOTEBOOK_BYTES``/``MAX_PYTHON_BYTES``) raises
    ``SubmissionError``; a cell that cannot be read (no text, too long, a
    syntax error, nested too deeply) costs only the tasks whose names it
    mentions. IPython syntax is recognised with IPython's
    ``TransformerManager``: line magics and shell lines (``%matplotlib
    inline``, ``!pip install``) are left out, ``%time statement`` keeps the
    statement; the body of a ``%%time``, ``%%timeit`` or ``%%capture`` cell
    is Python, any other cell magic leaves the cell out.

Locations
    In a notebook every cell counts, markdown and raw cells too: the first
    cell of the file is cell 1. ``Statement.where`` is ``"cell N"`` and
    ``Statement.line`` the 1-based line inside that cell as the student sees it
    (a ``%%time`` line counts). In a ``.py`` file ``where`` is ``""`` and
    ``line`` is the line of the file.

What a task runs
    ``TaskCode.context`` is the submission's top-level statements in order, as
    running the notebook top to bottom would (the last definition wins),
    without what must not run in the grader:

    * statements that are not an import, a ``def``/``class``, an assignment,
      an ``if``/``try`` block or a ``for`` loop with an unconditional
      ``break`` in its body (the given loop that shows one batch):
      expression statements (prints, plots, seeding), other loops, ``with``
      blocks, ``del``, ...; the blocks and loops that run do so without the
      statements inside them that would be skipped at top level (each
      replaced by ``pass``), and only when something of them is left to
      define a name;
    * MNIST loading and downloads: statements naming ``MNIST`` (and its
      sibling datasets), ``ensure_mnist``, torchvision ``datasets``,
      ``download``, ``urllib``, ``requests``, calling a function whose name
      holds ``mnist`` (``load_mnist()``), or importing a module whose name
      does (``mnist_data``); a plain name such as ``mnist_classes`` is no
      data;
    * assignments to the names the grader provides (``DATA_NAMES``);
    * statements calling training, evaluation, plotting or self-checks
      (``SKIPPED_CALLS``, ``check_task_*``, ``visualize_*``, ``.backward()``,
      ``.step()``);
    * magics and shell lines, Colab-only code (``google.colab`` imports and
      the statements using the names they bind), ``solution`` imports;
    * definitions of the protected names of other tasks (the reference's
      are used), so that e.g. a broken ``SimpleMLP`` costs only Task 1a;
    * imports whose names nothing else the task runs uses (an unused
      ``torchvision`` import costs seconds in every task process).

    Definition tasks (1a, 2a, 3a, 3b) keep their own definitions in place; the
    last one is ``graded``: its failure fails the task, the failure of any
    other context statement costs only the names it would have defined.

    Statement tasks: 1b is the last cell assigning ``model1``/``model2``/
    ``model3``, 2b the last cell assigning ``optimizers`` (else a ``def
    build_equivalent_models`` / ``def train_models``, kind ``function``,
    graded like a definition; else the cell holding ``### BEGIN SOLUTION``).
    That cell's statements are ``TaskCode.task_code`` (graded) and not in the
    context; the code cells after it, over markdown cells, up to a cell that
    defines or assigns another task's names, are added ungraded (a task split
    over cells, a comment paragraph that jupytext made a markdown cell); in a
    .py file so are the code cells right before it, up to text. Magics, data
    loading, assignments to ``DATA_NAMES``, self-check calls and protected
    definitions are removed from the task code; plotting and training stay.
    The context of a statement task is what runs before its cell, plus the
    ``def``/``class`` and imports of later cells whose names nothing before
    it binds (cells run out of order).

Review flags
    ``Submission.review`` lists uses of introspection and low-level
    process/file tricks (``sys._getframe``, ``inspect`` frames, ``ctypes``,
    raw ``os`` file descriptors and processes, ``socket``, ``subprocess``,
    ``/proc``, ...), e.g. ``"sys._getframe, cell 16 line 3"`` or
    ``"socket, line 12"``: one entry per place (``"os.kill/signal, cell 3
    line 9"`` when a line has several), at most ``MAX_REVIEW_FLAGS``.
"""
from __future__ import annotations

import ast
import io
import json
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from instructor.tasks import REGISTRY

# the task tables are live views of the registry (instructor/tasks), which a test may extend
DEFINITION_TASKS = REGISTRY.definition_tasks()
# statement tasks: names the cell assigns, and the function a module defines instead
STATEMENT_TASKS = REGISTRY.statement_tasks()
# given code and the answers of all tasks always come from the reference, except the task's own
PROTECTED_NAMES = REGISTRY.answer_names("SimpleFixedMLP")
# the grader provides these itself (small synthetic data)
DATA_NAMES = frozenset({"train_set", "test_set", "train_loader", "test_loader"})
# calls that train, evaluate, plot or self-check: such statements stay out of the context
SKIPPED_CALLS = REGISTRY.skipped_calls()
SKIPPED_CALL_PREFIXES = ("check_task_", "visualize_")
SKIPPED_METHODS = frozenset({"backward", "step"})
SELF_CHECK_PREFIX = "check_task_"
# names that load MNIST or download something
MNIST_DATASETS = frozenset({"MNIST", "FashionMNIST", "EMNIST", "KMNIST", "QMNIST"})
DATA_IDENTIFIERS = frozenset({"datasets", "ensure_mnist", "urllib", "urllib2", "urllib3", "requests", "httpx",
                              "urlretrieve", "urlopen", "wget", "gdown"})
# cell magics whose body is Python and is kept
KEPT_CELL_MAGICS = frozenset({"time", "timeit", "capture"})
# reading limits: bigger files are refused, bigger cells cost only themselves
MAX_NOTEBOOK_BYTES = 32 * 2**20
MAX_PYTHON_BYTES = 2**19
MAX_CELL_CHARS = 200_000
MAX_CODE_CHARS = 1_000_000
# a cell with more magic or shell lines than this is skipped whole, like a cell magic that is not Python
MAX_MAGIC_LINES = 100
# how far ahead a .py cell's line is looked for in the file
LINE_LOOKAHEAD = 200
# how far ahead a line changed by IPython's transformer is looked for in the cell
MAGIC_LOOKAHEAD = 50
MAX_REVIEW_FLAGS = 20

# --- review flags: modules flagged wherever they are imported, members of others, attributes, strings
REVIEW_MODULES = frozenset({"gc", "ctypes", "signal", "socket", "subprocess", "builtins", "importlib",
                            "posix", "pty", "fcntl", "mmap", "resource"})
REVIEW_MEMBERS = {
    "sys": frozenset({"_getframe", "modules", "_current_frames", "settrace", "setprofile"}),
    "inspect": frozenset({"currentframe", "stack", "trace", "getouterframes", "getinnerframes", "getframeinfo",
                          "getargvalues", "getgeneratorlocals", "getcoroutinelocals"}),
    "os": frozenset({"write", "read", "dup", "dup2", "fdopen", "open", "close", "closerange", "pipe", "lseek",
                     "openpty", "fork", "forkpty", "_exit", "kill", "killpg", "setsid", "setpgid", "setpgrp",
                     "system", "popen", "abort"}),
}
REVIEW_OS_PREFIXES = ("exec", "spawn", "posix_spawn")
# frame and globals attributes: flagged where nothing else at the same place is
REVIEW_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame",
                               "__globals__", "__subclasses__"})
REVIEW_NAMES = frozenset({"__builtins__", "__import__"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)
_TRY = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)


class SubmissionError(ValueError):
    """The file cannot be read as a notebook or Python module at all."""


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its source and where the student sees its first line."""

    source: str
    where: str  # "cell N" in a notebook, "" in a .py file
    line: int  # 1-based line of the first line: in the cell, or in the .py file
    graded: bool = False  # its failure fails the task (else it costs only the names it defines)

    def to_json(self) -> dict:
        return {"source": self.source, "where": self.where, "line": self.line, "graded": self.graded}


@dataclass(frozen=True)
class TaskCode:
    """What one task runs: ``kind`` is definition, function, statements or missing."""

    kind: str
    context: tuple[Statement, ...] = ()  # run first, each guarded unless graded
    task_code: tuple[Statement, ...] = ()  # kind "statements": run by the probe after the context
    problem: str = ""  # why the task is missing


@dataclass(frozen=True)
class Submission:
    tasks: dict[str, TaskCode]
    review: tuple[str, ...] = ()  # e.g. "sys._getframe, cell 16 line 3"


# --------------------------------------------------------------------- cells


@dataclass
class _Cell:
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
    statements: list[_Stmt] = field(default_factory=list)

    @property
    def place(self) -> str:
        return self.where or f"the code at line {self.first_line}"

    def visible(self, text_line: int) -> int:
        """The student's line for 1-based line ``text_line`` of the parsed text."""
        if not self.line_of:
            return text_line
        return self.line_of[min(max(text_line, 1), len(self.line_of)) - 1]


@dataclass
class _Stmt:
    cell: _Cell
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


def _text(value: object) -> str:
    """``value`` safe to print and to encode: control characters and lone surrogates escaped."""
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_cells(path: Path) -> list[_Cell]:
    """The cells of the submission at ``path``, code cells parsed."""
    try:
        size = path.stat().st_size
        limit = MAX_NOTEBOOK_BYTES if path.suffix == ".ipynb" else MAX_PYTHON_BYTES
        if size > limit:
            hint = " (clear the outputs and save it again)" if path.suffix == ".ipynb" else ""
            raise SubmissionError(f"{path.name}: the file has {size / 2**20:.1f} MB, more than the "
                                  f"{limit / 2**20:g} MB a submission may have{hint}")
        data = path.read_bytes()
    except OSError as exc:
        raise SubmissionError(f"{path.name}: cannot be read ({_text(exc.strerror or exc)})") from exc
    if path.suffix == ".ipynb":
        cells = _notebook_cells(data, path.name)
    else:
        text = _decode_python(data, path.name)
        cells = _notebook_cells(data, path.name) if _looks_like_notebook(text) else _python_cells(text)
    budget = [MAX_CODE_CHARS]
    for cell in cells:
        if cell.is_code and not cell.error:
            _parse_cell(cell, budget)
    return cells


def _looks_like_notebook(text: str) -> bool:
    """A notebook saved with a .py name."""
    if not text.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(text).get("cells"), list)
    except Exception:  # noqa: BLE001 -- anything unreadable is not a notebook
        return False


def _notebook_cells(data: bytes, name: str) -> list[_Cell]:
    """The cells of a notebook; nbformat reads it (converting old versions) without validating it.

    Validation (jsonschema) is skipped: it only logs, and a cell that breaks the
    schema costs only itself here. When nbformat cannot read a v4 notebook
    because of a malformed cell, its JSON is read directly.
    """
    problem = "not a readable Jupyter notebook (nbformat 4)"
    try:
        from nbformat import converter, reader

        text = data.decode("utf-8-sig")
        try:
            cells = converter.convert(reader.reads(text), 4).get("cells")
        except Exception as exc:  # noqa: BLE001 -- nbformat raises many kinds on malformed input
            cells = _v4_cells(text)
            if cells is None:
                raise exc from None
    except Exception as exc:  # noqa: BLE001
        reason = _text(" ".join(str(exc).split()))[:160]
        raise SubmissionError(f"{name}: {problem}: {type(exc).__name__}: {reason}") from None
    if not isinstance(cells, list):
        raise SubmissionError(f"{name}: {problem}: 'cells' is {type(cells).__name__}, not a list")
    result = []
    for position, cell in enumerate(cells):
        where = f"cell {position + 1}"
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            result.append(_Cell(position, where, separator=True))
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            result.append(_Cell(position, where, is_code=True, error="its source is not text"))
            continue
        result.append(_Cell(position, where, is_code=True, raw=_normalise_newlines(source)))
    return result


def _v4_cells(text: str) -> list | None:
    """The ``cells`` of notebook JSON of major version 4, or None."""
    try:
        notebook = json.loads(text)
    except Exception:  # noqa: BLE001
        return None
    if isinstance(notebook, dict) and notebook.get("nbformat", 4) == 4 and "cells" in notebook:
        return notebook["cells"]
    return None


def _decode_python(data: bytes, name: str) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return _normalise_newlines(data.decode(encoding))
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{name}: not a readable Python file ({_text(exc)[:160]})") from None


def _python_cells(text: str) -> list[_Cell]:
    """The jupytext cells of a .py file, each code cell with the file lines of its lines."""
    try:
        import jupytext

        notebook = jupytext.reads(text, fmt="py")
        parts = [(cell.cell_type, cell.source) for cell in notebook.cells]
    except Exception:  # noqa: BLE001 -- an unusual file is read as one cell
        parts = [("code", text)]
    file_lines = text.split("\n")
    cursor = 0
    cells = []
    for position, (cell_type, source) in enumerate(parts):
        if cell_type != "code" or not isinstance(source, str):
            cells.append(_Cell(position, "", separator=True))
            continue
        raw = _normalise_newlines(source)
        if len(parts) == 1 and raw == text:
            raw_lines_of = list(range(1, len(file_lines) + 1))
        else:
            raw_lines_of, cursor = _locate_lines(raw.split("\n"), file_lines, cursor)
        cell = _Cell(position, "", is_code=True, raw=raw, first_line=raw_lines_of[0] if raw_lines_of else 1)
        cell.line_of = raw_lines_of  # raw line -> file line; refined by _parse_cell
        cells.append(cell)
    return cells


def _same_line(in_file: str, in_cell: str) -> bool:
    if in_file == in_cell or in_file.rstrip() == in_cell.rstrip():
        return True
    # jupytext uncomments magics: "# %matplotlib inline" -> "%matplotlib inline"
    stripped, wanted = in_file.lstrip(), in_cell.strip()
    return wanted[:1] in ("%", "!") and stripped.startswith("#") and stripped.lstrip("#").strip() == wanted


def _locate_lines(cell_lines: list[str], file_lines: list[str], cursor: int) -> tuple[list[int], int]:
    """The 1-based file line of each cell line, looked for in order from ``cursor``."""
    found_lines: list[int] = []
    previous: int | None = None
    for text in cell_lines:
        start = cursor if previous is None else previous + 1
        found = None
        if start < len(file_lines) and _same_line(file_lines[start], text):
            found = start
        elif text.strip():
            for index in range(start, min(len(file_lines), start + LINE_LOOKAHEAD)):
                if _same_line(file_lines[index], text):
                    found = index
                    break
        if found is None:
            found = start
        found_lines.append(found + 1)
        previous = found
        cursor = max(cursor, found + 1)
    return found_lines, cursor


# --------------------------------------------------------------------- IPython syntax

_TRANSFORMER = None
# `%time statement` runs the statement: it is kept
_TIMED_LINE = re.compile(r"^\s*%(?:time|timeit)\s+(?P<statement>[^\s\\-].*?)\s*$")


def _transformer():
    global _TRANSFORMER
    if _TRANSFORMER is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _TRANSFORMER = TransformerManager()
    return _TRANSFORMER


def _transform(text: str) -> str:
    try:
        return _transformer().transform_cell(text)
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
    magic_lines = sum(1 for line in body_lines if line.lstrip()[:1] in ("%", "!"))
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


def _parse_cell(cell: _Cell, budget: list[int]) -> None:
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


def _parse_error(cell: _Cell, exc: BaseException) -> str:
    if isinstance(exc, (MemoryError, RecursionError)):
        return f"{type(exc).__name__}: the code is nested too deeply"
    if isinstance(exc, SyntaxError):
        where = f" (line {cell.visible(exc.lineno)})" if exc.lineno else ""
        return _text(f"SyntaxError: {exc.msg}{where}")
    if isinstance(exc, UnicodeError):
        return "it holds characters that are not valid Unicode text"
    return _text(f"{type(exc).__name__}: {exc}")[:200]


# --------------------------------------------------------------------- statements


def _segment(lines: list[str], node: ast.stmt) -> tuple[str, int]:
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


def _bound_names(node: ast.stmt) -> frozenset[str]:
    """Names a top-level statement binds in the module namespace ("*" for a star import)."""
    names: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, _DEFS):
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
            elif isinstance(inner, (ast.Pass, ast.Break, ast.Continue, *_DEFS)):
                continue
            elif not isinstance(inner, (ast.Import, ast.ImportFrom, *_ASSIGNMENTS)) \
                    or any(_flags(inner, colab_names)):
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


def _pruned_block(cell: _Cell, node: ast.stmt, colab_names: frozenset[str]) -> str | None:
    """What a context runs of an if/try/for block: its source without the statements skipped at top level.

    None when nothing of it is left to define a name, or when the result does not parse.
    """
    skipped = _skipped_inside(node, colab_names)
    source = _without(cell.lines, node, skipped) if skipped else _segment(cell.lines, node)[0]
    try:
        tree = ast.parse(source)
    except Exception:  # noqa: BLE001 -- an unusual layout: leave the block out
        return None
    if len(tree.body) != 1 or not _bound_names(tree.body[0]):
        return None
    return source


def _is_data_identifier(name: str) -> bool:
    """A name that loads MNIST or downloads something (``mnist_classes`` is none)."""
    return name in MNIST_DATASETS or name in DATA_IDENTIFIERS or "download" in name.lower()


def _is_data_module(name: str) -> bool:
    """A dotted module name of an import that loads data (``mnist_data``, ``torchvision.datasets``, ...)."""
    return any(_is_data_identifier(part) or "mnist" in part.lower() for part in name.split("."))


def _imports_module(node: ast.stmt, module: str) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == module or alias.name.startswith(module + ".") for alias in node.names)
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        full = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        return any(name == module or name.startswith(module + ".") for name in full)
    return False


def _colab_names(cells: list[_Cell]) -> frozenset[str]:
    """Names bound by top-level ``google.colab`` imports."""
    names: set[str] = set()
    for cell in cells:
        for node in cell.tree.body if cell.tree is not None else ():
            if _imports_module(node, "google.colab"):
                names |= _bound_names(node) - {"*"}
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


def _flags(node: ast.stmt, colab_names: frozenset[str]) -> _Flags:
    magic = data = colab = graded_call = visual_call = self_check = False
    binds = _bound_names(node)
    if not isinstance(node, _DEFS):
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
    colab |= _imports_module(node, "google.colab") or _imports_module(node, "google") and "colab" in binds
    return _Flags(magic, data, colab, _imports_module(node, "solution"), graded_call, visual_call, self_check)


def _analyse(cell: _Cell, node: ast.stmt, colab_names: frozenset[str]) -> _Stmt:
    """One top-level statement: may it run in a context (and as what), may it be task code.

    Imports, definitions and assignments run as they are; an if/try block, or
    a ``for`` loop that stops with ``break`` after its first pass (the given
    loop that shows one batch), runs without the statements inside it that
    would be skipped at top level. A block that loads data, trains,
    evaluates or self-checks anywhere is left out as a whole.
    """
    source, first = _segment(cell.lines, node)
    binds = _bound_names(node)
    flags = _flags(node, colab_names)
    blocked = flags.magic or flags.data or flags.colab or flags.solution or flags.graded_call
    context_source = ""
    if isinstance(node, (ast.Import, ast.ImportFrom, *_DEFS, *_ASSIGNMENTS)):
        runs = not (blocked or flags.visual_call)
    elif isinstance(node, (ast.If, *_TRY)) or _is_setup_loop(node):
        context_source = "" if blocked else _pruned_block(cell, node, colab_names) or ""
        runs = bool(context_source)
    else:
        runs = False
    dropped = (flags.magic or flags.data or flags.colab or flags.solution or flags.self_check
               or isinstance(node, ast.Pass))
    uses = frozenset(inner.id for inner in ast.walk(node) if isinstance(inner, ast.Name))
    return _Stmt(cell, node, source, cell.visible(first), binds, uses, runs, dropped, context_source)


def _call_name(call: ast.Call) -> tuple[str, bool]:
    if isinstance(call.func, ast.Name):
        return call.func.id, False
    if isinstance(call.func, ast.Attribute):
        return call.func.attr, True
    return "", False


# --------------------------------------------------------------------- tasks


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


def _broken(cells: list[_Cell], pattern: re.Pattern | _Assigns) -> list[_Cell]:
    return [cell for cell in cells if cell.error and pattern.search(cell.raw)]


def _unparsable(what: str, cell: _Cell) -> TaskCode:
    return TaskCode("missing", problem=f"{cell.place}, which holds {what}, cannot be parsed: {cell.error}")


def _not_found(what: str, names: tuple[str, ...], cells: list[_Cell]) -> TaskCode:
    broken = _broken(cells, _mentions(names))
    if broken:
        return _unparsable(what, broken[-1])
    return TaskCode("missing", problem=f"{what} was not found in the submission")


def _context(statements: list[_Stmt], own: str | None, graded: _Stmt | None,
             excluded: frozenset[int] = frozenset(), task_code: tuple[_Stmt, ...] = ()) -> tuple[Statement, ...]:
    protected = PROTECTED_NAMES - {own}
    chosen = [s for s in statements if s.runs and not (s.binds & protected) and id(s.cell) not in excluded]
    used = frozenset().union(*(s.uses for s in (*chosen, *task_code) if not _is_plain_import(s.node)))
    return tuple(s.context_statement(s is graded) for s in chosen
                 if not _is_plain_import(s.node) or "*" in s.binds or s.binds & used
                 or (isinstance(s.node, ast.ImportFrom) and s.node.module == "__future__"))


def _is_plain_import(node: ast.stmt) -> bool:
    return isinstance(node, (ast.Import, ast.ImportFrom))


def _definition_task(name: str, kind: str, statements: list[_Stmt], cells: list[_Cell]) -> TaskCode | None:
    """The task whose answer is the last top-level definition of ``name``; None if there is none."""
    sites = [s for s in statements if s.runs and name in s.binds]
    broken = _broken(cells, _defines(name))
    if broken and (not sites or broken[-1].position > sites[-1].cell.position):
        return _unparsable(f"`{name}`", broken[-1])
    if not sites:
        return None
    return TaskCode(kind, context=_context(statements, name, sites[-1]))


def _statement_task(task: str, statements: list[_Stmt], cells: list[_Cell]) -> TaskCode:
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


def _block_task(task: str, chosen: _Cell, statements: list[_Stmt], cells: list[_Cell], function: str) -> TaskCode:
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
                      and not (isinstance(s.node, (*_DEFS, ast.Import, ast.ImportFrom))
                               and "*" not in s.binds and not (s.binds & bound_before)))
    context = _context([s for s in statements if id(s) not in later], function, None,
                       frozenset(map(id, block)), code)
    return TaskCode("statements", context=context, task_code=tuple(s.statement(s.cell is chosen) for s in code))


def extract(path: Path) -> Submission:
    """Per task, what the task process runs for the submission at ``path``."""
    path = Path(path)
    cells = read_cells(path)
    colab_names = _colab_names(cells)
    statements: list[_Stmt] = []
    for cell in cells:
        if cell.tree is not None:
            cell.statements = [_analyse(cell, node, colab_names) for node in cell.tree.body]
            statements.extend(cell.statements)
    tasks: dict[str, TaskCode] = {}
    for task, name in DEFINITION_TASKS.items():
        found = _definition_task(name, "definition", statements, cells)
        tasks[task] = found if found is not None else _not_found(f"`{name}`", (name,), cells)
    for task in STATEMENT_TASKS:
        tasks[task] = _statement_task(task, statements, cells)
    ordered = {task: tasks[task] for task in REGISTRY.ids()}
    return Submission(ordered, review_flags(cells))


# --------------------------------------------------------------------- review flags


def _import_aliases(cells: list[_Cell]) -> dict[str, set[str]]:
    """Local name -> the dotted names it may stand for, from every import of the submission."""
    aliases: dict[str, set[str]] = {}
    for cell in cells:
        if cell.tree is None:
            continue
        for node in ast.walk(cell.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    aliases.setdefault(local, set()).add(alias.name if alias.asname else local)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        aliases.setdefault(alias.asname or alias.name, set()).add(f"{node.module}.{alias.name}")
    return aliases


def _member_flag(dotted: str) -> str:
    """The label of a flagged dotted name (``sys._getframe``; ``socket`` for all of socket), or ''."""
    parts = dotted.split(".")
    if parts[0] in REVIEW_MODULES:
        return parts[0]
    if len(parts) >= 2 and parts[0] in REVIEW_MEMBERS:
        member = parts[1]
        if member in REVIEW_MEMBERS[parts[0]] or (parts[0] == "os" and member.startswith(REVIEW_OS_PREFIXES)):
            return f"{parts[0]}.{member}"
    return ""


def _node_flags(node: ast.AST, aliases: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """(flags, secondary flags) for one node."""
    if isinstance(node, ast.Import):
        return [flag for alias in node.names if (flag := _member_flag(alias.name))], []
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        if node.module.split(".")[0] in REVIEW_MODULES:
            return [_member_flag(node.module)], []
        return [flag for alias in node.names if (flag := _member_flag(f"{node.module}.{alias.name}"))], []
    if isinstance(node, ast.Attribute):
        flags = []
        if isinstance(node.value, ast.Name):
            imported = aliases.get(node.value.id)
            for base in imported or {node.value.id}:
                dotted = f"{base}.{node.attr}"
                if dotted.split(".")[0] in REVIEW_MODULES and not imported:
                    continue  # a variable that happens to share a module's name
                if flag := _member_flag(dotted):
                    flags.append(flag)
        return flags, [node.attr] if node.attr in REVIEW_ATTRIBUTES else []
    if isinstance(node, ast.Name):
        if node.id in REVIEW_NAMES:
            return [node.id], []
        return [flag for dotted in aliases.get(node.id, ()) if "." in dotted and (flag := _member_flag(dotted))
                and dotted.split(".")[0] not in REVIEW_MODULES], []
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc" in node.value:
        return ["/proc"], []
    return [], []


def review_flags(cells: list[_Cell]) -> tuple[str, ...]:
    """Places where the code uses introspection or low-level process/file tricks, in source order.

    One entry per place, e.g. ``"os.kill/signal, cell 10 line 9"``; a frame
    attribute (``f_back``, ...) is named only where nothing else is.
    """
    aliases = _import_aliases(cells)
    found: dict[tuple[int, int, int], dict[str, None]] = {}
    secondary: dict[tuple[int, int, int], dict[str, None]] = {}
    for cell in cells:
        if cell.tree is None:
            continue
        for node in ast.walk(cell.tree):
            lineno = getattr(node, "lineno", None)
            if lineno is None:
                continue
            flags, weaker = _node_flags(node, aliases)
            key = (cell.position, cell.visible(lineno), 0)
            for flag in flags:
                found.setdefault(key, {})[flag] = None
            for flag in weaker:
                secondary.setdefault(key, {})[flag] = None
    for key, flags in secondary.items():
        if key not in found:
            found[key] = flags
    where = {cell.position: cell.where for cell in cells}
    result = []
    for (position, line, _), flags in sorted(found.items())[:MAX_REVIEW_FLAGS]:
        place = f"{where[position]} line {line}" if where[position] else f"line {line}"
        result.append(_text(f"{'/'.join(flags)}, {place}"))
    return tuple(result)


# --------------------------------------------------------------------- reference


def reference_code(path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    """The imports and the top-level class/def sources of the reference module at ``path``."""
    try:
        source = _normalise_newlines(Path(path).read_text(encoding="utf-8"))
        tree = ast.parse(source)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise SubmissionError(f"{path}: the reference cannot be read: {exc}") from exc
    lines = source.split("\n")
    imports, definitions = [], {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(_segment(lines, node)[0])
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            definitions[node.name] = _segment(lines, node)[0]
    return tuple(imports), definitions
