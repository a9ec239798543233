"""Task 3a, the grader's side: its checks, the run's drawn cases and the verdict on the probe's JSON (no torch).

Every run draws its cases from the run's seed (``draw_cases``): the batch
sizes, the number of samples, the labels and which predictions are right, so
that no accuracy can be tabulated from one run's feedback. Messages say how
far off a value is and which mistake it looks like, never the expected value.
"""
from __future__ import annotations

import math
import random

from ex4.sheet import N_CLASSES, TASK_INFO
from instructor.grading.student_text import exception_words, value_of_type
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
GATE = ("the returned values follow the model's predictions (a constant, or a value chosen by the size of the "
        "data, earns nothing, even when it is right)")

# the drawn cases: one full batch of SINGLE_BATCH_SIZES samples; FULL_BATCHES batches of SEVERAL_BATCH_SIZES and
# a shorter last one. Never 1 or N_CLASSES samples in a batch: an argmax over the batch dimension would then give
# predictions that can be compared with the labels
SINGLE_BATCH_SIZES = range(6, 16)
SEVERAL_BATCH_SIZES = range(5, 13)
FULL_BATCHES = range(3, 6)
AVOIDED_BATCH_SIZES = (1, N_CLASSES)
# a mistake's value is told apart from the right one when they differ by more than this
MIN_MISTAKE_DISTANCE = 1e-3
# draws tried before giving up (a few suffice: most draws separate every mistake)
MAX_DRAWS = 1000


def draw_cases(seed: int) -> dict[str, dict]:
    """The run's cases, each ``{"labels", "predicted", "all_right", "sizes"}`` (plain lists).

    ``sizes`` are the batch sizes (the loader's batch size is the first);
    every batch has right and wrong predictions. ``all_right`` are the
    predictions of the same samples when every one is right: a function that
    looks at the predictions returns something else for them.
    """
    rng = random.Random(f"3a/{seed}")
    return {"single_batch": draw_case(rng, single_batch_sizes, SINGLE_BATCH_MISTAKES),
            "several_batches": draw_case(rng, several_batch_sizes, tuple(MISTAKES))}


def allowed(sizes) -> list[int]:
    return [size for size in sizes if size not in AVOIDED_BATCH_SIZES]


def single_batch_sizes(rng: random.Random) -> list[int]:
    return [rng.choice(allowed(SINGLE_BATCH_SIZES))]


def several_batch_sizes(rng: random.Random) -> list[int]:
    batch = rng.choice(allowed(SEVERAL_BATCH_SIZES))
    return [batch] * rng.choice(FULL_BATCHES) + [rng.choice(allowed(range(2, batch)))]


def draw_case(rng: random.Random, draw_sizes, separated: tuple[str, ...]) -> dict:
    """Batches of ``draw_sizes(rng)`` samples whose right accuracy differs from each ``separated`` mistake's."""
    for _ in range(MAX_DRAWS):
        sizes = draw_sizes(rng)
        labels, predicted = [], []
        for size in sizes:
            right = set(rng.sample(range(size), rng.randint(1, size - 1)))
            for index in range(size):
                label = rng.randrange(N_CLASSES)
                labels.append(label)
                predicted.append(label if index in right else (label + rng.randrange(1, N_CLASSES)) % N_CLASSES)
        case = {"labels": labels, "predicted": predicted, "all_right": list(labels), "sizes": sizes}
        value, mistakes = accuracy(case), accuracy_mistakes(case)
        if all(abs(mistakes[name] - value) > MIN_MISTAKE_DISTANCE for name in separated):
            return case
    raise RuntimeError(f"no case in {MAX_DRAWS} draws separates the mistakes {separated}")


def batch_counts(case: dict, predicted: list[int] | None = None) -> list[tuple[int, int]]:
    """(right, samples) per batch of ``case``, for its predictions or ``predicted``."""
    predicted = case["predicted"] if predicted is None else predicted
    counts, start = [], 0
    for size in case["sizes"]:
        pairs = zip(predicted[start:start + size], case["labels"][start:start + size])
        counts.append((sum(p == y for p, y in pairs), size))
        start += size
    return counts


def accuracy(case: dict) -> float:
    counts = batch_counts(case)
    return sum(right for right, _ in counts) / sum(n for _, n in counts)


# what typical wrong accuracy computations give, by description
MISTAKES = {
    "a percentage instead of a fraction": lambda counts, right, n: 100 * right / n,
    "the number of correct samples, not divided": lambda counts, right, n: float(right),
    "the error rate (the wrong predictions counted)": lambda counts, right, n: (n - right) / n,
    "divided by the number of batches instead of samples": lambda counts, right, n: right / len(counts),
    "the mean of the batch accuracies (batches differ in size)":
        lambda counts, right, n: sum(r / size for r, size in counts) / len(counts),
    "divided by number of batches x batch size (the last batch is smaller)":
        lambda counts, right, n: right / (len(counts) * counts[0][1]),
    "the accuracy of the last batch only (= instead of +=)": lambda counts, right, n: counts[-1][0] / counts[-1][1],
}
# the mistakes one full batch tells apart; the others give the right value there
SINGLE_BATCH_MISTAKES = ("a percentage instead of a fraction", "the number of correct samples, not divided",
                         "the error rate (the wrong predictions counted)")


def accuracy_mistakes(case: dict) -> dict[str, float]:
    """What typical wrong accuracy computations give on ``case``, by description."""
    counts = batch_counts(case)
    right, n = sum(r for r, _ in counts), sum(size for _, size in counts)
    return {description: mistake(counts, right, n) for description, mistake in MISTAKES.items()}


def explain(value: float | None, mistakes: dict[str, float]) -> str:
    for description, wrong in mistakes.items():
        if close(value, wrong, ACCURACY_TOL, 1e-9):
            return f" -- that is {description}"
    return ""


def how_far_off(value: float, expected: float) -> str:
    """'too high by about 20%' -- roughly, never the expected value itself."""
    if expected == 0:
        return "not 0"
    relative = abs(value - expected) / abs(expected)
    rounded = float(f"{100 * relative:.0e}")
    direction = "too high" if value > expected else "too low"
    return f"{direction} by about {rounded:g}%" if rounded >= 1 else f"{direction} by less than 1%"


def describe_value(mine: dict) -> str:
    value = mine.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"returned {value_of_type(mine.get('type'))}, not a number"
    return f"returned {value:.6g}"


NO_RESPONSE = ("compute_accuracy returns the same whatever the model predicts (a constant, or a value chosen "
               "without the predictions), so no check counts")


def responds_to_predictions(student: dict) -> bool:
    """Whether the function gives the same value twice for the same samples and another one when all are right.

    A stub, a constant or a value chosen from the loader's size does not;
    any computation from the model's predictions does, right or wrong.
    """
    values = [student.get(name, {}).get("value") for name in ("several_batches", "repeated", "all_right")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return False
    first, again, all_right = values
    return close(first, again, ACCURACY_TOL, 0.0) and not close(first, all_right, ACCURACY_TOL, 0.0)


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS)
    checks.evidence_of_work = responds_to_predictions(student)
    for name in ("single_batch", "several_batches"):
        mine, ref, case = student[name], reference[name], reference["cases"][name]
        sizes = case["sizes"]
        what = (f"one batch of {sizes[0]} samples" if len(sizes) == 1 else
                f"{sum(sizes)} samples in batches of {sizes[0]} (the last of {sizes[-1]})")
        if "error" in mine:
            error = exception_words(mine["error"])
            checks.fail(name, f"compute_accuracy on {what} raised {error}")
            checks.fail("returns_float", f"compute_accuracy raised {error}")
            continue
        value = mine.get("value")
        if not close(value, ref["value"], ACCURACY_TOL, 0.0):
            off = (f", {how_far_off(value, ref['value'])}" if isinstance(value, (int, float))
                   and not isinstance(value, bool) and math.isfinite(value) else "")
            checks.fail(name, f"compute_accuracy on {what} {describe_value(mine)}{off}"
                        f"{explain(value, accuracy_mistakes(case))}; expected correct samples / samples")
        if mine.get("type") not in FLOAT_TYPES:
            checks.fail("returns_float", f"compute_accuracy returned {value_of_type(mine.get('type'))}, expected a "
                        "Python float (use .item() on tensors)")
    if not checks.evidence_of_work:
        # a right value that ignores the predictions is a lucky guess (a constant, a value chosen by the loader's size)
        for name in CHECKS:
            checks.fail(name, NO_RESPONSE)
    return checks.grade()


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS, answer=Definition("compute_accuracy"),
            probe="instructor.tasks.probe_3a", verdict=verdict, skipped_calls=("compute_accuracy",), gate=GATE)
