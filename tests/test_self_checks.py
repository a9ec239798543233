"""Self-checks: pass on the reference, 'not implemented yet' on stubs, helpful failures."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import nbformat
import pytest
import torch
from helpers_data import ReverselyRegisteredMLP
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import solution
from ex4 import checking, fixtures, self_checks
from instructor import release, release_stubs
from instructor.solution_regions import find_regions
from instructor.tasks import TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_PATH = PROJECT_ROOT / release.NOTEBOOK_NAME
SOLUTION_PATH = PROJECT_ROOT / release.SOLUTION_NAME
# Task 2b on a small learnable problem: one epoch of these batches with the
# reference code lowers every model's loss
N_SAMPLES_2B = 200
BATCH_SIZE_2B = 10
N_MODELS_2B = 2
DIMS_2B = [6, 16, 3]
SEED_2B = 0
CHECK_CALLS = {
    "1a": "check_task_1a(SimpleMLP)",
    "1b": "check_task_1b(model1, model2, model3)",
    "2a": "check_task_2a(train)",
    "2b": "check_task_2b(models, optimizers, losses, train_loader)",
    "3a": "check_task_3a(compute_accuracy)",
    "3b": "check_task_3b(compute_accuracy_per_class)",
}


def separable_loader(n_samples: int, batch_size: int) -> DataLoader:
    """(N x 1 x 2 x 3) inputs whose label is marked by a large feature."""
    inputs = torch.randn(n_samples, 1, 2, 3)
    labels = torch.arange(n_samples) % DIMS_2B[-1]
    inputs[torch.arange(n_samples), 0, 0, labels] += 3.0
    return DataLoader(TensorDataset(inputs, labels), batch_size=batch_size, shuffle=False)


@pytest.fixture(scope="module")
def task_2b_reference():
    """(models, optimizers, losses, loader) after the reference code of Task 2b; read only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED_2B)
        loader = separable_loader(N_SAMPLES_2B, BATCH_SIZE_2B)
        models = [solution.SimpleMLP(dims=DIMS_2B) for _ in range(N_MODELS_2B)]
        optimizers, losses = solution.train_models(models, loader, nn.CrossEntropyLoss())
    return models, optimizers, losses, loader


def run_task(task: str, arguments: tuple) -> list[checking.CheckResult]:
    return getattr(self_checks, f"task_{task}_results")(*arguments)


def reference_arguments(task: str, task_2b_reference) -> tuple:
    return {
        "1a": (solution.SimpleMLP,),
        "1b": solution.build_equivalent_models(),
        "2a": (solution.train,),
        "2b": task_2b_reference,
        "3a": (solution.compute_accuracy,),
        "3b": (solution.compute_accuracy_per_class,),
    }[task]


def failed(results: list[checking.CheckResult]) -> dict[str, str]:
    return {result.name: result.message for result in results if not result.passed}


# ----------------------------------------------------------------------------- reference and stubs
@pytest.mark.parametrize("task", TASKS)
def test_reference_passes_every_check(task, task_2b_reference):
    results = run_task(task, reference_arguments(task, task_2b_reference))
    assert len(results) > 1
    assert failed(results) == {}


@pytest.mark.parametrize("task", TASKS)
def test_printed_verdict_is_friendly_and_deterministic(task, task_2b_reference, capsys):
    check = getattr(self_checks, f"check_task_{task}")
    check(*reference_arguments(task, task_2b_reference))
    first = capsys.readouterr().out
    torch.manual_seed(99)
    check(*reference_arguments(task, task_2b_reference))
    assert capsys.readouterr().out == first
    assert first.startswith(f"Task {task} self-check: ") and "checks passed" in first
    assert "✗" not in first


def test_checks_leave_the_global_random_state_and_thread_count_alone():
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    self_checks.task_1a_results(solution.SimpleMLP)
    self_checks.task_2a_results(solution.train)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


@pytest.fixture(scope="module")
def stub_namespace() -> dict:
    """The names the released notebook defines before any student code is written.

    Runs the imports, classes and functions of every code cell, and the stub
    regions of the top-level tasks.
    """
    reference = nbformat.read(NOTEBOOK_PATH, as_version=4)
    student = release_stubs.release_notebook(reference, SOLUTION_PATH.read_text(encoding="utf-8"))
    namespace: dict = {"models": [solution.SimpleMLP(dims=DIMS_2B)],
                       "train_loader": separable_loader(BATCH_SIZE_2B, BATCH_SIZE_2B)}
    for cell in student.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        tree.body = [node for node in tree.body
                     if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef))]
        exec(compile(tree, "<released notebook>", "exec"), namespace)
        for region in find_regions(cell.source):
            if not region.indent:
                exec(textwrap.dedent(region.body), namespace)
            elif not release_stubs.inside_function(cell.source, region.begin_line, "cell"):
                # a region in a given loop (2b): the loop and the lists it fills, as the cell runs them
                statements = [node for node in ast.parse(cell.source).body
                              if node.lineno <= region.begin_line + 1 <= node.end_lineno
                              or isinstance(node, ast.Assign) and isinstance(node.value, ast.List)]
                exec(compile(ast.Module(statements, []), "<released notebook>", "exec"), namespace)
    namespace["models"] = [solution.SimpleMLP(dims=DIMS_2B)]
    return namespace


@pytest.mark.parametrize("task", TASKS)
def test_untouched_stub_is_not_implemented_yet(task, stub_namespace, capsys):
    call = CHECK_CALLS[task]
    arguments = tuple(eval(name, stub_namespace) for name in
                      call[call.index("(") + 1:-1].split(", "))
    results = run_task(task, arguments)
    assert [(result.name, result.passed) for result in results] == [(checking.STUB_RESULT_NAME, False)]
    eval(call, stub_namespace)
    output = capsys.readouterr().out
    assert "not implemented yet" in output and "Traceback" not in output


def test_every_task_cell_is_followed_by_its_check_cell():
    notebook = nbformat.read(NOTEBOOK_PATH, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    # the first code cell makes the helpers importable; the next one imports them
    assert "unpack_missing_helpers(" in code[0] and "from ex4.self_checks import *" in code[1]
    for task, call in CHECK_CALLS.items():
        task_cells = [index for index, source in enumerate(code)
                      if f"### END SOLUTION {task}" in source]
        assert task_cells, f"no cell with task {task}"
        assert call in code[task_cells[-1] + 1], f"no self-check right after the cell of task {task}"


def test_a_crashing_check_never_raises(capsys):
    self_checks.check_task_1a(None)
    self_checks.check_task_3a("not a function")
    output = capsys.readouterr().out
    assert "expected:" in output and "got:" in output and "TypeError" in output


# ----------------------------------------------------------------------------- failures
# Typical mistakes, with the hint each must get, are in test_self_check_mistakes.py.
class ReluAfterLastLayer(solution.SimpleMLP):
    def forward(self, input):
        return self.activation(super().forward(input))


def test_failure_is_printed_with_expected_got_and_hint(capsys):
    self_checks.check_task_1a(ReluAfterLastLayer)
    output = capsys.readouterr().out
    assert "✗ logits" in output and checking.WELL_DONE not in output
    assert "expected:" in output and "got:" in output and "followed by a ReLU" in output




def test_task_1a_checks_behaviour_not_registration_order():
    assert failed(self_checks.task_1a_results(ReverselyRegisteredMLP)) == {}


def test_task_1a_fails_a_sigmoid_between_the_layers():
    """Sigmoid instead of ReLU is nonlinear too, but the task asks for ReLU."""

    class SigmoidMLP(solution.SimpleMLP):
        def forward(self, input):
            out = input.flatten(1)
            for layer in self.layers[:-1]:
                out = torch.sigmoid(layer(out))
            return self.layers[-1](out)

    failures = failed(self_checks.task_1a_results(SigmoidMLP))
    assert "sigmoid" in failures["ReLU between layers"]


def test_task_1b_accepts_a_model2_with_layers_registered_in_another_order():
    model1, _, model3 = solution.build_equivalent_models()
    reversed_simple_mlp = type("SimpleMLP", (ReverselyRegisteredMLP,), {})
    model2 = reversed_simple_mlp(fixtures.FIXED_MLP_DIMS)
    assert failed(self_checks.task_1b_results(model1, model2, model3)) == {}
