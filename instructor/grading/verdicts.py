"""Points and messages: compare a submission's probe results with the reference's.

Runs in the grader's process on plain JSON data only. Each task's points are
split over checks; a check gives all its points or none, and every failed
check adds a message saying what was expected and what happened. A task whose
code is missing, does not parse, raises while being set up, exits, or is
stopped by a limit gets 0 points and one message saying so.

| task | check (points) | catches, e.g. |
|------|----------------|---------------|
| 1a (20) | output shape (BS, dims[-1]) on unflattened input, three dims, one non-MNIST (4) | no Flatten, dims ignored |
|     | registered parameter count = sum of (in+1)*out (4) | plain Python list, dims ignored |
|     | outputs can be negative, on flat input (3) | ReLU after the last layer |
|     | not an affine map (3) | no activation |
|     | same outputs as the reference given the same weights (6) | wrong activation or layer order |
| 1b (10) | model1 is a SimpleFixedMLP (2) | |
|     | model2 is a SimpleMLP (1); computes the same function (2) | wrong dims |
|     | model3 is an nn.Sequential (1); same function on BSx1x28x28 input (4) | no Flatten, wrong sizes, final ReLU |
| 2a (20) | losses are Python floats (3) | loss tensors appended |
|     | one loss per iteration of every epoch (4) | appended once per epoch, one epoch only |
|     | loss values are the reference's, in order (3) | given loss_fn ignored, no step |
|     | final weights equal reference training (10) | no zero_grad, no step, step before backward, loss_fn ignored |
| 2b (10) | one optimizer per model, holding exactly its parameters (3) | one optimizer shared by all models |
|     | weights after training are Adam's (2), with learning rate 0.04 (2) | wrong optimizer, wrong lr |
|     | weights after training are those of train_loader (2) | training on the test loader |
|     | one epoch per model, losses collected per model (1) | two epochs |
| 3a (20) | accuracy on one full batch (6) | percentages, argmax over the batch dimension, counts |
|     | accuracy over batches of different accuracy, short last batch (12) | divided by batches, mean of batches |
|     | returns a Python float (2) | tensor returned |
| 3b (20) | keys are the ints 0-9 (4) | string keys |
|     | values are the per-class recall over several batches (12) | divided by all samples, counts, precision |
|     | values are Python floats (2) | tensors as values |
|     | NaN for a class without samples (2) | division by zero |

Task 2b is judged by behaviour: every model gets initial weights drawn for
this run, and its weights after the student's code ran must be those of one
of the trainings ``replay_2b`` replays from the same start (the intended one,
or a typical mistake, which then costs its checks).

Checks of properties that a stub also has (types, keys, lengths, shapes)
give points only when a check that needs a working solution passed or the
values match a known mistake (``WORK_CHECKS``): ``return 0.0`` gets nothing.

The weights in 1a/1b are compared by giving the submission's model the
reference weights matched by parameter shape (names, containers and the
order in which equal-shaped layers are registered do not matter: every
ordering up to ``model_properties.MAX_PARAMETER_ORDERINGS`` is tried and the
closest kept); "not an affine map" is measured with those weights too. The
other checks use only outputs.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ex4.model_properties import AFFINE_TOLERANCE, expected_parameter_count
from instructor.grading.replay_2b import HYPOTHESES, INTENDED, UNTRAINED
from instructor.solution_regions import POINTS as TASK_POINTS

CHECK_POINTS = {
    "1a": {"output_shape": 4, "parameter_count": 4, "negative_outputs": 3, "nonlinear": 3, "same_function": 6},
    "1b": {"model1_type": 2, "model2_type": 1, "model2_function": 2, "model3_type": 1, "model3_function": 4},
    "2a": {"float_losses": 3, "loss_count": 4, "loss_values": 3, "final_weights": 10},
    "2b": {"one_optimizer_per_model": 3, "optimizer_type": 2, "learning_rate": 2, "train_loader": 2,
           "one_epoch_each": 1},
    "3a": {"single_batch": 6, "several_batches": 12, "returns_float": 2},
    "3b": {"int_keys": 4, "recall_values": 12, "float_values": 2, "nan_for_absent_class": 2},
}
# float32 forward passes of the same weights agree to this (different op order, BLAS paths)
OUTPUT_TOL = {"atol": 1e-4, "rtol": 1e-4}
# a few float32 SGD steps of the same computation agree to this
TRAINING_TOL = {"atol": 1e-4, "rtol": 1e-3}
# fingerprints (random projections) of weights after a few float32 Adam steps of the same computation
WEIGHTS_TOL = {"atol": 1e-4, "rtol": 1e-3}
# a message lists this many of the classes whose values differ
SHOWN_CLASSES = 3
# accuracies are ratios of small integers; float32 arithmetic is exact to this
ACCURACY_TOL = 1e-6
FLOAT_TYPES = ("float", "numpy.float64", "numpy.float32")


# how a task's grading ended: "graded" (verdicts ran), or why it could not be graded
TASK_STATUSES = ("graded", "missing", "error", "timeout", "crashed", "unreadable")
# statuses that are failures of the grading itself rather than wrong answers
GRADING_FAILURES = ("timeout", "crashed", "unreadable")


@dataclass
class TaskGrade:
    """Points of one task; ``failed`` names the checks that lost points (keys of CHECK_POINTS[task])."""

    points: int
    max_points: int
    messages: list[str] = field(default_factory=list)
    status: str = "graded"
    failed: list[str] = field(default_factory=list)


# Checks that only a working solution passes. The other checks of a task test
# properties that a stub or a constant also has (a type, keys, a length): they
# give points only when a work check passed or the values are those of a known
# mistake computed on this run's random inputs (evidence of real work).
WORK_CHECKS = {
    "1a": ("same_function", "nonlinear"),
    "1b": ("model1_type", "model2_function", "model3_function"),
    "2a": ("loss_values", "final_weights"),
    "2b": ("trained_weights",),
    "3a": ("single_batch", "several_batches"),
    "3b": ("recall_values", "nan_for_absent_class"),
}
NO_WORK_MESSAGE = ("no check that needs a working solution passed, so the checks of types, keys or lengths "
                   "give no points either")


@dataclass
class Checks:
    """Collects pass/fail per named check of one task."""

    task: str
    failed: dict[str, str] = field(default_factory=dict)
    # set when the values show real computation, e.g. they match a known mistake
    evidence_of_work: bool = False

    def fail(self, check: str, message: str) -> None:
        self.failed.setdefault(check, message)

    def worked(self) -> bool:
        return self.evidence_of_work or any(check not in self.failed for check in WORK_CHECKS[self.task]
                                            if check in CHECK_POINTS[self.task])

    def grade(self) -> TaskGrade:
        points = CHECK_POINTS[self.task]
        # one message per cause: checks failed for the same reason share it, with their points summed
        lost: dict[str, int] = {}
        for name, message in self.failed.items():
            lost[message] = lost.get(message, 0) + points.get(name, 0)
        messages = [f"{message} [-{p} P]" for message, p in lost.items()]
        if not self.worked():
            passed = [name for name in points if name not in self.failed]
            if passed:
                messages.append(f"{NO_WORK_MESSAGE} [-{sum(points[name] for name in passed)} P]")
            return TaskGrade(0, TASK_POINTS[self.task], messages, "graded", list(points))
        earned = sum(p for name, p in points.items() if name not in self.failed)
        return TaskGrade(earned, TASK_POINTS[self.task], messages, "graded", list(self.failed))


def finite(value: object) -> bool:
    """A real number that is neither NaN nor infinite (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def zero(task: str, message: str, status: str) -> TaskGrade:
    return TaskGrade(0, TASK_POINTS[task], [message], status, [])


def close(a: float | None, b: float | None, atol: float, rtol: float) -> bool:
    """Whether ``a`` is within tolerance of ``b``; NaN is close only to NaN, non-numbers to nothing."""
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


def flat(values: object) -> list:
    if isinstance(values, list):
        return [x for v in values for x in flat(v)]
    return [values]


def max_difference(actual: list, expected: list) -> float | None:
    """Largest absolute difference of two nested lists of numbers, None if their shapes differ."""
    actual, expected = flat(actual), flat(expected)
    if len(actual) != len(expected) or not all(finite(a) for a in actual):
        return None
    return max((abs(a - b) for a, b in zip(actual, expected)), default=0.0)


def all_close(actual: list, expected: list, tol: dict) -> bool:
    actual, expected = flat(actual), flat(expected)
    return len(actual) == len(expected) and all(finite(a) and close(float(a), b, **tol)
                                                for a, b in zip(actual, expected))


def closest_outputs(candidates: list | None, expected: list) -> list | None:
    """The candidate outputs (one per weight ordering) closest to ``expected``; None if there are none."""
    scored = [(difference, index) for index, candidate in enumerate(candidates or [])
              if (difference := max_difference(candidate, expected)) is not None]
    if not scored:
        return (candidates or [None])[0]
    return candidates[min(scored)[1]]


# --------------------------------------------------------------------- 1a


def verdict_1a(student: dict, reference: dict) -> TaskGrade:
    checks = Checks("1a")
    for mine, ref in zip(student["configs"], reference["configs"], strict=True):
        call = f"SimpleMLP({ref['dims']})"
        if "error" in mine:
            for check in CHECK_POINTS["1a"]:
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


# --------------------------------------------------------------------- 1b


def verdict_1b(student: dict, reference: dict) -> TaskGrade:
    checks = Checks("1b")
    expected = reference["model1"]
    expected_outputs = expected["outputs_by_ordering"][0]
    wanted = {"model1": ("is_fixed_mlp", "SimpleFixedMLP"), "model2": ("is_simple_mlp", "SimpleMLP"),
              "model3": ("is_sequential", "nn.Sequential")}
    for name, (flag, class_name) in wanted.items():
        mine = student.get(name)
        type_check, function_check = f"{name}_type", f"{name}_function"
        if not isinstance(mine, dict) or "error" in mine:
            error = mine.get("error") if isinstance(mine, dict) else "it is not defined"
            checks.fail(type_check, f"{name} should be a {class_name}: {error}")
            checks.fail(function_check, f"{name} could not be run on a batch of shape "
                        f"{reference['batch_shape']}: {error}")
            continue
        if not mine.get(flag):
            checks.fail(type_check, f"{name} is a {mine.get('type')}, expected a {class_name}")
        if "forward_error" in mine:
            checks.fail(function_check if name != "model1" else type_check,
                        f"{name} with SimpleFixedMLP's weights could not be run on a batch of shape "
                        f"{reference['batch_shape']}: {mine['forward_error']} (expected nn.Flatten() first, "
                        "then the layers 784-32-32-32-10)")
        elif sorted(mine.get("param_shapes") or []) != sorted(expected["param_shapes"]) and name != "model1":
            checks.fail(function_check, f"{name} has parameters of shapes {mine.get('param_shapes')}, expected "
                        f"{expected['param_shapes']} (sizes 784-32-32-32-10)")
        elif not all_close(outputs := closest_outputs(mine.get("outputs_by_ordering"), expected_outputs),
                           expected_outputs, OUTPUT_TOL):
            checks.fail(function_check if name != "model1" else type_check,
                        f"{name} with SimpleFixedMLP's weights computes a different function (largest "
                        f"output difference {max_difference(outputs, expected_outputs)}): "
                        "expected Flatten, then Linear layers with ReLU between them and none after the last")
    checks.failed.pop("model1_function", None)
    for name in ("model2", "model3"):
        if f"{name}_function" in checks.failed:
            checks.fail(f"{name}_type", f"{name}'s type gives points only together with the right function")
    return checks.grade()


# --------------------------------------------------------------------- 2a


def is_subsequence(values: list, reference: list, tol: dict, at_least: int = 1) -> bool:
    """Whether ``values`` (at least ``at_least`` of them) appear in ``reference`` in this order."""
    if len(values) < at_least:
        return False
    position = 0
    for value in values:
        while position < len(reference) and not close(value, reference[position], **tol):
            position += 1
        if position == len(reference):
            return False
        position += 1
    return bool(values)


def training_diagnosis(events: list[str], n_iterations: int) -> list[str]:
    """What the recorded calls say about the loop, e.g. 'optimizer.step() was never called'."""
    counts = {name: events.count(name) for name in ("forward", "loss", "backward", "step", "zero_grad")}
    problems = []
    if counts["loss"] == 0:
        problems.append("the loss_fn passed to train was never called (use loss_fn(predictions, labels))")
    if counts["backward"] == 0:
        problems.append("loss.backward() was never called")
    if counts["step"] == 0:
        problems.append("optimizer.step() was never called")
    elif counts["step"] != n_iterations:
        problems.append(f"optimizer.step() ran {counts['step']} times, expected once per iteration "
                        f"({n_iterations})")
    if counts["zero_grad"] == 0:
        problems.append("the gradients were never reset (optimizer.zero_grad() or model.zero_grad() "
                        "in every iteration), so they add up over iterations")
    backward_since_step = False
    for event in events:
        if event == "backward":
            backward_since_step = True
        elif event == "step":
            if not backward_since_step:
                problems.append("optimizer.step() ran before loss.backward() in an iteration")
                break
            backward_since_step = False
    return problems


def verdict_2a(student: dict, reference: dict) -> TaskGrade:
    checks = Checks("2a")
    losses, expected = student["losses"], reference["losses"]
    n_iterations = reference["n_epochs"] * reference["n_batches"]
    types = sorted({loss.get("type") for loss in losses})
    if not losses or any(t not in FLOAT_TYPES for t in types):
        checks.fail("float_losses", f"the losses list holds {', '.join(map(str, types)) or 'nothing'}, "
                    "expected Python floats (loss.item())")
    if len(losses) != n_iterations:
        hint = {reference["n_epochs"]: " -- one loss per epoch: append inside the loop over batches",
                reference["n_batches"]: " -- only one epoch was run"}.get(len(losses), "")
        checks.fail("loss_count", f"train ran {reference['n_epochs']} epochs of {reference['n_batches']} "
                    f"batches and returned {len(losses)} losses, expected {n_iterations}{hint}")
    values = [loss.get("value") for loss in losses]
    known = [loss["value"] for loss in expected] + [value for values_of_loss in reference["first_batch_losses"].values()
                                                    for value in values_of_loss]
    matches = sum(any(close(value, k, **TRAINING_TOL) for k in known) for value in set(values[:len(known)]))
    trained = not all_close(student["final_params"], reference["initial_params"], TRAINING_TOL)
    # two real losses, or one and weights that moved: a stub repeating one loss shows neither
    checks.evidence_of_work = matches >= 2 or (matches == 1 and trained)
    if not is_subsequence(values, [loss["value"] for loss in expected], TRAINING_TOL, at_least=reference["n_epochs"]):
        checks.fail("loss_values", "the returned losses are not the losses of the reference training loop "
                    f"(first ones: {values[:3]}, expected {[loss['value'] for loss in expected][:3]})")
    if not all_close(student["final_params"], reference["final_params"], TRAINING_TOL):
        problems = training_diagnosis(student["events"], n_iterations) or [
            "the final weights differ from those of the reference loop (largest difference "
            f"{max_difference(student['final_params'], reference['final_params'])})"]
        checks.fail("final_weights", "training did not update the model as expected: " + "; ".join(problems))
    return checks.grade()


# --------------------------------------------------------------------- 2b


def matching_trainings(fingerprint: object, built: object, replayed: dict[str, list]) -> list[str]:
    """Names of the replayed trainings (see ``replay_2b``) whose weights the model's fingerprint matches."""
    if not isinstance(built, int) or not isinstance(fingerprint, list) or not all(finite(x) for x in fingerprint):
        return []
    return [name for name, prints in replayed.items()
            if 0 <= built < len(prints) and all_close(fingerprint, prints[built], WEIGHTS_TOL)]


def describe_optimizers(optimizers: list) -> str:
    shown = sorted({f"{o.get('type')} with learning rate {o.get('lrs')}" if o.get("is_optimizer")
                    else f"a {o.get('type')}" for o in optimizers if isinstance(o, dict)})
    return "; ".join(shown[:3]) or "none"


def verdict_2b(student: dict, reference: dict) -> TaskGrade:
    checks = Checks("2b")
    replayed = reference["replayed"]
    n_models, models, optimizers = student["n_models"], student["models"], student["optimizers"]
    matches = [matching_trainings(m.get("fingerprint"), m.get("built"), replayed) for m in models]
    common = set.intersection(*(set(m) for m in matches)) if matches else set()
    if n_models != reference["n_models"]:
        checks.fail("one_epoch_each", f"models holds {n_models} models, expected the {reference['n_models']} "
                    "models of the given code")
    if INTENDED in common:
        hypothesis = INTENDED
    else:
        hypothesis = next((name for name in HYPOTHESES if name in common), None)
    if hypothesis is None:
        unmatched = [i for i, m in enumerate(matches) if not m]
        which = f"models[{unmatched[0]}]" if unmatched else "the models"
        for check in ("optimizer_type", "learning_rate", "train_loader", "one_epoch_each"):
            checks.fail(check, f"after your code ran, the weights of {which} match no training of this model "
                        f"from its initial weights: expected {HYPOTHESES[INTENDED][5]} for every model "
                        f"(your optimizers: {describe_optimizers(optimizers)}; train_loader iterated "
                        f"{student['loader_iterations'].get('train')} times, test_loader "
                        f"{student['loader_iterations'].get('test')} times)")
    else:
        checks.evidence_of_work = hypothesis != UNTRAINED
        for check in HYPOTHESES[hypothesis][4]:
            checks.fail(check, f"the weights after training are those of {HYPOTHESES[hypothesis][5]}; "
                        f"expected {HYPOTHESES[INTENDED][5]}")
    if len(optimizers) != n_models:
        checks.fail("one_optimizer_per_model", f"{len(optimizers)} optimizers for {n_models} models, "
                    "expected one per model (optimizers[i] for models[i])")
    elif student["n_distinct_optimizers"] != n_models:
        checks.fail("one_optimizer_per_model", f"only {student['n_distinct_optimizers']} distinct optimizer "
                    f"object(s) for {n_models} models: create a new optimizer for every model")
    for index, optimizer in enumerate(optimizers):
        if not optimizer.get("is_optimizer"):
            checks.fail("one_optimizer_per_model", f"optimizers[{index}] is a {optimizer.get('type')}, "
                        "not a torch.optim optimizer")
        elif optimizer.get("owners") != [index] or index not in (optimizer.get("complete_for") or []):
            checks.fail("one_optimizer_per_model", f"optimizers[{index}] holds the parameters of models "
                        f"{optimizer.get('owners')} (-1: none of the models), expected all of models[{index}] only")
    if student["loss_lengths"] != reference["loss_lengths"]:
        checks.fail("one_epoch_each", f"the losses have lengths {student['loss_lengths']}; expected losses[i] "
                    f"with {reference['loss_lengths'][0]} values (one epoch) for every model")
    return checks.grade()


# --------------------------------------------------------------------- 3a


def accuracy_mistakes(case: dict) -> dict[str, float]:
    """What typical wrong accuracy computations give on ``case``, by description."""
    labels, predicted, batch = case["labels"], case["predicted"], case["batch"]
    correct = [int(p == y) for p, y in zip(predicted, labels)]
    n_batches = math.ceil(len(labels) / batch)
    batch_accuracies = [sum(correct[i:i + batch]) / len(correct[i:i + batch]) for i in range(0, len(labels), batch)]
    right = sum(correct)
    return {"a percentage instead of a fraction": 100 * right / len(labels),
            "the number of correct samples, not divided": float(right),
            "divided by the number of batches instead of samples": right / n_batches,
            "the mean of the batch accuracies (batches differ in size)": sum(batch_accuracies) / n_batches,
            "divided by number of batches x batch size (the last batch is smaller)": right / (n_batches * batch)}


def explain(value: float | None, mistakes: dict[str, float]) -> str:
    for description, wrong in mistakes.items():
        if close(value, wrong, ACCURACY_TOL, 1e-9):
            return f" -- that is {description}"
    return ""


def verdict_3a(student: dict, reference: dict) -> TaskGrade:
    checks = Checks("3a")
    for name, check in (("single_batch", "single_batch"), ("several_batches", "several_batches")):
        mine, ref = student[name], reference[name]
        case = ref["case"]
        what = f"{len(case['labels'])} samples in batches of {case['batch']}"
        if "error" in mine:
            checks.fail(check, f"compute_accuracy on {what} raised {mine['error']}")
            checks.fail("returns_float", f"compute_accuracy raised {mine['error']}")
            continue
        if not close(mine.get("value"), ref["value"], ACCURACY_TOL, 0.0):
            diagnosis = explain(mine.get("value"), accuracy_mistakes(case))
            checks.evidence_of_work |= bool(diagnosis)
            checks.fail(check, f"compute_accuracy on {what} returned {mine.get('value')}, expected "
                        f"{ref['value']} (correct / samples){diagnosis}")
        if mine.get("type") not in FLOAT_TYPES:
            checks.fail("returns_float", f"compute_accuracy returned a {mine.get('type')}, expected a Python "
                        "float (use .item() on tensors)")
    return checks.grade()


# --------------------------------------------------------------------- 3b


def per_class_mistakes(case: dict) -> dict[str, dict[int, float]]:
    labels, predicted = case["labels"], case["predicted"]
    classes = sorted(set(labels))
    right = {c: sum(p == y == c for p, y in zip(predicted, labels)) for c in classes}
    n = {c: labels.count(c) for c in classes}
    guessed = {c: predicted.count(c) for c in classes}
    return {"percentages instead of fractions": {c: 100 * right[c] / n[c] for c in classes},
            "counts of correct samples instead of fractions": {c: float(right[c]) for c in classes},
            "divided by all samples instead of the class's samples": {c: right[c] / len(labels) for c in classes},
            "precision (divided by how often the class was predicted) instead of recall":
                {c: right[c] / guessed[c] if guessed[c] else math.nan for c in classes}}


def values_by_class(entries: list[dict]) -> dict[int, float | None]:
    return {int(e["key"]): e.get("value") for e in entries
            if isinstance(e.get("key"), (int, float)) and math.isfinite(e["key"])}


def differing_classes(got: dict[int, float | None], expected: dict[int, float | None],
                      shown: int = SHOWN_CLASSES) -> str:
    """'class 3: got 0.5, expected nan; ...' for the first ``shown`` classes whose value is missing or differs."""
    classes = [c for c in sorted(set(got) | set(expected))
               if not close(got.get(c), expected.get(c), ACCURACY_TOL, 0.0)]
    text = "; ".join(f"class {c}: got {got.get(c, 'no key')}, expected {expected.get(c, 'no key')}"
                     for c in classes[:shown])
    return text + (f"; {len(classes) - shown} more" if len(classes) > shown else "")


def verdict_3b(student: dict, reference: dict) -> TaskGrade:
    checks = Checks("3b")
    mine, ref = student["all_classes"], reference["all_classes"]
    if "error" in mine:
        for check in ("int_keys", "recall_values", "float_values"):
            checks.fail(check, f"compute_accuracy_per_class raised {mine['error']}")
    else:
        entries = mine["entries"]
        expected = values_by_class(ref["entries"])
        if sorted(e["key_repr"] for e in entries if e["key_type"] == "int") != sorted(map(repr, expected)) \
                or len(entries) != len(expected):
            shown = ", ".join(f"{e['key_repr']} ({e['key_type']})" for e in entries[:4])
            checks.fail("int_keys", f"the dict's keys are {shown}{', ...' if len(entries) > 4 else ''}; "
                        "expected exactly the ints 0-9")
        got = values_by_class(entries)
        if set(got) != set(expected) or not all(close(got[c], expected[c], ACCURACY_TOL, 0.0) for c in expected):
            case = reference["cases"]["all_classes"]
            diagnosis = next((f" -- they are {description}"
                              for description, wrong in per_class_mistakes(case).items()
                              if set(got) == set(wrong) and all(close(got[c], wrong[c], ACCURACY_TOL, 1e-9)
                                                                for c in wrong)), "")
            checks.evidence_of_work |= bool(diagnosis)
            checks.fail("recall_values", f"per-class values differ{diagnosis} ({differing_classes(got, expected)}); "
                        "expected correct samples of class i / samples of class i, over all batches")
        types = sorted({e.get("value_type") for e in entries})
        if any(t not in FLOAT_TYPES for t in types):
            checks.fail("float_values", f"the values are {', '.join(map(str, types))}, expected Python floats")
    absent, ref_absent = student["absent_classes"], reference["absent_classes"]
    if "error" in absent:
        checks.fail("nan_for_absent_class", f"with no sample of classes {list(reference['absent'])} "
                    f"compute_accuracy_per_class raised {absent['error']}; expected NaN for those classes")
    else:
        got, expected = values_by_class(absent["entries"]), values_by_class(ref_absent["entries"])
        if set(got) != set(expected) or not all(close(got[c], expected[c], ACCURACY_TOL, 0.0) for c in expected):
            checks.fail("nan_for_absent_class", f"with no sample of classes {list(reference['absent'])} the "
                        f"values differ ({differing_classes(got, expected)}); expected NaN for the classes "
                        "without samples and the recall for the others")
    return checks.grade()


VERDICTS: dict[str, Callable[[dict, dict], TaskGrade]] = {
    "1a": verdict_1a, "1b": verdict_1b, "2a": verdict_2a, "2b": verdict_2b, "3a": verdict_3a, "3b": verdict_3b}


def grade_task(task: str, outcome: dict, reference_result: dict) -> TaskGrade:
    """Points for one task from the sandbox ``outcome`` ({status, result | error})."""
    status = outcome.get("status")
    if status == "missing":
        return zero(task, f"not graded: {outcome.get('error')}", "missing")
    if status != "ok":
        action = {"timeout": "", "crashed": ""}.get(status, "raised ")
        return zero(task, f"the code {action}{outcome.get('error')}",
                    status if status in ("timeout", "crashed") else "error")
    try:
        grade = VERDICTS[task](outcome["result"], reference_result)
        cell_error = outcome["result"].get("cell_error")
        if cell_error and grade.points < grade.max_points:
            grade.messages.append(f"the task's cell raised {cell_error}")
        return grade
    except Exception as exc:  # noqa: BLE001 -- results are untrusted data; any malformation costs the task only
        return zero(task, f"the task's results could not be read ({type(exc).__name__}: {exc}); "
                          "did the code replace objects the grader passed in?", "unreadable")
