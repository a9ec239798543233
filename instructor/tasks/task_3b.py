"""Task 3b, the grader's side: its checks, the answer's shape and the verdict on the probe's JSON (no torch)."""
from __future__ import annotations

import math

from ex4.sheet import TASK_INFO
from instructor.grading.verdicts import ACCURACY_TOL, FLOAT_TYPES, Checks, TaskGrade, close
from instructor.tasks.spec import Definition, Task

INFO = TASK_INFO["3b"]

# check -> (points, what it tests as students read it); WORK_CHECKS: see instructor/tasks/spec.py
CHECKS = {
    # catches: string keys
    "int_keys": (4, "the keys are the ints 0–9"),
    # catches: divided by all samples, precision
    "recall_values": (12, "the values are each class's accuracy (recall) over several batches"),
    # catches: tensors
    "float_values": (2, "the values are Python floats"),
    # catches: division by zero
    "nan_for_absent_class": (2, "NaN for a class without samples"),
}


WORK_CHECKS = ("recall_values", "nan_for_absent_class")


# a message lists this many of the classes whose values differ
SHOWN_CLASSES = 3


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


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS)
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


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS,
            answer=Definition("compute_accuracy_per_class"),
            probe="instructor.tasks.probe_3b", verdict=verdict,
            skipped_calls=("compute_accuracy_per_class", "accuracies_bar_plot"))
