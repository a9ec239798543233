"""Reproducible grades: the recorded seed gives the same points and messages; points never depend on the seed.

Grades a few variant submissions (correct alternatives and one-mistake
notebooks from test_grading_variants) with grade.py twice, the second time
with the seed the first run recorded in its JSON, then with grade_paths under
more seeds; and every case of the rubric corpus under ``MORE_SEEDS``
(test_grading_rubric grades them under a fifth, drawn seed).
Marked slow: ten grading runs, a few minutes on two cores.
"""
from __future__ import annotations

import json

import nbformat
import pytest
from rubric_corpus import CASES
from test_grading_rubric import build_cases
from test_grading_variants import NOTEBOOK, variants

from instructor import grade
from instructor.grading.core import grade_paths
from instructor.grading.judge import TASK_POINTS
from instructor.grading.sandbox import Limits
from instructor.tasks import TASKS

pytestmark = pytest.mark.slow

VARIANTS = ("reference", "alt_3b_confusion_matrix", "1a_no_activation", "1b_sequential_without_flatten",
            "2a_loss_tensors", "2b_wrong_lr", "3a_average_of_batch_accuracies", "3b_divided_by_all_samples")
# seeds besides the one the first run draws; with it, at least five different seeds
MORE_SEEDS = (1, 2, 3, 2**31 - 1)
TASK_TIMEOUT_S = 10.0
JOBS = 2


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    cases = variants()
    expected = {}
    for name in VARIANTS:
        edits, points = cases[name]
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        for edit in edits:
            edit(notebook)
        nbformat.write(notebook, folder / f"{name}.ipynb")
        expected[name] = {**TASK_POINTS, **points}
    return folder, expected


def points_and_messages(gradebook: dict) -> dict:
    return {entry["id"]: {task: (result["points"], result["messages"]) for task, result in entry["tasks"].items()}
            for entry in gradebook["submissions"]}


def test_the_recorded_seed_reproduces_points_and_messages_and_other_seeds_the_points(submissions, tmp_path):
    folder, expected = submissions
    first, again = tmp_path / "first.json", tmp_path / "again.json"
    common = ["--quiet", "--jobs", str(JOBS), "--task-timeout", str(TASK_TIMEOUT_S)]
    assert grade.main([*common, "--json", str(first), str(folder)]) == 0
    recorded = json.loads(first.read_text())
    seed = recorded["run"]["seed"]
    assert grade.main([*common, "--seed", str(seed), "--json", str(again), str(folder)]) == 0
    repeated = json.loads(again.read_text())
    assert repeated["run"]["seed"] == seed
    assert points_and_messages(repeated) == points_and_messages(recorded)
    first_points = {student: {task: points for task, (points, _) in tasks.items()}
                    for student, tasks in points_and_messages(recorded).items()}
    assert first_points == expected, "the variants' points differ from the ones test_grading_variants expects"

    paths = sorted(str(p) for p in folder.glob("*.ipynb"))
    names = [p.rsplit("/", 1)[-1].removesuffix(".ipynb") for p in paths]
    for other in (s for s in MORE_SEEDS if s != seed):
        grades = grade_paths(paths, Limits(task_timeout_s=TASK_TIMEOUT_S), JOBS, seed=other)
        got = {name: {task: g.tasks[task].points for task in TASKS} for name, g in zip(names, grades)}
        assert got == expected, f"seed {other}: points differ from seed {seed}"


def test_rubric_cases_get_their_points_under_every_seed(tmp_path):
    cases = list(CASES)
    paths = build_cases(tmp_path, cases)
    expected = {case.name: {**TASK_POINTS, case.task: case.points} for case in cases}
    for seed in MORE_SEEDS:
        grades = grade_paths(list(paths.values()), Limits(task_timeout_s=TASK_TIMEOUT_S), JOBS, seed=seed)
        got = {name: {task: g.tasks[task].points for task in TASKS} for name, g in zip(paths, grades)}
        differing = {name: (got[name], expected[name]) for name in paths if got[name] != expected[name]}
        assert not differing, f"seed {seed}: (got, rubric) {differing}"
