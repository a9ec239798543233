"""A class for measuring ``instructor/grading/similarity.py``: independent correct answers and planted copies.

Each task has several correct answers written independently of each other
(different structure, names and library calls; the reference notebook's own
answer is the first). Student ``i`` of the class answers every task with
that task's answer ``i`` (cycling when a task has fewer), so two students are
independent on a task exactly when their answer numbers differ there. Copier
``i`` copies student ``i``'s whole notebook, disguised: every name the
answer binds renamed, two independent statements swapped, comments added and
the code reformatted (``disguised``).

``python tests/similarity_corpus.py`` prints recall on the copies, the share
of independent pairs flagged per task (the static forced-answer rule left
aside for that row), the tasks reported as forced, and how long a class of 300
takes to extract and to compare.
"""
from __future__ import annotations

import ast
import copy
import re
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from notebook_edits import with_region  # noqa: E402
from similarity_answers import ANSWERS  # noqa: E402

from instructor.grading import similarity  # noqa: E402
from instructor.grading.extraction import extract  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
SOLUTION = PROJECT_ROOT / "solution.py"
# the 1a answers that use the alias imports (tnn, F) and 3b's numpy: given to every student, as a cell of imports
IMPORTS_CELL = "import math\nimport numpy as np\nimport torch.nn as tnn\nimport torch.nn.functional as F\n"
COMMENTS = ("# compute this step", "# keep the result", "# see the lecture")


def body_of(answer: tuple[str, ...] | None, notebook_regions: list[str]) -> list[str]:
    return list(notebook_regions) if answer is None else [textwrap.dedent(body).strip("\n") for body in answer]


def _parse_body(body: str) -> ast.Module:
    """A region's body parsed inside a function, so that ``return`` parses."""
    return ast.parse("def _wrapper():\n" + textwrap.indent(body, "    "))


def _bound(bodies: list[str]) -> list[str]:
    names = set()
    for body in bodies:
        names |= similarity.bound_names(_parse_body(body).body[0]) - {"_wrapper", "self"}
    return sorted(names)


def _statements(body: str) -> list[ast.stmt]:
    return _parse_body(body).body[0].body


def _names(node: ast.AST, stored: bool) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store) == stored:
            found.add(child.id)
        elif isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Store) == stored:
            found.add(child.attr)
    return found


def _swapped(body: str) -> str:
    """``body`` with its first two adjacent independent simple statements swapped (unchanged if none)."""
    statements = _statements(body)
    simple = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)
    for first, second in zip(statements, statements[1:]):
        if not (isinstance(first, simple) and isinstance(second, simple)):
            continue
        if _names(first, True) & (_names(second, False) | _names(second, True)) or \
                _names(second, True) & _names(first, False):
            continue
        lines = body.splitlines()
        a = lines[first.lineno - 2:first.end_lineno - 1]
        b = lines[second.lineno - 2:second.end_lineno - 1]
        return "\n".join(lines[:first.lineno - 2] + b + a + lines[second.end_lineno - 1:])
    return body


def disguised(bodies: list[str], suffix: str) -> list[str]:
    """The bodies of one task's answer as a copier hands them in.

    Every name the answer binds gets ``suffix`` (consistently over the
    bodies), two adjacent independent statements are swapped, the code is
    reformatted (parsed and written back: other quotes, spacing, parentheses,
    blank lines) and comments are added.
    """
    names = _bound(bodies)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
    result = []
    for body in bodies:
        if pattern is not None:
            body = pattern.sub(lambda m: f"{m.group(1)}_{suffix}", body)
        body = _swapped(body)
        body = ast.unparse(_parse_body(body).body[0].body)  # reformatted
        lines = []
        for index, line in enumerate(body.splitlines()):
            if not line.startswith(" "):
                lines += ["", COMMENTS[index % len(COMMENTS)]]
            lines.append(line + ("  # done" if index == 0 else ""))
        result.append("\n".join(lines).strip("\n"))
    return result


def reference_regions(notebook: nbformat.NotebookNode, task: str) -> list[str]:
    from instructor.solution_regions import find_regions

    return [textwrap.dedent(region.body) for cell in notebook.cells if cell.cell_type == "code"
            for region in find_regions(cell.source) if region.task == task]


def build_class(folder: Path, n_students: int | None = None) -> tuple[dict[str, Path], dict]:
    """Write the class into ``folder``; return id -> path and the truth: which answer each student has per task.

    Student ``s<i>`` has answer ``i`` of every task (cycling); copier ``c<i>``
    has ``s<i>``'s answers, disguised.
    """
    reference = nbformat.read(NOTEBOOK, as_version=4)
    n_students = n_students or max(len(answers) for answers in ANSWERS.values())
    paths, truth = {}, {}
    for index in range(n_students):
        for copier in (False, True):
            student = f"{'c' if copier else 's'}{index}"
            notebook = copy.deepcopy(reference)
            notebook.cells.insert(1, nbformat.v4.new_code_cell(IMPORTS_CELL))
            truth[student] = {}
            for task, answers in ANSWERS.items():
                number = index % len(answers)
                bodies = body_of(answers[number], reference_regions(reference, task))
                if copier:
                    bodies = disguised(bodies, "v2")
                for occurrence, body in enumerate(bodies):
                    with_region(notebook, task, body, occurrence)
                truth[student][task] = number
            paths[student] = folder / f"{student}.ipynb"
            nbformat.write(notebook, paths[student])
    return paths, truth


def given_code(folder: Path) -> tuple[dict[str, Counter], dict[str, int]]:
    stub = extract(similarity.release_stub(folder, NOTEBOOK, SOLUTION))
    return similarity.given_and_reference(extract(NOTEBOOK), stub)


def measure(paths: dict[str, Path], truth: dict, given: dict[str, Counter]) -> dict[str, dict]:
    """Per task: recall on the planted copies, share of independent pairs flagged, forced or not.

    The static forced-answer rule is left aside here (every task compared) so
    that the numbers show why it is there.
    """
    submissions = {student: extract(path) for student, path in paths.items()}
    compared = similarity.compare_class(submissions, given, {task: similarity.MIN_ANSWER_TOKENS
                                                             for task in similarity.TASKS})
    measured = {}
    originals = [student for student in paths if student.startswith("s")]
    for task in similarity.TASKS:
        flagged = {pair.ids for pair in compared.pairs if pair.task == task}
        scores = similarity.pair_scores(similarity.task_answers(task, submissions, given[task]))
        copies = {tuple(sorted((s, "c" + s[1:]))) for s in originals}
        independent = [tuple(sorted((a, b))) for a in paths for b in paths if a < b
                       and truth[a][task] != truth[b][task]]
        measured[task] = {
            "copies_found": len(copies & flagged), "copies": len(copies),
            "independent_flagged": len(set(independent) & flagged), "independent": len(independent),
            "not_compared": compared.not_compared.get(task),
            "lowest_copy": min((scores.get(pair, (0.0, 0))[0] for pair in copies), default=0.0),
            "highest_independent": max((scores.get(pair, (0.0, 0))[0] for pair in independent), default=0.0)}
    return measured


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        paths, truth = build_class(folder)
        given, reference_tokens = given_code(folder)
        print(f"class: {len(paths)} notebooks ({len(paths) // 2} independent students, as many disguised copies)")
        print("task  copies found  independent pairs flagged  reference tokens  lowest copy / highest independent"
              "  reported")
        for task, row in measure(paths, truth, given).items():
            static = reference_tokens[task] < similarity.MIN_ANSWER_TOKENS
            reported = "not compared: forced lines" if static else "compared"
            share = row["independent_flagged"] / row["independent"] if row["independent"] else 0.0
            flagged = f"{row['independent_flagged']}/{row['independent']} = {share:.1%}"
            print(f"{task:4}  {row['copies_found']:>2}/{row['copies']:<2}         {flagged:<24}   "
                  f"{reference_tokens[task]:>4}              {row['lowest_copy']:.2f} / "
                  f"{row['highest_independent']:.2f}                      {reported}")
        big = {f"{student}-{k}": path for k in range(15) for student, path in paths.items()}
        started = time.perf_counter()
        submissions = {student: extract(path) for student, path in big.items()}
        extracted = time.perf_counter()
        report = similarity.compare_class(submissions, given, reference_tokens)
        compared = time.perf_counter()
        print(f"class of {len(big)}: extracted in {extracted - started:.1f} s, compared in "
              f"{compared - extracted:.2f} s ({len(report.pairs)} pairs reported)")


if __name__ == "__main__":
    main()
