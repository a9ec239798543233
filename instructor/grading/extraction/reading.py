"""Read a submission file into cells: ``.ipynb`` with nbformat, ``.py`` with jupytext; each cell parsed.

A ``.ipynb`` file is read with nbformat (any nbformat 4.x as Jupyter,
JupyterLab, Colab or VS Code write it; older versions are converted), a
``.py`` file with jupytext (percent ``# %%`` and light formats, Colab's
"Download .py" with markdown as string literals, plain modules). A file that
cannot be read as a whole raises ``SubmissionError``; a cell that cannot be
read costs only itself (``Cell.error``). In a ``.py`` file each cell line is
mapped back to its line in the file.
"""
from __future__ import annotations

import io
import json
import tokenize
from pathlib import Path

from instructor.grading.extraction.cells import MAX_CODE_CHARS, Cell, load_transformer, parse_cell
from instructor.grading.extraction.submission import SubmissionError
from instructor.grading.text import escaped

# reading limits: bigger files are refused, bigger cells cost only themselves
MAX_NOTEBOOK_BYTES = 32 * 2**20
MAX_PYTHON_BYTES = 2**19
# how far ahead a .py cell's line is looked for in the file
LINE_LOOKAHEAD = 200


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_parsers() -> None:
    """Import nbformat, jupytext and IPython's transformer now (before forking readers that share them)."""
    import jupytext  # noqa: F401
    from nbformat import converter, reader  # noqa: F401

    load_transformer()


def read_cells(path: Path) -> list[Cell]:
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
        raise SubmissionError(f"{path.name}: cannot be read ({escaped(exc.strerror or exc)})") from exc
    if path.suffix == ".ipynb":
        cells = _notebook_cells(data, path.name)
    else:
        text = _decode_python(data, path.name)
        cells = _notebook_cells(data, path.name) if _looks_like_notebook(text) else _python_cells(text)
    budget = [MAX_CODE_CHARS]
    for cell in cells:
        if cell.is_code and not cell.error:
            parse_cell(cell, budget)
    return cells


def _looks_like_notebook(text: str) -> bool:
    """A notebook saved with a .py name."""
    if not text.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(text).get("cells"), list)
    except Exception:  # noqa: BLE001 -- anything unreadable is not a notebook
        return False


def _notebook_cells(data: bytes, name: str) -> list[Cell]:
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
        reason = escaped(" ".join(str(exc).split()))[:160]
        raise SubmissionError(f"{name}: {problem}: {type(exc).__name__}: {reason}") from None
    if not isinstance(cells, list):
        raise SubmissionError(f"{name}: {problem}: 'cells' is {type(cells).__name__}, not a list")
    result = []
    for position, cell in enumerate(cells):
        where = f"cell {position + 1}"
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            result.append(Cell(position, where, separator=True))
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            result.append(Cell(position, where, is_code=True, error="its source is not text"))
            continue
        result.append(Cell(position, where, is_code=True, raw=normalise_newlines(source)))
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
        return normalise_newlines(data.decode(encoding))
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{name}: not a readable Python file ({escaped(exc)[:160]})") from None


def _python_cells(text: str) -> list[Cell]:
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
            cells.append(Cell(position, "", separator=True))
            continue
        raw = normalise_newlines(source)
        if len(parts) == 1 and raw == text:
            raw_lines_of = list(range(1, len(file_lines) + 1))
        else:
            raw_lines_of, cursor = _locate_lines(raw.split("\n"), file_lines, cursor)
        cell = Cell(position, "", is_code=True, raw=raw, first_line=raw_lines_of[0] if raw_lines_of else 1)
        cell.line_of = raw_lines_of  # raw line -> file line; refined by parse_cell
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
