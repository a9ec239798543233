"""Task 2a (20 points): ``train(model, loader, optimizer, loss_fn, n_epochs)``, the training loop."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ex4.checking import (
    ATOL,
    GATE,
    INDEPENDENT,
    LOSS_DROP_FACTOR,
    RTOL,
    CheckFailed,
    CheckResult,
    Skipped,
    describe,
    report,
    require,
    run_checks,
    seeded,
    stub_owners,
)
from ex4.fixtures import RecordingSGD, TinyClassifier
from ex4.mlp_hints import relation_between
from ex4.model_properties import load_values

TASK = "2a"
TITLE = "`train`"
POINTS = 20

_N_FEATURES_2A = 6
_N_CLASSES_2A = 3
_N_SAMPLES_2A = 10
# 10 samples in batches of 4: batches of 4, 4 and 2
_BATCH_SIZE_2A = 4
_N_EPOCHS_2A = 2
_LEARNING_RATE_2A = 0.1
_FIT_N_EPOCHS = 30
_FIT_LEARNING_RATE = 0.5


class _RecordingLoss(nn.Module):
    """nn.CrossEntropyLoss that checks and records its arguments.

    Arguments in the wrong order, predicted classes instead of logits, or
    predictions without a gradient fail right away with the cause.
    """

    def __init__(self, model: TinyClassifier, events: list[str]):
        super().__init__()
        self.loss = nn.CrossEntropyLoss()
        self.model = model
        self.events = events
        self.relations: list[str | None] = []

    def forward(self, input, target):  # torch's argument names: loss_fn(input=..., target=...) works too
        predictions, labels = input, target
        self.events.append("loss")
        if isinstance(predictions, torch.Tensor) and isinstance(labels, torch.Tensor):
            if not predictions.is_floating_point() and labels.is_floating_point():
                raise CheckFailed("loss_fn(predictions, labels): the model's outputs first, then the labels",
                                   "loss_fn was called with the labels first",
                                   "swap the arguments: loss_fn(predictions, labels), with the model's "
                                   "outputs first")
            if not predictions.is_floating_point():
                raise CheckFailed("the model's outputs (logits, BS x classes) as loss_fn's first argument",
                                   f"an integer tensor of shape {tuple(predictions.shape)}: predicted classes",
                                   "pass the model's outputs to loss_fn as they are, not their argmax: the "
                                   "loss needs the logits (and their gradient)")
            if torch.is_grad_enabled() and not predictions.requires_grad:
                raise CheckFailed("predictions that carry a gradient",
                                   "predictions without a gradient (computed under torch.no_grad() or detached)",
                                   "compute the predictions of the batch with gradients: no torch.no_grad(), "
                                   "no .detach() and no .item() before the loss")
            last = self.model._outputs[-1] if self.model._outputs else None
            self.relations.append("unchanged" if predictions is last else relation_between(last, predictions))
        return self.loss(predictions, labels)


def _training_hint(events: list[str], n_steps: int) -> str | None:
    """What the logged events show about a training run that should make ``n_steps`` steps."""
    steps = events.count("step")
    if steps == 0:
        return "optimizer.step() is never called: make one step per batch"
    if "backward" not in events:
        return "call loss.backward() in every iteration to compute the gradients"
    for step in range(1, min(steps, 3) + 1):
        segment = _segments(events)[step - 1]
        if "backward" not in segment or segment.count("backward") > 1 or "zero_grad" in segment[
                len(segment) - 1 - segment[::-1].index("backward"):]:
            return _gradient_hint(events, step, all_zero=False)
    if steps < n_steps:
        return (f"train made {steps} optimizer steps instead of {n_steps}: does it stop early (a "
                "`return` inside a loop) or skip batches?")
    return None


def _as_float(value: object) -> float:
    """A loss as a float, whether the student kept a float or a tensor."""
    if isinstance(value, torch.Tensor):
        return value.detach().float().mean().item()
    return float(value)


def _small_classification_loader(n_samples: int, batch_size: int) -> DataLoader:
    """Seeded (BS x 1 x 2 x 3) inputs with labels 0-2 that a linear layer can fit."""
    inputs = torch.randn(n_samples, 1, 2, 3)
    labels = torch.arange(n_samples) % _N_CLASSES_2A
    inputs[torch.arange(n_samples), 0, 0, labels] += 2.0
    return DataLoader(TensorDataset(inputs, labels), batch_size=batch_size, shuffle=False)


def _segments(events: list[str]) -> list[list[str]]:
    """The events before each optimizer step (from the step before), one list per step."""
    segments, current = [], []
    for event in events:
        if event == "step":
            segments.append(current)
            current = []
        else:
            current.append(event)
    return segments


def _gradient_hint(events: list[str], step: int, all_zero: bool) -> str:
    """Why the gradient at optimizer step ``step`` (1-based) is not that of its batch alone."""
    segments = _segments(events)
    segment = segments[step - 1] if step - 1 < len(segments) else []
    if "backward" not in events:
        return "call loss.backward() in every iteration to compute the gradients"
    if segment.count("backward") > 1:
        return ("several backward() calls come before one optimizer.step(): make one step per batch, "
                "inside the loop over batches")
    if "backward" not in segment:
        return ("optimizer.step() comes before loss.backward(): compute the loss and its gradients "
                "first, then make the step")
    last_backward = len(segment) - 1 - segment[::-1].index("backward")
    if "zero_grad" in segment[last_backward:]:
        return ("zero_grad() between backward() and step() erases the gradients before the step uses "
                "them: reset the gradients before backward()")
    if "zero_grad" not in segment:
        return ("gradients add up over iterations unless you reset them: call optimizer.zero_grad() "
                "once per iteration, before backward()")
    if all_zero:
        return "the gradients were zero at optimizer.step(): call backward() on the batch's loss before step()"
    return "each step must use the gradient of the current batch's loss only"


@seeded
def task_2a_results(train_fn: Callable) -> list[CheckResult]:
    """Checks of the ``train`` function (Task 2a) on a tiny linear model."""
    owners = stub_owners(train_fn)
    events: list[str] = []
    loader = _small_classification_loader(_N_SAMPLES_2A, _BATCH_SIZE_2A)
    model = TinyClassifier(_N_FEATURES_2A, _N_CLASSES_2A, events)
    loss_fn = _RecordingLoss(model, events)
    plain_loss = nn.CrossEntropyLoss()
    initial_parameters = [parameter.detach().clone() for parameter in model.parameters()]
    optimizer = RecordingSGD(model.parameters(), lr=_LEARNING_RATE_2A, events=events)
    n_iterations = _N_EPOCHS_2A * len(loader)
    run = {}

    def runs() -> str:
        with torch.enable_grad():
            run["losses"] = train_fn(model, loader, optimizer, loss_fn,
                                     n_epochs=_N_EPOCHS_2A, show_progress=False)
        require(isinstance(run["losses"], list), "train to return a list of losses",
                 describe(run["losses"]), "keep the `return losses` at the end of the function")
        return "train runs and returns a list"

    def uses_loss_fn() -> str:
        require(len(loss_fn.relations) > 0, "train to compute the loss with loss_fn, its argument",
                 "loss_fn was never called",
                 "call loss_fn(predictions, labels), the loss function passed to train, instead of a "
                 "loss function of your own")
        relation = next((r for r in loss_fn.relations if r != "unchanged"), "unchanged")
        require(relation == "unchanged", "loss_fn(predictions, labels) with the model's outputs as they are",
                 f"the model's outputs after a {relation}" if relation else "other values than the model's outputs",
                 "pass the model's outputs (logits) to loss_fn unchanged: nn.CrossEntropyLoss applies "
                 "the softmax itself" if relation in ("softmax", "log_softmax") else
                 "pass the model's outputs for the current batch to loss_fn unchanged")
        return "the loss is computed with loss_fn on the model's outputs"

    def one_loss_per_iteration() -> str:
        losses = run["losses"]
        got = len(losses)
        n_steps = events.count("step")
        if losses and all(isinstance(loss, list) for loss in losses):
            hint = ("losses holds one list per epoch: append the loss of every iteration to the one "
                    "list losses, which collects all epochs")
        elif got == len(loader) and n_steps == len(loader):
            hint = ("train stopped after the first epoch: is `return losses` indented into the loop "
                    "over epochs?")
        elif got == 1 and n_steps <= 1:
            hint = "train stopped after the first batch: is `return losses` indented into the loop over batches?"
        else:
            hint = {0: "append the loss of every iteration to `losses`",
                    _N_EPOCHS_2A: "append the loss of every batch, not once per epoch",
                    len(loader): "keep the losses of all epochs: don't reset the list in each epoch",
                    2 * n_iterations: "append one loss per iteration, not two"}.get(
                got, "append exactly one loss per iteration")
        require(got == n_iterations,
                 f"{n_iterations} losses for {_N_EPOCHS_2A} epochs of {len(loader)} batches "
                 f"(the last batch holds {_N_SAMPLES_2A % _BATCH_SIZE_2A} samples)",
                 f"{got} losses", hint)
        return "one loss per iteration of every epoch"

    def python_floats() -> str:
        losses = run["losses"]
        kinds = sorted({type(loss).__name__ for loss in losses})
        if any(isinstance(loss, (list, tuple)) for loss in losses):
            raise Skipped("losses holds lists (see above)")
        if any(callable(loss) for loss in losses):
            hint = "loss.item without parentheses is the method itself: call it, loss.item()"
        else:
            hint = "append loss.item(): a tensor keeps its whole computation graph in memory"
        require(all(type(loss) is float for loss in losses), "Python floats",
                 f"values of type {', '.join(kinds)}", hint)
        return "the losses are Python floats"

    def one_step_per_iteration() -> str:
        got = len(optimizer.seen_gradients)
        changed = any(not torch.equal(before, after) for before, after
                      in zip(initial_parameters, model.parameters()))
        if got == 0 and changed:
            hint = ("the parameters changed, but not through the optimizer passed to train: use that "
                    "optimizer, don't create one of your own")
        elif got == _N_EPOCHS_2A:
            hint = "one optimizer step per epoch: call optimizer.step() inside the loop over batches"
        else:
            hint = "make one optimizer step per batch: call optimizer.step() once per iteration"
        require(got == n_iterations, f"optimizer.step() called {n_iterations} times", f"{got} calls", hint)
        all_zero = all(not gradient.any() for gradients in optimizer.seen_gradients for gradient in gradients)
        require(changed, "the model's parameters to change", "they are unchanged",
                 f"the gradients are zero at every step: {_gradient_hint(events, 1, True)}" if all_zero
                 else "call optimizer.step() after computing the gradients")
        return "one optimizer step per iteration"

    def replayed_steps():
        """(step, inputs, labels, a model with the parameters seen at that step, its index)."""
        batches = [batch for _ in range(_N_EPOCHS_2A) for batch in loader]
        probe = TinyClassifier(_N_FEATURES_2A, _N_CLASSES_2A)
        for index, ((inputs, labels), seen_parameters) in enumerate(zip(batches, optimizer.seen_parameters)):
            load_values(probe, seen_parameters, range(len(seen_parameters)))
            yield index + 1, inputs, labels, probe, index

    def replayable() -> None:
        if len(optimizer.seen_gradients) != n_iterations:
            raise Skipped("needs one optimizer step per batch (see above)")
        if any(relation != "unchanged" for relation in loss_fn.relations):
            raise Skipped("needs loss_fn applied to the model's outputs (see above)")

    def fresh_gradients() -> str:
        replayable()
        for step, inputs, labels, probe, index in replayed_steps():
            seen_gradients = optimizer.seen_gradients[index]
            with torch.enable_grad():
                batch_gradients = torch.autograd.grad(plain_loss(probe(inputs), labels),
                                                      list(probe.parameters()))
            matches = all(torch.allclose(seen, fresh, atol=ATOL, rtol=RTOL)
                          for seen, fresh in zip(seen_gradients, batch_gradients))
            all_zero = all(not seen.any() for seen in seen_gradients)
            require(matches, f"at step {step} the gradient of that batch's loss only",
                     "zero gradients" if all_zero else "a different gradient",
                     "" if matches else _gradient_hint(events, step, all_zero))
        return "each step uses the gradient of the current batch only (gradients are reset)"

    def losses_match_batches() -> str:
        replayable()
        if len(run["losses"]) != n_iterations:
            raise Skipped("needs one loss per iteration (see above)")
        for (step, inputs, labels, probe, _), loss in zip(replayed_steps(), run["losses"]):
            with torch.no_grad():
                expected = plain_loss(probe(inputs), labels).item()
            loss = _as_float(loss) if isinstance(loss, torch.Tensor) and loss.numel() == 1 else loss
            require(isinstance(loss, (int, float)), f"loss {step} to be a number", describe(loss),
                     "append one number, the loss of the batch, per iteration")
            if math.isclose(loss, expected * len(labels), rel_tol=RTOL):
                hint = ("loss_fn already averages over the batch: append loss.item() as it is, not "
                        "multiplied by the batch size")
            else:
                hint = "append the loss of the current batch, computed before the step"
            require(math.isclose(loss, expected, rel_tol=RTOL, abs_tol=ATOL),
                     f"loss {step} to be loss_fn(model(batch), labels) of that batch "
                     f"({expected:.4f})", f"{loss:.4f}", hint)
        return "each loss is the loss of its batch"

    def fits_one_batch() -> str:
        fit_events: list[str] = []
        fit_loader = _small_classification_loader(_BATCH_SIZE_2A, _BATCH_SIZE_2A)
        fit_model = TinyClassifier(_N_FEATURES_2A, _N_CLASSES_2A, fit_events)
        fit_optimizer = RecordingSGD(fit_model.parameters(), lr=_FIT_LEARNING_RATE, events=fit_events)
        inputs, labels = next(iter(fit_loader))
        with torch.no_grad():
            first = plain_loss(fit_model.linear(inputs.flatten(1)), labels).item()
        with torch.enable_grad():
            train_fn(fit_model, fit_loader, fit_optimizer, nn.CrossEntropyLoss(),
                     n_epochs=_FIT_N_EPOCHS, show_progress=False)
        with torch.no_grad():
            last = plain_loss(fit_model.linear(inputs.flatten(1)), labels).item()
        require(last < LOSS_DROP_FACTOR * first,
                 f"the loss of one fixed batch to fall when train fits it for {_FIT_N_EPOCHS} epochs",
                 f"loss before training {first:.4f}, after {last:.4f}",
                 _training_hint(fit_events, _FIT_N_EPOCHS * len(fit_loader))
                 or "per iteration: reset gradients, predict, compute the loss, backward(), step()")
        return "the loss falls when fitting one small batch"

    return run_checks("2a", [
        ("runs", runs, GATE),
        ("uses loss_fn", uses_loss_fn, INDEPENDENT),
        ("one loss per iteration", one_loss_per_iteration, INDEPENDENT),
        ("losses are floats", python_floats, INDEPENDENT),
        ("optimizer steps", one_step_per_iteration, INDEPENDENT),
        ("gradients reset", fresh_gradients, INDEPENDENT),
        ("loss values", losses_match_batches, INDEPENDENT),
        ("loss falls", fits_one_batch, INDEPENDENT),
    ], owners)


def check_task_2a(train_fn: Callable) -> None:
    """Print the self-check verdict for Task 2a: call it as ``check_task_2a(train)``."""
    report("2a", lambda: task_2a_results(train_fn))


# ==== grader only: students receive this module up to this line (instructor/shipped.py) ====
from ex4.fixtures import N_CLASSES
from instructor.grading.probes import ProbeError, generator, number_or_none, run_seed, tensor_to_list, type_name
from instructor.grading.verdicts import FLOAT_TYPES, Checks, TaskGrade, all_close, close, max_difference

# check -> (points, what it tests as students read it); WORK_CHECKS: see ex4/tasks/__init__.py
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


# Task 2a: a small classifier trained for a few epochs on a loader with a short last batch
TRAIN_FEATURE_SHAPE = (1, 3, 4)


TRAIN_HIDDEN = 8


TRAIN_SAMPLES = 35


TRAIN_BATCH = 8


TRAIN_EPOCHS = 3


TRAIN_LR = 0.1


TRAIN_MOMENTUM = 0.9


# a loss the student cannot reproduce with a fresh nn.CrossEntropyLoss()
TRAIN_LABEL_SMOOTHING = 0.1


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    """Train a small seeded model with the submission's ``train`` and record what happened."""
    train = namespace.get("train")
    if train is None:
        raise ProbeError("no function train is defined")
    events: list[str] = []
    model, optimizer, loss_fn, loader = training_setup(events)
    returned = train(model, loader, optimizer, loss_fn, TRAIN_EPOCHS)
    if not isinstance(returned, list):
        raise ProbeError(f"train returned {type_name(returned)}, expected a list of losses")
    return {"losses": [{"type": type_name(loss), "value": number_or_none(loss)} for loss in returned],
            "first_batch_losses": first_batch_losses(loader),
            "initial_params": tensor_to_list(torch.cat([p.detach().flatten()
                                                        for p in training_setup([])[0].parameters()])),
            "final_params": tensor_to_list(torch.cat([p.detach().flatten() for p in model.parameters()])),
            "events": compress_events(events), "n_batches": len(loader), "n_epochs": TRAIN_EPOCHS}


def first_batch_losses(loader: DataLoader) -> dict[str, list[float]]:
    """The untrained model's loss on every batch, with the given loss and with a plain CrossEntropyLoss.

    Only the reference run's values are used: a submission whose losses are
    among them computed something real (e.g. forgot optimizer.step(), or
    ignored the given loss_fn).
    """
    model, _, loss_fn, _ = training_setup([])
    losses: dict[str, list[float]] = {"given": [], "plain": []}
    with torch.no_grad():
        for batch, labels in loader:
            logits = model(batch)
            losses["given"].append(float(loss_fn(logits, labels)))
            losses["plain"].append(float(nn.CrossEntropyLoss()(logits, labels)))
    return losses


def training_setup(events: list[str]) -> tuple[nn.Module, RecordingSGD, nn.Module, DataLoader]:
    """Model, SGD optimizer with momentum, loss and loader that append to ``events`` when used."""

    class RecordingModel(nn.Sequential):
        def forward(self, batch):
            events.append("forward")
            return super().forward(batch)

        def zero_grad(self, set_to_none: bool = True):
            events.append("zero_grad")
            super().zero_grad(set_to_none)

    class RecordingLoss(nn.CrossEntropyLoss):
        def forward(self, input, target):  # torch's argument names: loss_fn(input=..., target=...) works too
            events.append("loss")
            return super().forward(input, target)

    torch.manual_seed(run_seed())
    n_features = math.prod(TRAIN_FEATURE_SHAPE)
    model = RecordingModel(nn.Flatten(), nn.Linear(n_features, TRAIN_HIDDEN), nn.ReLU(),
                           nn.Linear(TRAIN_HIDDEN, N_CLASSES))
    first_weight = next(model.parameters())
    first_weight.register_hook(lambda grad: events.append("backward"))
    optimizer = RecordingSGD(model.parameters(), lr=TRAIN_LR, events=events, momentum=TRAIN_MOMENTUM)
    images = torch.randn((TRAIN_SAMPLES, *TRAIN_FEATURE_SHAPE), generator=generator(500))
    labels = torch.randint(N_CLASSES, (TRAIN_SAMPLES,), generator=generator(501))
    loader = DataLoader(TensorDataset(images, labels), batch_size=TRAIN_BATCH, shuffle=False)
    return model, optimizer, RecordingLoss(label_smoothing=TRAIN_LABEL_SMOOTHING), loader


def compress_events(events: list[str]) -> list[str]:
    """Events with repeated forward passes kept once per run, e.g. [forward, loss, backward, step]."""
    compressed: list[str] = []
    for event in events:
        if not (compressed and compressed[-1] == event == "forward"):
            compressed.append(event)
    return compressed


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
    checks = Checks(TASK, POINTS, CHECKS, WORK_CHECKS)
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
