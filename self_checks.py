"""Self-checks for Exercise Sheet 4: run one after each task to see what works.

Each ``check_task_*`` function prints a short verdict: every check that
passed, and for every failure what was expected, what happened and a hint.
It never raises, so the notebook keeps running, and an untouched TODO stub is
reported as "not implemented yet". The checks test properties on small
synthetic data (no MNIST needed, a few seconds at most); they are not the
grade, and passing them does not guarantee full points.

``task_*_results`` return the same verdict as a list of ``CheckResult`` for
code that wants to inspect it instead of reading it.

The checks seed their own random numbers and restore PyTorch's global random
state afterwards, so running them does not change the rest of the notebook.
"""
from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from model_properties import (AFFINE_TOLERANCE, affine_residual, count_parameters, expected_parameter_count,
                              load_values, shape_matched_orderings)

__all__ = [
    "check_task_1a",
    "check_task_1b",
    "check_task_2a",
    "check_task_2b",
    "check_task_3a",
    "check_task_3b",
]

CHECK_SEED = 1234
# absolute/relative tolerances for comparing float32 results of the same computation
ATOL = 1e-5
RTOL = 1e-4
N_CLASSES = 10
MNIST_IMAGE_SHAPE = (1, 28, 28)
TASK_1B_DIMS = [28 * 28, 32, 32, 32, 10]
TASK_2B_LEARNING_RATE = 0.04
# a trained model's mean loss over the last iterations must be below this
# share of its mean loss over the first iterations
LOSS_DROP_FACTOR = 0.9
# name of the single result reported for a task that is still a TODO stub
STUB_RESULT_NAME = "implemented"
# a failed gate check skips the checks after it, which build on what it checks
_GATE = True
_INDEPENDENT = False
SKIPPED = "skipped: make the check above pass first"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``message`` says what passed, or expected/got/hint."""

    name: str
    passed: bool
    message: str


class _CheckFailed(Exception):
    """Raised inside a check to report a failed property with expected/got/hint."""

    def __init__(self, expected: str, got: str, hint: str):
        super().__init__(got)
        self.expected = expected
        self.got = got
        self.hint = hint


def _require(condition: bool, expected: str, got: str, hint: str) -> None:
    if not condition:
        raise _CheckFailed(expected, got, hint)


def _failure_message(expected: str, got: str, hint: str) -> str:
    return f"expected: {expected}\ngot:      {got}\nhint:     {hint}"


def _run_checks(task: str,
                checks: Sequence[tuple[str, Callable[[], str], bool]]) -> list[CheckResult]:
    """Run ``(name, check, is_gate)`` triples in order; a check returns its success message.

    A NotImplementedError anywhere means the task is still a stub. A check
    that fails (or raises) is reported; when it is a gate, the later checks
    need what it checks and are reported as skipped.
    """
    results = []
    for index, (name, check, is_gate) in enumerate(checks):
        try:
            results.append(CheckResult(name, True, check()))
            continue
        except NotImplementedError:
            return [CheckResult(
                STUB_RESULT_NAME, False,
                f"Task {task} is not implemented yet: replace the TODO stub with your "
                "code, run its cell, then run this check again.")]
        except _CheckFailed as failure:
            results.append(CheckResult(
                name, False, _failure_message(failure.expected, failure.got, failure.hint)))
        except Exception as error:  # noqa: BLE001 - a student's bug must not stop the notebook
            results.append(CheckResult(name, False, _failure_message(
                "the code to run without an error",
                f"{type(error).__name__}: {error}",
                "call your code on a small example in a new cell to see the full traceback")))
        if is_gate:
            results.extend(CheckResult(later, False, SKIPPED)
                           for later, _, _ in checks[index + 1:])
            break
    return results


def _format_report(task: str, results: Sequence[CheckResult]) -> str:
    """The verdict printed in the notebook."""
    if len(results) == 1 and results[0].name == STUB_RESULT_NAME:
        return f"Task {task} self-check: {results[0].message}"
    n_passed = sum(result.passed for result in results)
    lines = [f"Task {task} self-check: {n_passed} of {len(results)} checks passed."]
    for result in results:
        if result.passed or result.message == SKIPPED:
            mark = "✓" if result.passed else "-"
            lines.append(f"  {mark} {result.name}: {result.message}")
            continue
        lines.append(f"  ✗ {result.name}:")
        lines.extend("      " + line for line in result.message.splitlines())
    if n_passed == len(results):
        lines.append("Well done! (The grader runs more checks than these.)")
    return "\n".join(line.rstrip() for line in lines)


def _seeded(results_fn: Callable[..., list[CheckResult]]) -> Callable[..., list[CheckResult]]:
    """Run ``results_fn`` with its own seed, leaving PyTorch's global random state as it was."""

    @functools.wraps(results_fn)
    def run(*args: object) -> list[CheckResult]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(CHECK_SEED)
            return results_fn(*args)

    return run


def _report(task: str, results_fn: Callable[[], list[CheckResult]]) -> None:
    try:
        results = results_fn()
    except Exception as error:  # noqa: BLE001 - the self-check must never stop the notebook
        print(f"Task {task} self-check could not run: {type(error).__name__}: {error}")
        return
    print(_format_report(task, results))


def _describe_shape(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    return next((parameter.device for parameter in model.parameters()), torch.device("cpu"))


def _linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    """(out_features, in_features) of the model's nn.Linear layers, in registration order."""
    return [tuple(module.weight.shape) for module in model.modules() if isinstance(module, nn.Linear)]


def _load_parameters(model: nn.Module, values: Sequence[torch.Tensor]) -> None:
    """Copy ``values`` into ``model``'s parameters, in parameter order."""
    load_values(model, values, range(len(values)))


# ----------------------------------------------------------------------------- Task 1a
# images of 1 x 3 x 4 pixels: flattened to 12 features
_SMALL_IMAGE_SHAPE = (1, 3, 4)
_SMALL_DIMS = [12, 7, 5, 3]
_SINGLE_LAYER_DIMS = [12, 3]
_BATCH_SIZE_1A = 64


@_seeded
def task_1a_results(simple_mlp_class: type) -> list[CheckResult]:
    """Checks of the ``SimpleMLP`` class (Task 1a)."""
    inputs = torch.randn(_BATCH_SIZE_1A, *_SMALL_IMAGE_SHAPE)
    other_inputs = torch.randn(_BATCH_SIZE_1A, *_SMALL_IMAGE_SHAPE)
    models = {}

    def builds() -> str:
        for dims in (_SMALL_DIMS, _SINGLE_LAYER_DIMS):
            models[len(dims)] = simple_mlp_class(dims=list(dims))
            _require(isinstance(models[len(dims)], nn.Module), "an nn.Module",
                     _describe_shape(models[len(dims)]), "SimpleMLP must inherit from nn.Module")
        return f"SimpleMLP(dims={_SMALL_DIMS}) and SimpleMLP(dims={_SINGLE_LAYER_DIMS}) build"

    def output_shape() -> str:
        for dims in (_SMALL_DIMS, _SINGLE_LAYER_DIMS):
            with torch.no_grad():
                output = models[len(dims)](inputs)
            expected = (_BATCH_SIZE_1A, dims[-1])
            _require(isinstance(output, torch.Tensor) and tuple(output.shape) == expected,
                     f"output of shape {expected} for dims={dims} and a batch of shape "
                     f"{tuple(inputs.shape)}",
                     _describe_shape(output),
                     "flatten the images to (BS x dims[0]) first and return the output of "
                     "the last layer, which has dims[-1] features")
        return "the output has shape (batch size x dims[-1]) for image batches"

    def parameters() -> str:
        for dims in (_SMALL_DIMS, _SINGLE_LAYER_DIMS):
            expected = expected_parameter_count(dims)
            got = count_parameters(models[len(dims)])
            hint = ("layers kept in a plain Python list (or dict) are not registered as "
                    "parameters: use nn.ModuleList" if got < expected else
                    "create exactly one nn.Linear per pair of consecutive sizes in dims, "
                    "each with a bias")
            _require(got == expected,
                     f"{expected} learnable parameters for dims={dims} (one nn.Linear with "
                     "bias per pair of consecutive sizes)",
                     f"{got} parameters", hint)
        return "the number of learnable parameters matches dims"

    def layer_shapes() -> str:
        expected = [(n_out, n_in) for n_in, n_out in zip(_SMALL_DIMS[:-1], _SMALL_DIMS[1:])]
        got = _linear_shapes(models[len(_SMALL_DIMS)])
        _require(sorted(got) == sorted(expected),
                 f"nn.Linear weights of shapes {expected} for dims={_SMALL_DIMS}",
                 f"{got}",
                 "layer i maps dims[i] features to dims[i + 1] features")
        return "one nn.Linear per pair of consecutive sizes"

    def negative_logits() -> str:
        with torch.no_grad():
            outputs = models[len(_SMALL_DIMS)](inputs)
        _require(bool((outputs < 0).any()),
                 "some negative outputs (logits) for random inputs",
                 f"all {outputs.numel()} outputs are >= 0",
                 "your last layer is followed by a ReLU, so logits can never be negative: "
                 "apply the activation after every layer except the last")
        return "the outputs (logits) can be negative"

    def nonlinear() -> str:
        residual = affine_residual(models[len(_SMALL_DIMS)], inputs, other_inputs)
        _require(residual > AFFINE_TOLERANCE,
                 f"a nonlinear model for dims={_SMALL_DIMS}: f((a + b) / 2) differs from "
                 "(f(a) + f(b)) / 2",
                 f"f((a + b) / 2) = (f(a) + f(b)) / 2 up to {residual:.2g} (relative), so the "
                 "model behaves like a single affine map",
                 "apply the ReLU activation after every layer except the last")
        return "the model is nonlinear (it has activations between layers)"

    def single_layer_affine() -> str:
        residual = affine_residual(models[len(_SINGLE_LAYER_DIMS)], inputs, other_inputs)
        _require(residual <= AFFINE_TOLERANCE,
                 f"dims={_SINGLE_LAYER_DIMS} (no hidden layer) to give one plain nn.Linear, "
                 "an affine map",
                 f"a nonlinear model (relative deviation from affine {residual:.3g})",
                 "there is no activation after the last layer; with two sizes in dims the "
                 "only layer is the last one")
        return "with no hidden layer the model is a single affine layer"

    return _run_checks("1a", [
        ("builds", builds, _GATE),
        ("output shape", output_shape, _GATE),
        ("parameters", parameters, _INDEPENDENT),
        ("layer shapes", layer_shapes, _INDEPENDENT),
        ("negative logits", negative_logits, _INDEPENDENT),
        ("nonlinearity", nonlinear, _INDEPENDENT),
        ("no activation after the last layer", single_layer_affine, _INDEPENDENT),
    ])


def check_task_1a(simple_mlp_class: type) -> None:
    """Print the self-check verdict for Task 1a: call it as ``check_task_1a(SimpleMLP)``."""
    _report("1a", lambda: task_1a_results(simple_mlp_class))


# ----------------------------------------------------------------------------- Task 1b
_BATCH_SIZE_1B = 8


@_seeded
def task_1b_results(model1: object, model2: object, model3: object) -> list[CheckResult]:
    """Checks of the three equivalent models of Task 1b; the models are not modified."""
    models = {"model1": model1, "model2": model2, "model3": model3}
    expected_types = {"model1": "SimpleFixedMLP", "model2": "SimpleMLP", "model3": "Sequential"}
    inputs = torch.rand(_BATCH_SIZE_1B, *MNIST_IMAGE_SHAPE)
    expected_shapes = [shape for n_in, n_out in zip(TASK_1B_DIMS[:-1], TASK_1B_DIMS[1:])
                       for shape in ((n_out, n_in), (n_out,))]

    def defined() -> str:
        if all(model is None for model in models.values()):
            raise NotImplementedError
        for name, model in models.items():
            _require(isinstance(model, nn.Module), f"{name} to be an nn.Module",
                     "None" if model is None else _describe_shape(model),
                     f"assign a model to {name}")
        return "model1, model2 and model3 are models"

    def classes() -> str:
        for name, model in models.items():
            got = type(model).__name__
            _require(got == expected_types[name], f"{name} to be a {expected_types[name]}",
                     f"a {got}",
                     "model1 uses SimpleFixedMLP, model2 SimpleMLP and model3 nn.Sequential")
        return "model1 is a SimpleFixedMLP, model2 a SimpleMLP, model3 an nn.Sequential"

    def parameter_shapes() -> str:
        for name, model in models.items():
            got = [tuple(parameter.shape) for parameter in model.parameters()]
            _require(sorted(got) == sorted(expected_shapes),
                     f"{name} to have the parameter shapes of SimpleFixedMLP, {expected_shapes}",
                     f"{got}",
                     f"use the layer sizes {TASK_1B_DIMS}, one nn.Linear with bias per pair")
        return "all three have the parameters of SimpleFixedMLP"

    def outputs() -> str:
        for name, model in models.items():
            with torch.no_grad():
                output = model(inputs.to(_device_of(model)))
            expected = (_BATCH_SIZE_1B, TASK_1B_DIMS[-1])
            _require(isinstance(output, torch.Tensor) and tuple(output.shape) == expected,
                     f"{name} to map images of shape {tuple(inputs.shape)} to {expected}",
                     _describe_shape(output),
                     "start with nn.Flatten() so that the images become vectors")
        return "all three map a batch of MNIST images to 10 logits each"

    def same_function() -> str:
        reference_parameters = [parameter.detach().cpu() for parameter in model1.parameters()]
        with torch.no_grad():
            reference_output = model1(inputs.to(_device_of(model1))).cpu()
        reference_shapes = [tuple(value.shape) for value in reference_parameters]
        for name in ("model2", "model3"):
            twin = copy.deepcopy(models[name]).cpu()
            # equal-shaped layers may be registered in another order than they are applied
            orderings = shape_matched_orderings([tuple(p.shape) for p in twin.parameters()], reference_shapes)
            differences = []
            for order in orderings:
                load_values(twin, reference_parameters, order)
                with torch.no_grad():
                    output = twin(inputs)
                differences.append((output - reference_output).abs().max().item())
                if torch.allclose(output, reference_output, atol=ATOL, rtol=RTOL):
                    break
            _require(torch.allclose(output, reference_output, atol=ATOL, rtol=RTOL),
                     f"{name} with the parameters of model1 to compute the same outputs",
                     f"different outputs (max difference {min(differences):.3g})",
                     "put a ReLU after every linear layer except the last one, as in "
                     "SimpleFixedMLP")
        return "with equal parameters all three compute the same function"

    return _run_checks("1b", [
        ("models defined", defined, _GATE),
        ("model classes", classes, _INDEPENDENT),
        ("parameter shapes", parameter_shapes, _GATE),
        ("output shape", outputs, _GATE),
        ("same function", same_function, _INDEPENDENT),
    ])


def check_task_1b(model1: object, model2: object, model3: object) -> None:
    """Print the self-check verdict for Task 1b: ``check_task_1b(model1, model2, model3)``."""
    _report("1b", lambda: task_1b_results(model1, model2, model3))


# ----------------------------------------------------------------------------- Task 2a
_N_FEATURES_2A = 6
_N_SAMPLES_2A = 10
# 10 samples in batches of 4: batches of 4, 4 and 2
_BATCH_SIZE_2A = 4
_N_EPOCHS_2A = 2
_LEARNING_RATE_2A = 0.1
_FIT_N_EPOCHS = 30
_FIT_LEARNING_RATE = 0.5


class _TinyClassifier(nn.Module):
    """A single linear layer from a (BS x 1 x 2 x 3) batch to 3 logits."""

    def __init__(self, n_features: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.flatten(1))


class _RecordingSGD(torch.optim.SGD):
    """Plain SGD that records the parameters and gradients it sees at every step."""

    def __init__(self, params, lr: float):
        super().__init__(params, lr=lr)
        self.seen_parameters: list[list[torch.Tensor]] = []
        self.seen_gradients: list[list[torch.Tensor]] = []

    def step(self, closure=None):
        parameters = [p for group in self.param_groups for p in group["params"]]
        self.seen_parameters.append([p.detach().clone() for p in parameters])
        self.seen_gradients.append([torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                                    for p in parameters])
        return super().step(closure)


def _small_classification_loader(n_samples: int, batch_size: int) -> DataLoader:
    """Seeded (BS x 1 x 2 x 3) inputs with labels 0-2 that a linear layer can fit."""
    inputs = torch.randn(n_samples, 1, 2, 3)
    labels = torch.arange(n_samples) % 3
    inputs[torch.arange(n_samples), 0, 0, labels] += 2.0
    return DataLoader(TensorDataset(inputs, labels), batch_size=batch_size, shuffle=False)


@_seeded
def task_2a_results(train_fn: Callable) -> list[CheckResult]:
    """Checks of the ``train`` function (Task 2a) on a tiny linear model."""
    loss_fn = nn.CrossEntropyLoss()
    loader = _small_classification_loader(_N_SAMPLES_2A, _BATCH_SIZE_2A)
    model = _TinyClassifier(_N_FEATURES_2A, 3)
    initial_parameters = [parameter.detach().clone() for parameter in model.parameters()]
    optimizer = _RecordingSGD(model.parameters(), lr=_LEARNING_RATE_2A)
    n_iterations = _N_EPOCHS_2A * len(loader)
    run = {}

    def runs() -> str:
        with torch.enable_grad():
            run["losses"] = train_fn(model, loader, optimizer, loss_fn,
                                     n_epochs=_N_EPOCHS_2A, show_progress=False)
        _require(isinstance(run["losses"], list), "train to return a list of losses",
                 "None" if run["losses"] is None else _describe_shape(run["losses"]),
                 "keep the `return losses` at the end of the function")
        return "train runs and returns a list"

    def one_loss_per_iteration() -> str:
        got = len(run["losses"])
        hints = {0: "append the loss of every iteration to `losses`",
                 _N_EPOCHS_2A: "append the loss of every batch, not once per epoch",
                 len(loader): "keep the losses of all epochs: don't reset the list in each epoch"}
        _require(got == n_iterations,
                 f"{n_iterations} losses for {_N_EPOCHS_2A} epochs of {len(loader)} batches "
                 f"(the last batch holds {_N_SAMPLES_2A % _BATCH_SIZE_2A} samples)",
                 f"{got} losses", hints.get(got, "append exactly one loss per iteration"))
        return "one loss per iteration of every epoch"

    def python_floats() -> str:
        kinds = sorted({type(loss).__name__ for loss in run["losses"]})
        _require(all(type(loss) is float for loss in run["losses"]), "Python floats",
                 f"values of type {', '.join(kinds)}",
                 "append loss.item(): a tensor keeps its whole computation graph in memory")
        return "the losses are Python floats"

    def one_step_per_iteration() -> str:
        got = len(optimizer.seen_gradients)
        _require(got == n_iterations, f"optimizer.step() called {n_iterations} times",
                 f"{got} calls", "make one optimizer step per batch")
        changed = any(not torch.equal(before, after) for before, after
                      in zip(initial_parameters, model.parameters()))
        _require(changed, "the model's parameters to change", "they are unchanged",
                 "call optimizer.step() after computing the gradients")
        return "one optimizer step per iteration"

    def replayed_steps():
        """(step, inputs, labels, model with the parameters seen at that step, its index)."""
        batches = [batch for _ in range(_N_EPOCHS_2A) for batch in loader]
        probe = copy.deepcopy(model)
        for index, ((inputs, labels), seen_parameters) in enumerate(zip(batches, optimizer.seen_parameters)):
            _load_parameters(probe, seen_parameters)
            yield index + 1, inputs, labels, probe, index

    def fresh_gradients() -> str:
        for step, inputs, labels, probe, index in replayed_steps():
            seen_gradients = optimizer.seen_gradients[index]
            with torch.enable_grad():
                batch_gradients = torch.autograd.grad(loss_fn(probe(inputs), labels),
                                                      list(probe.parameters()))
            matches = all(torch.allclose(seen, fresh, atol=ATOL, rtol=RTOL)
                          for seen, fresh in zip(seen_gradients, batch_gradients))
            all_zero = all(not seen.any() for seen in seen_gradients)
            hint = ("the gradients were zero at optimizer.step(): compute the loss and call "
                    "backward() before step(), and reset the gradients before backward(), "
                    "not between backward() and step()" if all_zero else
                    "gradients add up over iterations unless you reset them: call "
                    "optimizer.zero_grad() once per iteration, before backward()")
            _require(matches, f"at step {step} the gradient of that batch's loss only",
                     "a different gradient", hint)
        return "each step uses the gradient of the current batch only (gradients are reset)"

    def losses_match_batches() -> str:
        for (step, inputs, labels, probe, _), loss in zip(replayed_steps(), run["losses"]):
            with torch.no_grad():
                expected = loss_fn(probe(inputs), labels).item()
                loss = loss.item() if isinstance(loss, torch.Tensor) else loss
            _require(math.isclose(loss, expected, rel_tol=RTOL, abs_tol=ATOL),
                     f"loss {step} to be loss_fn(model(batch), labels) of that batch "
                     f"({expected:.4f})", f"{loss:.4f}",
                     "append the loss of the current batch, computed before the step")
        return "each loss is the loss of its batch"

    def fits_one_batch() -> str:
        fit_loader = _small_classification_loader(_BATCH_SIZE_2A, _BATCH_SIZE_2A)
        fit_model = _TinyClassifier(_N_FEATURES_2A, 3)
        fit_optimizer = torch.optim.SGD(fit_model.parameters(), lr=_FIT_LEARNING_RATE)
        with torch.enable_grad():
            losses = train_fn(fit_model, fit_loader, fit_optimizer, loss_fn,
                              n_epochs=_FIT_N_EPOCHS, show_progress=False)
        _require(losses[-1] < LOSS_DROP_FACTOR * losses[0],
                 f"the loss to fall when fitting one fixed batch for {_FIT_N_EPOCHS} epochs",
                 f"first loss {losses[0]:.4f}, last loss {losses[-1]:.4f}",
                 "per iteration: reset gradients, predict, compute the loss, backward(), step()")
        return "the loss falls when fitting one small batch"

    return _run_checks("2a", [
        ("runs", runs, _GATE),
        ("one loss per iteration", one_loss_per_iteration, _INDEPENDENT),
        ("losses are floats", python_floats, _INDEPENDENT),
        ("optimizer steps", one_step_per_iteration, _INDEPENDENT),
        ("gradients reset", fresh_gradients, _INDEPENDENT),
        ("loss values", losses_match_batches, _INDEPENDENT),
        ("loss falls", fits_one_batch, _INDEPENDENT),
    ])


def check_task_2a(train_fn: Callable) -> None:
    """Print the self-check verdict for Task 2a: call it as ``check_task_2a(train)``."""
    _report("2a", lambda: task_2a_results(train_fn))


# ----------------------------------------------------------------------------- Task 2b
# share of a model's losses averaged at the start and at the end of training
_LOSS_WINDOW_SHARE = 0.1


@_seeded
def task_2b_results(models: Sequence[nn.Module], optimizers: object, losses: object,
                    train_loader: DataLoader) -> list[CheckResult]:
    """Checks of the optimizers and losses of Task 2b; nothing is trained or modified."""

    def defined() -> str:
        if optimizers is None or losses is None:
            raise NotImplementedError
        for name, value in (("optimizers", optimizers), ("losses", losses)):
            _require(isinstance(value, (list, tuple)), f"{name} to be a list",
                     _describe_shape(value), f"build {name} as a list with one entry per model")
        return "optimizers and losses are lists"

    def one_optimizer_per_model() -> str:
        _require(len(optimizers) == len(models), f"{len(models)} optimizers, one per model",
                 f"{len(optimizers)}", "create one optimizer for each model in `models`")
        for index, optimizer in enumerate(optimizers):
            model = models[index]
            _require(isinstance(optimizer, torch.optim.Adam), f"optimizers[{index}] to be torch.optim.Adam",
                     f"a {type(optimizer).__name__}", "use torch.optim.Adam")
            owned = {id(parameter) for parameter in model.parameters()}
            held = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
            owner = next((j for j, other in enumerate(models)
                          if held == {id(parameter) for parameter in other.parameters()}), None)
            _require(held == owned, f"optimizers[{index}] to hold the parameters of models[{index}]",
                     f"the parameters of models[{owner}]" if owner is not None else
                     "other parameters",
                     f"pass models[{index}].parameters() to optimizers[{index}]")
        return "one Adam optimizer per model, holding that model's parameters"

    def learning_rate() -> str:
        for i, optimizer in enumerate(optimizers):
            rates = sorted({group["lr"] for group in optimizer.param_groups})
            _require(all(math.isclose(rate, TASK_2B_LEARNING_RATE) for rate in rates),
                     f"learning rate {TASK_2B_LEARNING_RATE}", f"{rates} for optimizers[{i}]",
                     "pass lr=0.04 to torch.optim.Adam")
        return f"learning rate {TASK_2B_LEARNING_RATE}"

    def losses_shape() -> str:
        _require(len(losses) == len(models), f"one list of losses per model ({len(models)})",
                 f"{len(losses)} entries",
                 "append the list that train() returns for each model (append, not extend)")
        n_iterations = len(train_loader)
        for i, model_losses in enumerate(losses):
            got = len(model_losses) if isinstance(model_losses, (list, tuple)) else None
            _require(got == n_iterations,
                     f"losses[{i}] to hold {n_iterations} losses (one epoch of train_loader)",
                     "not a list" if got is None else f"{got} losses",
                     "train every model for exactly one epoch on train_loader")
            _require(all(isinstance(loss, float) and math.isfinite(loss) for loss in model_losses),
                     f"losses[{i}] to hold finite floats", "other values",
                     "train() returns finite floats when the training works")
        return "one epoch of losses per model"

    def losses_fall() -> str:
        for i, model_losses in enumerate(losses):
            window = max(1, int(_LOSS_WINDOW_SHARE * len(model_losses)))
            first = sum(model_losses[:window]) / window
            last = sum(model_losses[-window:]) / window
            _require(last < LOSS_DROP_FACTOR * first,
                     f"the loss of models[{i}] to fall during training",
                     f"mean of the first {window} losses {first:.3f}, "
                     f"of the last {window} {last:.3f}",
                     "check that each model is trained with its own optimizer")
        return "every model's loss falls during training"

    return _run_checks("2b", [
        ("defined", defined, _GATE),
        ("optimizers", one_optimizer_per_model, _INDEPENDENT),
        ("learning rate", learning_rate, _INDEPENDENT),
        ("losses", losses_shape, _GATE),
        ("training progress", losses_fall, _INDEPENDENT),
    ])


def check_task_2b(models: Sequence[nn.Module], optimizers: object, losses: object,
                  train_loader: DataLoader) -> None:
    """Print the self-check verdict for Task 2b:
    ``check_task_2b(models, optimizers, losses, train_loader)``."""
    _report("2b", lambda: task_2b_results(models, optimizers, losses, train_loader))


# ----------------------------------------------------------------------------- Tasks 3a, 3b
# The evaluation checks use a model whose predictions are known: each input
# is the one-hot code of the class the model must predict.
_BATCH_SIZE_3 = 4
_LOGIT_SCALE = 4.0
_LOGIT_OFFSET = -2.0


class _ScriptedClassifier(nn.Module):
    """Predicts for every input the class whose one-hot code the input holds."""

    def __init__(self):
        super().__init__()
        # a parameter, so that the model has a device like any trained model
        self.offset = nn.Parameter(torch.zeros(1))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return codes.flatten(1) * _LOGIT_SCALE + _LOGIT_OFFSET + self.offset


def _scripted_loader(predictions: Sequence[int], labels: Sequence[int]) -> DataLoader:
    """Inputs that make ``_ScriptedClassifier`` predict ``predictions``, with ``labels``."""
    codes = nn.functional.one_hot(torch.tensor(predictions), N_CLASSES).float()
    return DataLoader(TensorDataset(codes.view(len(predictions), 1, 2, N_CLASSES // 2),
                                    torch.tensor(labels)),
                      batch_size=_BATCH_SIZE_3, shuffle=False)


# 11 samples (batches of 4, 4 and 3), 7 predicted correctly
_ACCURACY_LABELS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
_ACCURACY_PREDICTIONS = [3, 1, 4, 0, 5, 9, 7, 6, 5, 8, 0]


def _accuracy_cases() -> list[tuple[str, list[int], list[int]]]:
    all_wrong = [(label + 1) % N_CLASSES for label in _ACCURACY_LABELS]
    return [("7 of 11 correct", _ACCURACY_PREDICTIONS, _ACCURACY_LABELS),
            ("all correct", list(_ACCURACY_LABELS), _ACCURACY_LABELS),
            ("none correct", all_wrong, _ACCURACY_LABELS)]


@_seeded
def task_3a_results(compute_accuracy_fn: Callable) -> list[CheckResult]:
    """Checks of ``compute_accuracy`` (Task 3a) on a model with known predictions."""
    model = _ScriptedClassifier()
    results = {}

    def runs() -> str:
        for name, predictions, labels in _accuracy_cases():
            results[name] = compute_accuracy_fn(model, _scripted_loader(predictions, labels))
            _require(isinstance(results[name], (int, float)) and not isinstance(results[name], bool),
                     "a Python number", _describe_shape(results[name]),
                     "return n_correctly_classified / n_samples as a float (use .item() on "
                     "tensors)")
        return "compute_accuracy returns a number"

    def fraction() -> str:
        for name, value in results.items():
            _require(0.0 <= value <= 1.0, "a fraction between 0 and 1",
                     f"{value:.4f} ({name})",
                     "return a fraction, not a percentage, and divide by the number of samples")
        return "the accuracy is a fraction in [0, 1]"

    def exact_values() -> str:
        for name, predictions, labels in _accuracy_cases():
            n_correct = sum(p == y for p, y in zip(predictions, labels))
            expected = n_correct / len(labels)
            got = results[name]
            n_batches = math.ceil(len(labels) / _BATCH_SIZE_3)
            if math.isclose(got, n_correct / n_batches):
                hint = "divide by the number of samples, not by the number of batches"
            elif math.isclose(got, 100 * expected):
                hint = "return a fraction, not a percentage"
            else:
                hint = ("count the correctly classified samples and all samples of every "
                        "batch, including the smaller last batch, and divide at the end")
            _require(math.isclose(got, expected, rel_tol=RTOL, abs_tol=ATOL),
                     f"{expected:.4f} for a model that classifies {n_correct} of "
                     f"{len(labels)} samples correctly (batches of {_BATCH_SIZE_3}, the last "
                     f"with {len(labels) % _BATCH_SIZE_3})",
                     f"{got:.4f}", hint)
        return "correct accuracy for a model with known predictions (last batch smaller)"

    return _run_checks("3a", [
        ("runs", runs, _GATE),
        ("fraction", fraction, _INDEPENDENT),
        ("known accuracy", exact_values, _INDEPENDENT),
    ])


def check_task_3a(compute_accuracy_fn: Callable) -> None:
    """Print the self-check verdict for Task 3a: ``check_task_3a(compute_accuracy)``."""
    _report("3a", lambda: task_3a_results(compute_accuracy_fn))


# 14 samples (batches of 4, 4, 4 and 2); class 8 has no sample
_PER_CLASS_LABELS = [0, 0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 9, 9, 9]
_PER_CLASS_PREDICTIONS = [0, 1, 1, 2, 0, 2, 3, 0, 5, 6, 1, 9, 0, 9]


def _per_class_truth(predictions: Sequence[int], labels: Sequence[int]
                     ) -> tuple[dict[int, int], dict[int, int]]:
    """Samples and correctly predicted samples of each class, counted from the lists."""
    n_samples = {c: sum(y == c for y in labels) for c in range(N_CLASSES)}
    n_correct = {c: sum(y == c and p == y for p, y in zip(predictions, labels))
                 for c in range(N_CLASSES)}
    return n_samples, n_correct


@_seeded
def task_3b_results(compute_accuracy_per_class_fn: Callable) -> list[CheckResult]:
    """Checks of ``compute_accuracy_per_class`` (Task 3b) on a model with known predictions."""
    model = _ScriptedClassifier()
    loader = _scripted_loader(_PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS)
    n_samples, n_correct = _per_class_truth(_PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS)
    n_total = len(_PER_CLASS_LABELS)
    present = [c for c in range(N_CLASSES) if n_samples[c] > 0]
    absent = [c for c in range(N_CLASSES) if n_samples[c] == 0]
    result = {}

    def runs() -> str:
        result["value"] = compute_accuracy_per_class_fn(model, loader)
        _require(isinstance(result["value"], dict), "a dict", _describe_shape(result["value"]),
                 "return a dict {class: accuracy}")
        return "compute_accuracy_per_class returns a dict"

    def keys() -> str:
        got = list(result["value"])
        expected = list(range(N_CLASSES))
        wrong_type = [key for key in got if type(key) is not int]
        hint = (f"use the Python ints 0-9 as keys, not {type(wrong_type[0]).__name__} "
                "(e.g. int(label) or label.item())" if wrong_type else
                "give every class 0-9 a key, also classes without samples")
        _require(not wrong_type and sorted(got) == expected, f"the keys {expected} (ints)",
                 "[" + ", ".join(repr(key) for key in got) + "]", hint)
        return "the keys are the ints 0-9"

    def fractions() -> str:
        for c in present:
            value = result["value"][c]
            _require(isinstance(value, float) and 0.0 <= value <= 1.0,
                     f"a float fraction in [0, 1] for class {c}", f"{value!r}",
                     "return fractions as Python floats, not percentages or tensors")
        return "the accuracies are fractions in [0, 1]"

    def exact_values() -> str:
        for c in present:
            expected = n_correct[c] / n_samples[c]
            got = result["value"][c]
            if math.isclose(got, n_correct[c] / n_total):
                hint = (f"divide by the number of samples of class {c}, not by the number of "
                        "all samples")
            else:
                hint = (f"count the samples whose label is {c} and those of them predicted "
                        "correctly, over all batches")
            _require(math.isclose(got, expected, rel_tol=RTOL, abs_tol=ATOL),
                     f"{expected:.4f} for class {c} ({n_correct[c]} of its {n_samples[c]} "
                     "samples predicted correctly)", f"{got:.4f}", hint)
        return "correct per-class accuracies for a model with known predictions"

    def absent_class() -> str:
        for c in absent:
            got = result["value"][c]
            _require(isinstance(got, float) and math.isnan(got),
                     f"float('nan') for class {c}, which has no sample", f"{got!r}",
                     "the accuracy of a class without samples is undefined: return "
                     "float('nan') instead of dividing by zero or returning 0")
        return "a class without samples gets NaN"

    def weighted_mean() -> str:
        weighted = sum(n_samples[c] * result["value"][c] for c in present) / n_total
        overall = sum(n_correct.values()) / n_total
        _require(math.isclose(weighted, overall, rel_tol=RTOL, abs_tol=ATOL),
                 f"the class-size-weighted mean of the per-class accuracies ({weighted:.4f}) "
                 f"to equal the overall accuracy ({overall:.4f})",
                 f"{weighted:.4f}",
                 "per-class accuracy = correct samples of the class / samples of the class")
        return "the weighted mean of the per-class accuracies is the overall accuracy"

    return _run_checks("3b", [
        ("runs", runs, _GATE),
        ("keys", keys, _GATE),
        ("fractions", fractions, _INDEPENDENT),
        ("known accuracies", exact_values, _INDEPENDENT),
        ("class without samples", absent_class, _INDEPENDENT),
        ("weighted mean", weighted_mean, _INDEPENDENT),
    ])


def check_task_3b(compute_accuracy_per_class_fn: Callable) -> None:
    """Print the self-check verdict for Task 3b: ``check_task_3b(compute_accuracy_per_class)``."""
    _report("3b", lambda: task_3b_results(compute_accuracy_per_class_fn))
