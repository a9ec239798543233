"""Task 1a, the grader's side: its checks, the answer's shape and the verdict on the probe's JSON (no torch)."""
from __future__ import annotations

from ex4.model_properties import AFFINE_TOLERANCE, expected_parameter_count
from ex4.sheet import TASK_INFO
from instructor.grading.verdicts import (
    OUTPUT_TOL,
    Checks,
    TaskGrade,
    all_close,
    closest_outputs,
    finite,
    max_difference,
)
from instructor.tasks.spec import Definition, Task

INFO = TASK_INFO["1a"]

# check -> (points, what it tests as students read it); WORK_CHECKS: see instructor/tasks/spec.py
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
# what shows work besides the work checks (the README's table says it)
GATE = ("the outputs follow the input and the model's own weights (a constant or code that ignores its "
        "layers shows neither; a plain list of layers has no weights), or a check without † passes")


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS, no_work_reason="its outputs follow neither the "
                    "input nor its own weights")
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
        # real layers: outputs follow the model's own weights, whatever their shapes; a model without
        # registered parameters (a plain list) can only show that its outputs follow the input
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


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS, answer=Definition("SimpleMLP"),
            probe="instructor.tasks.probe_1a", verdict=verdict, skipped_calls=(), gate=GATE)
