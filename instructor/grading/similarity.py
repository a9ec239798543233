"""Similar answers across a class: per task, pairs of students whose own code is nearly the same.

Method (measured in docs/similarity.md):

1. **The answer.** Per task, the code the grader takes as the student's
   answer (``extract``): the last definition of ``SimpleMLP``, ``train``,
   ``compute_accuracy``, ``compute_accuracy_per_class``; the statements of the
   1b and 2b cells.
2. **Normalised.** Parsed with ``ast``, so formatting and comments are gone;
   docstrings, ``pass`` and ``print(...)`` calls dropped; every name the
   answer binds (variables, arguments, attributes it assigns, functions,
   classes) becomes ``_``, every string ``S``; names it only uses (``torch``,
   ``nn.Linear``, ``.item``) stay. Each simple statement, and the header of
   each compound one, is one *unit*.
3. **The given code removed.** The units of the released stub's answer
   (signatures, given loops, the ``return``) are taken out, as many times as
   the stub has them.
4. **Fingerprints.** Each unit's tokens in overlapping runs of ``KGRAM``
   (a shorter unit is one run): never across two statements, so reordering
   independent statements changes nothing.
5. **Common code ignored.** A fingerprint that at least ``COMMON_SHARE`` of the
   class (and at least ``COMMON_MIN_ANSWERS`` answers) share is the usual way
   to write it, not evidence of copying.
6. **Score.** Jaccard index of two answers' remaining fingerprints; a pair is
   reported when it is at least ``THRESHOLD`` and they share at least
   ``MIN_SHARED`` fingerprints.

A task whose answers are a few forced lines cannot tell copying from
solving: when the reference answer has fewer than ``MIN_ANSWER_TOKENS``
tokens beyond the given code, the task is reported as such
(``not_compared``) instead of flagging everyone.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from instructor.grading.extraction import Submission, TaskCode
from instructor.tasks import TASKS

KGRAM = 5
COMMON_SHARE = 0.2
COMMON_MIN_ANSWERS = 3
THRESHOLD = 0.6
MIN_SHARED = 4
# the reference answers of 1a and 3b, the tasks with room for different answers, have 135 and 161 tokens
# beyond the given code; those of 1b, 2b, 2a and 3a 93, 46, 39 and 35 (docs/similarity.md)
MIN_ANSWER_TOKENS = 100
BOUND = "_"
STRING = "S"
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+\.?\d*(?:[eE][-+]?\d+)?|\*\*|//|[-+*/%@<>=!]=|\S")
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While, ast.If,
             ast.With, ast.AsyncWith, ast.Try)


# --------------------------------------------------------------------- normalising one answer


def answer_sources(code: TaskCode) -> list[str]:
    """The sources of the student's own answer to a task (empty when the task is missing)."""
    if code.kind == "statements":
        return [statement.source for statement in code.task_code if statement.graded]
    return [statement.source for statement in code.context if statement.graded]


def bound_names(tree: ast.AST) -> set[str]:
    """Every name ``tree`` binds: assigned, loop and comprehension targets, arguments, defs, aliases, attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


class _Normaliser(ast.NodeTransformer):
    def __init__(self, bound: set[str]):
        self.bound = bound

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(BOUND if node.id in self.bound else node.id, node.ctx), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node = self.generic_visit(node)
        if node.attr in self.bound:
            node.attr = BOUND
        return node

    def _renamed_definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        node = self.generic_visit(node)
        if node.name in self.bound:
            node.name = BOUND
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _renamed_definition

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.copy_location(ast.arg(BOUND), node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.copy_location(ast.Constant(STRING), node) if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return ast.copy_location(ast.Constant(STRING), node)


def _dropped(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr):
        value = statement.value
        return (isinstance(value, ast.Constant) and isinstance(value.value, str)) or (
            isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print")
    return False


def _header(statement: ast.stmt) -> str:
    """The compound statement's first line (after its decorators), its bodies left out."""
    fields = {name: getattr(statement, name) for name in statement._fields}
    fields.update({name: [] for name in ("orelse", "finalbody", "handlers") if name in fields})
    fields["body"] = [ast.Pass()]
    shell = ast.fix_missing_locations(type(statement)(**fields))
    return ast.unparse(shell).splitlines()[len(getattr(statement, "decorator_list", []))]


def units(statements: Iterable[ast.stmt]) -> list[str]:
    """One normalised line per simple statement and per compound statement's header, in order."""
    found = []
    for statement in statements:
        if _dropped(statement):
            continue
        if isinstance(statement, _COMPOUND):
            found.append(_header(statement))
            for body in ("body", "orelse", "finalbody"):
                found += units(getattr(statement, body, []))
            for handler in getattr(statement, "handlers", []):
                found.append("except " + (ast.unparse(handler.type) if handler.type else "") + ":")
                found += units(handler.body)
        else:
            found.append(ast.unparse(statement))
    return found


def normalised_units(sources: Sequence[str]) -> list[str]:
    """The units of an answer given as statement sources; a source that does not parse is left out."""
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError):
            continue
    module = ast.Module(body=[statement for tree in trees for statement in tree.body], type_ignores=[])
    try:
        normalised = _Normaliser(bound_names(module)).visit(module)
        return units(normalised.body)
    except RecursionError:
        return []


def fingerprints(unit_lines: Iterable[str]) -> set[str]:
    """Hashes of every run of ``KGRAM`` tokens inside a unit (a shorter unit: the whole unit)."""
    prints = set()
    for line in unit_lines:
        tokens = _TOKEN.findall(line)
        runs = [tokens] if len(tokens) <= KGRAM else [tokens[i:i + KGRAM] for i in range(len(tokens) - KGRAM + 1)]
        prints.update(hashlib.blake2b(" ".join(run).encode(), digest_size=8).hexdigest() for run in runs)
    return prints


def token_count(unit_lines: Iterable[str]) -> int:
    return sum(len(_TOKEN.findall(line)) for line in unit_lines)


def own_units(code: TaskCode, given: Counter) -> list[str]:
    """The answer's units without those of the given code (as many times as ``given`` holds each)."""
    remaining = Counter(given)
    kept = []
    for line in normalised_units(answer_sources(code)):
        if remaining[line] > 0:
            remaining[line] -= 1
        else:
            kept.append(line)
    return kept


# --------------------------------------------------------------------- comparing a class


@dataclass(frozen=True)
class SimilarPair:
    task: str
    ids: tuple[str, str]
    score: float

    def to_json(self) -> dict:
        return {"task": self.task, "ids": list(self.ids), "score": round(self.score, 3)}


@dataclass
class SimilarityReport:
    pairs: list[SimilarPair] = field(default_factory=list)
    # task -> why its answers were not compared (a few forced lines)
    not_compared: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"similar": [pair.to_json() for pair in self.pairs], "similar_not_compared": dict(self.not_compared)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def pair_scores(answers: dict[str, set[str]]) -> dict[tuple[str, str], tuple[float, int]]:
    """(score, fingerprints shared) of every pair of ``answers`` (student id -> fingerprints) sharing any.

    Fingerprints that ``COMMON_SHARE`` of the answers (at least
    ``COMMON_MIN_ANSWERS``) hold are left out first; pairs that share nothing
    else score 0 and are not listed.
    """
    counts = Counter(fp for prints in answers.values() for fp in prints)
    common_from = max(COMMON_MIN_ANSWERS, COMMON_SHARE * len(answers))
    distinctive = {student: {fp for fp in prints if counts[fp] < common_from} for student, prints in answers.items()}
    # only answers that share a fingerprint can score above 0: index them by fingerprint
    holders: dict[str, list[str]] = {}
    for student, prints in distinctive.items():
        for fp in prints:
            holders.setdefault(fp, []).append(student)
    candidates = {tuple(sorted(pair)) for students in holders.values() for pair in itertools.combinations(students, 2)}
    return {(a, b): (jaccard(distinctive[a], distinctive[b]), len(distinctive[a] & distinctive[b]))
            for a, b in candidates}


def compare_task(task: str, answers: dict[str, set[str]]) -> list[SimilarPair]:
    """Pairs of ``answers`` (student id -> fingerprints) at or above the threshold, most similar first."""
    pairs = [SimilarPair(task, ids, score) for ids, (score, shared) in pair_scores(answers).items()
             if shared >= MIN_SHARED and score >= THRESHOLD]
    return sorted(pairs, key=lambda p: (-p.score, p.ids))


def task_answers(task: str, submissions: dict[str, Submission | None], given: Counter) -> dict[str, set[str]]:
    """Student id -> fingerprints of their own answer to ``task`` (students without one left out)."""
    answers = {}
    for student, submission in submissions.items():
        code = submission.tasks.get(task) if submission is not None else None
        if code is None or code.kind == "missing":
            continue
        prints = fingerprints(own_units(code, given))
        if prints:
            answers[student] = prints
    return answers


def compare_class(submissions: dict[str, Submission | None], given: dict[str, Counter],
                  reference_tokens: dict[str, int]) -> SimilarityReport:
    """Similar pairs per task over ``submissions`` (student id -> extracted submission, None if unreadable).

    ``given``: per task, the units of the released stub's answer (removed from
    every answer); ``reference_tokens``: per task, how many tokens of its own
    the reference answer has (fewer than ``MIN_ANSWER_TOKENS``: not compared).
    """
    report = SimilarityReport()
    for task in TASKS:
        if reference_tokens.get(task, 0) < MIN_ANSWER_TOKENS:
            report.not_compared[task] = (f"the answer is a few forced lines ({reference_tokens.get(task, 0)} tokens "
                                         "beyond the given code in the reference), so copying cannot be told "
                                         "from solving")
            continue
        report.pairs += compare_task(task, task_answers(task, submissions, given.get(task, Counter())))
    return report


# --------------------------------------------------------------------- the given code, from the release


def given_and_reference(reference: Submission, stub: Submission) -> tuple[dict[str, Counter], dict[str, int]]:
    """Per task, the stub's units (the given code) and how many tokens the reference adds to them."""
    given, tokens = {}, {}
    for task in TASKS:
        given[task] = Counter(normalised_units(answer_sources(stub.tasks[task])))
        tokens[task] = token_count(own_units(reference.tasks[task], given[task]))
    return given, tokens


def release_stub(folder: Path, notebook: Path, solution: Path) -> Path:
    """Write the released stub notebook of ``notebook`` into ``folder``; return its path."""
    import nbformat

    from instructor.release_stubs import release_notebook

    student = release_notebook(nbformat.read(notebook, as_version=nbformat.NO_CONVERT),
                               solution.read_text(encoding="utf-8"))
    path = folder / "stub.ipynb"
    nbformat.write(student, path)
    return path
