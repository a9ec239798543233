"""Task 3b (20 points): ``compute_accuracy_per_class(model, loader)``, the recall of every class."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ex4.checking import (
    ATOL,
    GATE,
    INDEPENDENT,
    RTOL,
    CheckResult,
    describe,
    is_number,
    report,
    require,
    run_checks,
    same_value,
    seeded,
    shape_error_hint,
    stub_owners,
)
from ex4.fixtures import N_CLASSES, ScriptedClassifier, batches_of, scripted_loader

# 14 samples (batches of 4, 4, 4 and 2); class 8 has no sample, class 4 is never predicted
_PER_CLASS_LABELS = [0, 0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 9, 9, 9]
_PER_CLASS_PREDICTIONS = [0, 1, 1, 2, 0, 2, 3, 0, 5, 6, 1, 9, 0, 9]
# every class has samples and is predicted; precision and accuracy of a class differ
_COMPLETE_LABELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1, 2]
_COMPLETE_PREDICTIONS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 3]
PRECISION_HINT = ("that is the precision of the class (correct predictions of class c / all predictions "
                  "of class c): the accuracy of class c divides by the number of samples whose label is c")


def _per_class_truth(predictions: Sequence[int], labels: Sequence[int]
                     ) -> tuple[dict[int, int], dict[int, int]]:
    """Samples and correctly predicted samples of each class, counted from the lists."""
    n_samples = {c: sum(y == c for y in labels) for c in range(N_CLASSES)}
    n_correct = {c: sum(y == c and p == y for p, y in zip(predictions, labels))
                 for c in range(N_CLASSES)}
    return n_samples, n_correct


def _recall(n_correct: int, n_samples: int) -> float:
    return n_correct / n_samples if n_samples else math.nan


def _dim0_predictions(predictions: Sequence[int], labels: Sequence[int]) -> tuple[list[int], list[int]]:
    """(predictions, labels) that an argmax over dim 0 zipped with the labels gives, batch by batch.

    Column j's largest output in a batch of the scripted model is at the first
    sample predicted as j (else at sample 0); zip stops at the shorter list.
    """
    got_predictions, got_labels = [], []
    for batch_predictions, batch_labels in zip(batches_of(predictions), batches_of(labels)):
        per_column = [next((i for i, p in enumerate(batch_predictions) if p == j), 0) for j in range(N_CLASSES)]
        got_predictions.extend(per_column[:len(batch_labels)])
        got_labels.extend(batch_labels[:N_CLASSES])
    return got_predictions, got_labels


def _per_class_candidates(predictions: Sequence[int], labels: Sequence[int]
                          ) -> list[tuple[dict[int, float], str]]:
    """Per-class values that typical mistakes return, each with the hint for its cause."""
    n_samples, n_correct = _per_class_truth(predictions, labels)
    dim0_samples, dim0_correct = _per_class_truth(*_dim0_predictions(predictions, labels))
    n_total = len(labels)
    n_predicted = {c: sum(p == c for p in predictions) for c in range(N_CLASSES)}
    recall = {c: _recall(n_correct[c], n_samples[c]) for c in range(N_CLASSES)}
    batches = list(zip(batches_of(predictions), batches_of(labels)))
    per_batch = {c: [_recall(*[sum(y == c and p == y for p, y in zip(*batch)), sum(y == c for y in batch[1])])
                     for batch in batches] for c in range(N_CLASSES)}
    last_predictions, last_labels = batches[-1]
    last_truth = _per_class_truth(last_predictions, last_labels)
    return [
        ({c: _recall(n_correct[c], n_predicted[c]) for c in range(N_CLASSES)}, PRECISION_HINT),
        ({c: n_correct[c] / n_total for c in range(N_CLASSES)},
         "divide by the number of samples of the class, not by the number of all samples"),
        ({c: 100 * recall[c] for c in range(N_CLASSES)}, "return fractions between 0 and 1, not percentages"),
        ({c: float(n_correct[c]) for c in range(N_CLASSES)},
         "those are counts of correct samples: divide each by the number of samples of its class"),
        ({c: float(n_correct[c] // n_samples[c]) if n_samples[c] else math.nan for c in range(N_CLASSES)},
         "// is integer division (0 or 1): divide with /"),
        ({c: 1 - recall[c] for c in range(N_CLASSES)},
         ("that is the share of wrongly classified samples: count the samples of the class predicted "
          "correctly")),
        ({c: (sum(v for v in per_batch[c] if not math.isnan(v))
              / max(1, sum(not math.isnan(v) for v in per_batch[c]))) if n_samples[c] else math.nan
          for c in range(N_CLASSES)},
         ("the mean of per-batch accuracies is wrong when batches hold different numbers of samples of "
          "the class: count over all batches and divide once at the end")),
        ({c: _recall(last_truth[1][c], last_truth[0][c]) for c in range(N_CLASSES)},
         ("the counts start again in every batch: create the counters once, before the loop over "
          "batches")),
        ({c: _recall(dim0_correct[c], dim0_samples[c]) for c in range(N_CLASSES)},
         ("the argmax over dim 0 runs over the batch and gives one index per class: the predicted class "
          "of each sample is the argmax over its outputs, dim=1")),
    ]


def _per_class_hint(values: dict, predictions: Sequence[int], labels: Sequence[int]) -> str | None:
    """The hint of the typical mistake whose values ``values`` has for every class with samples."""
    n_samples, n_correct = _per_class_truth(predictions, labels)
    present = [c for c in range(N_CLASSES) if n_samples[c] > 0]
    truth = {c: n_correct[c] / n_samples[c] for c in present}
    for candidate, hint in _per_class_candidates(predictions, labels):
        if all(same_value(truth[c], candidate[c]) for c in present):
            continue
        if all(same_value(values.get(c), candidate[c]) for c in present):
            return hint
    return None


@seeded
def task_3b_results(compute_accuracy_per_class_fn: Callable) -> list[CheckResult]:
    """Checks of ``compute_accuracy_per_class`` (Task 3b) on a model with known predictions."""
    owners = stub_owners(compute_accuracy_per_class_fn)
    model = ScriptedClassifier()
    loader = scripted_loader(_PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS)
    n_samples, n_correct = _per_class_truth(_PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS)
    n_total = len(_PER_CLASS_LABELS)
    present = [c for c in range(N_CLASSES) if n_samples[c] > 0]
    absent = [c for c in range(N_CLASSES) if n_samples[c] == 0]
    result = {}

    def hint_for(values: dict, default: str) -> str:
        return _per_class_hint(values, _PER_CLASS_PREDICTIONS, _PER_CLASS_LABELS) or default

    def runs() -> str:
        value = compute_accuracy_per_class_fn(model, loader)
        result["value"] = value
        require(isinstance(value, dict), "a dict", describe(value),
                 "return a dict {class: accuracy} with the classes 0-9 as keys")
        return "compute_accuracy_per_class returns a dict"

    def keys() -> str:
        got = list(result["value"])
        expected = list(range(N_CLASSES))
        wrong_type = [key for key in got if type(key) is not int]
        last_batch_classes = sorted(set(batches_of(_PER_CLASS_LABELS)[-1]))
        if wrong_type:
            hint = (f"use the Python ints 0-9 as keys, not {type(wrong_type[0]).__name__} "
                    "(e.g. int(label) or label.item())")
        elif sorted(got) == list(range(1, N_CLASSES + 1)):
            hint = "the classes are 0-9, not 1-10"
        elif sorted(got) == last_batch_classes:
            hint = ("the dict holds only the classes of the last batch: count over all batches before "
                    "building the dict")
        elif set(got) < set(expected) and set(expected) - set(got) <= set(absent):
            hint = (f"every class 0-9 needs a key, also class {absent[0]}, which has no sample in this "
                    "data: give it float('nan')")
        else:
            hint = "give every class 0-9 a key, also classes without samples"
        require(not wrong_type and sorted(got) == expected, f"the keys {expected} (ints)",
                 "[" + ", ".join(repr(key) for key in got) + "]", hint)
        return "the keys are the ints 0-9"

    def fractions() -> str:
        values = result["value"]
        for c in present:
            value = values[c]
            if isinstance(value, torch.Tensor):
                hint = "return Python floats: use .item() (or float(...)) on tensors"
            elif is_number(value) and not math.isnan(value) and 0 <= value <= 1:
                hint = "return Python floats, e.g. float(...)"
            else:
                hint = hint_for(values, f"class {c} has samples: its accuracy is a number in [0, 1] "
                                        "(NaN only for a class without samples)")
            require(isinstance(value, float) and 0.0 <= value <= 1.0,
                     f"a float fraction in [0, 1] for class {c}", f"{value!r}", hint)
        return "the accuracies are fractions in [0, 1]"

    def exact_values() -> str:
        values = result["value"]
        for c in present:
            expected = n_correct[c] / n_samples[c]
            got = values[c]
            hint = hint_for(values, f"count the samples whose label is {c} and those of them predicted "
                                    "correctly, over all batches")
            require(same_value(got, expected) and not math.isnan(got),
                     f"{expected:.4f} for class {c} ({n_correct[c]} of its {n_samples[c]} "
                     "samples predicted correctly)", f"{got!r}", hint)
        return "correct per-class accuracies for a model with known predictions"

    def absent_class() -> str:
        for c in absent:
            got = result["value"][c]
            if isinstance(got, torch.Tensor):
                hint = "return float('nan'), a Python float, not a tensor"
            else:
                hint = ("the accuracy of a class without samples is undefined: return float('nan') "
                        "instead of dividing by zero or returning 0" + (" or None" if got is None else ""))
            require(isinstance(got, float) and math.isnan(got),
                     f"float('nan') for class {c}, which has no sample", f"{got!r}", hint)
        return "a class without samples gets NaN"

    def weighted_mean() -> str:
        values = result["value"]
        require(all(is_number(values[c]) for c in present), "numbers for the classes with samples",
                 "other values", "return a float for every class")
        weighted = sum(n_samples[c] * values[c] for c in present) / n_total
        overall = sum(n_correct.values()) / n_total
        require(math.isclose(weighted, overall, rel_tol=RTOL, abs_tol=ATOL),
                 f"the class-size-weighted mean of the per-class accuracies to equal the overall "
                 f"accuracy ({overall:.4f})",
                 f"{weighted:.4f}",
                 hint_for(values, "per-class accuracy = correct samples of the class / samples of the class"))
        return "the weighted mean of the per-class accuracies is the overall accuracy"

    def explain(name: str, error: BaseException) -> str | None:
        if isinstance(error, ZeroDivisionError):
            try:
                values = compute_accuracy_per_class_fn(model, scripted_loader(_COMPLETE_PREDICTIONS,
                                                                               _COMPLETE_LABELS))
            except Exception:  # noqa: BLE001 - only used to tell two causes apart
                values = None
            if isinstance(values, dict) and _per_class_hint(values, _COMPLETE_PREDICTIONS,
                                                            _COMPLETE_LABELS) == PRECISION_HINT:
                return PRECISION_HINT
            return (f"class {absent[0]} has no sample in this data, so its accuracy is 0 / 0: return "
                    "float('nan') for a class without samples instead of dividing")
        if isinstance(error, KeyError):
            return "create a counter for every class 0-9 before counting"
        return shape_error_hint(error)

    return run_checks("3b", [
        ("runs", runs, GATE),
        ("keys", keys, GATE),
        ("fractions", fractions, INDEPENDENT),
        ("known accuracies", exact_values, INDEPENDENT),
        ("class without samples", absent_class, INDEPENDENT),
        ("weighted mean", weighted_mean, INDEPENDENT),
    ], owners, explain)


def check_task_3b(compute_accuracy_per_class_fn: Callable) -> None:
    """Print the self-check verdict for Task 3b: ``check_task_3b(compute_accuracy_per_class)``."""
    report("3b", lambda: task_3b_results(compute_accuracy_per_class_fn))
