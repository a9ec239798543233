"""Self-checks: pass on the reference, 'not implemented yet' on stubs, helpful failures."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import release
import self_checks
import solution
from solution_regions import TASKS, find_regions

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


def run_task(task: str, arguments: tuple) -> list[self_checks.CheckResult]:
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


def failed(results: list[self_checks.CheckResult]) -> dict[str, str]:
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


def test_checks_leave_the_global_random_state_alone():
    state = torch.get_rng_state()
    self_checks.task_1a_results(solution.SimpleMLP)
    self_checks.task_2a_results(solution.train)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.fixture(scope="module")
def stub_namespace() -> dict:
    """The names the released notebook defines before any student code is written.

    Runs the imports, classes and functions of every code cell, and the stub
    regions of the top-level tasks.
    """
    reference = nbformat.read(NOTEBOOK_PATH, as_version=4)
    student = release.release_notebook(reference, SOLUTION_PATH.read_text(encoding="utf-8"))
    namespace: dict = {}
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
    namespace["models"] = [solution.SimpleMLP(dims=DIMS_2B)]
    namespace["train_loader"] = separable_loader(BATCH_SIZE_2B, BATCH_SIZE_2B)
    return namespace


@pytest.mark.parametrize("task", TASKS)
def test_untouched_stub_is_not_implemented_yet(task, stub_namespace, capsys):
    call = CHECK_CALLS[task]
    arguments = tuple(eval(name, stub_namespace) for name in
                      call[call.index("(") + 1:-1].split(", "))
    results = run_task(task, arguments)
    assert [(result.name, result.passed) for result in results] == [(self_checks.STUB_RESULT_NAME, False)]
    eval(call, stub_namespace)
    output = capsys.readouterr().out
    assert "not implemented yet" in output and "Traceback" not in output


def test_every_task_cell_is_followed_by_its_check_cell():
    notebook = nbformat.read(NOTEBOOK_PATH, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert "from self_checks import *" in code[0]
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


# ----------------------------------------------------------------------------- wrong variants
class ReluAfterLastLayer(solution.SimpleMLP):
    def forward(self, input):
        return self.activation(super().forward(input))


class NoActivation(solution.SimpleMLP):
    def forward(self, input):
        out = self.flatten(input)
        for layer in self.layers:
            out = layer(out)
        return out


class PlainListOfLayers(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.flatten = nn.Flatten()
        self.layers = [nn.Linear(n_in, n_out) for n_in, n_out in zip(dims[:-1], dims[1:])]

    def forward(self, input):
        out = self.flatten(input)
        for layer in self.layers[:-1]:
            out = torch.relu(layer(out))
        return self.layers[-1](out)


def task_1b_with_relu_at_the_end():
    model1, model2, _ = solution.build_equivalent_models()
    layers = [nn.Flatten()]
    for n_in, n_out in zip(self_checks.TASK_1B_DIMS[:-1], self_checks.TASK_1B_DIMS[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return model1, model2, nn.Sequential(*layers)


def task_1b_with_wrong_dims():
    model1, _, model3 = solution.build_equivalent_models()
    return model1, solution.SimpleMLP(dims=[28 * 28, 32, 10]), model3


def train_resetting_losses_per_epoch(model, dataloader, optimizer, loss_fn, n_epochs=20,
                                     show_progress=True):
    for _ in range(n_epochs):
        losses = []
        for batch, labels in dataloader:
            optimizer.zero_grad()
            loss = loss_fn(model(batch), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def broken_train(*, zero_grad_before_step: bool = False, keep_tensors: bool = False,
                 reset_gradients: bool = True):
    """Task 2a with one mistake: no zero_grad, zero_grad between backward and step, or loss tensors kept."""

    def train(model, dataloader, optimizer, loss_fn, n_epochs=20, show_progress=True):
        losses = []
        for _ in range(n_epochs):
            for batch, labels in dataloader:
                if reset_gradients and not zero_grad_before_step:
                    optimizer.zero_grad()
                loss = loss_fn(model(batch), labels)
                loss.backward()
                if zero_grad_before_step:
                    optimizer.zero_grad()
                optimizer.step()
                losses.append(loss if keep_tensors else loss.item())
        return losses

    return train


def task_2b_with(variant: str, reference):
    models, optimizers, losses, loader = reference
    if variant == "sgd":
        optimizers = [torch.optim.SGD(model.parameters(), lr=0.04) for model in models]
    elif variant == "learning rate":
        optimizers = [torch.optim.Adam(model.parameters(), lr=0.4) for model in models]
    elif variant == "one optimizer for all":
        optimizers = [torch.optim.Adam(models[0].parameters(), lr=0.04) for _ in models]
    elif variant == "extend":
        losses = [loss for model_losses in losses for loss in model_losses]
    elif variant == "rising losses":
        losses = [list(reversed(model_losses)) for model_losses in losses]
    return models, optimizers, losses, loader


def accuracy_per_batch_mean(model, dataloader):
    accuracies = [(model(batch).argmax(dim=1) == labels).float().mean().item()
                  for batch, labels in dataloader]
    return sum(accuracies) / len(accuracies)


def accuracy_over_batches(model, dataloader):
    correct = sum((model(batch).argmax(dim=1) == labels).sum().item() for batch, labels in dataloader)
    return correct / len(dataloader)


def accuracy_in_percent(model, dataloader):
    return 100 * solution.compute_accuracy(model, dataloader)


def per_class_over_all_samples(model, dataloader):
    n_all = sum(len(labels) for _, labels in dataloader)
    correct = {c: 0 for c in range(10)}
    for batch, labels in dataloader:
        for predicted, label in zip(model(batch).argmax(dim=1).tolist(), labels.tolist()):
            correct[label] += predicted == label
    return {c: correct[c] / n_all for c in range(10)}


def per_class_string_keys(model, dataloader):
    return {str(c): value for c, value in solution.compute_accuracy_per_class(model, dataloader).items()}


def per_class_zero_for_absent(model, dataloader):
    return {c: 0.0 if value != value else value
            for c, value in solution.compute_accuracy_per_class(model, dataloader).items()}


def per_class_in_percent(model, dataloader):
    return {c: 100 * value for c, value in solution.compute_accuracy_per_class(model, dataloader).items()}


WRONG_VARIANTS = [
    pytest.param("1a", lambda ref: (ReluAfterLastLayer,), "negative logits", "followed by a ReLU",
                 id="1a-relu-after-last-layer"),
    pytest.param("1a", lambda ref: (NoActivation,), "nonlinearity", "affine", id="1a-no-activation"),
    pytest.param("1a", lambda ref: (PlainListOfLayers,), "parameters", "nn.ModuleList",
                 id="1a-plain-list"),
    pytest.param("1b", lambda ref: task_1b_with_relu_at_the_end(), "same function", "except the last",
                 id="1b-relu-at-the-end"),
    pytest.param("1b", lambda ref: task_1b_with_wrong_dims(), "parameter shapes", "layer sizes",
                 id="1b-wrong-dims"),
    pytest.param("2a", lambda ref: (train_resetting_losses_per_epoch,), "one loss per iteration",
                 "don't reset", id="2a-losses-reset-per-epoch"),
    *[pytest.param("2a", lambda ref, k=kwargs: (broken_train(**k),), check, hint, id=name)
      for name, kwargs, check, hint in (
          ("2a-no-zero-grad", {"reset_gradients": False}, "gradients reset", "zero_grad"),
          ("2a-tensors", {"keep_tensors": True}, "losses are floats", "loss.item()"),
          ("2a-zero-grad-before-step", {"zero_grad_before_step": True}, "gradients reset", "were zero"))],
    pytest.param("2b", lambda ref: task_2b_with("sgd", ref), "optimizers", "Adam", id="2b-sgd"),
    pytest.param("2b", lambda ref: task_2b_with("learning rate", ref), "learning rate", "lr=0.04",
                 id="2b-learning-rate"),
    pytest.param("2b", lambda ref: task_2b_with("one optimizer for all", ref), "optimizers",
                 "models[0]", id="2b-shared-parameters"),
    pytest.param("2b", lambda ref: task_2b_with("extend", ref), "losses", "append, not extend",
                 id="2b-extend"),
    pytest.param("2b", lambda ref: task_2b_with("rising losses", ref), "training progress", "fall",
                 id="2b-loss-rises"),
    pytest.param("3a", lambda ref: (accuracy_over_batches,), "known accuracy", "number of batches",
                 id="3a-divided-by-batches"),
    pytest.param("3a", lambda ref: (accuracy_per_batch_mean,), "known accuracy", "smaller last batch",
                 id="3a-mean-of-batch-accuracies"),
    pytest.param("3a", lambda ref: (accuracy_in_percent,), "fraction", "percentage", id="3a-percent"),
    pytest.param("3b", lambda ref: (per_class_over_all_samples,), "known accuracies",
                 "not by the number of all samples", id="3b-divided-by-all-samples"),
    pytest.param("3b", lambda ref: (per_class_string_keys,), "keys", "not str", id="3b-string-keys"),
    pytest.param("3b", lambda ref: (per_class_zero_for_absent,), "class without samples", "nan",
                 id="3b-zero-for-absent-class"),
    pytest.param("3b", lambda ref: (per_class_in_percent,), "fractions", "percentages",
                 id="3b-percent"),
]


@pytest.mark.parametrize("task, make_arguments, failing_check, hint", WRONG_VARIANTS)
def test_wrong_implementation_fails_with_expected_got_and_hint(task, make_arguments, failing_check,
                                                               hint, task_2b_reference):
    failures = failed(run_task(task, make_arguments(task_2b_reference)))
    assert failing_check in failures, f"the check '{failing_check}' passed; failures: {failures}"
    message = failures[failing_check]
    assert "expected:" in message and "got:" in message and "hint:" in message
    assert hint in message


def test_failure_is_printed_with_expected_got_and_hint(capsys):
    self_checks.check_task_1a(ReluAfterLastLayer)
    output = capsys.readouterr().out
    assert "✗ negative logits" in output
    assert "expected:" in output and "got:" in output and "followed by a ReLU" in output


class ReverselyRegisteredMLP(nn.Module):
    """A correct Task 1a whose layers are registered last first."""

    def __init__(self, dims):
        super().__init__()
        self.reversed_layers = nn.ModuleList(nn.Linear(a, b) for a, b in reversed(list(zip(dims[:-1], dims[1:]))))

    def forward(self, inputs):
        layers = list(self.reversed_layers)[::-1]
        out = inputs.flatten(1)
        for layer in layers[:-1]:
            out = torch.relu(layer(out))
        return layers[-1](out)


class SigmoidMLP(solution.SimpleMLP):
    """Task 1a with a sigmoid between the layers: nonlinear, so the nonlinearity check passes."""

    def forward(self, input):
        out = input.flatten(1)
        for layer in self.layers[:-1]:
            out = torch.sigmoid(layer(out))
        return self.layers[-1](out)


@pytest.mark.parametrize("mlp_class", [ReverselyRegisteredMLP, SigmoidMLP])
def test_task_1a_checks_behaviour_not_registration_order(mlp_class):
    results = self_checks.task_1a_results(mlp_class)
    assert failed(results) == {}


def test_task_1b_accepts_a_model2_with_layers_registered_in_another_order():
    model1, _, model3 = solution.build_equivalent_models()
    reversed_simple_mlp = type("SimpleMLP", (ReverselyRegisteredMLP,), {})
    model2 = reversed_simple_mlp(self_checks.TASK_1B_DIMS)
    assert failed(self_checks.task_1b_results(model1, model2, model3)) == {}
