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

TASK = "1a"
TITLE = "`SimpleMLP(dims)`"
POINTS = 20

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


# ==== grader only: students receive this module up to this line (instructor/shipped.py) ====
from ex4.fixtures import FIXED_MLP_DIMS, MNIST_IMAGE_SHAPE
from ex4.model_properties import load_values
from instructor.grading.probes import (
    BATCH_1A,
    MNIST_FEATURES,
    ProbeError,
    canonical_layers,
    generator,
    guarded,
    layer_orderings,
    output_summary,
    outputs_by_ordering,
    parameter_summary,
    run_seed,
)
from instructor.grading.verdicts import (
    OUTPUT_TOL,
    Checks,
    TaskGrade,
    all_close,
    closest_outputs,
    finite,
    max_difference,
)

# check -> (points, what it tests as students read it); WORK_CHECKS: see ex4/tasks/__init__.py
CHECKS = {
    # catches: no Flatten, dims ignored
    "output_shape": (4, "output shape (batch size, dims[-1]) for inputs that are not flattened"),
    # catches: a plain Python list, dims ignored
    "parameter_count": (4, "registered parameter count is the sum of (in + 1) · out over the layers"),
    # catches: a ReLU after the last layer
    "negative_outputs": (3, "outputs can be negative (no activation after the last layer)"),
    # catches: no activation
    "nonlinear": (3, "the model is not an affine map (activations between the layers)"),
    # catches: wrong activation or layer order
    "same_function": (6, "same outputs as the reference model given the same weights"),
}
WORK_CHECKS = ("same_function", "nonlinear")


# Task 1a: dims the SimpleMLP is built with, and the shape of one input sample
CONFIGS_1A = (
    {"dims": list(FIXED_MLP_DIMS), "sample_shape": list(MNIST_IMAGE_SHAPE)},
    {"dims": [MNIST_FEATURES, 32, 10], "sample_shape": list(MNIST_IMAGE_SHAPE)},
    {"dims": [20, 16, 8, 4, 3], "sample_shape": [2, 2, 5]},
)


# samples used to look for negative outputs and for non-affine behaviour
N_BEHAVIOUR_SAMPLES = 64


# how far below the largest output the last bias is moved to see whether outputs can turn negative
NEGATIVE_SHIFT = 10.0


# scale of the inputs for that sign test when the model's own weights must be used
FALLBACK_INPUT_SCALE = 100.0
# input scales of the non-affinity measure: a sigmoid or tanh is almost linear on inputs near 0, so the
# measure also uses wider inputs, where it bends (an affine map stays affine at every scale)
AFFINE_INPUT_SCALES = (1.0, 10.0)


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    """Build SimpleMLP for each of CONFIGS_1A and record shapes, counts and outputs."""
    mlp_class = namespace.get("SimpleMLP")
    if mlp_class is None:
        raise ProbeError("no class SimpleMLP is defined")
    return {"configs": [guarded(lambda c=config, i=index: probe_mlp(mlp_class, c, i))
                        for index, config in enumerate(CONFIGS_1A)]}


def probe_mlp(mlp_class: type, config: dict, index: int) -> dict:
    """Shapes on unflattened input; behaviour (sign, non-affinity, outputs) on flat input."""
    dims, sample_shape = config["dims"], config["sample_shape"]
    torch.manual_seed(run_seed() + index)
    model = mlp_class(list(dims))
    result = {"dims": dims, "sample_shape": sample_shape, "batch": BATCH_1A,
              "behaviour_samples": N_BEHAVIOUR_SAMPLES, **parameter_summary(model)}
    images = torch.rand((BATCH_1A, *sample_shape), generator=generator(index))
    result["shape"] = guarded(lambda: output_summary(model(images)))
    inputs = torch.rand((N_BEHAVIOUR_SAMPLES, dims[0]), generator=generator(50 + index)) * 2 - 1
    others = torch.rand((N_BEHAVIOUR_SAMPLES, dims[0]), generator=generator(100 + index)) * 2 - 1
    layers = canonical_layers(dims, 200 + index)
    result["behaviour"] = guarded(lambda: mlp_behaviour(model, inputs, others, layers))
    return result


def mlp_behaviour(model: nn.Module, inputs: torch.Tensor, others: torch.Tensor, layers: list) -> dict:
    """Outputs with ``layers`` as weights; sign of the outputs and non-affinity with the same weights.

    The sign is measured with the last layer's bias lowered far below the
    outputs: every output of a model without an activation after its last
    layer then turns negative, a final ReLU keeps them at 0. Non-affinity is
    measured with the canonical weights (the default initialisation is so
    small that e.g. a sigmoid is almost linear on it). A model whose
    parameters do not fit the layers is measured with its own weights.
    """
    result: dict = {}
    with torch.no_grad():
        own_outputs = model(inputs[:BATCH_1A])
    try:
        result["outputs_by_ordering"] = outputs_by_ordering(model, layers, inputs[:BATCH_1A])
        result["residual_weights"] = "canonical"
    except ProbeError as exc:
        result["assign_error"] = str(exc)
        result["residual_weights"] = "own"
    with torch.no_grad():
        outputs = model(inputs)
        repeated = model(inputs)
    result.update(output_summary(outputs))
    result["deterministic"] = bool(torch.equal(outputs, repeated))
    # outputs that do not change with the weights come from code that ignores the layers
    result["weight_dependent"] = ("assign_error" not in result
                                  and not torch.equal(own_outputs, outputs[:BATCH_1A]))
    result["input_dependent"] = bool(torch.isfinite(outputs).all()) and len(outputs) > 1 and not bool(
        (outputs == outputs[:1]).all())
    if "assign_error" in result:
        # own weights: inputs far outside [-1, 1] make a last layer without ReLU show both signs
        with torch.no_grad():
            result["negative_probe_output"] = float(model(inputs * FALLBACK_INPUT_SCALE).min())
    else:
        values, orderings = layer_orderings(model, layers)
        lowered = list(values)
        lowered[-1] = values[-1] - (NEGATIVE_SHIFT + 2 * float(outputs.abs().max()))
        load_values(model, lowered, orderings[0])
        with torch.no_grad():
            result["negative_probe_output"] = float(model(inputs).max())
        load_values(model, values, orderings[0])
    result["affine_residual"] = max(affine_residual(model, inputs * scale, others * scale)
                                    for scale in AFFINE_INPUT_SCALES)
    return result


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(TASK, POINTS, CHECKS, WORK_CHECKS)
    for mine, ref in zip(student["configs"], reference["configs"], strict=True):
        call = f"SimpleMLP({ref['dims']})"
        if "error" in mine:
            for check in CHECKS:
                checks.fail(check, f"{call} raised {mine['error']}")
            continue
        expected_count = expected_parameter_count(ref["dims"])
        if mine.get("n_params") != expected_count:
            hint = (" -- layers kept in a plain Python list are not registered; use nn.ModuleList"
                    if not mine.get("n_params") else "")
            checks.fail("parameter_count", f"{call} has {mine.get('n_params')} registered parameters, expected "
                        f"{expected_count} = sum of (in + 1) * out over the layers{hint}")
        shape, ref_shape = mine["shape"], ref["shape"]
        batch_shape = [ref["batch"], *ref["sample_shape"]]
        if shape.get("output_shape") != ref_shape["output_shape"]:
            happened = f"raised {shape['error']}" if "error" in shape else f"returned shape {shape.get('output_shape')}"
            checks.fail("output_shape", f"{call} on a batch of shape {batch_shape} {happened}, expected shape "
                        f"{ref_shape['output_shape']} (flatten the input; one Linear per pair of consecutive "
                        "sizes in dims)")
        behaviour, ref_behaviour = mine["behaviour"], ref["behaviour"]
        if "error" in behaviour:
            for check in ("negative_outputs", "nonlinear", "same_function"):
                checks.fail(check, f"{call} on flat inputs of shape [{ref['behaviour_samples']}, "
                            f"{ref['dims'][0]}] raised {behaviour['error']}")
            continue
        # real layers: outputs follow the weights; a model without registered parameters (a plain list)
        # can only show that its outputs follow the input
        uses_layers = behaviour.get("weight_dependent") or mine.get("n_params") == 0
        if behaviour.get("deterministic") and behaviour.get("input_dependent") and uses_layers:
            checks.evidence_of_work = True
        negative = behaviour.get("negative_probe_output")
        if ref_behaviour["negative_probe_output"] < 0 and not (finite(negative) and negative < 0):
            checks.fail("negative_outputs", f"{call} never returned a negative output, the reference does: "
                        "the last layer must not be followed by ReLU (outputs are logits)")
        residual = behaviour.get("affine_residual")
        if not (finite(residual) and behaviour.get("deterministic")):
            checks.fail("nonlinear", f"{call} gave outputs that are not finite or change between two calls "
                        "on the same input")
        elif ref_behaviour["affine_residual"] > AFFINE_TOLERANCE >= residual:
            weights = ("the reference weights" if behaviour.get("residual_weights") == "canonical"
                       else "its own initial weights")
            checks.fail("nonlinear", f"{call} behaves like an affine map on random inputs with {weights} "
                        f"(relative midpoint residual {residual:.2g}, at most {AFFINE_TOLERANCE:g}): "
                        "expected ReLU between the layers")
        if "assign_error" in behaviour:
            checks.fail("same_function", f"{call}: could not give it the reference weights: "
                        f"{behaviour['assign_error']}")
            continue
        expected_outputs = ref_behaviour["outputs_by_ordering"][0]
        outputs = closest_outputs(behaviour.get("outputs_by_ordering"), expected_outputs)
        if not all_close(outputs, expected_outputs, OUTPUT_TOL):
            difference = max_difference(outputs, expected_outputs)
            checks.fail("same_function", f"{call} with the reference weights computes a different function "
                        f"(largest output difference {difference}); expected Linear layers with ReLU "
                        "between them and none after the last")
    return checks.grade()
