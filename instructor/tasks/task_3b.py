"""Task 3b, the grader's side: its checks, the run's drawn cases and the verdict on the probe's JSON (no torch).

Every run draws its cases from the run's seed (``draw_cases``): how many
samples each class has, which classes have none, which predictions are
right and the batch size, so that no per-class value can be tabulated from
one run's feedback. Messages say which classes are off and in which
direction, never their expected values.
"""
from __future__ import annotations

import math
import random
from collections import Counter

from ex4.sheet import N_CLASSES, TASK_INFO
from instructor.grading.student_text import OTHER_TYPE, exception_words, type_word, value_of_type
from instructor.grading.verdicts import ACCURACY_TOL, FLOAT_TYPES, Checks, TaskGrade, close
from instructor.tasks.spec import Definition, Task
from instructor.tasks.task_3a import AVOIDED_BATCH_SIZES, MAX_DRAWS, MIN_MISTAKE_DISTANCE, how_far_off

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
# a constant dict of NaNs passes the NaN check: only right values, or values that follow the predictions, are work
WORK_CHECKS = ("recall_values",)
GATE = ("the returned values follow the model's predictions (a constant dict, or values chosen by the size of "
        "the data, earns nothing, even when some are right)")

# the drawn cases: each class present has SAMPLES_PER_CLASS samples, a case without samples of some classes
# leaves out ABSENT_COUNTS of them; batches of BATCH_SIZES with a shorter last one
SAMPLES_PER_CLASS = range(2, 8)
ABSENT_COUNTS = range(1, 4)
BATCH_SIZES = range(6, 15)
# a message lists this many of the classes whose values differ
SHOWN_CLASSES = 3


def draw_cases(seed: int) -> dict[str, dict]:
    """The run's cases, each ``{"labels", "predicted", "all_right", "sizes", "absent"}`` (plain lists).

    ``all_classes`` has samples of every class, ``absent_classes`` none of
    the classes in its ``absent``, each of which is predicted at least once
    (so that precision gives a number there). Every class present and every
    batch has wrong predictions, every class right ones; ``all_right`` are
    the same samples' predictions when every one is right.
    """
    rng = random.Random(f"3b/{seed}")
    absent = sorted(rng.sample(range(N_CLASSES), rng.choice(ABSENT_COUNTS)))
    return {"all_classes": draw_case(rng, []), "absent_classes": draw_case(rng, absent)}


def draw_case(rng: random.Random, absent: list[int]) -> dict:
    """Labels and predictions without ``absent`` classes whose recall differs from each known mistake's values."""
    present = [c for c in range(N_CLASSES) if c not in absent]
    for _ in range(MAX_DRAWS):
        samples = []
        for label in present:
            count = rng.choice(SAMPLES_PER_CLASS)
            right = set(rng.sample(range(count), rng.randint(1, count - 1)))
            samples += [(label, label if index in right else (label + rng.randrange(1, N_CLASSES)) % N_CLASSES)
                        for index in range(count)]
        rng.shuffle(samples)
        wrong = [index for index, (label, prediction) in enumerate(samples) if label != prediction]
        for index, target in zip(rng.sample(wrong, len(absent)), absent):
            samples[index] = (samples[index][0], target)
        batch = rng.choice([s for s in BATCH_SIZES if s not in AVOIDED_BATCH_SIZES])
        full, last = divmod(len(samples), batch)
        if not last:
            continue
        labels = [label for label, _ in samples]
        case = {"labels": labels, "predicted": [p for _, p in samples], "all_right": list(labels),
                "sizes": [batch] * full + [last], "absent": absent}
        every_batch_wrong = all(any(label != prediction for label, prediction in samples[start:start + batch])
                                for start in range(0, len(samples), batch))
        if every_batch_wrong and all(differs(wrong_values, recall(case))
                                     for wrong_values in per_class_mistakes(case).values()):
            return case
    raise RuntimeError(f"no case in {MAX_DRAWS} draws separates the per-class mistakes")


def differs(got: dict[int, float], expected: dict[int, float]) -> bool:
    """Whether some class's value is told apart from the expected one (NaN is apart from any number)."""
    return any(not (math.isnan(got[c]) and math.isnan(expected[c])) and
               (math.isnan(got[c]) or math.isnan(expected[c]) or abs(got[c] - expected[c]) > MIN_MISTAKE_DISTANCE)
               for c in expected)


def counts(labels: list[int], predicted: list[int]) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """(right, samples, predicted) per class 0..N_CLASSES-1."""
    right = {c: sum(p == y == c for p, y in zip(predicted, labels)) for c in range(N_CLASSES)}
    return right, {c: labels.count(c) for c in range(N_CLASSES)}, {c: predicted.count(c) for c in range(N_CLASSES)}


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def recall(case: dict) -> dict[int, float]:
    right, n, _ = counts(case["labels"], case["predicted"])
    return {c: ratio(right[c], n[c]) for c in range(N_CLASSES)}


def per_class_mistakes(case: dict) -> dict[str, dict[int, float]]:
    """What typical wrong per-class computations give on ``case``, by description."""
    labels, predicted = case["labels"], case["predicted"]
    right, n, guessed = counts(labels, predicted)
    last = sum(case["sizes"][:-1])
    last_right, last_n, _ = counts(labels[last:], predicted[last:])
    overall = sum(right.values()) / len(labels)
    return {"percentages instead of fractions": {c: 100 * ratio(right[c], n[c]) for c in range(N_CLASSES)},
            "counts of correct samples instead of fractions": {c: float(right[c]) for c in range(N_CLASSES)},
            "divided by all samples instead of the class's samples":
                {c: right[c] / len(labels) for c in range(N_CLASSES)},
            "precision (divided by how often the class was predicted) instead of recall":
                {c: ratio(right[c], guessed[c]) for c in range(N_CLASSES)},
            "the last batch's values only (the counts start again in every batch)":
                {c: ratio(last_right[c], last_n[c]) for c in range(N_CLASSES)},
            "the overall accuracy for every class": {c: overall for c in range(N_CLASSES)}}


def values_by_class(entries: list[dict]) -> dict[int, float | None]:
    return {int(e["key"]): e.get("value") for e in entries
            if isinstance(e.get("key"), (int, float)) and not isinstance(e.get("key"), bool)
            and math.isfinite(e["key"])}


def number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def class_difference(c: int, got: object, expected: float, absent: bool) -> str:
    """'class 3: got 0.5, too low by about 20%' -- the expected value is named only when it is NaN."""
    if not number(got):
        return f"class {c}: {'no key' if got is None else 'not a number'}"
    if absent:
        return f"class {c} (no samples): got {got:.4g}, expected NaN"
    if math.isnan(got) or not math.isfinite(got):
        return f"class {c}: got {got}, expected a number"
    return f"class {c}: got {got:.4g}, {how_far_off(got, expected)}"


def differing_classes(got: dict[int, float | None], expected: dict[int, float], absent: list[int],
                      shown: int = SHOWN_CLASSES) -> str:
    """What is off for the first ``shown`` classes whose value is missing or differs; how many more."""
    classes = [c for c in sorted(expected) if not close(got.get(c), expected[c], ACCURACY_TOL, 0.0)]
    text = "; ".join(class_difference(c, got.get(c), expected[c], c in absent) for c in classes[:shown])
    return text + (f"; {len(classes) - shown} more" if len(classes) > shown else "")


def keys_problem(entries: list[dict]) -> str:
    """'' when the keys are exactly the ints 0..N_CLASSES-1, else what they are (counts per type, missing ints)."""
    ints = sorted(int(e["key"]) for e in entries if e.get("key_type") == "int" and number(e.get("key")))
    if ints == list(range(N_CLASSES)) and len(entries) == N_CLASSES:
        return ""
    kinds = Counter(type_word(e.get("key_type")) for e in entries)
    described = ", ".join(f"{count} of type {kind}" if kind != OTHER_TYPE else f"{count} of another type"
                          for kind, count in sorted(kinds.items()))
    missing = [c for c in range(N_CLASSES) if c not in ints]
    return (f"the dict has {len(entries)} keys ({described or 'none'})"
            + (f", no int key {', '.join(map(str, missing))}" if missing else ""))


def values_of(result: dict) -> dict[int, float | None] | None:
    return values_by_class(result["entries"]) if "entries" in result else None


NO_RESPONSE = ("compute_accuracy_per_class returns the same whatever the model predicts (a constant, or values "
               "chosen without the predictions), so no check counts")


def same_values(first: dict[int, float | None] | None, second: dict[int, float | None] | None) -> bool:
    return (first is not None and second is not None and set(first) == set(second)
            and all(close(first[c], second[c], ACCURACY_TOL, 0.0) for c in first))


def responds_to_predictions(student: dict) -> bool:
    """Whether the same samples give the same values twice and other values when every prediction is right.

    Checked on both cases (either suffices). A stub, a constant dict or
    values chosen from the loader's size or labels do not respond; any
    computation from the model's predictions does, right or wrong.
    """
    first, again = values_of(student.get("all_classes", {})), values_of(student.get("repeated", {}))
    if not first or not same_values(first, again):
        return False
    pairs = (("all_classes", "all_right"), ("absent_classes", "absent_all_right"))
    return any((values := values_of(student.get(name, {}))) is not None
               and (changed := values_of(student.get(variant, {}))) is not None and not same_values(values, changed)
               for name, variant in pairs)


def failure(result: dict) -> str:
    """'' when the call returned a dict, else what it did instead (bounded words only)."""
    if "error" in result:
        return f"raised {exception_words(result['error'])}"
    if "entries" not in result:
        return f"returned {value_of_type(result.get('returned_type'))}, expected a dict"
    return ""


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS)
    checks.evidence_of_work = responds_to_predictions(student)
    mine, cases = student["all_classes"], reference["cases"]
    if failure(mine):
        for check in ("int_keys", "recall_values", "float_values"):
            checks.fail(check, f"compute_accuracy_per_class {failure(mine)}")
    else:
        entries = mine["entries"]
        if keys_problem(entries):
            checks.fail("int_keys", f"{keys_problem(entries)}; expected exactly the ints 0-9")
        got, case = values_by_class(entries), cases["all_classes"]
        expected = recall(case)
        if set(got) != set(expected) or not all(close(got[c], expected[c], ACCURACY_TOL, 0.0) for c in expected):
            diagnosis = next((f" -- they are {description}"
                              for description, wrong in per_class_mistakes(case).items()
                              if set(got) == set(wrong) and all(close(got[c], wrong[c], ACCURACY_TOL, 1e-9)
                                                                for c in wrong)), "")
            checks.fail("recall_values", f"per-class values differ{diagnosis} "
                        f"({differing_classes(got, expected, [])}); "
                        "expected correct samples of class i / samples of class i, over all batches")
        types = sorted({type_word(e.get("value_type")) for e in entries})
        if any(t not in FLOAT_TYPES for t in types):
            checks.fail("float_values", f"the values are of type {', '.join(types)}, expected Python floats")
    absent_result, absent = student["absent_classes"], cases["absent_classes"]["absent"]
    if failure(absent_result):
        checks.fail("nan_for_absent_class", f"with no sample of classes {absent} compute_accuracy_per_class "
                    f"{failure(absent_result)}; expected NaN for those classes")
    else:
        got = values_by_class(absent_result["entries"])
        wrong = [c for c in absent if not (number(got.get(c)) and math.isnan(got[c]))]
        if wrong:
            expected = {c: math.nan for c in absent}
            checks.fail("nan_for_absent_class", f"with no sample of classes {absent} the values of those classes "
                        f"differ ({differing_classes(got, expected, absent)}); expected NaN for a class without "
                        "samples")
    if not checks.evidence_of_work:
        # right keys or NaNs that ignore the predictions are no work (a constant dict, values from the loader's size)
        for name in CHECKS:
            checks.fail(name, NO_RESPONSE)
    return checks.grade()


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS,
            answer=Definition("compute_accuracy_per_class"),
            probe="instructor.tasks.probe_3b", verdict=verdict,
            skipped_calls=("compute_accuracy_per_class", "accuracies_bar_plot"), gate=GATE)
