"""Task 3a, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

from collections.abc import Callable

import torch

from ex4.fixtures import N_CLASSES, ScriptedClassifier
from instructor.grading.probes import ProbeError, case_loader, generator, guarded, number_or_none, type_name

# Task 3a/3b: cases whose predictions the grader fixes in advance
ACCURACY_CASES = {
    # one full batch: 5 of 8 correct
    "single_batch": {"batch": 8, "correct": [1, 0, 1, 1, 0, 1, 0, 1]},
    # batches of 8 with different accuracies and a last batch of 3
    "several_batches": {"batch": 8, "correct": [1] * 8 + [1, 0] * 4 + [0] * 7 + [1] + [1] * 6 + [0, 0]
                        + [1, 1, 0]},
}


def accuracy_case(name: str) -> dict:
    """Labels, predictions and batch size of one 3a case (plain lists)."""
    spec = ACCURACY_CASES[name]
    correct = torch.tensor(spec["correct"], dtype=torch.bool)
    labels = torch.randint(N_CLASSES, (len(correct),), generator=generator(700))
    shift = torch.randint(1, N_CLASSES, (len(correct),), generator=generator(701))
    predicted = torch.where(correct, labels, (labels + shift) % N_CLASSES)
    return {"labels": labels.tolist(), "predicted": predicted.tolist(), "batch": spec["batch"]}


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    compute_accuracy = namespace.get("compute_accuracy")
    if compute_accuracy is None:
        raise ProbeError("no function compute_accuracy is defined")
    return {name: guarded(lambda n=name: call_accuracy(compute_accuracy, accuracy_case(n)))
            for name in ACCURACY_CASES}


def call_accuracy(compute_accuracy: Callable, case: dict) -> dict:
    value = compute_accuracy(ScriptedClassifier(), case_loader(case, 900))
    return {"type": type_name(value), "value": number_or_none(value), "case": case}
