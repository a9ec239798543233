"""Task 3a, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

from collections.abc import Callable

from ex4.fixtures import ScriptedClassifier
from instructor.grading.probes import ProbeError, case_loader, guarded, number_or_none, run_seed, type_name
from instructor.tasks.task_3a import draw_cases


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    """compute_accuracy on the run's drawn cases; the several-batch case also again and with every prediction right."""
    compute_accuracy = namespace.get("compute_accuracy")
    if compute_accuracy is None:
        raise ProbeError("no function compute_accuracy is defined")
    cases = draw_cases(run_seed())
    several = cases["several_batches"]
    calls = {"single_batch": (cases["single_batch"], "predicted", 900),
             "several_batches": (several, "predicted", 910),
             "repeated": (several, "predicted", 910),
             "all_right": (several, "all_right", 920)}
    results = {name: guarded(lambda c=case, p=predictions, o=offset: call_accuracy(compute_accuracy, c, p, o))
               for name, (case, predictions, offset) in calls.items()}
    return {**results, "cases": cases}


def call_accuracy(compute_accuracy: Callable, case: dict, predictions: str, seed_offset: int) -> dict:
    """compute_accuracy on a loader of ``case`` whose model predicts ``case[predictions]``."""
    value = compute_accuracy(ScriptedClassifier(), case_loader(case, predictions, seed_offset))
    return {"type": type_name(value), "value": number_or_none(value)}
