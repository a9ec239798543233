"""Self-checks for Exercise Sheet 4: run one after each task to see what works.

Each ``check_task_*`` function prints a short verdict: every check that
passed, and for every failure what was expected, what happened and a hint
that names the cause it found (e.g. "a softmax after the last layer", "the
labels passed first to loss_fn", "the precision instead of the accuracy of
the class"). It never raises, so the notebook keeps running. A task is
reported as "not implemented yet" only while its TODO stub is untouched: the
``raise NotImplementedError`` line of the stub is still what runs (recognised
by where the error was raised, not by its type alone), or the stub's
``... = None`` values are all still ``None``.

The checks test properties on small synthetic data (no MNIST needed, well
under a second each); they are not the grade, and passing them does not
guarantee full points. They hold no reference answer: they watch what your
code does (which layers it applies in which order, what it passes to the loss
function and the optimizer) and compare the results with values computed
from the synthetic data.

``task_*_results`` return the same verdict as a list of ``CheckResult`` for
code that wants to inspect it instead of reading it.

The checks seed their own random numbers and run on one CPU thread, and
restore PyTorch's global random state and thread count afterwards, so running
them does not change the rest of the notebook.
"""
from __future__ import annotations

import copy
import functools
import inspect
import linecache
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ex4.model_properties import (
    AFFINE_TOLERANCE,
    affine_residual,
    count_parameters,
    expected_parameter_count,
    load_values,
    shape_matched_orderings,
)

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
ADAM_DEFAULT_LEARNING_RATE = 1e-3
# a trained model's mean loss over the last iterations must be below this
# share of its mean loss over the first iterations
LOSS_DROP_FACTOR = 0.9
# name of the single result reported for a task that is still a TODO stub
STUB_RESULT_NAME = "implemented"
NOT_IMPLEMENTED = "not implemented yet"
WELL_DONE = "Well done! (The grader runs more checks than these.)"
# a failed gate check skips the checks after it, which build on what it checks
_GATE = True
_INDEPENDENT = False
SKIPPED = "skipped: make the check above pass first"
# a check that cannot judge because of a failure reported by another check
SKIPPED_PREFIX = "skipped:"
# longest error message quoted in a verdict
_MAX_ERROR_CHARS = 300
# the message of the stub's `raise NotImplementedError(...)` (see release.py)
_STUB_MESSAGE = re.compile(r"write your code here|\bTODO\b", re.IGNORECASE)
_GENERIC_ERROR_HINT = "call your code on a small example in a new cell to see the full traceback"


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


class _Skipped(Exception):
    """Raised by a check that cannot judge: another check reports what is wrong."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _NotStarted(Exception):
    """Raised by a check when the task's results are still the TODO stub's values."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def _require(condition: bool, expected: str, got: str, hint: str) -> None:
    if not condition:
        raise _CheckFailed(expected, got, hint)


def _failure_message(expected: str, got: str, hint: str) -> str:
    return f"expected: {expected}\ngot:      {got}\nhint:     {hint}"


# ----------------------------------------------------------------------------- the TODO stub
def _code_of(function: object) -> CodeType | None:
    try:
        function = inspect.unwrap(function)
    except ValueError:
        return None
    code = getattr(function, "__code__", None)
    return code if isinstance(code, CodeType) else None


def _stub_owners(*objects: object) -> dict[CodeType, str]:
    """The code objects of the functions (or a class's methods) whose TODO stub may raise.

    Only code of the student's own functions counts: a NotImplementedError
    raised inside PyTorch (e.g. for integer logits) is a bug, not a stub.
    """
    owners: dict[CodeType, str] = {}
    for obj in objects:
        if isinstance(obj, type):
            for klass in obj.__mro__:
                if klass is object or klass.__module__.split(".")[0] == "torch":
                    continue
                for name, value in vars(klass).items():
                    code = _code_of(value.__func__ if isinstance(value, (staticmethod, classmethod)) else value)
                    if code is not None:
                        owners[code] = f"{obj.__name__}.{name}"
        elif callable(obj):
            code = _code_of(obj)
            if code is not None:
                owners[code] = getattr(obj, "__qualname__", getattr(obj, "__name__", "your function"))
    return owners


def _innermost_frame(error: BaseException):
    traceback = error.__traceback__
    if traceback is None:
        return None
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback


def _stub_owner(error: BaseException, owners: dict[CodeType, str]) -> str | None:
    """The function whose untouched TODO stub raised ``error``, else None.

    The error must be a NotImplementedError raised directly by one of
    ``owners``, by a ``raise NotImplementedError`` line (read from the source
    when it is available, as in a notebook) or with the stub's message.
    """
    if not isinstance(error, NotImplementedError):
        return None
    innermost = _innermost_frame(error)
    if innermost is None or innermost.tb_frame.f_code not in owners:
        return None
    code = innermost.tb_frame.f_code
    line = linecache.getline(code.co_filename, innermost.tb_lineno).strip()
    if line:
        is_stub = line.startswith("raise NotImplementedError")
    else:
        is_stub = not str(error) or bool(_STUB_MESSAGE.search(str(error)))
    return owners[code] if is_stub else None


def _raised_in(error: BaseException, owners: dict[CodeType, str]) -> str | None:
    """The innermost of ``owners`` on the traceback of ``error``."""
    traceback, found = error.__traceback__, None
    while traceback is not None:
        found = owners.get(traceback.tb_frame.f_code, found)
        traceback = traceback.tb_next
    return found


def _stub_result(task: str, detail: str) -> CheckResult:
    return CheckResult(STUB_RESULT_NAME, False,
                       f"Task {task} is {NOT_IMPLEMENTED}: {detail}. Replace the TODO stub with your "
                       "code, run its cell, then run this check again.")


# ----------------------------------------------------------------------------- running and reporting
def _error_text(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + " ..."
    return f"{type(error).__name__}: {text}"


def _known_error_hint(error: BaseException) -> str | None:
    """Hints for errors that name their cause whatever the task."""
    text = str(error)
    if isinstance(error, NotImplementedError) and "for 'Long'" in text:
        return ("an integer tensor reached a function that needs floating-point values: are the "
                "labels passed where the model's outputs belong, e.g. loss_fn(labels, predictions) "
                "instead of loss_fn(predictions, labels)?")
    if "object has no attribute 'backward'" in text:
        return ("backward() is a method of the loss tensor: call loss.backward() on the tensor that "
                "loss_fn returns, and .item() only for the number you append to losses")
    if "does not require grad" in text:
        return ("the loss has no gradient: compute the predictions without torch.no_grad() and "
                "without .detach(), and call backward() on the loss tensor itself")
    return None


def _run_checks(task: str,
                checks: Sequence[tuple[str, Callable[[], str], bool]],
                owners: dict[CodeType, str] | None = None,
                explain: Callable[[str, BaseException], str | None] | None = None) -> list[CheckResult]:
    """Run ``(name, check, is_gate)`` triples in order; a check returns its success message.

    The task is reported as not implemented only when a check raises
    ``_NotStarted`` or the NotImplementedError of a TODO stub in ``owners``.
    A check that fails (or raises) is reported, with ``explain(name, error)``
    as the hint for an error where it knows the cause; when it is a gate,
    the later checks need what it checks and are reported as skipped.
    """
    owners = owners or {}
    results = []
    for index, (name, check, is_gate) in enumerate(checks):
        try:
            results.append(CheckResult(name, True, check()))
            continue
        except _NotStarted as stub:
            return [_stub_result(task, stub.detail)]
        except _Skipped as skipped:
            results.append(CheckResult(name, False, f"{SKIPPED_PREFIX} {skipped.reason}"))
            continue
        except _CheckFailed as failure:
            results.append(CheckResult(
                name, False, _failure_message(failure.expected, failure.got, failure.hint)))
        except Exception as error:  # noqa: BLE001 - a student's bug must not stop the notebook
            owner = _stub_owner(error, owners)
            if owner is not None:
                return [_stub_result(task, f"{owner} still raises the NotImplementedError of the "
                                           "TODO stub")]
            where = _raised_in(error, owners)
            hint = ((explain(name, error) if explain else None) or _known_error_hint(error)
                    or _GENERIC_ERROR_HINT)
            results.append(CheckResult(name, False, _failure_message(
                "the code to run without an error",
                _error_text(error) + (f" (raised in {where})" if where else ""), hint)))
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
        if result.passed or result.message.startswith(SKIPPED_PREFIX):
            mark = "✓" if result.passed else "-"
            lines.append(f"  {mark} {result.name}: {result.message}")
            continue
        lines.append(f"  ✗ {result.name}:")
        lines.extend("      " + line for line in result.message.splitlines())
    if n_passed == len(results):
        lines.append(WELL_DONE)
    return "\n".join(line.rstrip() for line in lines)


def _seeded(results_fn: Callable[..., list[CheckResult]]) -> Callable[..., list[CheckResult]]:
    """Run ``results_fn`` with its own seed on one CPU thread, leaving PyTorch's global state as it was.

    The checks compute on tiny tensors, for which several threads only add
    waiting (up to a second per check on a busy machine).
    """

    @functools.wraps(results_fn)
    def run(*args: object) -> list[CheckResult]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(CHECK_SEED)
                return results_fn(*args)
        finally:
            torch.set_num_threads(threads)

    return run


def _report(task: str, results_fn: Callable[[], list[CheckResult]]) -> None:
    try:
        results = results_fn()
    except Exception as error:  # noqa: BLE001 - the self-check must never stop the notebook
        print(f"Task {task} self-check could not run: {type(error).__name__}: {error}")
        return
    print(_format_report(task, results))


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if value is None:
        return "None"
    if isinstance(value, type):
        return f"the class {value.__name__} itself"
    return f"a {type(value).__name__}"


def _device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    return next((parameter.device for parameter in model.parameters()), torch.device("cpu"))


# ----------------------------------------------------------------------------- how an MLP is built
def _expected_shapes(dims: Sequence[int]) -> list[tuple[int, int]]:
    """(out_features, in_features) of the layers of an MLP with sizes ``dims``, in order."""
    return [(n_out, n_in) for n_in, n_out in zip(dims[:-1], dims[1:])]


def _plain_containers(module: nn.Module) -> list[tuple[str, str]]:
    """(attribute, container type) of the module's plain lists/tuples/dicts that hold layers or tensors."""
    found = []
    for attribute, value in vars(module).items():
        if attribute.startswith("_"):
            continue
        if isinstance(value, dict):
            items = list(value.values())
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            continue
        flat = [inner for item in items
                for inner in (item if isinstance(item, (list, tuple)) else [item])]
        if any(isinstance(item, (nn.Module, torch.Tensor)) for item in flat):
            found.append((attribute, type(value).__name__))
    return found


def _contained_modules(module: nn.Module) -> list[nn.Module]:
    """Modules kept in the plain containers of ``module`` (not registered)."""
    found = []
    for attribute, _ in _plain_containers(module):
        value = vars(module)[attribute]
        items = list(value.values()) if isinstance(value, dict) else list(value)
        for item in items:
            for inner in (item if isinstance(item, (list, tuple)) else [item]):
                if isinstance(inner, nn.Module):
                    found.append(inner)
    return found


def _plain_tensor_attributes(module: nn.Module) -> list[str]:
    """Attributes holding a floating-point tensor that is not a registered parameter."""
    return [attribute for attribute, value in vars(module).items()
            if not attribute.startswith("_") and isinstance(value, torch.Tensor)
            and not isinstance(value, nn.Parameter) and value.is_floating_point() and value.dim() > 0]


def _weight_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    """Shapes (out, in) of the model's weight matrices: nn.Linear weights, else 2-D tensors of any kind."""
    linear = _all_linear_layers(model)
    if linear:
        shapes = [tuple(layer.weight.shape) for layer in linear]
        linear_weights = {id(layer.weight) for layer in linear}
        others = [p for p in model.parameters() if p.dim() == 2 and id(p) not in linear_weights]
    else:
        shapes, others = [], [p for p in model.parameters() if p.dim() == 2]
    for module in model.modules():
        for attribute in _plain_tensor_attributes(module):
            others.append(vars(module)[attribute])
        for attribute, _ in _plain_containers(module):
            value = vars(module)[attribute]
            items = list(value.values()) if isinstance(value, dict) else list(value)
            others.extend(item for item in items if isinstance(item, torch.Tensor))
    return shapes + [tuple(tensor.shape) for tensor in others if tensor.dim() == 2]


def _all_linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's nn.Linear layers, registered or kept in plain lists/dicts, each once, in order."""
    layers: list[nn.Linear] = []
    seen: set[int] = set()
    pending = [model]
    while pending:
        module = pending.pop(0)
        if id(module) in seen:
            continue
        seen.add(id(module))
        if isinstance(module, nn.Linear):
            layers.append(module)
        pending.extend(list(module.children()) + _contained_modules(module))
    return layers


@dataclass
class _LayerCall:
    """One application of an nn.Linear layer during a forward pass."""

    layer: nn.Linear
    input: object
    output: torch.Tensor | None = None


def _trace(model: nn.Module, inputs: torch.Tensor) -> tuple[object, list[_LayerCall], Exception | None]:
    """Run ``model(inputs)`` without gradients and record every nn.Linear call in order.

    Returns (output, calls, error): the error the forward pass raised, if any
    (then output is None and calls holds the calls up to the error).
    """
    calls: list[_LayerCall] = []

    def before(layer, args):
        value = args[0] if args else None
        calls.append(_LayerCall(layer, value.detach().clone() if isinstance(value, torch.Tensor) else value))

    def after(layer, args, output):
        for call in reversed(calls):
            if call.layer is layer and call.output is None:
                call.output = output.detach().clone() if isinstance(output, torch.Tensor) else output
                break

    handles = []
    for layer in _all_linear_layers(model):
        handles.append(layer.register_forward_pre_hook(before))
        handles.append(layer.register_forward_hook(after))
    output, error = None, None
    try:
        with torch.no_grad():
            output = model(inputs)
    except Exception as exc:  # noqa: BLE001 - returned to the caller, which explains it
        error = exc
    finally:
        for handle in handles:
            handle.remove()
    return output, calls, error


_ACTIVATIONS: list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = [
    ("unchanged", lambda x: x),
    ("ReLU", torch.relu),
    ("softmax", lambda x: torch.softmax(x, dim=-1)),
    ("softmax", lambda x: torch.softmax(x, dim=0)),
    ("log_softmax", lambda x: torch.log_softmax(x, dim=-1)),
    ("log_softmax", lambda x: torch.log_softmax(x, dim=0)),
    ("sigmoid", torch.sigmoid),
    ("tanh", torch.tanh),
    ("leaky ReLU", F.leaky_relu),
    ("ELU", F.elu),
    ("GELU", F.gelu),
    ("softplus", F.softplus),
]


def _relation(before: object, after: object) -> str | None:
    """The activation that maps ``before`` to ``after`` ("unchanged", "ReLU", ...), None if none does."""
    if not (isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor)):
        return None
    if before.shape != after.shape or not before.is_floating_point() or not after.is_floating_point():
        return None
    before, after = before.detach().cpu(), after.detach().cpu()
    for name, activation in _ACTIVATIONS:
        if torch.allclose(activation(before), after, atol=ATOL, rtol=RTOL):
            return name
    return None


FLATTEN_HINT = ("flatten the images to (BS x features) before the first layer, e.g. with nn.Flatten() "
                "as in SimpleFixedMLP: nn.Linear works on the last dimension only")
_OUTPUT_HINTS = {
    "ReLU": "your last layer is followed by a ReLU, so the outputs (logits) can never be negative: "
            "apply the activation after every layer except the last",
    "softmax": "the model returns probabilities (a softmax after the last layer): return the logits, "
               "the outputs of the last layer, because nn.CrossEntropyLoss applies the softmax itself",
    "log_softmax": "the model returns log-probabilities (a log_softmax after the last layer): return "
                   "the logits, the outputs of the last layer, because nn.CrossEntropyLoss applies "
                   "log-softmax itself",
    "sigmoid": "the model returns values between 0 and 1 (a sigmoid after the last layer): return the "
               "logits, the outputs of the last layer, with no activation after it",
}
_OTHER_OUTPUT_HINT = "return the output of the last layer unchanged (the logits), with no activation after it"


def _output_hint(relation: str | None) -> str:
    if relation in _OUTPUT_HINTS:
        return _OUTPUT_HINTS[relation]
    if relation is not None:
        return f"a {relation} after the last layer: {_OTHER_OUTPUT_HINT}"
    return _OTHER_OUTPUT_HINT


def _output_values_hint(outputs: torch.Tensor) -> str | None:
    """For a model whose layers cannot be traced: what its outputs look like, None if like logits."""
    outputs = outputs.detach().cpu().float()
    if bool((outputs < 0).any()):
        if torch.allclose(outputs.logsumexp(dim=1), torch.zeros(len(outputs)), atol=1e-4):
            return _OUTPUT_HINTS["log_softmax"]
        return None
    if torch.allclose(outputs.sum(dim=1), torch.ones(len(outputs)), atol=1e-4):
        return _OUTPUT_HINTS["softmax"]
    if bool((outputs > 0).all()) and bool((outputs < 1).all()):
        return _OUTPUT_HINTS["sigmoid"]
    return _OUTPUT_HINTS["ReLU"]


def _shapes_hint(shapes: list[tuple[int, int]], dims: Sequence[int]) -> str | None:
    """Why the layer shapes ``shapes`` (out, in) differ from those of ``dims``; None if they don't."""
    expected = _expected_shapes(dims)
    if sorted(shapes) == sorted(expected):
        return None
    if not shapes:
        return ("the model has no nn.Linear layers: create one nn.Linear per pair of consecutive "
                "sizes in dims in __init__")
    fixed = _expected_shapes(TASK_1B_DIMS)
    if list(dims) != TASK_1B_DIMS and (shapes == fixed or any(n_in == TASK_1B_DIMS[0] for _, n_in in shapes)):
        return ("the layer sizes ignore dims (they are SimpleFixedMLP's fixed sizes): take every "
                "size from the list dims, so that SimpleMLP(dims=...) works for any sizes")
    if sorted((n_in, n_out) for n_out, n_in in shapes) == sorted(expected):
        return ("the in and out sizes are swapped: nn.Linear(in_features, out_features), so layer i "
                "is nn.Linear(dims[i], dims[i + 1])")
    if len(shapes) == len(expected) - 1:
        return (f"one layer is missing: dims={list(dims)} needs {len(expected)} layers, one per pair "
                "of consecutive sizes (that is len(dims) - 1 layers)")
    if len(shapes) == len(expected) + 1:
        return (f"one layer too many: dims={list(dims)} needs {len(expected)} layers, one per pair "
                "of consecutive sizes (that is len(dims) - 1 layers)")
    return "layer i maps dims[i] features to dims[i + 1] features"


def _order_hint(calls: list[_LayerCall], dims: Sequence[int],
                model: nn.Module | None = None) -> str | None:
    """What is wrong with the inputs or the order of the traced layer calls; None if nothing."""
    if not calls:
        return None
    first = calls[0].input
    if isinstance(first, torch.Tensor) and first.dim() > 2:
        return FLATTEN_HINT
    layers = [call.layer for call in calls]
    if len({id(layer) for layer in layers}) < len(layers):
        return ("one nn.Linear object is applied more than once in a forward pass: every layer needs "
                "an nn.Linear of its own ([nn.Linear(...)] * n repeats one object), and each is "
                "applied once")
    expected = _expected_shapes(dims)
    shapes = [tuple(layer.weight.shape) for layer in layers]
    if shapes == expected:
        return None
    if len(shapes) < len(expected) and shapes == expected[:len(shapes)]:
        return (f"forward applies only {len(shapes)} of the {len(expected)} layers: apply every layer, "
                "the last one too, and return the last layer's output")
    available = (sorted(tuple(layer.weight.shape) for layer in _all_linear_layers(model))
                 if model is not None else sorted(shapes))
    if available == sorted(expected):
        return ("the layers are applied in the wrong order: the first maps dims[0] to dims[1], the "
                "next dims[1] to dims[2], and so on")
    return None


def _activation_hint(calls: list[_LayerCall], inputs: torch.Tensor) -> str | None:
    """What differs from flattened input -> (Linear -> ReLU)* -> Linear in the traced calls."""
    if not calls:
        return None
    relation = _relation(inputs.flatten(1), calls[0].input)
    if relation not in ("unchanged", None):
        return (f"a {relation} is applied to the images before the first layer: the first layer takes "
                "the flattened images as they are")
    for k in range(len(calls) - 1):
        relation = _relation(calls[k].output, calls[k + 1].input)
        if relation == "ReLU":
            continue
        if relation == "unchanged":
            return (f"no activation between layer {k + 1} and layer {k + 2}: apply the ReLU after "
                    "every layer except the last")
        if relation is not None:
            return (f"a {relation} between layer {k + 1} and layer {k + 2}: the activation is ReLU "
                    "(nn.ReLU() or torch.relu)")
        return (f"the input of layer {k + 2} is not the ReLU of the output of layer {k + 1}: apply "
                "the ReLU after every layer except the last and pass the result on")
    return None


def _structure_hint(model: nn.Module, dims: Sequence[int], calls: list[_LayerCall]) -> str | None:
    """Why the model's layers or their use do not fit ``dims``; None if nothing is found."""
    linear = _all_linear_layers(model)
    if linear:
        hint = _shapes_hint([tuple(layer.weight.shape) for layer in linear], dims)
        if hint is not None:
            return hint
    return _order_hint(calls, dims, model)


def _parameter_hint(model: nn.Module, dims: Sequence[int], got: int, expected: int,
                    calls: list[_LayerCall]) -> str:
    """The cause of a wrong number of registered parameters."""
    for name, module in model.named_modules():
        prefix = f"self.{name}." if name else "self."
        for attribute, kind in _plain_containers(module):
            if _contained_modules(module):
                return (f"the layers in {prefix}{attribute} (a plain Python {kind}) are not registered "
                        "as parameters, so model.parameters() misses them and training cannot change "
                        "them: use nn.ModuleList")
            return (f"the tensors in {prefix}{attribute} (a plain Python {kind}) are not registered as "
                    "parameters: use nn.ParameterList, or nn.Linear layers in an nn.ModuleList")
        tensors = _plain_tensor_attributes(module)
        if tensors:
            return (f"{prefix}{tensors[0]} is a plain tensor, not a registered parameter: wrap it in "
                    "nn.Parameter(...)")
    registered = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if any(layer.bias is None for layer in registered):
        return ("your nn.Linear layers have no bias (bias=False): keep the default bias=True, as the "
                "layers of SimpleFixedMLP do")
    if got == 0:
        return ("the model has no registered parameters: create the nn.Linear layers in __init__ and "
                "keep them as attributes or in an nn.ModuleList")
    weights_only = sum(n_in * n_out for n_in, n_out in zip(dims[:-1], dims[1:]))
    if got == weights_only:
        return "the biases are missing: every layer has a weight matrix and a bias vector"
    if len({id(call.layer) for call in calls}) < len(calls):
        return _order_hint(calls, dims) or ""
    hint = _shapes_hint([tuple(layer.weight.shape) for layer in registered], dims)
    if hint is not None:
        return hint
    return ("create exactly one nn.Linear (with bias) per pair of consecutive sizes in dims, and no "
            "other parameters")


# ----------------------------------------------------------------------------- Task 1a
# images of 1 x 3 x 4 pixels: flattened to 12 features
_SMALL_IMAGE_SHAPE = (1, 3, 4)
_SMALL_DIMS = [12, 7, 5, 3]
_SINGLE_LAYER_DIMS = [12, 3]
# equal hidden sizes: one layer object used for several layers still runs
_EQUAL_HIDDEN_DIMS = [12, 6, 6, 6, 3]
_DIMS_1A = (_SMALL_DIMS, _SINGLE_LAYER_DIMS, _EQUAL_HIDDEN_DIMS)
_BATCH_SIZE_1A = 64


def _builds_hint(name: str, error: BaseException) -> str | None:
    if name != "builds":
        return None
    if isinstance(error, TypeError) and ("dims" in str(error) or "positional argument" in str(error)):
        return ("SimpleMLP takes the list of sizes as one argument named dims: "
                "def __init__(self, dims), called as SimpleMLP(dims=[...])")
    if isinstance(error, IndexError):
        return ("an index past the end of dims: there are len(dims) - 1 layers, one per pair of "
                "consecutive sizes dims[i], dims[i + 1]")
    return None


@_seeded
def task_1a_results(simple_mlp_class: type) -> list[CheckResult]:
    """Checks of the ``SimpleMLP`` class (Task 1a)."""
    owners = _stub_owners(simple_mlp_class)
    inputs = torch.randn(_BATCH_SIZE_1A, *_SMALL_IMAGE_SHAPE)
    other_inputs = torch.randn(_BATCH_SIZE_1A, *_SMALL_IMAGE_SHAPE)
    models: dict[int, nn.Module] = {}
    traces: dict[int, tuple[object, list[_LayerCall], Exception | None]] = {}

    def key(dims: Sequence[int]) -> int:
        return _DIMS_1A.index(dims)

    def builds() -> str:
        for dims in _DIMS_1A:
            model = simple_mlp_class(dims=list(dims))
            _require(isinstance(model, nn.Module), "an nn.Module", _describe(model),
                     "SimpleMLP must inherit from nn.Module")
            models[key(dims)] = model
        return f"SimpleMLP(dims={_SMALL_DIMS}) and SimpleMLP(dims={_SINGLE_LAYER_DIMS}) build"

    def traced(dims: Sequence[int]) -> tuple[object, list[_LayerCall], Exception | None]:
        if key(dims) not in traces:
            traces[key(dims)] = _trace(models[key(dims)], inputs)
        return traces[key(dims)]

    def output_shape() -> str:
        for dims in (_SMALL_DIMS, _SINGLE_LAYER_DIMS):
            output, calls, error = traced(dims)
            expected = (_BATCH_SIZE_1A, dims[-1])
            what = (f"output of shape {expected} for dims={dims} and a batch of shape "
                    f"{tuple(inputs.shape)}")
            if error is not None:
                hint = None if _stub_owner(error, owners) else _structure_hint(models[key(dims)], dims, calls)
                if hint is None:
                    raise error
                raise _CheckFailed(what, _error_text(error), hint)
            if isinstance(output, torch.Tensor) and tuple(output.shape) == (_BATCH_SIZE_1A,):
                raise _CheckFailed(what, _describe(output),
                                   "forward returns one value per sample (e.g. the predicted class): "
                                   "return the outputs of the last layer, dims[-1] logits per sample")
            if not (isinstance(output, torch.Tensor) and tuple(output.shape) == expected):
                hint = (_structure_hint(models[key(dims)], dims, calls)
                        or "flatten the images to (BS x dims[0]) first and return the output of the "
                           "last layer, which has dims[-1] features")
                raise _CheckFailed(what, _describe(output), hint)
        return "the output has shape (batch size x dims[-1]) for image batches"

    def parameters() -> str:
        for dims in _DIMS_1A:
            model = models[key(dims)]
            expected = expected_parameter_count(dims)
            got = count_parameters(model)
            if got != expected:
                _, calls, _ = traced(dims)
                raise _CheckFailed(
                    f"{expected} learnable parameters for dims={dims} (one nn.Linear with bias per "
                    "pair of consecutive sizes)",
                    f"{got} parameters", _parameter_hint(model, dims, got, expected, calls))
        return "the number of learnable parameters matches dims"

    def layer_shapes() -> str:
        for dims in _DIMS_1A:
            _, calls, _ = traced(dims)
            # a layer object applied several times counts once per application
            layers = list({id(call.layer): call.layer for call in calls}.values())
            if len(layers) < len(calls):
                layers = [call.layer for call in calls]
            got = ([tuple(layer.weight.shape) for layer in layers] if len(layers) < len(calls)
                   else _weight_shapes(models[key(dims)]))
            hint = _shapes_hint(got, dims)
            _require(hint is None, f"nn.Linear weights of shapes {_expected_shapes(dims)} for dims={dims}",
                     f"{got}", hint or "")
        return "one nn.Linear per pair of consecutive sizes"

    def deterministic(dims: Sequence[int]) -> None:
        with torch.no_grad():
            again = models[key(dims)](inputs)
        output = traced(dims)[0]
        _require(isinstance(again, torch.Tensor) and torch.equal(again, output),
                 f"the same outputs every time for the same inputs (dims={dims})",
                 "different outputs for the same inputs",
                 "the model creates new layers (new random weights) in forward: create every layer "
                 "once, in __init__")

    def watched(dims: Sequence[int]) -> list[_LayerCall]:
        """The traced layer calls when the forward pass applies exactly one nn.Linear per layer, else []."""
        calls = traced(dims)[1]
        return calls if len(calls) == len(dims) - 1 else []

    def activations() -> str:
        for dims in (_SMALL_DIMS, _EQUAL_HIDDEN_DIMS):
            _, _, error = traced(dims)
            if error is not None:
                raise error
            calls = watched(dims)
            if not calls:
                deterministic(dims)
                # the layers cannot be watched (e.g. F.linear): the model must not be affine
                residual = affine_residual(models[key(dims)], inputs, other_inputs)
                _require(residual > AFFINE_TOLERANCE,
                         f"a nonlinear model for dims={dims}: f((a + b) / 2) differs from "
                         "(f(a) + f(b)) / 2",
                         f"f((a + b) / 2) = (f(a) + f(b)) / 2 up to {residual:.2g} (relative), so the "
                         "model behaves like a single affine map",
                         "apply the ReLU activation after every layer except the last")
                continue
            hint = _order_hint(calls, dims, models[key(dims)]) or _activation_hint(calls, inputs)
            _require(hint is None,
                     f"for dims={dims}: flattened images -> layer 1 -> ReLU -> ... -> last layer",
                     "a different forward pass", hint or "")
        return "a ReLU after every layer except the last, layers applied in order"

    def logits() -> str:
        for dims in (_SMALL_DIMS, _SINGLE_LAYER_DIMS):
            output, calls, error = traced(dims)
            if error is not None:
                raise error
            calls = watched(dims)
            if not calls:
                deterministic(dims)
            if calls:
                relation = _relation(calls[-1].output, output)
                _require(relation == "unchanged",
                         f"for dims={dims} the output of the last layer, unchanged (logits)",
                         f"the last layer's output {'after a ' + relation if relation else 'changed'}",
                         _output_hint(relation))
                continue
            hint = _output_values_hint(output)
            _require(hint is None, "logits: some outputs negative for random inputs",
                     f"all {output.numel()} outputs are >= 0", hint or "")
            if len(dims) == 2:
                residual = affine_residual(models[key(dims)], inputs, other_inputs)
                _require(residual <= AFFINE_TOLERANCE,
                         f"dims={dims} (no hidden layer) to give one plain nn.Linear, an affine map",
                         f"a nonlinear model (relative deviation from affine {residual:.3g})",
                         "there is no activation after the last layer; with two sizes in dims the "
                         "only layer is the last one")
        return "the model returns the logits of its last layer (they can be negative)"

    return _run_checks("1a", [
        ("builds", builds, _GATE),
        ("output shape", output_shape, _GATE),
        ("parameters", parameters, _INDEPENDENT),
        ("layer shapes", layer_shapes, _INDEPENDENT),
        ("ReLU between layers", activations, _INDEPENDENT),
        ("logits", logits, _INDEPENDENT),
    ], owners, _builds_hint)


def check_task_1a(simple_mlp_class: type) -> None:
    """Print the self-check verdict for Task 1a: call it as ``check_task_1a(SimpleMLP)``."""
    _report("1a", lambda: task_1a_results(simple_mlp_class))


# ----------------------------------------------------------------------------- Task 1b
_BATCH_SIZE_1B = 8
_MODEL_NAMES_1B = ("model1", "model2", "model3")
_CLASSES_1B = {"model1": "SimpleFixedMLP", "model2": "SimpleMLP", "model3": "Sequential"}
_CREATE_1B = {"model1": "SimpleFixedMLP()", "model2": "SimpleMLP(dims=...)",
              "model3": "nn.Sequential(...)"}


def _is_torch_module(module: nn.Module) -> bool:
    return type(module).__module__.split(".")[:2] == ["torch", "nn"]


@_seeded
def task_1b_results(model1: object, model2: object, model3: object) -> list[CheckResult]:
    """Checks of the three equivalent models of Task 1b; the models are not modified."""
    models = {"model1": model1, "model2": model2, "model3": model3}
    inputs = torch.rand(_BATCH_SIZE_1B, *MNIST_IMAGE_SHAPE)
    expected_shapes = [shape for n_out, n_in in _expected_shapes(TASK_1B_DIMS)
                       for shape in ((n_out, n_in), (n_out,))]

    def defined() -> str:
        if all(model is None for model in models.values()):
            raise _NotStarted("model1, model2 and model3 are still None")
        for name, model in models.items():
            if isinstance(model, type):
                raise _CheckFailed(f"{name} to be a model (an instance)", _describe(model),
                                   f"{name} = {model.__name__} only names the class: call it, as in "
                                   f"{name} = {_CREATE_1B[name]}, to create a model")
            if isinstance(model, tuple):
                raise _CheckFailed(f"{name} to be a model", "a tuple",
                                   f"a trailing comma after {name} = ... makes a tuple: remove it")
            _require(isinstance(model, nn.Module), f"{name} to be an nn.Module", _describe(model),
                     f"assign a model to {name} (it is still None from the TODO stub)" if model is None
                     else f"assign a model to {name}, e.g. {name} = {_CREATE_1B[name]}")
        return "model1, model2 and model3 are models"

    def classes() -> str:
        for name, model in models.items():
            got = type(model).__name__
            _require(got == _CLASSES_1B[name], f"{name} to be a {_CLASSES_1B[name]}", f"a {got}",
                     "model1 uses SimpleFixedMLP, model2 SimpleMLP and model3 nn.Sequential")
        return "model1 is a SimpleFixedMLP, model2 a SimpleMLP, model3 an nn.Sequential"

    def separate() -> str:
        names = list(models)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                _require(models[first] is not models[second], f"{first} and {second} to be two models",
                         "one and the same object",
                         f"{second} is {first}, one and the same object: create a new model for {second}")
                shared = ({id(p) for p in models[first].parameters()}
                          & {id(p) for p in models[second].parameters()})
                _require(not shared, f"{first} and {second} to have parameters of their own",
                         f"{len(shared)} parameter tensors shared",
                         f"{second} reuses the layers of {first}: create new layers for every model, "
                         "so that each has its own randomly initialised parameters")
        return "three separate models with parameters of their own"

    def built_from_layers() -> str:
        custom = [module for module in list(model3.modules())[1:] if not _is_torch_module(module)]
        _require(not custom, "model3 built from torch.nn layers",
                 f"model3 holds a {type(custom[0]).__name__}" if custom else "",
                 f"model3 wraps a {type(custom[0]).__name__}: build it from nn.Flatten, nn.Linear "
                 "and nn.ReLU layers, one after another" if custom else "")
        return "model3 is built from torch.nn layers"

    def parameter_shapes() -> str:
        for name, model in models.items():
            got = [tuple(parameter.shape) for parameter in model.parameters()]
            if sorted(got) == sorted(expected_shapes):
                continue
            weights = sorted(shape for shape in expected_shapes if len(shape) == 2)
            if sorted(got) == weights:
                hint = ("the biases are missing (bias=False): keep the default bias=True, as the "
                        "layers of SimpleFixedMLP do")
            elif isinstance(model, nn.Module) and _plain_containers(model):
                hint = "layers in a plain Python list are not registered: use nn.ModuleList in SimpleMLP"
            else:
                hint = f"use the layer sizes {TASK_1B_DIMS}, one nn.Linear with bias per pair"
            raise _CheckFailed(f"{name} to have the parameter shapes of SimpleFixedMLP, {expected_shapes}",
                               f"{got}", hint)
        return "all three have the parameters of SimpleFixedMLP"

    def outputs() -> str:
        expected = (_BATCH_SIZE_1B, TASK_1B_DIMS[-1])
        for name, model in models.items():
            output, calls, error = _trace(model, inputs.to(_device_of(model)))
            what = f"{name} to map images of shape {tuple(inputs.shape)} to {expected}"
            if error is not None or not (isinstance(output, torch.Tensor) and tuple(output.shape) == expected):
                hint = (_structure_hint(model, TASK_1B_DIMS, calls)
                        or "start with nn.Flatten() so that the images become vectors, and end with "
                           "the last nn.Linear layer")
                raise _CheckFailed(what, _error_text(error) if error is not None else _describe(output), hint)
        return "all three map a batch of MNIST images to 10 logits each"

    def same_function() -> str:
        reference_parameters = [parameter.detach().cpu() for parameter in model1.parameters()]
        with torch.no_grad():
            reference_output = model1(inputs.to(_device_of(model1))).cpu()
        reference_shapes = [tuple(value.shape) for value in reference_parameters]
        for name in ("model2", "model3"):
            twin = _twin(models[name])
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
            else:
                output, calls, _ = _trace(twin, inputs)
                hint = _order_hint(calls, TASK_1B_DIMS, twin) or _activation_hint(calls, inputs)
                if hint is None and calls:
                    relation = _relation(calls[-1].output, output)
                    hint = None if relation == "unchanged" else _output_hint(relation)
                hint = hint or ("put a ReLU after every linear layer except the last one, as in "
                                "SimpleFixedMLP")
                if name == "model2":
                    hint += " (model2 is a SimpleMLP: fix the class in Task 1a)"
                raise _CheckFailed(f"{name} with the parameters of model1 to compute the same outputs",
                                   f"different outputs (max difference {min(differences):.3g})", hint)
        return "with equal parameters all three compute the same function"

    return _run_checks("1b", [
        ("models defined", defined, _GATE),
        ("model classes", classes, _INDEPENDENT),
        ("separate models", separate, _INDEPENDENT),
        ("model3 layers", built_from_layers, _INDEPENDENT),
        ("parameter shapes", parameter_shapes, _GATE),
        ("output shape", outputs, _GATE),
        ("same function", same_function, _INDEPENDENT),
    ])


def _twin(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` whose parameters can be overwritten."""
    return copy.deepcopy(model).cpu()


def check_task_1b(model1: object, model2: object, model3: object) -> None:
    """Print the self-check verdict for Task 1b: ``check_task_1b(model1, model2, model3)``."""
    _report("1b", lambda: task_1b_results(model1, model2, model3))


# ----------------------------------------------------------------------------- Task 2a
_N_FEATURES_2A = 6
_N_CLASSES_2A = 3
_N_SAMPLES_2A = 10
# 10 samples in batches of 4: batches of 4, 4 and 2
_BATCH_SIZE_2A = 4
_N_EPOCHS_2A = 2
_LEARNING_RATE_2A = 0.1
_FIT_N_EPOCHS = 30
_FIT_LEARNING_RATE = 0.5


class _TinyClassifier(nn.Module):
    """A single linear layer from a (BS x 1 x 2 x 3) batch to 3 logits that logs what happens to it.

    ``events`` receives "forward", "backward" (a gradient reached the weights)
    and "zero_grad" (the model's own zero_grad).
    """

    def __init__(self, n_features: int, n_classes: int, events: list[str] | None = None):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)
        self._events = [] if events is None else events
        self._outputs: list[torch.Tensor] = []
        self.linear.weight.register_hook(self._on_gradient)

    def _on_gradient(self, gradient: torch.Tensor) -> None:
        self._events.append("backward")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self._events.append("forward")
        output = self.linear(images.flatten(1))
        self._outputs.append(output)
        return output

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._events.append("zero_grad")
        super().zero_grad(set_to_none=set_to_none)


class _RecordingSGD:
    """Plain SGD (p -= lr * grad) that records the parameters and gradients it sees at every step.

    It offers what a training loop uses of an optimizer (``zero_grad``,
    ``step``, ``param_groups``) and logs its calls into ``events``. It is not a
    torch.optim optimizer on purpose: the first torch.optim optimizer of a
    session costs about a second of imports inside PyTorch.
    """

    def __init__(self, params, lr: float, events: list[str]):
        self.param_groups = [{"params": list(params), "lr": lr}]
        self.events = events
        self.seen_parameters: list[list[torch.Tensor]] = []
        self.seen_gradients: list[list[torch.Tensor]] = []

    def _parameters(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("zero_grad")
        for parameter in self._parameters():
            if parameter.grad is None:
                continue
            if set_to_none:
                parameter.grad = None
            else:
                parameter.grad.detach_().zero_()

    def step(self, closure=None):
        self.events.append("step")
        loss = closure() if closure is not None else None
        parameters = self._parameters()
        self.seen_parameters.append([p.detach().clone() for p in parameters])
        self.seen_gradients.append([torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                                    for p in parameters])
        with torch.no_grad():
            for group in self.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter.add_(parameter.grad, alpha=-group["lr"])
        return loss


class _RecordingLoss(nn.Module):
    """nn.CrossEntropyLoss that checks and records its arguments.

    Arguments in the wrong order, predicted classes instead of logits, or
    predictions without a gradient fail right away with the cause.
    """

    def __init__(self, model: _TinyClassifier, events: list[str]):
        super().__init__()
        self.loss = nn.CrossEntropyLoss()
        self.model = model
        self.events = events
        self.relations: list[str | None] = []

    def forward(self, predictions, labels):
        self.events.append("loss")
        if isinstance(predictions, torch.Tensor) and isinstance(labels, torch.Tensor):
            if not predictions.is_floating_point() and labels.is_floating_point():
                raise _CheckFailed("loss_fn(predictions, labels): the model's outputs first, then the labels",
                                   "loss_fn was called with the labels first",
                                   "swap the arguments: loss_fn(predictions, labels), with the model's "
                                   "outputs first")
            if not predictions.is_floating_point():
                raise _CheckFailed("the model's outputs (logits, BS x classes) as loss_fn's first argument",
                                   f"an integer tensor of shape {tuple(predictions.shape)}: predicted classes",
                                   "pass the model's outputs to loss_fn as they are, not their argmax: the "
                                   "loss needs the logits (and their gradient)")
            if torch.is_grad_enabled() and not predictions.requires_grad:
                raise _CheckFailed("predictions that carry a gradient",
                                   "predictions without a gradient (computed under torch.no_grad() or detached)",
                                   "compute the predictions of the batch with gradients: no torch.no_grad(), "
                                   "no .detach() and no .item() before the loss")
            last = self.model._outputs[-1] if self.model._outputs else None
            self.relations.append("unchanged" if predictions is last else _relation(last, predictions))
        return self.loss(predictions, labels)


def _training_hint(events: list[str], n_steps: int) -> str | None:
    """What the logged events show about a training run that should make ``n_steps`` steps."""
    steps = events.count("step")
    if steps == 0:
        return "optimizer.step() is never called: make one step per batch"
    if "backward" not in events:
        return "call loss.backward() in every iteration to compute the gradients"
    for step in range(1, min(steps, 3) + 1):
        segment = _segments(events)[step - 1]
        if "backward" not in segment or segment.count("backward") > 1 or "zero_grad" in segment[
                len(segment) - 1 - segment[::-1].index("backward"):]:
            return _gradient_hint(events, step, all_zero=False)
    if steps < n_steps:
        return (f"train made {steps} optimizer steps instead of {n_steps}: does it stop early (a "
                "`return` inside a loop) or skip batches?")
    return None


def _as_float(value: object) -> float:
    """A loss as a float, whether the student kept a float or a tensor."""
    if isinstance(value, torch.Tensor):
        return value.detach().float().mean().item()
    return float(value)


def _small_classification_loader(n_samples: int, batch_size: int) -> DataLoader:
    """Seeded (BS x 1 x 2 x 3) inputs with labels 0-2 that a linear layer can fit."""
    inputs = torch.randn(n_samples, 1, 2, 3)
    labels = torch.arange(n_samples) % _N_CLASSES_2A
    inputs[torch.arange(n_samples), 0, 0, labels] += 2.0
    return DataLoader(TensorDataset(inputs, labels), batch_size=batch_size, shuffle=False)


def _segments(events: list[str]) -> list[list[str]]:
    """The events before each optimizer step (from the step before), one list per step."""
    segments, current = [], []
    for event in events:
        if event == "step":
            segments.append(current)
            current = []
        else:
            current.append(event)
    return segments


def _gradient_hint(events: list[str], step: int, all_zero: bool) -> str:
    """Why the gradient at optimizer step ``step`` (1-based) is not that of its batch alone."""
    segments = _segments(events)
    segment = segments[step - 1] if step - 1 < len(segments) else []
    if "backward" not in events:
        return "call loss.backward() in every iteration to compute the gradients"
    if segment.count("backward") > 1:
        return ("several backward() calls come before one optimizer.step(): make one step per batch, "
                "inside the loop over batches")
    if "backward" not in segment:
        return ("optimizer.step() comes before loss.backward(): compute the loss and its gradients "
                "first, then make the step")
    last_backward = len(segment) - 1 - segment[::-1].index("backward")
    if "zero_grad" in segment[last_backward:]:
        return ("zero_grad() between backward() and step() erases the gradients before the step uses "
                "them: reset the gradients before backward()")
    if "zero_grad" not in segment:
        return ("gradients add up over iterations unless you reset them: call optimizer.zero_grad() "
                "once per iteration, before backward()")
    if all_zero:
        return "the gradients were zero at optimizer.step(): call backward() on the batch's loss before step()"
    return "each step must use the gradient of the current batch's loss only"


@_seeded
def task_2a_results(train_fn: Callable) -> list[CheckResult]:
    """Checks of the ``train`` function (Task 2a) on a tiny linear model."""
    owners = _stub_owners(train_fn)
    events: list[str] = []
    loader = _small_classification_loader(_N_SAMPLES_2A, _BATCH_SIZE_2A)
    model = _TinyClassifier(_N_FEATURES_2A, _N_CLASSES_2A, events)
    loss_fn = _RecordingLoss(model, events)
    plain_loss = nn.CrossEntropyLoss()
    initial_parameters = [parameter.detach().clone() for parameter in model.parameters()]
    optimizer = _RecordingSGD(model.parameters(), lr=_LEARNING_RATE_2A, events=events)
    n_iterations = _N_EPOCHS_2A * len(loader)
    run = {}

    def runs() -> str:
        with torch.enable_grad():
            run["losses"] = train_fn(model, loader, optimizer, loss_fn,
                                     n_epochs=_N_EPOCHS_2A, show_progress=False)
        _require(isinstance(run["losses"], list), "train to return a list of losses",
                 _describe(run["losses"]), "keep the `return losses` at the end of the function")
        return "train runs and returns a list"

    def uses_loss_fn() -> str:
        _require(len(loss_fn.relations) > 0, "train to compute the loss with loss_fn, its argument",
                 "loss_fn was never called",
                 "call loss_fn(predictions, labels), the loss function passed to train, instead of a "
                 "loss function of your own")
        relation = next((r for r in loss_fn.relations if r != "unchanged"), "unchanged")
        _require(relation == "unchanged", "loss_fn(predictions, labels) with the model's outputs as they are",
                 f"the model's outputs after a {relation}" if relation else "other values than the model's outputs",
                 "pass the model's outputs (logits) to loss_fn unchanged: nn.CrossEntropyLoss applies "
                 "the softmax itself" if relation in ("softmax", "log_softmax") else
                 "pass the model's outputs for the current batch to loss_fn unchanged")
        return "the loss is computed with loss_fn on the model's outputs"

    def one_loss_per_iteration() -> str:
        losses = run["losses"]
        got = len(losses)
        n_steps = events.count("step")
        if losses and all(isinstance(loss, list) for loss in losses):
            hint = ("losses holds one list per epoch: append the loss of every iteration to the one "
                    "list losses, which collects all epochs")
        elif got == len(loader) and n_steps == len(loader):
            hint = ("train stopped after the first epoch: is `return losses` indented into the loop "
                    "over epochs?")
        elif got == 1 and n_steps <= 1:
            hint = "train stopped after the first batch: is `return losses` indented into the loop over batches?"
        else:
            hint = {0: "append the loss of every iteration to `losses`",
                    _N_EPOCHS_2A: "append the loss of every batch, not once per epoch",
                    len(loader): "keep the losses of all epochs: don't reset the list in each epoch",
                    2 * n_iterations: "append one loss per iteration, not two"}.get(
                got, "append exactly one loss per iteration")
        _require(got == n_iterations,
                 f"{n_iterations} losses for {_N_EPOCHS_2A} epochs of {len(loader)} batches "
                 f"(the last batch holds {_N_SAMPLES_2A % _BATCH_SIZE_2A} samples)",
                 f"{got} losses", hint)
        return "one loss per iteration of every epoch"

    def python_floats() -> str:
        losses = run["losses"]
        kinds = sorted({type(loss).__name__ for loss in losses})
        if any(isinstance(loss, (list, tuple)) for loss in losses):
            raise _Skipped("losses holds lists (see above)")
        if any(callable(loss) for loss in losses):
            hint = "loss.item without parentheses is the method itself: call it, loss.item()"
        else:
            hint = "append loss.item(): a tensor keeps its whole computation graph in memory"
        _require(all(type(loss) is float for loss in losses), "Python floats",
                 f"values of type {', '.join(kinds)}", hint)
        return "the losses are Python floats"

    def one_step_per_iteration() -> str:
        got = len(optimizer.seen_gradients)
        changed = any(not torch.equal(before, after) for before, after
                      in zip(initial_parameters, model.parameters()))
        if got == 0 and changed:
            hint = ("the parameters changed, but not through the optimizer passed to train: use that "
                    "optimizer, don't create one of your own")
        elif got == _N_EPOCHS_2A:
            hint = "one optimizer step per epoch: call optimizer.step() inside the loop over batches"
        else:
            hint = "make one optimizer step per batch: call optimizer.step() once per iteration"
        _require(got == n_iterations, f"optimizer.step() called {n_iterations} times", f"{got} calls", hint)
        all_zero = all(not gradient.any() for gradients in optimizer.seen_gradients for gradient in gradients)
        _require(changed, "the model's parameters to change", "they are unchanged",
                 f"the gradients are zero at every step: {_gradient_hint(events, 1, True)}" if all_zero
                 else "call optimizer.step() after computing the gradients")
        return "one optimizer step per iteration"

    def replayed_steps():
        """(step, inputs, labels, a model with the parameters seen at that step, its index)."""
        batches = [batch for _ in range(_N_EPOCHS_2A) for batch in loader]
        probe = _TinyClassifier(_N_FEATURES_2A, _N_CLASSES_2A)
        for index, ((inputs, labels), seen_parameters) in enumerate(zip(batches, optimizer.seen_parameters)):
            load_values(probe, seen_parameters, range(len(seen_parameters)))
            yield index + 1, inputs, labels, probe, index

    def replayable() -> None:
        if len(optimizer.seen_gradients) != n_iterations:
            raise _Skipped("needs one optimizer step per batch (see above)")
        if any(relation != "unchanged" for relation in loss_fn.relations):
            raise _Skipped("needs loss_fn applied to the model's outputs (see above)")

    def fresh_gradients() -> str:
        replayable()
        for step, inputs, labels, probe, index in replayed_steps():
            seen_gradients = optimizer.seen_gradients[index]
            with torch.enable_grad():
                batch_gradients = torch.autograd.grad(plain_loss(probe(inputs), labels),
                                                      list(probe.parameters()))
            matches = all(torch.allclose(seen, fresh, atol=ATOL, rtol=RTOL)
                          for seen, fresh in zip(seen_gradients, batch_gradients))
            all_zero = all(not seen.any() for seen in seen_gradients)
            _require(matches, f"at step {step} the gradient of that batch's loss only",
                     "zero gradients" if all_zero else "a different gradient",
                     "" if matches else _gradient_hint(events, step, all_zero))
        return "each step uses the gradient of the current batch only (gradients are reset)"

    def losses_match_batches() -> str:
        replayable()
        if len(run["losses"]) != n_iterations:
            raise _Skipped("needs one loss per iteration (see above)")
        for (step, inputs, labels, probe, _), loss in zip(replayed_steps(), run["losses"]):
            with torch.no_grad():
                expected = plain_loss(probe(inputs), labels).item()
            loss = _as_float(loss) if isinstance(loss, torch.Tensor) and loss.numel() == 1 else loss
            _require(isinstance(loss, (int, float)), f"loss {step} to be a number", _describe(loss),
                     "append one number, the loss of the batch, per iteration")
            if math.isclose(loss, expected * len(labels), rel_tol=RTOL):
                hint = ("loss_fn already averages over the batch: append loss.item() as it is, not "
                        "multiplied by the batch size")
            else:
                hint = "append the loss of the current batch, computed before the step"
            _require(math.isclose(loss, expected, rel_tol=RTOL, abs_tol=ATOL),
                     f"loss {step} to be loss_fn(model(batch), labels) of that batch "
                     f"({expected:.4f})", f"{loss:.4f}", hint)
        return "each loss is the loss of its batch"

    def fits_one_batch() -> str:
        fit_events: list[str] = []
        fit_loader = _small_classification_loader(_BATCH_SIZE_2A, _BATCH_SIZE_2A)
        fit_model = _TinyClassifier(_N_FEATURES_2A, _N_CLASSES_2A, fit_events)
        fit_optimizer = _RecordingSGD(fit_model.parameters(), lr=_FIT_LEARNING_RATE, events=fit_events)
        inputs, labels = next(iter(fit_loader))
        with torch.no_grad():
            first = plain_loss(fit_model.linear(inputs.flatten(1)), labels).item()
        with torch.enable_grad():
            train_fn(fit_model, fit_loader, fit_optimizer, nn.CrossEntropyLoss(),
                     n_epochs=_FIT_N_EPOCHS, show_progress=False)
        with torch.no_grad():
            last = plain_loss(fit_model.linear(inputs.flatten(1)), labels).item()
        _require(last < LOSS_DROP_FACTOR * first,
                 f"the loss of one fixed batch to fall when train fits it for {_FIT_N_EPOCHS} epochs",
                 f"loss before training {first:.4f}, after {last:.4f}",
                 _training_hint(fit_events, _FIT_N_EPOCHS * len(fit_loader))
                 or "per iteration: reset gradients, predict, compute the loss, backward(), step()")
        return "the loss falls when fitting one small batch"

    return _run_checks("2a", [
        ("runs", runs, _GATE),
        ("uses loss_fn", uses_loss_fn, _INDEPENDENT),
        ("one loss per iteration", one_loss_per_iteration, _INDEPENDENT),
        ("losses are floats", python_floats, _INDEPENDENT),
        ("optimizer steps", one_step_per_iteration, _INDEPENDENT),
        ("gradients reset", fresh_gradients, _INDEPENDENT),
        ("loss values", losses_match_batches, _INDEPENDENT),
        ("loss falls", fits_one_batch, _INDEPENDENT),
    ], owners)


def check_task_2a(train_fn: Callable) -> None:
    """Print the self-check verdict for Task 2a: call it as ``check_task_2a(train)``."""
    _report("2a", lambda: task_2a_results(train_fn))


# ----------------------------------------------------------------------------- Task 2b
# share of a model's losses averaged at the start and at the end of training
_LOSS_WINDOW_SHARE = 0.1


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@_seeded
def task_2b_results(models: Sequence[nn.Module], optimizers: object, losses: object,
                    train_loader: DataLoader) -> list[CheckResult]:
    """Checks of the optimizers and losses of Task 2b; nothing is trained or modified."""

    def defined() -> str:
        if optimizers is None and losses is None:
            raise _NotStarted("optimizers and losses are still None")
        for name, value in (("optimizers", optimizers), ("losses", losses)):
            if value is None:
                raise _CheckFailed(f"{name} to be a list", "None (from the TODO stub)",
                                   f"assign {name}: a list with one entry per model")
            _require(isinstance(value, (list, tuple)), f"{name} to be a list", _describe(value),
                     f"build {name} as a list with one entry per model")
        return "optimizers and losses are lists"

    def one_optimizer_per_model() -> str:
        _require(len(optimizers) == len(models), f"{len(models)} optimizers, one per model",
                 f"{len(optimizers)}", "create one optimizer for each model in `models`")
        for index, optimizer in enumerate(optimizers):
            if isinstance(optimizer, type):
                raise _CheckFailed(f"optimizers[{index}] to be an optimizer", _describe(optimizer),
                                   f"create an optimizer by calling the class: {optimizer.__name__}("
                                   "model.parameters(), lr=...)")
            _require(isinstance(optimizer, torch.optim.Optimizer), f"optimizers[{index}] to be an optimizer",
                     _describe(optimizer), "create a torch.optim.Adam for each model")
        for index, optimizer in enumerate(optimizers):
            first = next(j for j, other in enumerate(optimizers) if other is optimizer)
            _require(first == index, f"optimizers[{first}] and optimizers[{index}] to be two optimizers",
                     "one and the same optimizer object",
                     "the models share one optimizer: create a new optimizer for every model")
        all_parameters = {id(parameter) for model in models for parameter in model.parameters()}
        for index, optimizer in enumerate(optimizers):
            owned = {id(parameter) for parameter in models[index].parameters()}
            held = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
            if held == owned:
                continue
            if len(models) > 1 and held == all_parameters:
                raise _CheckFailed(f"optimizers[{index}] to hold the parameters of models[{index}] only",
                                   "the parameters of all models",
                                   "one optimizer over all models' parameters: create one optimizer per "
                                   "model, each with that model's parameters")
            owner = next((j for j, other in enumerate(models)
                          if held == {id(parameter) for parameter in other.parameters()}), None)
            raise _CheckFailed(f"optimizers[{index}] to hold the parameters of models[{index}]",
                               f"the parameters of models[{owner}]" if owner is not None else "other parameters",
                               f"pass models[{index}].parameters() to optimizers[{index}]")
        for index, optimizer in enumerate(optimizers):
            _require(isinstance(optimizer, torch.optim.Adam), f"optimizers[{index}] to be torch.optim.Adam",
                     f"a {type(optimizer).__name__}", "use torch.optim.Adam")
        return "one Adam optimizer per model, holding that model's parameters"

    def learning_rate() -> str:
        if not all(isinstance(optimizer, torch.optim.Optimizer) for optimizer in optimizers):
            raise _Skipped("needs optimizers (see above)")
        for i, optimizer in enumerate(optimizers):
            groups = optimizer.param_groups
            rates = sorted({group["lr"] for group in groups})
            if rates and all(math.isclose(rate, ADAM_DEFAULT_LEARNING_RATE) for rate in rates):
                hint = f"{ADAM_DEFAULT_LEARNING_RATE} is Adam's default learning rate: pass lr={TASK_2B_LEARNING_RATE}"
            else:
                hint = f"pass lr={TASK_2B_LEARNING_RATE} to torch.optim.Adam"
            _require(bool(rates) and all(math.isclose(rate, TASK_2B_LEARNING_RATE) for rate in rates),
                     f"learning rate {TASK_2B_LEARNING_RATE}", f"{rates} for optimizers[{i}]", hint)
        return f"learning rate {TASK_2B_LEARNING_RATE}"

    def losses_shape() -> str:
        n_batches, n_models = len(train_loader), len(models)
        flat = bool(losses) and all(_is_number(loss) or isinstance(loss, torch.Tensor) for loss in losses)
        if flat and len(losses) != n_models:
            if len(losses) == n_models * n_batches:
                hint = "append the list that train() returns for each model (append, not extend)"
            elif len(losses) % n_batches == 0:
                hint = ("losses holds the losses of a single model: `losses = train(...)` replaces them "
                        "for every model; append each model's list to losses instead")
            else:
                hint = "append the list that train() returns for each model to losses"
            raise _CheckFailed(f"one list of losses per model ({n_models})",
                               f"a flat list of {len(losses)} numbers", hint)
        if flat:
            raise _CheckFailed("losses[0] to be the list of losses that train() returns for models[0]",
                               _describe(losses[0]),
                               "append the whole list that train() returns, not only its last loss")
        _require(len(losses) == n_models, f"one list of losses per model ({n_models})",
                 f"{len(losses)} entries",
                 "append the list that train() returns for each model, once (append, not extend)")
        for i, model_losses in enumerate(losses):
            got = len(model_losses) if isinstance(model_losses, (list, tuple)) else None
            if got is None:
                hint = "append the whole list that train() returns"
            elif got and got % n_batches == 0:
                hint = (f"that is {got // n_batches} epochs: pass n_epochs=N_EPOCHS_2B to train() "
                        "(its default is 20 epochs)")
            else:
                hint = (f"one epoch of train_loader has {n_batches} batches: train every model on "
                        "train_loader (not test_loader), for one epoch")
            _require(got == n_batches,
                     f"losses[{i}] to hold {n_batches} losses (one epoch of train_loader)",
                     _describe(model_losses) if got is None else f"{got} losses", hint)
            if not all(isinstance(loss, float) for loss in model_losses):
                kinds = sorted({type(loss).__name__ for loss in model_losses})
                raise _CheckFailed(f"losses[{i}] to hold floats", f"values of type {', '.join(kinds)}",
                                   "train() must return Python floats: append loss.item() in Task 2a")
            _require(all(math.isfinite(loss) for loss in model_losses),
                     f"losses[{i}] to hold finite losses", "NaN or infinite losses",
                     "the training diverged: check the learning rate")
        return "one epoch of losses per model"

    def fall_hint(i: int) -> str:
        optimizer = optimizers[i] if isinstance(optimizers, (list, tuple)) and i < len(optimizers) else None
        if isinstance(optimizer, torch.optim.Optimizer):
            held = {id(p) for group in optimizer.param_groups for p in group["params"]}
            if held != {id(p) for p in models[i].parameters()}:
                return (f"optimizers[{i}] does not hold the parameters of models[{i}]: train every model "
                        "with its own optimizer")
            rates = {group["lr"] for group in optimizer.param_groups}
            if not all(math.isclose(rate, TASK_2B_LEARNING_RATE) for rate in rates):
                return (f"with the learning rate {sorted(rates)} the loss hardly falls in one epoch: pass "
                        f"lr={TASK_2B_LEARNING_RATE}")
        return (f"check that models[{i}] is trained with its own optimizer (models[{i}] with "
                f"optimizers[{i}])")

    def losses_fall() -> str:
        for i, model_losses in enumerate(losses):
            window = max(1, int(_LOSS_WINDOW_SHARE * len(model_losses)))
            first = sum(model_losses[:window]) / window
            last = sum(model_losses[-window:]) / window
            _require(last < LOSS_DROP_FACTOR * first,
                     f"the loss of models[{i}] to fall during training",
                     f"mean of the first {window} losses {first:.3f}, "
                     f"of the last {window} {last:.3f}",
                     "" if last < LOSS_DROP_FACTOR * first else fall_hint(i))
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


def _batches(values: Sequence[int]) -> list[list[int]]:
    return [list(values[start:start + _BATCH_SIZE_3]) for start in range(0, len(values), _BATCH_SIZE_3)]


def _same(got: object, expected: float) -> bool:
    """``got`` equals ``expected``; a NaN expected also matches NaN or 0 (undefined, shown either way)."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not _is_number(got):
        return False
    if math.isnan(expected):
        return math.isnan(got) or got == 0
    return not math.isnan(got) and math.isclose(got, expected, rel_tol=RTOL, abs_tol=ATOL)


def _shape_error_hint(error: BaseException) -> str | None:
    """The hint for an argmax over the wrong dimension or an unpacked torch.max."""
    text = str(error)
    if f"({N_CLASSES}) must match the size" in text or f"must match the size of tensor b ({N_CLASSES})" in text:
        return ("the predictions have one entry per class instead of one per sample: take the "
                "argmax over the classes of each sample, dim=1, not over the batch, dim=0")
    if "return_types" in text or "'bool' object has no attribute" in text:
        return ("the comparison with the labels gave a single bool, not a tensor: torch.max(outputs, dim=1) "
                "returns (values, indices), and the predicted classes are the indices")
    return None


# 10 samples (batches of 4, 4 and 2), 7 predicted correctly
_ACCURACY_LABELS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
_ACCURACY_PREDICTIONS = [3, 1, 4, 0, 5, 9, 7, 6, 5, 8]


def _accuracy_cases() -> list[tuple[str, list[int], list[int]]]:
    all_wrong = [(label + 1) % N_CLASSES for label in _ACCURACY_LABELS]
    return [("7 of 10 correct", _ACCURACY_PREDICTIONS, _ACCURACY_LABELS),
            ("all correct", list(_ACCURACY_LABELS), _ACCURACY_LABELS),
            ("none correct", all_wrong, _ACCURACY_LABELS)]


def _accuracy_candidates(predictions: Sequence[int], labels: Sequence[int]) -> list[tuple[float, str]]:
    """Values that typical mistakes return for these predictions, each with the hint for its cause."""
    correct = [int(p == y) for p, y in zip(predictions, labels)]
    n_correct, n_samples = sum(correct), len(labels)
    batches = _batches(correct)
    last = batches[-1]
    # argmax without dim: the index in the flattened batch, the same for every sample of the batch
    flat_argmax = 0
    for batch_predictions, batch_labels in zip(_batches(predictions), _batches(labels)):
        # the largest output of the whole batch is the first sample's class: flat index < N_CLASSES
        flat_argmax += sum(int(y == batch_predictions[0]) for y in batch_labels)
    return [
        (100 * n_correct / n_samples, "return a fraction between 0 and 1, not a percentage"),
        (n_correct / len(batches), ("divide by the number of samples, not by the number of batches: "
                                    "add the size of every batch to n_samples")),
        (float(n_correct), ("that is the number of correctly classified samples: add the number of "
                            "samples of every batch to n_samples too")),
        (sum(sum(b) / len(b) for b in batches) / len(batches),
         ("the mean of the batch accuracies is wrong when the last batch is smaller: add up the correct "
          "samples and the samples of all batches and divide once at the end")),
        (sum(sum(b) / len(b) for b in batches) / n_samples,
         ("add the number of correctly classified samples of the batch to n_correctly_classified, not "
          "the batch's accuracy")),
        (sum(last) / len(last), "`=` instead of `+=`: the counters keep only the last batch"),
        (n_correct / len(last), "n_samples = ... keeps only the size of the last batch: add to it with +="),
        (sum(last) / n_samples, "n_correctly_classified = ... keeps only the last batch: add to it with +="),
        (1 - n_correct / n_samples, ("that is the share of wrongly classified samples: count the samples "
                                     "whose prediction equals their label")),
        (flat_argmax / n_samples, ("argmax without dim gives one index into the whole flattened batch: "
                                   "take the argmax over the classes of each sample, dim=1")),
    ]


def _accuracy_hint(results: dict[str, object]) -> str | None:
    """The hint of the typical mistake that gives ``results`` (by case name) in every case."""
    cases = [(name, predictions, labels) for name, predictions, labels in _accuracy_cases() if name in results]
    candidates = {name: _accuracy_candidates(predictions, labels) for name, predictions, labels in cases}
    truth = {name: sum(p == y for p, y in zip(predictions, labels)) / len(labels)
             for name, predictions, labels in cases}
    for index, (_, hint) in enumerate(next(iter(candidates.values()), [])):
        if all(_same(truth[name], candidates[name][index][0]) for name in truth):
            continue
        if all(_same(results[name], candidates[name][index][0]) for name in truth):
            return hint
    return None


@_seeded
def task_3a_results(compute_accuracy_fn: Callable) -> list[CheckResult]:
    """Checks of ``compute_accuracy`` (Task 3a) on a model with known predictions."""
    owners = _stub_owners(compute_accuracy_fn)
    model = _ScriptedClassifier()
    results = {}

    def runs() -> str:
        for name, predictions, labels in _accuracy_cases():
            results[name] = compute_accuracy_fn(model, _scripted_loader(predictions, labels))
            value = results[name]
            if isinstance(value, torch.Tensor):
                hint = "return a Python float: use .item() on the tensors you count with"
            else:
                hint = "return n_correctly_classified / n_samples as a float"
            _require(_is_number(value), "a Python number", _describe(value), hint)
        return "compute_accuracy returns a number"

    def fraction() -> str:
        for name, _predictions, _labels in _accuracy_cases():
            value = results[name]
            _require(0.0 <= value <= 1.0, "a fraction between 0 and 1", f"{value:.4f} ({name})",
                     _accuracy_hint(results)
                     or "divide the number of correctly classified samples by the number of samples")
        return "the accuracy is a fraction in [0, 1]"

    def exact_values() -> str:
        for name, predictions, labels in _accuracy_cases():
            n_correct = sum(p == y for p, y in zip(predictions, labels))
            expected = n_correct / len(labels)
            got = results[name]
            hint = (_accuracy_hint(results)
                    or "count the correctly classified samples and all samples of every batch, "
                       "including the smaller last batch, and divide at the end")
            _require(math.isclose(got, expected, rel_tol=RTOL, abs_tol=ATOL),
                     f"{expected:.4f} for a model that classifies {n_correct} of "
                     f"{len(labels)} samples correctly (batches of {_BATCH_SIZE_3}, the last "
                     f"with {len(labels) % _BATCH_SIZE_3})",
                     f"{got:.4f}", hint)
        return "correct accuracy for a model with known predictions (last batch smaller)"

    def explain(name: str, error: BaseException) -> str | None:
        if isinstance(error, (ZeroDivisionError, ValueError)) and (
                isinstance(error, ZeroDivisionError) or "no samples" in str(error)):
            return "n_samples is still 0 at the end: add the number of samples of every batch to n_samples"
        return _shape_error_hint(error)

    return _run_checks("3a", [
        ("runs", runs, _GATE),
        ("fraction", fraction, _INDEPENDENT),
        ("known accuracy", exact_values, _INDEPENDENT),
    ], owners, explain)


def check_task_3a(compute_accuracy_fn: Callable) -> None:
    """Print the self-check verdict for Task 3a: ``check_task_3a(compute_accuracy)``."""
    _report("3a", lambda: task_3a_results(compute_accuracy_fn))


# 14 samples (batches of 4, 4, 4 and 2); class 8 has no sample, class 4 is never predicted
_PER_CLASS_LABELS = [0, 0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 9, 9, 9]
_PER_CLASS_PREDICTIONS = [0, 1, 1, 2, 0, 2, 3, 0, 5, 6, 1, 9, 0, 9]
# every class has samples and is predicted; precision and accuracy of a class differ
_COMPLETE_LABELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1, 2]
_COMPLETE_PREDICTIONS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 3]
PRECISION_HINT = ("that is the precision of the class (correct predictions of class c / all predictions "
                  "of class c): the accuracy of class c divides by the number of samples whose label is c")


def _per_class_truth(predictions: Sequence[int], labels: Sequence[int]
                     ) -> tuple[dict[int, int], dict[int, int]]:
    """Samples and correctly predicted samples of each class, counted from the lists."""
    n_samples = {c: sum(y == c for y in labels) for c in range(N_CLASSES)}
    n_correct = {c: sum(y == c and p == y for p, y in zip(predictions, labels))
                 for c in range(N_CLASSES)}
    return n_samples, n_correct


def _recall(n_correct: int, n_samples: int) -> float:
    return n_correct / n_samples if n_samples else math.nan


def _dim0_predictions(predictions: Sequence[int], labels: Sequence[int]) -> tuple[list[int], list[int]]:
    """(predictions, labels) that an argmax over dim 0 zipped with the labels gives, batch by batch.

    Column j's largest output in a batch of the scripted model is at the first
    sample predicted as j (else at sample 0); zip stops at the shorter list.
    """
    got_predictions, got_labels = [], []
    for batch_predictions, batch_labels in zip(_batches(predictions), _batches(labels)):
        per_column = [next((i for i, p in enumerate(batch_predictions) if p == j), 0) for j in range(N_CLASSES)]
        got_predictions.extend(per_column[:len(batch_labels)])
        got_labels.extend(batch_labels[:N_CLASSES])
    return got_predictions, got_labels


def _per_class_candidates(predictions: Sequence[int], labels: Sequence[int]
                          ) -> list[tuple[dict[int, float], str]]:
    """Per-class values that typical mistakes return, each with the hint for its cause."""
    n_samples, n_correct = _per_class_truth(predictions, labels)
    dim0_samples, dim0_correct = _per_class_truth(*_dim0_predictions(predictions, labels))
    n_total = len(labels)
    n_predicted = {c: sum(p == c for p in predictions) for c in range(N_CLASSES)}
    recall = {c: _recall(n_correct[c], n_samples[c]) for c in range(N_CLASSES)}
    batches = list(zip(_batches(predictions), _batches(labels)))
    per_batch = {c: [_recall(*[sum(y == c and p == y for p, y in zip(*batch)), sum(y == c for y in batch[1])])
                     for batch in batches] for c in range(N_CLASSES)}
    last_predictions, last_labels = batches[-1]
    last_truth = _per_class_truth(last_predictions, last_labels)
    return [
        ({c: _recall(n_correct[c], n_predicted[c]) for c in range(N_CLASSES)}, PRECISION_HINT),
        ({c: n_correct[c] / n_total for c in range(N_CLASSES)},
         "divide by the number of samples of the class, not by the number of all samples"),
        ({c: 100 * recall[c] for c in range(N_CLASSES)}, "return fractions between 0 and 1, not percentages"),
        ({c: float(n_correct[c]) for c in range(N_CLASSES)},
         "those are counts of correct samples: divide each by the number of samples of its class"),
        ({c: float(n_correct[c] // n_samples[c]) if n_samples[c] else math.nan for c in range(N_CLASSES)},
         "// is integer division (0 or 1): divide with /"),
        ({c: 1 - recall[c] for c in range(N_CLASSES)},
         ("that is the share of wrongly classified samples: count the samples of the class predicted "
          "correctly")),
        ({c: (sum(v for v in per_batch[c] if not math.isnan(v))
              / max(1, sum(not math.isnan(v) for v in per_batch[c]))) if n_samples[c] else math.nan
          for c in range(N_CLASSES)},
         ("the mean of per-batch accuracies is wrong when batches hold different numbers of samples of "
          "the class: count over all batches and divide once at the end")),
        ({c: _recall(last_truth[1][c], last_truth[0][c]) for c in range(N_CLASSES)},
         ("the counts start again in every batch: create the counters once, before the loop over "
          "batches")),
        ({c: _recall(dim0_correct[c], dim0_samples[c]) for c in range(N_CLASSES)},
         ("the argmax over dim 0 runs over the batch and gives one index per class: the predicted class "
          "of each sample is the argmax over its outputs, dim=1")),
    ]


def _per_class_hint(values: dict, predictions: Sequence[int], labels: Sequence[int]) -> str | None:
    """The hint of the typical mistake whose values ``values`` has for every class with samples."""
    n_samples, n_correct = _per_class_truth(predictions, labels)
    present = [c for c in range(N_CLASSES) if n_samples[c] > 0]
    truth = {c: n_correct[c] / n_samples[c] for c in present}
    for candidate, hint in _per_class_candidates(predictions, labels):
        if all(_same(truth[c], candidate[c]) for c in present):
            continue
        if all(_same(values.get(c), candidate[c]) for c in present):
            return hint
    return None


@_seeded
def task_3b_results(compute_accuracy_per_class_fn: Callable) -> list[CheckResult]:
    """Checks of ``compute_accuracy_per_class`` (Task 3b) on a model with known predictions."""
    owners = _stub_owners(compute_accuracy_per_class_fn)
    model = _ScriptedClassifier()
    loader = _scripted_loader(_PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS)
    n_samples, n_correct = _per_class_truth(_PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS)
    n_total = len(_PER_CLASS_LABELS)
    present = [c for c in range(N_CLASSES) if n_samples[c] > 0]
    absent = [c for c in range(N_CLASSES) if n_samples[c] == 0]
    result = {}

    def hint_for(values: dict, default: str) -> str:
        return _per_class_hint(values, _PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS) or default

    def runs() -> str:
        value = compute_accuracy_per_class_fn(model, loader)
        result["value"] = value
        _require(isinstance(value, dict), "a dict", _describe(value),
                 "return a dict {class: accuracy} with the classes 0-9 as keys")
        return "compute_accuracy_per_class returns a dict"

    def keys() -> str:
        got = list(result["value"])
        expected = list(range(N_CLASSES))
        wrong_type = [key for key in got if type(key) is not int]
        last_batch_classes = sorted(set(_batches(_PER_CLASS_LABELS)[-1]))
        if wrong_type:
            hint = (f"use the Python ints 0-9 as keys, not {type(wrong_type[0]).__name__} "
                    "(e.g. int(label) or label.item())")
        elif sorted(got) == list(range(1, N_CLASSES + 1)):
            hint = "the classes are 0-9, not 1-10"
        elif sorted(got) == last_batch_classes:
            hint = ("the dict holds only the classes of the last batch: count over all batches before "
                    "building the dict")
        elif set(got) < set(expected) and set(expected) - set(got) <= set(absent):
            hint = (f"every class 0-9 needs a key, also class {absent[0]}, which has no sample in this "
                    "data: give it float('nan')")
        else:
            hint = "give every class 0-9 a key, also classes without samples"
        _require(not wrong_type and sorted(got) == expected, f"the keys {expected} (ints)",
                 "[" + ", ".join(repr(key) for key in got) + "]", hint)
        return "the keys are the ints 0-9"

    def fractions() -> str:
        values = result["value"]
        for c in present:
            value = values[c]
            if isinstance(value, torch.Tensor):
                hint = "return Python floats: use .item() (or float(...)) on tensors"
            elif _is_number(value) and not math.isnan(value) and 0 <= value <= 1:
                hint = "return Python floats, e.g. float(...)"
            else:
                hint = hint_for(values, f"class {c} has samples: its accuracy is a number in [0, 1] "
                                        "(NaN only for a class without samples)")
            _require(isinstance(value, float) and 0.0 <= value <= 1.0,
                     f"a float fraction in [0, 1] for class {c}", f"{value!r}", hint)
        return "the accuracies are fractions in [0, 1]"

    def exact_values() -> str:
        values = result["value"]
        for c in present:
            expected = n_correct[c] / n_samples[c]
            got = values[c]
            hint = hint_for(values, f"count the samples whose label is {c} and those of them predicted "
                                    "correctly, over all batches")
            _require(_same(got, expected) and not math.isnan(got),
                     f"{expected:.4f} for class {c} ({n_correct[c]} of its {n_samples[c]} "
                     "samples predicted correctly)", f"{got!r}", hint)
        return "correct per-class accuracies for a model with known predictions"

    def absent_class() -> str:
        for c in absent:
            got = result["value"][c]
            if isinstance(got, torch.Tensor):
                hint = "return float('nan'), a Python float, not a tensor"
            else:
                hint = ("the accuracy of a class without samples is undefined: return float('nan') "
                        "instead of dividing by zero or returning 0" + (" or None" if got is None else ""))
            _require(isinstance(got, float) and math.isnan(got),
                     f"float('nan') for class {c}, which has no sample", f"{got!r}", hint)
        return "a class without samples gets NaN"

    def weighted_mean() -> str:
        values = result["value"]
        _require(all(_is_number(values[c]) for c in present), "numbers for the classes with samples",
                 "other values", "return a float for every class")
        weighted = sum(n_samples[c] * values[c] for c in present) / n_total
        overall = sum(n_correct.values()) / n_total
        _require(math.isclose(weighted, overall, rel_tol=RTOL, abs_tol=ATOL),
                 f"the class-size-weighted mean of the per-class accuracies to equal the overall "
                 f"accuracy ({overall:.4f})",
                 f"{weighted:.4f}",
                 hint_for(values, "per-class accuracy = correct samples of the class / samples of the class"))
        return "the weighted mean of the per-class accuracies is the overall accuracy"

    def explain(name: str, error: BaseException) -> str | None:
        if isinstance(error, ZeroDivisionError):
            try:
                values = compute_accuracy_per_class_fn(model, _scripted_loader(_COMPLETE_PREDICTIONS,
                                                                               _COMPLETE_LABELS))
            except Exception:  # noqa: BLE001 - only used to tell two causes apart
                values = None
            if isinstance(values, dict) and _per_class_hint(values, _COMPLETE_PREDICTIONS,
                                                            _COMPLETE_LABELS) == PRECISION_HINT:
                return PRECISION_HINT
            return (f"class {absent[0]} has no sample in this data, so its accuracy is 0 / 0: return "
                    "float('nan') for a class without samples instead of dividing")
        if isinstance(error, KeyError):
            return "create a counter for every class 0-9 before counting"
        return _shape_error_hint(error)

    return _run_checks("3b", [
        ("runs", runs, _GATE),
        ("keys", keys, _GATE),
        ("fractions", fractions, _INDEPENDENT),
        ("known accuracies", exact_values, _INDEPENDENT),
        ("class without samples", absent_class, _INDEPENDENT),
        ("weighted mean", weighted_mean, _INDEPENDENT),
    ], owners, explain)


def check_task_3b(compute_accuracy_per_class_fn: Callable) -> None:
    """Print the self-check verdict for Task 3b: ``check_task_3b(compute_accuracy_per_class)``."""
    _report("3b", lambda: task_3b_results(compute_accuracy_per_class_fn))
