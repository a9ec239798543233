"""Fast checks of the grader's parts that need no sandbox: extraction, verdict plumbing, gradebook files."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import grade
from grading.core import TASKS, SubmissionGrade
from grading.extract import extract
from grading.report import to_csv, to_json, write_atomically
from grading.verdicts import CHECK_POINTS, TASK_POINTS, TaskGrade, grade_task, is_subsequence, training_diagnosis


def notebook_with(tmp_path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path = tmp_path / "submission.ipynb"
    nbformat.write(notebook, path)
    return path


def test_check_points_add_up_to_the_task_points():
    assert {task: sum(points.values()) for task, points in CHECK_POINTS.items()} == TASK_POINTS


def test_tasks_are_found_without_markers(tmp_path):
    path = notebook_with(
        tmp_path,
        "import torch.nn.functional as F\nimport numpy as np\nHIDDEN = 32",
        "def helper(x):\n    return F.relu(x)\n\nclass SimpleMLP(nn.Module):\n    def forward(self, x):\n"
        "        return helper(x) * HIDDEN",
        "model1 = SimpleFixedMLP()\nmodel2 = SimpleMLP([1, 2])\nmodel3 = nn.Sequential()",
        "optimizers = []\nlosses = []",
    )
    tasks = extract(path).tasks
    assert tasks["1a"].kind == "definition"
    assert tasks["1a"].helpers == ("def helper(x):\n    return F.relu(x)", "HIDDEN = 32")
    # imports the task does not use (numpy here, torchvision in a notebook) are left out
    assert tasks["1a"].imports == ("import torch.nn.functional as F",)
    assert tasks["1b"].kind == "statements" and "model3 = nn.Sequential()" in tasks["1b"].code
    assert tasks["2b"].kind == "statements"
    assert {tasks[t].kind for t in ("2a", "3a", "3b")} == {"missing"}


def test_a_syntax_error_costs_only_the_tasks_in_its_cell(tmp_path):
    path = notebook_with(tmp_path, "def train(model):\n    return [", "def compute_accuracy(m, d):\n    return 1.0")
    tasks = extract(path).tasks
    assert tasks["2a"].kind == "missing" and "code cell 1" in tasks["2a"].problem
    assert "cannot be parsed" in tasks["2a"].problem
    assert tasks["3a"].kind == "definition"


def test_the_graded_definitions_never_come_from_a_task_cell_of_another_task(tmp_path):
    path = notebook_with(tmp_path, "class SimpleMLP:\n    pass\nmodel1 = 1\nmodel2 = 2\nmodel3 = 3")
    assert "class SimpleMLP" not in extract(path).tasks["1b"].code


def test_an_unreadable_notebook_gets_zero_points_not_a_crash(tmp_path):
    from grading.extract import SubmissionError

    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    with pytest.raises(SubmissionError, match="not a readable Jupyter notebook"):
        extract(path)


@pytest.mark.parametrize("status, error", [("timeout", "did not finish within 5 s"),
                                           ("crashed", "exited with status 3"),
                                           ("error", "SystemExit: bye"),
                                           ("missing", "`train` was not found")])
def test_a_task_that_did_not_run_gets_zero_with_the_reason(status, error):
    grade = grade_task("2a", {"status": status, "error": error}, reference_result={})
    assert grade.points == 0 and grade.max_points == TASK_POINTS["2a"]
    assert error in grade.messages[0]


def test_malformed_results_from_the_sandbox_give_zero_not_a_crash():
    grade = grade_task("3a", {"status": "ok", "result": {"single_batch": 5}}, reference_result={})
    assert grade.points == 0 and "could not be read" in grade.messages[0]


@pytest.mark.parametrize("values, expected", [([1.0, 3.0], True), ([3.0, 1.0], False), ([], False),
                                              ([1.0, 2.0, 3.0, 4.0], True), ([1.5], False)])
def test_loss_values_must_be_an_ordered_subsequence_of_the_reference(values, expected):
    assert is_subsequence(values, [1.0, 2.0, 3.0, 4.0], {"atol": 1e-6, "rtol": 0.0}) is expected


@pytest.mark.parametrize("events, words", [
    (["zero_grad", "forward", "loss", "backward"], "optimizer.step() was never called"),
    (["forward", "loss", "backward", "step"], "never reset"),
    (["zero_grad", "step", "forward", "loss", "backward"], "before loss.backward()"),
    (["zero_grad", "forward", "backward", "step"], "loss_fn passed to train was never called"),
])
def test_training_diagnosis_names_the_mistake(events, words):
    assert any(words in problem for problem in training_diagnosis(events, n_iterations=1))


def test_training_diagnosis_of_a_correct_loop_is_empty():
    assert training_diagnosis(["zero_grad", "forward", "loss", "backward", "step"] * 2, n_iterations=2) == []


def sample_grades() -> list[SubmissionGrade]:
    tasks = {task: TaskGrade(TASK_POINTS[task], TASK_POINTS[task]) for task in TASKS}
    tasks["1a"] = TaskGrade(11, 20, ["ReLU after the last layer [-9 P]"])
    return [SubmissionGrade("a.ipynb", tasks)]


def test_json_gradebook_has_the_documented_layout():
    data = json.loads(to_json(sample_grades()))
    [entry] = data["submissions"]
    assert entry["path"] == "a.ipynb" and entry["points"] == 91 and entry["max_points"] == 100
    assert list(entry["tasks"]) == list(TASKS)
    assert entry["tasks"]["1a"] == {"points": 11, "max_points": 20, "messages": ["ReLU after the last layer [-9 P]"]}


def test_csv_gradebook_has_one_row_per_submission():
    lines = to_csv(sample_grades()).splitlines()
    assert lines[0].split(",")[:8] == ["path", *TASKS, "points"]
    assert lines[1].startswith("a.ipynb,11,10,20,10,20,20,91,100,")


def test_gradebook_replaces_the_file_in_one_step_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    write_atomically(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_gradebook_never_overwrites_a_submission(tmp_path):
    submission = tmp_path / "a.ipynb"
    submission.write_text("student work")
    with pytest.raises(ValueError, match="refusing"):
        write_atomically(submission, "grades", protected=[submission])
    assert submission.read_text() == "student work"


def test_cli_fails_clearly_when_a_path_does_not_exist(tmp_path, capsys):
    assert grade.main([str(tmp_path / "missing.ipynb")]) == grade.EXIT_CANNOT_GRADE
    assert "no such submission file" in capsys.readouterr().err


def test_cli_refuses_to_write_the_gradebook_over_a_submission(tmp_path, capsys):
    submission = notebook_with(tmp_path, "x = 1")
    before = submission.read_bytes()
    assert grade.main(["--json", str(submission), str(submission)]) == grade.EXIT_CANNOT_GRADE
    assert submission.read_bytes() == before
