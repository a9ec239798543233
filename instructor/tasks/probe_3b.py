"""Task 3b, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

from collections.abc import Callable

from ex4.fixtures import ScriptedClassifier
from instructor.grading.probes import ProbeError, case_loader, guarded, number_or_none, run_seed, type_name
from instructor.tasks.task_3b import draw_cases


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    """compute_accuracy_per_class on the run's drawn cases, again and with every prediction right (responds?)."""
    per_class = namespace.get("compute_accuracy_per_class")
    if per_class is None:
        raise ProbeError("no function compute_accuracy_per_class is defined")
    cases = draw_cases(run_seed())
    calls = {"all_classes": (cases["all_classes"], "predicted", 1000),
             "repeated": (cases["all_classes"], "predicted", 1000),
             "all_right": (cases["all_classes"], "all_right", 1010),
             "absent_classes": (cases["absent_classes"], "predicted", 1020),
             "absent_all_right": (cases["absent_classes"], "all_right", 1030)}
    results = {name: guarded(lambda c=case, p=predictions, o=offset: call_per_class(per_class, c, p, o))
               for name, (case, predictions, offset) in calls.items()}
    return {**results, "cases": cases}


def call_per_class(per_class: Callable, case: dict, predictions: str, seed_offset: int) -> dict:
    """Each key and value of what the function returns, as numbers and type names; or the type it returned."""
    returned = per_class(ScriptedClassifier(), case_loader(case, predictions, seed_offset))
    if not isinstance(returned, dict):
        return {"returned_type": type_name(returned)}
    return {"entries": [{"key_type": type_name(key), "key": number_or_none(key),
                         "value_type": type_name(value), "value": number_or_none(value)}
                        for key, value in returned.items()]}
