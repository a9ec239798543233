"""Task 3b, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

from collections.abc import Callable

import torch

from ex4.fixtures import N_CLASSES, ScriptedClassifier
from instructor.grading.probes import ProbeError, case_loader, generator, guarded, number_or_none, type_name

# per-class case: class c has PER_CLASS_BASE + c samples; wrong predictions lean to low classes
PER_CLASS_BASE = 2


PER_CLASS_BATCH = 16


# a case where the classes in ABSENT_CLASSES have no sample
ABSENT_CLASSES = (3, 7)


def per_class_case(absent: tuple[int, ...]) -> dict:
    """Labels and predictions where class c has PER_CLASS_BASE + c samples (none for ``absent``).

    About half of each class is right; wrong predictions go to the lowest classes,
    so that precision and recall differ.
    """
    labels = [c for c in range(N_CLASSES) if c not in absent for _ in range(PER_CLASS_BASE + c)]
    predicted = []
    for index, label in enumerate(labels):
        wrong = (label + 1 + index % 3) % N_CLASSES
        predicted.append(label if index % 2 == 0 else wrong)
    order = torch.randperm(len(labels), generator=generator(800)).tolist()
    return {"labels": [labels[i] for i in order], "predicted": [predicted[i] for i in order],
            "batch": PER_CLASS_BATCH}


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    per_class = namespace.get("compute_accuracy_per_class")
    if per_class is None:
        raise ProbeError("no function compute_accuracy_per_class is defined")
    cases = {"all_classes": per_class_case(()), "absent_classes": per_class_case(ABSENT_CLASSES)}
    results = {name: guarded(lambda c=case: call_per_class(per_class, c)) for name, case in cases.items()}
    return {**results, "cases": cases, "absent": list(ABSENT_CLASSES)}


def call_per_class(per_class: Callable, case: dict) -> dict:
    returned = per_class(ScriptedClassifier(), case_loader(case, 1000))
    if not isinstance(returned, dict):
        raise ProbeError(f"it returned {type_name(returned)}, expected a dict")
    return {"entries": [{"key_type": type_name(key), "key": number_or_none(key), "key_repr": repr(key)[:40],
                         "value_type": type_name(value), "value": number_or_none(value)}
                        for key, value in returned.items()]}
