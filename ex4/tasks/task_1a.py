"""Task 1a (20 points): ``SimpleMLP(dims)``, an MLP with ReLU between its layers and logits out."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ex4.checking import (
    GATE,
    INDEPENDENT,
    CheckFailed,
    CheckResult,
    describe,
    error_text,
    report,
    require,
    run_checks,
    seeded,
    stub_owner,
    stub_owners,
)
from ex4.mlp_hints import (
    LayerCall,
    activation_hint,
    expected_layer_shapes,
    order_hint,
    output_hint,
    output_values_hint,
    parameter_hint,
    relation_between,
    shapes_hint,
    structure_hint,
    trace,
    weight_shapes,
)
from ex4.model_properties import AFFINE_TOLERANCE, affine_residual, count_parameters, expected_parameter_count

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


@seeded
def task_1a_results(simple_mlp_class: type) -> list[CheckResult]:
    """Checks of the ``SimpleMLP`` class (Task 1a)."""
    owners = stub_owners(simple_mlp_class)
    inputs = torch.randn(_BATCH_SIZE_1A, *_SMALL_IMAGE_SHAPE)
    other_inputs = torch.randn(_BATCH_SIZE_1A, *_SMALL_IMAGE_SHAPE)
    models: dict[int, nn.Module] = {}
    traces: dict[int, tuple[object, list[LayerCall], Exception | None]] = {}

    def key(dims: Sequence[int]) -> int:
        return _DIMS_1A.index(dims)

    def builds() -> str:
        for dims in _DIMS_1A:
            model = simple_mlp_class(dims=list(dims))
            require(isinstance(model, nn.Module), "an nn.Module", describe(model),
                     "SimpleMLP must inherit from nn.Module")
            models[key(dims)] = model
        built = [f"SimpleMLP(dims={dims})" for dims in _DIMS_1A]
        return f"{', '.join(built[:-1])} and {built[-1]} build"

    def traced(dims: Sequence[int]) -> tuple[object, list[LayerCall], Exception | None]:
        if key(dims) not in traces:
            traces[key(dims)] = trace(models[key(dims)], inputs)
        return traces[key(dims)]

    def output_shape() -> str:
        for dims in (_SMALL_DIMS, _SINGLE_LAYER_DIMS):
            output, calls, error = traced(dims)
            expected = (_BATCH_SIZE_1A, dims[-1])
            what = (f"output of shape {expected} for dims={dims} and a batch of shape "
                    f"{tuple(inputs.shape)}")
            if error is not None:
                hint = None if stub_owner(error, owners) else structure_hint(models[key(dims)], dims, calls)
                if hint is None:
                    raise error
                raise CheckFailed(what, error_text(error), hint)
            if isinstance(output, torch.Tensor) and tuple(output.shape) == (_BATCH_SIZE_1A,):
                raise CheckFailed(what, describe(output),
                                   "forward returns one value per sample (e.g. the predicted class): "
                                   "return the outputs of the last layer, dims[-1] logits per sample")
            if not (isinstance(output, torch.Tensor) and tuple(output.shape) == expected):
                hint = (structure_hint(models[key(dims)], dims, calls)
                        or "flatten the images to (BS x dims[0]) first and return the output of the "
                           "last layer, which has dims[-1] features")
                raise CheckFailed(what, describe(output), hint)
        return "the output has shape (batch size x dims[-1]) for image batches"

    def parameters() -> str:
        for dims in _DIMS_1A:
            model = models[key(dims)]
            expected = expected_parameter_count(dims)
            got = count_parameters(model)
            if got != expected:
                _, calls, _ = traced(dims)
                raise CheckFailed(
                    f"{expected} learnable parameters for dims={dims} (one nn.Linear with bias per "
                    "pair of consecutive sizes)",
                    f"{got} parameters", parameter_hint(model, dims, got, expected, calls))
        return "the number of learnable parameters matches dims"

    def layer_shapes() -> str:
        for dims in _DIMS_1A:
            _, calls, _ = traced(dims)
            # a layer object applied several times counts once per application
            layers = list({id(call.layer): call.layer for call in calls}.values())
            if len(layers) < len(calls):
                layers = [call.layer for call in calls]
            got = ([tuple(layer.weight.shape) for layer in layers] if len(layers) < len(calls)
                   else weight_shapes(models[key(dims)]))
            hint = shapes_hint(got, dims)
            require(hint is None, f"nn.Linear weights of shapes {expected_layer_shapes(dims)} for dims={dims}",
                     f"{got}", hint or "")
        return "one nn.Linear per pair of consecutive sizes"

    def deterministic(dims: Sequence[int]) -> None:
        with torch.no_grad():
            again = models[key(dims)](inputs)
        output = traced(dims)[0]
        require(isinstance(again, torch.Tensor) and torch.equal(again, output),
                 f"the same outputs every time for the same inputs (dims={dims})",
                 "different outputs for the same inputs",
                 "the model creates new layers (new random weights) in forward: create every layer "
                 "once, in __init__")

    def watched(dims: Sequence[int]) -> list[LayerCall]:
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
                require(residual > AFFINE_TOLERANCE,
                         f"a nonlinear model for dims={dims}: f((a + b) / 2) differs from "
                         "(f(a) + f(b)) / 2",
                         f"f((a + b) / 2) = (f(a) + f(b)) / 2 up to {residual:.2g} (relative), so the "
                         "model behaves like a single affine map",
                         "apply the ReLU activation after every layer except the last")
                continue
            hint = order_hint(calls, dims, models[key(dims)]) or activation_hint(calls, inputs)
            require(hint is None,
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
                relation = relation_between(calls[-1].output, output)
                require(relation == "unchanged",
                         f"for dims={dims} the output of the last layer, unchanged (logits)",
                         f"the last layer's output {'after a ' + relation if relation else 'changed'}",
                         output_hint(relation))
                continue
            hint = output_values_hint(output)
            require(hint is None, "logits: some outputs negative for random inputs",
                     f"all {output.numel()} outputs are >= 0", hint or "")
            if len(dims) == 2:
                residual = affine_residual(models[key(dims)], inputs, other_inputs)
                require(residual <= AFFINE_TOLERANCE,
                         f"dims={dims} (no hidden layer) to give one plain nn.Linear, an affine map",
                         f"a nonlinear model (relative deviation from affine {residual:.3g})",
                         "there is no activation after the last layer; with two sizes in dims the "
                         "only layer is the last one")
        return "the model returns the logits of its last layer (they can be negative)"

    return run_checks("1a", [
        ("builds", builds, GATE),
        ("output shape", output_shape, GATE),
        ("parameters", parameters, INDEPENDENT),
        ("layer shapes", layer_shapes, INDEPENDENT),
        ("ReLU between layers", activations, INDEPENDENT),
        ("logits", logits, INDEPENDENT),
    ], owners, _builds_hint)


def check_task_1a(simple_mlp_class: type) -> None:
    """Print the self-check verdict for Task 1a: call it as ``check_task_1a(SimpleMLP)``."""
    report("1a", lambda: task_1a_results(simple_mlp_class))
