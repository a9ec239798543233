"""Task 3a (20 points): ``compute_accuracy(model, loader)``, the share of correct predictions."""
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
from ex4.fixtures import (
    EVALUATION_BATCH_SIZE,
    LARGEST_LOGIT,
    N_CLASSES,
    ScriptedClassifier,
    batches_of,
    scripted_loader,
)

# 10 samples (batches of 4, 4 and 2), 7 predicted correctly
_ACCURACY_LABELS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
_ACCURACY_PREDICTIONS = [3, 1, 4, 0, 5, 9, 7, 6, 5, 8]


def _accuracy_cases() -> list[tuple[str, list[int], list[int]]]:
    all_wrong = [(label + 1) % N_CLASSES for label in _ACCURACY_LABELS]
    return [("7 of 10 correct", _ACCURACY_PREDICTIONS, _ACCURACY_LABELS),
            ("all correct", list(_ACCURACY_LABELS), _ACCURACY_LABELS),
            ("none correct", all_wrong, _ACCURACY_LABELS)]


def _accuracy_candidates(predictions: Sequence[int], labels: Sequence[int]) -> list[tuple[float, str]]:
    """Values that typical mistakes return for these predictions, each with the hint for its cause."""
    correct = [int(p == y) for p, y in zip(predictions, labels)]
    n_correct, n_samples = sum(correct), len(labels)
    batches = batches_of(correct)
    last = batches[-1]
    # argmax without dim: the index in the flattened batch, the same for every sample of the batch
    flat_argmax = 0
    for batch_predictions, batch_labels in zip(batches_of(predictions), batches_of(labels)):
        # the largest output of the whole batch is the first sample's class: flat index < N_CLASSES
        flat_argmax += sum(int(y == batch_predictions[0]) for y in batch_labels)
    return [
        (100 * n_correct / n_samples, "return a fraction between 0 and 1, not a percentage"),
        (n_correct / len(batches), ("divide by the number of samples, not by the number of batches: "
                                    "add the size of every batch to n_samples")),
        (float(n_correct), ("that is the number of correctly classified samples: add the number of "
                            "samples of every batch to n_samples too")),
        (sum(sum(b) / len(b) for b in batches) / len(batches),
         ("the mean of the batch accuracies is wrong when the last batch is smaller: add up the correct "
          "samples and the samples of all batches and divide once at the end")),
        (sum(sum(b) / len(b) for b in batches) / n_samples,
         ("add the number of correctly classified samples of the batch to n_correctly_classified, not "
          "the batch's accuracy")),
        (sum(last) / len(last), "`=` instead of `+=`: the counters keep only the last batch"),
        (n_correct / len(last), "n_samples = ... keeps only the size of the last batch: add to it with +="),
        (sum(last) / n_samples, "n_correctly_classified = ... keeps only the last batch: add to it with +="),
        (1 - n_correct / n_samples, ("that is the share of wrongly classified samples: count the samples "
                                     "whose prediction equals their label")),
        (flat_argmax / n_samples, ("argmax without dim gives one index into the whole flattened batch: "
                                   "take the argmax over the classes of each sample, dim=1")),
        (sum(y == LARGEST_LOGIT for y in labels) / n_samples,
         ("max(dim=1) returns (values, indices): compare the indices (argmax(dim=1), or max(dim=1)[1]) with "
          "the labels, not the largest values")),
        (float(n_correct // n_samples), ("`//` is integer division and gives 0 for every accuracy below 1: "
                                         "divide with /")),
    ]


def _accuracy_hint(results: dict[str, object]) -> str | None:
    """The hint of the typical mistake that gives ``results`` (by case name) in every case."""
    cases = [(name, predictions, labels) for name, predictions, labels in _accuracy_cases() if name in results]
    candidates = {name: _accuracy_candidates(predictions, labels) for name, predictions, labels in cases}
    truth = {name: sum(p == y for p, y in zip(predictions, labels)) / len(labels)
             for name, predictions, labels in cases}
    for index, (_, hint) in enumerate(next(iter(candidates.values()), [])):
        if all(same_value(truth[name], candidates[name][index][0]) for name in truth):
            continue
        if all(same_value(results[name], candidates[name][index][0]) for name in truth):
            return hint
    return None


@seeded
def task_3a_results(compute_accuracy_fn: Callable) -> list[CheckResult]:
    """Checks of ``compute_accuracy`` (Task 3a) on a model with known predictions."""
    owners = stub_owners(compute_accuracy_fn)
    model = ScriptedClassifier()
    results = {}

    def runs() -> str:
        for name, predictions, labels in _accuracy_cases():
            results[name] = compute_accuracy_fn(model, scripted_loader(predictions, labels))
            value = results[name]
            if isinstance(value, torch.Tensor):
                hint = "return a Python float: use .item() on the tensors you count with"
            else:
                hint = "return n_correctly_classified / n_samples as a float"
            require(is_number(value), "a Python number", describe(value), hint)
        return "compute_accuracy returns a number"

    def fraction() -> str:
        for name, _predictions, _labels in _accuracy_cases():
            value = results[name]
            require(0.0 <= value <= 1.0, "a fraction between 0 and 1", f"{value:.4f} ({name})",
                     _accuracy_hint(results)
                     or "divide the number of correctly classified samples by the number of samples")
        return "the accuracy is a fraction in [0, 1]"

    def exact_values() -> str:
        for name, predictions, labels in _accuracy_cases():
            n_correct = sum(p == y for p, y in zip(predictions, labels))
            expected = n_correct / len(labels)
            got = results[name]
            hint = (_accuracy_hint(results)
                    or "count the correctly classified samples and all samples of every batch, "
                       "including the smaller last batch, and divide at the end")
            require(math.isclose(got, expected, rel_tol=RTOL, abs_tol=ATOL),
                     f"{expected:.4f} for a model that classifies {n_correct} of "
                     f"{len(labels)} samples correctly (batches of {EVALUATION_BATCH_SIZE}, the last "
                     f"with {len(labels) % EVALUATION_BATCH_SIZE})",
                     f"{got:.4f}", hint)
        return "correct accuracy for a model with known predictions (last batch smaller)"

    def explain(name: str, error: BaseException) -> str | None:
        if isinstance(error, (ZeroDivisionError, ValueError)) and (
                isinstance(error, ZeroDivisionError) or "no samples" in str(error)):
            return "n_samples is still 0 at the end: add the number of samples of every batch to n_samples"
        return shape_error_hint(error)

    return run_checks("3a", [
        ("runs", runs, GATE),
        ("fraction", fraction, INDEPENDENT),
        ("known accuracy", exact_values, INDEPENDENT),
    ], owners, explain)


def check_task_3a(compute_accuracy_fn: Callable) -> None:
    """Print the self-check verdict for Task 3a: ``check_task_3a(compute_accuracy)``."""
    report("3a", lambda: task_3a_results(compute_accuracy_fn))
