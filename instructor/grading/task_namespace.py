"""Build one task's namespace inside the task process, as running the submission would.

Standard library only: the sandbox copies this file into the task process's
module folder, next to the probes that import it.

A job (plain JSON, made by ``grading.core`` from ``grading.extraction``) holds

* ``reference``: sources executed first (the given code and the other tasks'
  answers the task needs, filename ``<reference>``), then dropped from the
  job before the first statement of the submission runs;
* ``context``: the submission's top-level statements that this task runs, in
  notebook order, each ``{"source", "where", "line", "graded"}``;
* ``task_code``: the statements of Tasks 1b/2b, run by the probe itself.

Each statement is compiled from its own ``ast`` with line numbers shifted to
where the student sees it, under the filename ``<submission {where}>`` (e.g.
``<submission cell 16>``; ``<submission >`` for a ``.py`` file, whose line
numbers are the file's), and its lines are registered in ``linecache`` so
that tracebacks show them. A statement that is not graded and raises costs
only the names it would have defined; a graded one re-raises.
"""
from __future__ import annotations
import __future__

import builtins
import linecache
import os
import re
import traceback

SUBMISSION_PREFIX = "<submission"
REFERENCE_FILENAME = "<reference>"
# exception text of a message, in characters
MAX_EXCEPTION_CHARS = 200
# the quoted source line of a message, in characters
MAX_SOURCE_CHARS = 80
# this file's folder: never shown in messages
_OWN_FOLDER = os.path.dirname(os.path.abspath(__file__))
# terminal control characters: escaped in messages
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def build_namespace(job: dict, provided: dict) -> dict:
    """A fresh ``__main__`` namespace: the reference, then ``provided``, then the job's context.

    The reference sources are taken out of ``job`` as they are executed: no
    object the submission's code can reach holds their text. ``provided``
    holds what the grader supplies (e.g. synthetic ``train_loader``); the
    context never assigns those names. A context statement that raises (also
    SystemExit) is skipped unless it is graded; a graded one re-raises.
    """
    namespace = {"__name__": "__main__", "__builtins__": builtins, "display": display_nothing}
    execute_reference(job, namespace)
    namespace.update(provided)
    _run(job.get("context", ()), namespace, graded_by_default=False)
    return namespace


def execute_reference(job: dict, namespace: dict) -> None:
    """Run the job's reference sources in ``namespace`` and drop them from ``job`` (their text is gone after)."""
    sources = job.pop("reference", None) or []
    while sources:
        exec(compile(sources.pop(0), REFERENCE_FILENAME, "exec", dont_inherit=True), namespace)


def display_nothing(*objects, **options) -> None:
    """Jupyter's ``display``, which every notebook has without an import: nobody sees a task's output."""


def run_statements(statements: list[dict], namespace: dict) -> None:
    """Execute ``statements`` in ``namespace`` in order.

    Errors of graded statements (``"graded": true``, the default) propagate;
    a statement marked ``"graded": false`` that raises is skipped.
    """
    _run(statements, namespace, graded_by_default=True)


def _run(statements, namespace: dict, graded_by_default: bool) -> None:
    for statement in statements:
        if statement.get("graded", graded_by_default):
            _execute(statement, namespace)
            continue
        try:
            _execute(statement, namespace)
        except (Exception, SystemExit):  # noqa: BLE001 -- student code may raise anything
            continue


def _execute(statement: dict, namespace: dict) -> None:
    code = compile_statement(statement, _future_flags(namespace))
    exec(code, namespace)


def compile_statement(statement: dict, flags: int = 0):
    """The code object of one statement, with the student's line numbers and filename."""
    source, line = statement["source"], max(1, int(statement.get("line", 1)))
    filename = f"{SUBMISSION_PREFIX} {statement.get('where', '')}>"
    remember_lines(filename, line, source)
    # blank lines in front put every line (and a syntax error's) where the student wrote it
    return compile("\n" * (line - 1) + source, filename, "exec", flags=flags, dont_inherit=True)


def remember_lines(filename: str, first_line: int, source: str) -> None:
    """Put ``source`` at ``first_line`` of ``filename`` in ``linecache`` (other lines kept)."""
    entry = linecache.cache.get(filename)
    lines = list(entry[2]) if entry is not None and len(entry) == 4 else []
    new_lines = source.split("\n")
    needed = first_line - 1 + len(new_lines)
    if len(lines) < needed:
        lines.extend("\n" for _ in range(needed - len(lines)))
    for offset, text in enumerate(new_lines):
        lines[first_line - 1 + offset] = text + "\n"
    linecache.cache[filename] = (sum(len(text) for text in lines), None, lines, filename)


def _future_flags(namespace: dict) -> int:
    """Compiler flags of the ``from __future__`` imports the namespace has run."""
    flags = 0
    for value in list(namespace.values()):
        if isinstance(value, __future__._Feature):
            flags |= value.compiler_flag
    return flags


def describe_exception(exc: BaseException) -> str:
    """One line: the exception and the innermost submission line that raised it.

    E.g. ``NameError: name 'x' is not defined (cell 16, line 9: `return x + 1`)``;
    the location is left out when no submission code was running.
    """
    if isinstance(exc, SyntaxError) and str(exc.filename or "").startswith(SUBMISSION_PREFIX):
        text = f"{type(exc).__name__}: {exc.msg}"
    else:
        try:
            text = f"{type(exc).__name__}: {exc}"
        except Exception:  # noqa: BLE001 -- a student's __str__ may raise
            text = f"{type(exc).__name__}: <the message could not be read>"
        text = text.rstrip().rstrip(":")
    text = _one_line(_without_own_paths(text), MAX_EXCEPTION_CHARS)
    location = _submission_location(exc)
    return f"{text} ({location})" if location else text


def _submission_location(exc: BaseException) -> str:
    """``cell 16, line 9: `code``` for the innermost submission frame, or ''."""
    filename, line, code = "", None, ""
    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except Exception:  # noqa: BLE001
        frames = []
    for frame in reversed(frames):
        if frame.filename.startswith(SUBMISSION_PREFIX):
            filename, line, code = frame.filename, frame.lineno, frame.line or ""
            break
    if not filename and isinstance(exc, SyntaxError) and str(exc.filename or "").startswith(SUBMISSION_PREFIX):
        filename, line = exc.filename, exc.lineno
        code = linecache.getline(filename, line) if line else ""
        code = code or exc.text or ""
    if not filename or line is None:
        return ""
    where = filename[len(SUBMISSION_PREFIX):].rstrip(">").strip()
    place = f"{where}, line {line}" if where else f"line {line}"
    code = _one_line(code, MAX_SOURCE_CHARS)
    return f"{place}: `{code}`" if code else place


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line, control characters and lone surrogates escaped, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _without_own_paths(text: str) -> str:
    return text.replace(_OWN_FOLDER + os.sep, "").replace(_OWN_FOLDER, "")
