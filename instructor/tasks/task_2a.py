"""Task 2a, the grader's side: its checks, the answer's shape and the verdict on the probe's JSON (no torch)."""
from __future__ import annotations

from ex4.sheet import TASK_INFO
from instructor.grading.verdicts import FLOAT_TYPES, Checks, TaskGrade, all_close, close, max_difference
from instructor.tasks.spec import Definition, Task

INFO = TASK_INFO["2a"]

# check -> (points, what it tests as students read it); WORK_CHECKS: see instructor/tasks/spec.py
CHECKS = {
    # catches: loss tensors appended
    "float_losses": (3, "the losses are Python floats"),
    # catches: appended once per epoch, one epoch only
    "loss_count": (4, "one loss per iteration of every epoch"),
    # catches: given loss_fn ignored, no step
    "loss_values": (3, "the loss values are those of the reference training loop, in order"),
    # catches: no zero_grad, no step, step before backward
    "final_weights": (10, "the final weights equal those of the reference training"),
}


WORK_CHECKS = ("loss_values", "final_weights")
GATE = ("the returned losses are real losses of this training (two of them, or one and weights that moved), "
        "or a check without † passes (a train that returns constants or never runs a batch shows no work)")


# a few float32 SGD steps of the same computation agree to this
TRAINING_TOL = {"atol": 1e-4, "rtol": 1e-3}


def is_subsequence(values: list, reference: list, tol: dict, at_least: int = 1) -> bool:
    """Whether ``values`` (at least ``at_least`` of them) appear in ``reference`` in this order."""
    if len(values) < at_least:
        return False
    position = 0
    for value in values:
        while position < len(reference) and not close(value, reference[position], **tol):
            position += 1
        if position == len(reference):
            return False
        position += 1
    return bool(values)


def training_diagnosis(events: list[str], n_iterations: int) -> list[str]:
    """What the recorded calls say about the loop, e.g. 'optimizer.step() was never called'."""
    counts = {name: events.count(name) for name in ("forward", "loss", "backward", "step", "zero_grad")}
    problems = []
    if counts["loss"] == 0:
        problems.append("the loss_fn passed to train was never called (use loss_fn(predictions, labels))")
    if counts["backward"] == 0:
        problems.append("loss.backward() was never called")
    if counts["step"] == 0:
        problems.append("optimizer.step() was never called")
    elif counts["step"] != n_iterations:
        problems.append(f"optimizer.step() ran {counts['step']} times, expected once per iteration "
                        f"({n_iterations})")
    if counts["zero_grad"] == 0:
        problems.append("the gradients were never reset (optimizer.zero_grad() or model.zero_grad() "
                        "in every iteration), so they add up over iterations")
    backward_since_step = False
    for event in events:
        if event == "backward":
            backward_since_step = True
        elif event == "step":
            if not backward_since_step:
                problems.append("optimizer.step() ran before loss.backward() in an iteration")
                break
            backward_since_step = False
    return problems


def verdict(student: dict, reference: dict) -> TaskGrade:
    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS,
                    no_work_reason="none of the returned values is a loss of this training")
    losses, expected = student["losses"], reference["losses"]
    n_iterations = reference["n_epochs"] * reference["n_batches"]
    types = sorted({loss.get("type") for loss in losses})
    if not losses or any(t not in FLOAT_TYPES for t in types):
        checks.fail("float_losses", f"the losses list holds {', '.join(map(str, types)) or 'nothing'}, "
                    "expected Python floats (loss.item())")
    if len(losses) != n_iterations:
        hint = {reference["n_epochs"]: " -- one loss per epoch: append inside the loop over batches",
                reference["n_batches"]: " -- only one epoch was run"}.get(len(losses), "")
        checks.fail("loss_count", f"train ran {reference['n_epochs']} epochs of {reference['n_batches']} "
                    f"batches and returned {len(losses)} losses, expected {n_iterations}{hint}")
    values = [loss.get("value") for loss in losses]
    known = [loss["value"] for loss in expected] + [value for values_of_loss in reference["first_batch_losses"].values()
                                                    for value in values_of_loss]
    matches = sum(any(close(value, k, **TRAINING_TOL) for k in known) for value in set(values[:len(known)]))
    trained = not all_close(student["final_params"], reference["initial_params"], TRAINING_TOL)
    # two real losses, or one and weights that moved: a stub repeating one loss shows neither
    checks.evidence_of_work = matches >= 2 or (matches == 1 and trained)
    if not is_subsequence(values, [loss["value"] for loss in expected], TRAINING_TOL, at_least=reference["n_epochs"]):
        checks.fail("loss_values", "the returned losses are not the losses of the reference training loop "
                    f"(first ones: {values[:3]}, expected {[loss['value'] for loss in expected][:3]})")
    if not all_close(student["final_params"], reference["final_params"], TRAINING_TOL):
        problems = training_diagnosis(student["events"], n_iterations) or [
            "the final weights differ from those of the reference loop (largest difference "
            f"{max_difference(student['final_params'], reference['final_params'])})"]
        checks.fail("final_weights", "training did not update the model as expected: " + "; ".join(problems))
    return checks.grade()


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS, answer=Definition("train"),
            probe="instructor.tasks.probe_2a", verdict=verdict, skipped_calls=("train",), gate=GATE)
