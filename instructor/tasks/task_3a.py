"""Task 3a, the grader's side: its checks, the answer's shape and the verdict on the probe's JSON (no torch)."""
from __future__ import annotations

import math

from ex4.sheet import TASK_INFO
from instructor.grading.verdicts import ACCURACY_TOL, FLOAT_TYPES, Checks, TaskGrade, close
from instructor.tasks.spec import Definition, Task

INFO = TASK_INFO["3a"]

# check -> (points, what it tests as students read it); WORK_CHECKS: see instructor/tasks/spec.py
CHECKS = {
    # catches: percentages, argmax over the batch dimension, counts
    "single_batch": (6, "accuracy on one full batch"),
    # catches: mean of batches
    "several_batches": (12, "accuracy over batches of different accuracy and a shorter last batch"),
    # catches: a tensor
    "returns_float": (2, "returns a Python float"),
}


WORK_CHECKS = ("single_batch", "several_batches")


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


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS)
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


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS, answer=Definition("compute_accuracy"),
            probe="instructor.tasks.probe_3a", verdict=verdict, skipped_calls=("compute_accuracy",))
