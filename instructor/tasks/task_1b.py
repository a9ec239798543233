"""Task 1b, the grader's side: its checks, the answer's shape and the verdict on the probe's JSON (no torch)."""
from __future__ import annotations

from ex4.sheet import FIXED_MLP_DIMS, MODEL_NAMES_1B, TASK_INFO
from instructor.grading.verdicts import OUTPUT_TOL, Checks, TaskGrade, all_close, closest_outputs, max_difference
from instructor.tasks.spec import Statements, Task

INFO = TASK_INFO["1b"]

# check -> (points, what it tests as students read it); WORK_CHECKS: see instructor/tasks/spec.py
CHECKS = {
    "model1_type": (2, "model1 is a SimpleFixedMLP"),
    # a type counts when the model is a real one of that type with layers, whatever its function
    "model2_type": (1, "model2 is a SimpleMLP with nn.Linear layers"),
    # catches: wrong dims
    "model2_function": (2, "model2 computes the same function as model1"),
    # catches: nn.Sequential(SimpleFixedMLP()), an empty nn.Sequential()
    "model3_type": (1, "model3 is an nn.Sequential of torch.nn layers with nn.Linear among them "
                       "(no model of the notebook inside)"),
    # catches: no Flatten, wrong sizes, a final ReLU
    "model3_function": (4, "model3 computes the same function on inputs of shape BS×1×28×28"),
}


# every check needs a model with layers, which no stub (None) or constant has: no check is gated
WORK_CHECKS = tuple(CHECKS)


# the layer sizes of SimpleFixedMLP as messages write them
FIXED_SIZES = "-".join(map(str, FIXED_MLP_DIMS))
# model -> (the probe's flag of its type, the type as messages name it)
WANTED = {"model1": ("is_fixed_mlp", "SimpleFixedMLP"), "model2": ("is_simple_mlp", "SimpleMLP"),
          "model3": ("is_sequential", "nn.Sequential")}


def type_problem(name: str, mine: dict) -> str:
    """Why ``mine`` is not a real model of the type ``name`` asks for, with the task's layers; '' if it is."""
    flag, class_name = WANTED[name]
    if not mine.get(flag):
        return f"{name} is a {mine.get('type')}, expected a {class_name}"
    if not mine.get("n_linear"):
        return f"{name} is a {class_name} without nn.Linear layers, expected the layers {FIXED_SIZES}"
    if name == "model3" and mine.get("wrapped"):
        return (f"model3 is an nn.Sequential around a {', '.join(mine['wrapped'])}: build it from nn.Flatten, "
                "nn.Linear and nn.ReLU layers, one after another")
    return ""


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS)
    expected = reference["model1"]
    expected_outputs = expected["outputs_by_ordering"][0]
    for name, (_, class_name) in WANTED.items():
        mine = student.get(name)
        type_check, function_check = f"{name}_type", f"{name}_function"
        if not isinstance(mine, dict) or "error" in mine:
            error = mine.get("error") if isinstance(mine, dict) else "it is not defined"
            checks.fail(type_check, f"{name} should be a {class_name}: {error}")
            checks.fail(function_check, f"{name} could not be run on a batch of shape "
                        f"{reference['batch_shape']}: {error}")
            continue
        if problem := type_problem(name, mine):
            checks.fail(type_check, problem)
        # model1 is the given class: its function is part of its type check
        if name == "model1":
            function_check = type_check
        if "forward_error" in mine:
            checks.fail(function_check, f"{name} with SimpleFixedMLP's weights could not be run on a batch of shape "
                        f"{reference['batch_shape']}: {mine['forward_error']} (expected nn.Flatten() first, "
                        f"then the layers {FIXED_SIZES})")
        elif sorted(mine.get("param_shapes") or []) != sorted(expected["param_shapes"]) and name != "model1":
            checks.fail(function_check, f"{name} has parameters of shapes {mine.get('param_shapes')}, expected "
                        f"{expected['param_shapes']} (sizes {FIXED_SIZES})")
        elif not all_close(outputs := closest_outputs(mine.get("outputs_by_ordering"), expected_outputs),
                           expected_outputs, OUTPUT_TOL):
            checks.fail(function_check, f"{name} with SimpleFixedMLP's weights computes a different function "
                        f"(largest output difference {max_difference(outputs, expected_outputs)}): "
                        "expected Flatten, then Linear layers with ReLU between them and none after the last")
    checks.failed.pop("model1_function", None)
    return checks.grade()


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS,
            answer=Statements(MODEL_NAMES_1B, "build_equivalent_models"),
            probe="instructor.tasks.probe_1b", verdict=verdict, skipped_calls=("build_equivalent_models",),
            reference_needs=("SimpleMLP",))
