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
