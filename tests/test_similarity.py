"""Similar answers (instructor/grading/similarity.py): what normalisation forgives, what the class reveals.

The measured class (tests/similarity_corpus.py): ten students with
independent correct answers and ten copiers, each disguising a student's
notebook (names, statement order, comments, formatting).
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest
from similarity_corpus import NOTEBOOK, build_class, given_code, measure

from instructor.grade import Gradebook, write_outputs
from instructor.grading.core import SubmissionGrade
from instructor.grading.extraction import Statement, Submission, TaskCode
from instructor.grading.similarity import (
    MIN_ANSWER_TOKENS,
    SimilarityReport,
    SimilarPair,
    compare_class,
    compare_task,
    fingerprints,
    normalised_units,
)
from instructor.grading.similarity_outputs import (
    class_similarity,
    similarity_section,
    with_similarity,
    with_similarity_section,
)
from instructor.grading.verdicts import TaskGrade
from instructor.tasks import TASKS

ANSWER = '''
def per_class(model, loader):
    """Docstring."""
    hits = [0] * 10  # counts
    for images, targets in loader:
        preds = model(images).argmax(1)
        print("batch", len(images))
        for t, p in zip(targets, preds):
            hits[int(t)] += int(t == p)
    return {k: hits[k] for k in range(10)}
'''
RENAMED_AND_REFORMATTED = '''
def accuracy_by_digit(net, data):
    # my own code
    correct = [ 0 ]*10
    for x, y in data:
        guess = net( x ).argmax( 1 )
        for label, g in zip(y, guess): correct[int(label)] += int(label == g)
    return {digit: correct[digit] for digit in range(10)}
'''


def prints(source: str) -> set[str]:
    return fingerprints(normalised_units([source]))


def test_names_strings_comments_prints_and_formatting_do_not_matter():
    assert prints(ANSWER) == prints(RENAMED_AND_REFORMATTED)


def test_what_the_code_does_matters():
    changed = ANSWER.replace("argmax(1)", "argmin(1)")
    assert prints(changed) != prints(ANSWER)


def test_reordering_independent_statements_changes_nothing():
    first = "a = torch.zeros(10)\nb = torch.ones(10, dtype=torch.long)\nc = a + b\n"
    second = "b = torch.ones(10, dtype=torch.long)\na = torch.zeros(10)\nc = a + b\n"
    assert normalised_units([first]) != normalised_units([second])
    assert prints(first) == prints(second)


def test_code_that_does_not_parse_is_left_out():
    assert normalised_units(["def broken(:\n", "x = 1\n"]) == ["_ = 1"]


def students(common: set[str], own: dict[str, set[str]]) -> dict[str, set[str]]:
    return {student: common | extra for student, extra in own.items()}


def test_code_that_much_of_the_class_shares_is_not_evidence():
    common = {f"common{i}" for i in range(20)}
    own = {f"s{i}": {f"s{i}-{k}" for k in range(6)} for i in range(8)}
    own["copier"] = set(own["s0"])
    assert [pair.ids for pair in compare_task("1a", students(common, own))] == [("copier", "s0")]


def test_a_task_of_a_few_forced_lines_is_reported_instead_of_compared():
    copied = {task: ('x = model(batch).argmax(1)\nn += (x == labels).sum().item()\nm += len(labels)\n',)
              for task in ("1a", "3a")}
    submissions = {student: Submission({task: TaskCode("definition", (Statement(copied[task][0], "", 1, True),))
                                        for task in copied}) for student in ("ann", "bob")}
    report = compare_class(submissions, {}, {"1a": MIN_ANSWER_TOKENS, "3a": MIN_ANSWER_TOKENS - 1})
    assert [(pair.task, pair.ids) for pair in report.pairs] == [("1a", ("ann", "bob"))]
    assert "forced" in report.not_compared["3a"] and "1a" not in report.not_compared


def test_similar_pairs_go_into_the_gradebook_json_only_when_there_is_a_comparison():
    report = SimilarityReport([SimilarPair("1a", ("ann", "bob"), 0.91234)], {"3a": "forced"})
    gradebook = json.dumps({"submissions": []})
    data = json.loads(with_similarity(gradebook, report))
    assert data["similar"] == [{"task": "1a", "ids": ["ann", "bob"], "score": 0.912}]
    assert data["similar_not_compared"] == {"3a": "forced"} and data["submissions"] == []
    assert with_similarity(gradebook, None) == gradebook


def test_the_report_shows_each_pair_beside_its_points():
    report = SimilarityReport([SimilarPair("3b", ("<ann>", "bob"), 0.8)], {"2a": "a few forced lines"})
    section = similarity_section(report, {"<ann>": {"3b": 20, "total": 95}, "bob": {"3b": 14, "total": 71}})
    row = section.split('<table id="similar-table">')[1]
    assert "&lt;ann&gt;" in row and "<ann>" not in row
    assert row.index("&lt;ann&gt;") < row.index(">20<") < row.index(">95<") < row.index("bob") < row.index(">14<")
    assert "2a not compared: a few forced lines" in section
    page = "<html><body><section id=\"submissions\">all</section></body></html>"
    assert with_similarity_section(page, section).index('id="similar"') < page.index('id="submissions"') + len(section)


# --------------------------------------------------------------------- the measured class


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("similarity")
    paths, truth = build_class(folder)
    given, reference_tokens = given_code(folder)
    return folder, paths, truth, given, reference_tokens


@pytest.mark.slow
@pytest.mark.parametrize("task", ["1a", "3b"])
def test_every_disguised_copy_is_found_and_few_independent_pairs(corpus, task):
    _, paths, truth, given, _ = corpus
    row = measure(paths, truth, given)[task]
    assert row["copies"] == 10 and row["copies_found"] == row["copies"], row
    assert row["independent_flagged"] <= 0.10 * row["independent"], row


@pytest.mark.slow
def test_forced_answers_are_reported_instead_of_flagged(corpus):
    _, paths, _, _, reference_tokens = corpus
    assert reference_tokens["3a"] < MIN_ANSWER_TOKENS and reference_tokens["2a"] < MIN_ANSWER_TOKENS
    assert reference_tokens["1a"] >= MIN_ANSWER_TOKENS and reference_tokens["3b"] >= MIN_ANSWER_TOKENS
    report = class_similarity([str(p) for p in paths.values()], list(paths), NOTEBOOK.parent / "solution.py")
    assert {"2a", "3a"} <= set(report.not_compared) and not {"1a", "3b"} & set(report.not_compared)
    assert not any(pair.task in report.not_compared for pair in report.pairs)
    assert Counter(pair.task for pair in report.pairs)["1a"] == 10


@pytest.mark.slow
def test_grade_outputs_carry_the_pairs_but_feedback_does_not(corpus, tmp_path):
    _, paths, _, _, _ = corpus
    chosen = ["s0", "c0", "s3"]
    grades = [SubmissionGrade(str(paths[student]), {task: TaskGrade(5, 10) for task in TASKS}) for student in chosen]
    arguments = argparse.Namespace(json=tmp_path / "grades.json", csv=None, lms_csv=None,
                                   report=tmp_path / "report.html", feedback=tmp_path / "feedback",
                                   reference=NOTEBOOK.parent / "solution.py")
    book = Gradebook(grades, chosen, None, {})
    assert write_outputs(arguments, book, [Path(g.path) for g in grades], quiet=True)
    data = json.loads(arguments.json.read_text(encoding="utf-8"))
    assert {("1a", ("c0", "s0")), ("3b", ("c0", "s0"))} <= {(p["task"], tuple(p["ids"])) for p in data["similar"]}
    assert 'id="similar-table"' in arguments.report.read_text(encoding="utf-8")
    for page in arguments.feedback.iterdir():
        text = page.read_text(encoding="utf-8")
        assert "imilar" not in text and not any(other in text for other in chosen if other != page.stem)
