"""Task 1a, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

import torch
from torch import nn

from ex4.fixtures import FIXED_MLP_DIMS, MNIST_IMAGE_SHAPE
from ex4.model_properties import affine_residual, load_values
from instructor.grading.probes import (
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
    seed_torch,
)

# samples per batch of the shape and output checks (Task 1b's probe uses it too)
BATCH_1A = 6
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


# how far every parameter is moved to see whether the outputs follow the model's own weights
WEIGHT_NUDGE = 0.5


# seed offset of that move
WEIGHT_NUDGE_OFFSET = 700


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
    seed_torch(run_seed() + index)
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
    result: dict = {"weight_dependent": follows_own_weights(model, inputs[:BATCH_1A])}
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


def follows_own_weights(model: nn.Module, inputs: torch.Tensor) -> bool:
    """Whether ``model``'s outputs change when all its parameters move (they are put back after).

    Judged on the model's own parameters, whatever their shapes: outputs that
    do not follow them come from code that ignores the layers (a constant).
    """
    parameters = [p for p in model.parameters() if p.is_floating_point()]
    if not parameters:
        return False
    rng = generator(WEIGHT_NUDGE_OFFSET)
    saved = [p.detach().clone() for p in parameters]
    with torch.no_grad():
        before = model(inputs)
        try:
            for parameter in parameters:
                parameter.add_(WEIGHT_NUDGE * (1 + torch.randn(parameter.shape, generator=rng)))
            after_move = model(inputs)
        finally:
            for parameter, value in zip(parameters, saved):
                parameter.copy_(value)
    return isinstance(before, torch.Tensor) and isinstance(after_move, torch.Tensor) and not (
        before.shape == after_move.shape and torch.equal(before, after_move))
