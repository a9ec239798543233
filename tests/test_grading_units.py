"""Fast checks of the grader's parts that need no sandbox: extraction, verdict plumbing, gradebook files."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from helpers_data import ReverselyRegisteredMLP

from instructor import grade
from instructor.grading.core import SubmissionGrade
from instructor.grading.extraction import extract
from instructor.grading.judge import CHECK_POINTS, TASK_POINTS, grade_task
from instructor.grading.report import to_csv, to_json, write_atomically
from instructor.grading.verdicts import TaskGrade
from instructor.tasks import TASKS
from instructor.tasks.task_2a import is_subsequence, training_diagnosis


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
    context = "\n".join(statement.source for statement in tasks["1a"].context)
    assert "def helper(x)" in context and "HIDDEN = 32" in context
    # imports the task does not use (numpy here, torchvision in a notebook) are left out
    assert "import torch.nn.functional as F" in context and "numpy" not in context
    assert [s.graded for s in tasks["1a"].context if "class SimpleMLP" in s.source] == [True]
    assert tasks["1b"].kind == "statements"
    assert any("model3 = nn.Sequential()" in statement.source for statement in tasks["1b"].task_code)
    assert tasks["2b"].kind == "statements"
    assert {tasks[t].kind for t in ("2a", "3a", "3b")} == {"missing"}


def test_a_syntax_error_costs_only_the_tasks_in_its_cell(tmp_path):
    path = notebook_with(tmp_path, "def train(model):\n    return [", "def compute_accuracy(m, d):\n    return 1.0")
    tasks = extract(path).tasks
    assert tasks["2a"].kind == "missing" and "cell 1" in tasks["2a"].problem
    assert "cannot be parsed" in tasks["2a"].problem
    assert tasks["3a"].kind == "definition"


def test_the_graded_definitions_never_come_from_a_task_cell_of_another_task(tmp_path):
    path = notebook_with(tmp_path, "class SimpleMLP:\n    pass\nmodel1 = 1\nmodel2 = 2\nmodel3 = 3")
    assert not any("class SimpleMLP" in statement.source for statement in extract(path).tasks["1b"].task_code)


def test_an_unreadable_notebook_gets_zero_points_not_a_crash(tmp_path):
    from instructor.grading.extraction import SubmissionError

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
    tasks["1a"] = TaskGrade(11, 20, ["ReLU after the last layer [-9 P]"], "graded", ["same_function"])
    return [SubmissionGrade("a.ipynb", tasks)]


def test_json_gradebook_has_the_documented_layout():
    data = json.loads(to_json(sample_grades()))
    [entry] = data["submissions"]
    assert entry["path"] == "a.ipynb" and entry["points"] == 91 and entry["max_points"] == 100
    assert list(entry["tasks"]) == list(TASKS)
    assert entry["tasks"]["1a"] == {"points": 11, "max_points": 20, "status": "graded", "failed": ["same_function"],
                                    "messages": ["ReLU after the last layer [-9 P]"]}
    assert entry["review"] == []


def test_csv_gradebook_has_one_row_per_submission():
    lines = to_csv(sample_grades()).splitlines()
    assert lines[0].split(",")[:8] == ["id", *TASKS, "total"]
    assert lines[1].startswith("a,11,10,20,10,20,20,91,100,a.ipynb,")


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


# --------------------------------------------------------------------- single source of tasks and points


def test_grader_and_regions_take_tasks_and_points_from_the_task_modules():
    from ex4 import sheet
    from instructor import tasks
    from instructor.grading import judge

    assert tasks.TASKS == tuple(info.id for info in sheet.TASKS)
    assert dict(judge.TASK_POINTS) == tasks.POINTS == {info.id: info.points for info in sheet.TASKS}


# --------------------------------------------------------------------- shared model properties


@pytest.mark.parametrize("dims", [[784, 32, 32, 32, 10], [12, 3], [20, 16, 8, 4, 3]])
def test_expected_parameter_count_is_that_of_linear_layers(dims):
    from ex4.model_properties import count_parameters, expected_parameter_count

    layers = torch.nn.Sequential(*(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])))
    assert expected_parameter_count(dims) == count_parameters(layers)


@pytest.mark.parametrize("make_model, affine", [
    (lambda: torch.nn.Linear(6, 3), True),
    (lambda: torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 3)), True),
    (lambda: torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)), False),
])
def test_affine_residual_tells_affine_maps_from_nonlinear_ones(make_model, affine):
    from ex4.model_properties import is_affine

    inputs_a, inputs_b = torch.randn(64, 6), torch.randn(64, 6)
    assert is_affine(make_model(), inputs_a, inputs_b) is affine


def test_shape_matched_orderings_keep_the_order_first_and_permute_equal_shapes():
    from ex4.model_properties import shape_matched_orderings

    orderings = shape_matched_orderings([(2, 2), (3,), (2, 2)], [(2, 2), (2, 2), (3,)])
    assert orderings == [[0, 2, 1], [1, 2, 0]]
    with pytest.raises(ValueError, match="do not match"):
        shape_matched_orderings([(2, 2)], [(2, 3)])


def test_shape_matched_orderings_are_bounded():
    from ex4.model_properties import shape_matched_orderings

    assert len(shape_matched_orderings([(1,)] * 5, [(1,)] * 5, limit=7)) == 7


def test_the_grader_and_the_bundle_carry_the_same_student_code(tmp_path):
    from instructor.grading.sandbox import Limits
    from instructor.grading.task_sandbox import TASK_SIDE_MODULES, task_sandbox
    from instructor.shipped import bundle_files, student_code_files
    from instructor.tasks import REGISTRY

    assert "ex4/model_properties.py" in student_code_files() and "utils.py" in student_code_files()
    assert set(student_code_files()) <= set(bundle_files())
    with task_sandbox(Limits(), slots=1) as sandbox:
        copied = {p.relative_to(sandbox.modules).as_posix() for p in sandbox.modules.rglob("*.py")}
    # the student code, and of the grader only what the probes import: no reference, no replay of Task 2b
    assert copied == set(student_code_files()) | set(TASK_SIDE_MODULES) | set(REGISTRY.sandbox_modules())
    assert {f"instructor/tasks/probe_{task}.py" for task in REGISTRY.ids()} <= copied
    assert not any(name.endswith(("replay_2b.py", "core.py", "solution.py")) for name in copied)


def test_the_sandbox_starts_its_workers_side_by_side_and_waits_for_them_only_when_asked():
    """Making the sandbox launches every worker and returns: their imports overlap the grader's own work."""
    from instructor.grading.sandbox import Limits
    from instructor.grading.task_sandbox import task_sandbox

    with task_sandbox(Limits(), slots=2) as sandbox:
        assert sandbox.workers[0].process.poll() is None  # launched; it forks the other slot's worker when ready
        assert not sandbox.granted and not any(worker.granted for worker in sandbox.workers)
        sandbox.wait_until_ready()
        assert all(worker.granted.get("ready") for worker in sandbox.workers)
        assert sandbox.granted is sandbox.workers[0].granted


# --------------------------------------------------------------------- 1a: behaviour, not registration order


class SigmoidMLP(torch.nn.Module):
    """Task 1a with sigmoid instead of ReLU between the layers."""

    def __init__(self, dims):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, inputs):
        out = inputs.flatten(1)
        for layer in self.layers[:-1]:
            out = torch.sigmoid(layer(out))
        return self.layers[-1](out)




# the grader draws a new seed for every run: verdicts must not depend on it
PROBE_SEEDS = (0, 1, 1234, 2**31 - 1)


def verdict_1a_of(mlp_class: type, seed: int) -> TaskGrade:
    """Probe ``mlp_class`` and the reference in this process (no sandbox) and grade Task 1a."""
    import solution
    from instructor.grading import probes
    from instructor.tasks import probe_1a, task_1a

    def probe(cls):
        probes._run_seed = seed
        return {"configs": [probe_1a.probe_mlp(cls, config, index)
                            for index, config in enumerate(probe_1a.CONFIGS_1A)]}

    return task_1a.verdict(probe(mlp_class), probe(solution.SimpleMLP))


@pytest.mark.parametrize("seed", PROBE_SEEDS)
def test_layers_registered_in_another_order_get_full_points(seed):
    grade = verdict_1a_of(ReverselyRegisteredMLP, seed)
    assert (grade.points, grade.messages) == (TASK_POINTS["1a"], [])


# seeds whose inputs are so close to 0 that a sigmoid MLP measured on them alone looks affine
SIGMOID_NEAR_LINEAR_SEEDS = (11, 26, 59)


@pytest.mark.parametrize("seed", PROBE_SEEDS + SIGMOID_NEAR_LINEAR_SEEDS)
def test_a_sigmoid_mlp_is_not_called_an_affine_map(seed):
    grade = verdict_1a_of(SigmoidMLP, seed)
    assert grade.points == TASK_POINTS["1a"] - CHECK_POINTS["1a"]["same_function"], grade.messages
    assert not any("affine" in message for message in grade.messages)


# --------------------------------------------------------------------- 3b: messages name what differs


def argmax_over_batch_per_class(model, dataloader):
    """Task 3b with argmax over the batch dimension: NaN for absent classes is still right."""
    correct, total = [0] * 10, [0] * 10
    for batch, labels in dataloader:
        predicted = model(batch).argmax(dim=0)
        for label, guess in zip(labels.tolist(), predicted.tolist()):
            total[label] += 1
            correct[label] += int(label == guess)
    return {c: correct[c] / total[c] if total[c] else float("nan") for c in range(10)}


def test_3b_message_names_the_classes_that_differ_and_how_never_their_expected_values():
    import math

    import solution
    from instructor.tasks import probe_3b, task_3b

    student = probe_3b.probe({"compute_accuracy_per_class": argmax_over_batch_per_class}, {}, {})
    reference = probe_3b.probe({"compute_accuracy_per_class": solution.compute_accuracy_per_class}, {}, {})
    grade = task_3b.verdict(student, reference)
    # the absent classes' NaNs are right: the NaN check holds
    assert not [m for m in grade.messages if m.startswith("with no sample")], grade.messages
    [message] = [m for m in grade.messages if m.startswith("per-class values differ")]
    got = {int(e["key"]): e["value"] for e in student["all_classes"]["entries"]}
    expected = {int(e["key"]): e["value"] for e in reference["all_classes"]["entries"]}
    differing = [c for c in expected if not (got[c] == expected[c] or math.isnan(got[c]) and math.isnan(expected[c]))]
    assert differing
    shown = task_3b.SHOWN_CLASSES
    for c in differing[:shown]:
        direction = "too high" if got[c] > expected[c] else "too low"
        assert f"class {c}: got {got[c]:.4g}, {direction}" in message, message
    if len(differing) > shown:
        assert f"{len(differing) - shown} more" in message
    assert not any(f"expected {value}" in message or f"expected {value:.4g}" in message
                   for value in expected.values()), message


# --------------------------------------------------------------------- grade.py DIR


def test_a_folder_stands_for_its_notebooks_and_modules_searched_recursively(tmp_path, monkeypatch, capsys):
    for name in ("b.ipynb", "a.py", "notes.txt", "sub/c.ipynb", ".ipynb_checkpoints/b-checkpoint.ipynb"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    graded = []
    monkeypatch.setattr(grade, "grade_paths", lambda paths, *args, **kwargs: graded.extend(paths) or [])
    assert grade.main([str(tmp_path)]) == 0
    assert graded == [str(tmp_path / "a.py"), str(tmp_path / "b.ipynb"), str(tmp_path / "sub" / "c.ipynb")]


def test_cli_fails_clearly_for_a_folder_without_submissions(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("")
    assert grade.main([str(tmp_path)]) == grade.EXIT_CANNOT_GRADE
    assert f"the folder {tmp_path} holds no submission" in capsys.readouterr().err


# --------------------------------------------------------------------- pytest --submission PATH


class FakeItem:
    def __init__(self, path: str):
        self.path = Path(path)


class FakeConfig:
    def __init__(self, submission):
        self.submission, self.deselected = submission, []
        self.hook = self

    def getoption(self, name):
        return self.submission if name == "--submission" else None

    def pytest_deselected(self, items):
        self.deselected.extend(items)


@pytest.mark.parametrize("submission, kept", [(None, 3), ("a.ipynb", 1)])
def test_submission_option_keeps_only_the_grading_tests(submission, kept):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tests_conftest", Path(__file__).with_name("conftest.py"))
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    items = [FakeItem("tests/test_grading_submission.py"), FakeItem("tests/test_grading_units.py"),
             FakeItem("tests/test_release.py")]
    config = FakeConfig(submission)
    conftest.pytest_collection_modifyitems(config, items)
    assert len(items) == kept and len(config.deselected) == 3 - kept
    assert FakeItem("tests/test_grading_submission.py").path in [item.path for item in items]


@pytest.mark.slow
def test_pytest_with_submission_deselects_every_other_test():
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/test_grading_submission.py",
                          "tests/test_grading_units.py", "--submission", "solution.py", "--collect-only",
                          "-q", "-p", "no:cacheprovider"], cwd=root, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    collected = [line for line in run.stdout.splitlines() if "::" in line]
    assert collected and all(line.startswith("tests/test_grading_submission.py::") for line in collected)
    assert "deselected" in run.stdout


def test_a_class_that_calls_itself_float_is_not_a_float():
    from instructor.grading.probes import type_name

    class float_(float):  # noqa: N801 -- the attack: a subclass that claims to be the built-in
        pass

    float_.__name__ = "float"
    float_.__module__ = "builtins"
    assert type_name(float_(0.5)) != "float"
    assert type_name(0.5) == "float" and type_name(np.float64(0.5)) == "numpy.float64"
    assert type_name(torch.tensor(0.5)) == "torch.Tensor"


def test_the_terminal_table_prints_a_shared_message_once_and_the_review_flags():
    from instructor.grading.report import table

    unreadable = "not graded: bob.ipynb: not a readable Jupyter notebook"
    tasks = {task: TaskGrade(0, TASK_POINTS[task], [unreadable], "missing", []) for task in TASKS}
    tasks["3a"] = TaskGrade(0, 20, ["raised \x1b[2J"], "error", [])
    grade = SubmissionGrade("bob.ipynb", tasks, review=["sys._getframe, cell 3 line 1"])
    lines = table([grade]).splitlines()
    shared = [line for line in lines if unreadable in line]
    assert shared == [f"  1a, 1b, 2a, 2b, 3b: {unreadable}"]
    assert "  review: sys._getframe, cell 3 line 1" in lines
    assert not any("\x1b" in line for line in lines)


def test_messages_lose_quoted_answer_lines_but_keep_given_code():
    from instructor.grading.core import REFERENCE_PATH, distinctive_lines, redact
    from instructor.solution_regions import find_regions

    source = REFERENCE_PATH.read_text(encoding="utf-8")
    secret = distinctive_lines(region.body for region in find_regions(source))
    answer_line = "n_correct += torch.bincount(labels[predicted == labels], minlength=n_classes)"
    given_line = "batch, labels = batch.to(device), labels.to(device)"
    assert answer_line in source and given_line in source
    message = f"raised ValueError: {answer_line} (cell 17, line 3: `{given_line}`)"
    redacted = redact(message, secret)
    assert answer_line not in redacted and given_line in redacted


def test_every_task_gets_synthetic_mnist_with_its_attributes():
    from instructor.grading import probes

    probes._run_seed = 5
    provided, _ = probes.provide_data({"task": "3b"})
    train_set = provided["train_set"]
    assert len(train_set.classes) == 10 and train_set.targets.dtype == torch.int64
    assert train_set.data.shape == (len(train_set), 28, 28) and train_set.data.dtype == torch.uint8
    assert len(provided["train_loader"]) > 1 and "SimpleMLP" not in provided


def test_messages_lose_encoded_data_and_the_graders_folders():
    import sys

    from instructor.grading.core import PROJECT_ROOT, redact

    leak = "eNq1UV9LwzAQ/3F2x5Qm4bN0nXxYZ8qL0gEKUV4aB+XqL2" * 2
    message = f"raised RuntimeError: LEAK {leak} prefix={sys.prefix} root={PROJECT_ROOT}/solution.py"
    redacted = redact(message, [])
    assert leak[:40] not in redacted and sys.prefix not in redacted and str(PROJECT_ROOT) not in redacted
    assert redacted.startswith("raised RuntimeError: LEAK")
    assert redact("compute_accuracy_per_class raised ValueError", []) == "compute_accuracy_per_class raised ValueError"
