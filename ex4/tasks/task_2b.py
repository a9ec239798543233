"""Task 2b (10 points): ten models, one Adam optimizer each, trained one epoch; their losses."""
from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from ex4.checking import (
    GATE,
    INDEPENDENT,
    LOSS_DROP_FACTOR,
    CheckFailed,
    CheckResult,
    NotStarted,
    Skipped,
    describe,
    error_text,
    is_number,
    report,
    require,
    run_checks,
    seeded,
)
from ex4.sheet import TASK_2B_LEARNING_RATE

ADAM_DEFAULT_LEARNING_RATE = 1e-3
# share of a model's losses averaged at the start and at the end of training
_LOSS_WINDOW_SHARE = 0.1


def error_of_the_2b_cell(models: Sequence[nn.Module], optimizers: object,
                         losses: object) -> BaseException | None:
    """The last error the notebook showed, if it stopped the Task 2b cell that made these lists at its first model.

    IPython keeps the last error it showed in ``sys.last_value`` (also ``sys.last_exc`` from Python
    3.12). The Task 2b cell is the frame on its traceback whose code calls ``announce_training`` and
    whose globals hold these very ``optimizers`` and ``losses`` lists, with the loop's ``model`` still
    ``models[0]``: a later run of the cell that went through all models makes an older error stale.
    Outside IPython: None.
    """
    error = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    traceback = getattr(error, "__traceback__", None)
    while traceback is not None:
        names = traceback.tb_frame.f_globals
        if ("announce_training" in traceback.tb_frame.f_code.co_names and names.get("optimizers") is optimizers
                and names.get("losses") is losses and len(models) > 0 and names.get("model") is models[0]):
            return error
        traceback = traceback.tb_next
    return None


@seeded
def task_2b_results(models: Sequence[nn.Module], optimizers: object, losses: object,
                    train_loader: DataLoader) -> list[CheckResult]:
    """Checks of the optimizers and losses of Task 2b; nothing is trained or modified."""

    def defined() -> str:
        for name, value in (("optimizers", optimizers), ("losses", losses)):
            hint = (f"keep `{name} = []` as the Task 2b cell gives it, and append one entry per model"
                    if value is None else f"build {name} as a list with one entry per model")
            require(isinstance(value, (list, tuple)), f"{name} to be a list", describe(value), hint)
        if optimizers or losses:
            return "optimizers and losses are lists"
        trained = any(p.grad is not None for model in models if isinstance(model, nn.Module)
                      for p in model.parameters())
        error = error_of_the_2b_cell(models, optimizers, losses)
        if error is not None:
            raise CheckFailed("the Task 2b cell to train every model and fill optimizers and losses",
                               f"it stopped {'after' if trained else 'before'} training its first model, with "
                               f"{error_text(error)}",
                               "your code in the loop over the models raised this error (shown below the Task 2b "
                               "cell): fix it, run that cell again, then this check")
        if not trained:
            raise NotStarted("optimizers and losses are still empty and no model was trained: the body of the "
                             "loop over the models creates no optimizer and trains nothing yet (the TODO stub)")
        raise CheckFailed("one optimizer and one list of losses per model in optimizers and losses",
                          "two empty lists, although the models were trained",
                          "append each model's optimizer to optimizers and the list of losses train() "
                          "returns to losses, inside the loop")

    def one_optimizer_per_model() -> str:
        require(len(optimizers) == len(models), f"{len(models)} optimizers, one per model",
                 f"{len(optimizers)}", "create one optimizer for each model in `models`")
        for index, optimizer in enumerate(optimizers):
            if isinstance(optimizer, type):
                raise CheckFailed(f"optimizers[{index}] to be an optimizer", describe(optimizer),
                                   f"create an optimizer by calling the class: {optimizer.__name__}("
                                   "model.parameters(), lr=...)")
            require(isinstance(optimizer, torch.optim.Optimizer), f"optimizers[{index}] to be an optimizer",
                     describe(optimizer), "create a torch.optim.Adam for each model")
        for index, optimizer in enumerate(optimizers):
            first = next(j for j, other in enumerate(optimizers) if other is optimizer)
            require(first == index, f"optimizers[{first}] and optimizers[{index}] to be two optimizers",
                     "one and the same optimizer object",
                     "the models share one optimizer: create a new optimizer for every model")
        all_parameters = {id(parameter) for model in models for parameter in model.parameters()}
        for index, optimizer in enumerate(optimizers):
            owned = {id(parameter) for parameter in models[index].parameters()}
            held = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
            if held == owned:
                continue
            if len(models) > 1 and held == all_parameters:
                raise CheckFailed(f"optimizers[{index}] to hold the parameters of models[{index}] only",
                                   "the parameters of all models",
                                   "one optimizer over all models' parameters: create one optimizer per "
                                   "model, each with that model's parameters")
            owner = next((j for j, other in enumerate(models)
                          if held == {id(parameter) for parameter in other.parameters()}), None)
            raise CheckFailed(f"optimizers[{index}] to hold the parameters of models[{index}]",
                               f"the parameters of models[{owner}]" if owner is not None else "other parameters",
                               f"pass models[{index}].parameters() to optimizers[{index}]")
        for index, optimizer in enumerate(optimizers):
            require(isinstance(optimizer, torch.optim.Adam), f"optimizers[{index}] to be torch.optim.Adam",
                     f"a {type(optimizer).__name__}", "use torch.optim.Adam")
        return "one Adam optimizer per model, holding that model's parameters"

    def learning_rate() -> str:
        if not all(isinstance(optimizer, torch.optim.Optimizer) for optimizer in optimizers):
            raise Skipped("needs optimizers (see above)")
        for i, optimizer in enumerate(optimizers):
            groups = optimizer.param_groups
            rates = sorted({group["lr"] for group in groups})
            if rates and all(math.isclose(rate, ADAM_DEFAULT_LEARNING_RATE) for rate in rates):
                hint = f"{ADAM_DEFAULT_LEARNING_RATE} is Adam's default learning rate: pass lr={TASK_2B_LEARNING_RATE}"
            else:
                hint = f"pass lr={TASK_2B_LEARNING_RATE} to torch.optim.Adam"
            require(bool(rates) and all(math.isclose(rate, TASK_2B_LEARNING_RATE) for rate in rates),
                     f"learning rate {TASK_2B_LEARNING_RATE}", f"{rates} for optimizers[{i}]", hint)
        return f"learning rate {TASK_2B_LEARNING_RATE}"

    def losses_shape() -> str:
        n_batches, n_models = len(train_loader), len(models)
        flat = bool(losses) and all(is_number(loss) or isinstance(loss, torch.Tensor) for loss in losses)
        if flat and len(losses) != n_models:
            if len(losses) == n_models * n_batches:
                hint = "append the list that train() returns for each model (append, not extend)"
            elif len(losses) % n_batches == 0:
                hint = ("losses holds the losses of a single model: `losses = train(...)` replaces them "
                        "for every model; append each model's list to losses instead")
            else:
                hint = "append the list that train() returns for each model to losses"
            raise CheckFailed(f"one list of losses per model ({n_models})",
                               f"a flat list of {len(losses)} numbers", hint)
        if flat:
            raise CheckFailed("losses[0] to be the list of losses that train() returns for models[0]",
                               describe(losses[0]),
                               "append the whole list that train() returns, not only its last loss")
        require(len(losses) == n_models, f"one list of losses per model ({n_models})",
                 f"{len(losses)} entries",
                 "append the list that train() returns for each model, once (append, not extend)")
        for i, model_losses in enumerate(losses):
            got = len(model_losses) if isinstance(model_losses, (list, tuple)) else None
            if got is None:
                hint = "append the whole list that train() returns"
            elif got == 0:
                hint = (f"train() returned no losses for models[{i}]: does your train() from Task 2a append the "
                        "loss of every iteration, and do you pass n_epochs=N_EPOCHS_2B?")
            elif got % n_batches == 0:
                hint = (f"that is {got // n_batches} epochs: pass n_epochs=N_EPOCHS_2B to train() "
                        "(its default is 20 epochs)")
            else:
                hint = (f"one epoch of train_loader has {n_batches} batches: train every model on "
                        "train_loader (not test_loader), for one epoch")
            require(got == n_batches,
                     f"losses[{i}] to hold {n_batches} losses (one epoch of train_loader)",
                     describe(model_losses) if got is None else f"{got} losses", hint)
            if not all(isinstance(loss, float) for loss in model_losses):
                kinds = sorted({type(loss).__name__ for loss in model_losses})
                raise CheckFailed(f"losses[{i}] to hold floats", f"values of type {', '.join(kinds)}",
                                   "train() must return Python floats: append loss.item() in Task 2a")
            require(all(math.isfinite(loss) for loss in model_losses),
                     f"losses[{i}] to hold finite losses", "NaN or infinite losses",
                     "the training diverged: check the learning rate")
        return "one epoch of losses per model"

    def fall_hint(i: int) -> str:
        optimizer = optimizers[i] if isinstance(optimizers, (list, tuple)) and i < len(optimizers) else None
        if isinstance(optimizer, torch.optim.Optimizer):
            held = {id(p) for group in optimizer.param_groups for p in group["params"]}
            if held != {id(p) for p in models[i].parameters()}:
                return (f"optimizers[{i}] does not hold the parameters of models[{i}]: train every model "
                        "with its own optimizer")
            rates = {group["lr"] for group in optimizer.param_groups}
            if not all(math.isclose(rate, TASK_2B_LEARNING_RATE) for rate in rates):
                return (f"with the learning rate {sorted(rates)} the loss hardly falls in one epoch: pass "
                        f"lr={TASK_2B_LEARNING_RATE}")
        return (f"check that models[{i}] is trained with its own optimizer (models[{i}] with "
                f"optimizers[{i}])")

    def losses_fall() -> str:
        for i, model_losses in enumerate(losses):
            window = max(1, int(_LOSS_WINDOW_SHARE * len(model_losses)))
            first = sum(model_losses[:window]) / window
            last = sum(model_losses[-window:]) / window
            require(last < LOSS_DROP_FACTOR * first,
                     f"the loss of models[{i}] to fall during training",
                     f"mean of the first {window} losses {first:.3f}, "
                     f"of the last {window} {last:.3f}",
                     "" if last < LOSS_DROP_FACTOR * first else fall_hint(i))
        return "every model's loss falls during training"

    return run_checks("2b", [
        ("defined", defined, GATE),
        ("optimizers", one_optimizer_per_model, INDEPENDENT),
        ("learning rate", learning_rate, INDEPENDENT),
        ("losses", losses_shape, GATE),
        ("training progress", losses_fall, INDEPENDENT),
    ])


def check_task_2b(models: Sequence[nn.Module], optimizers: object, losses: object,
                  train_loader: DataLoader) -> None:
    """Print the self-check verdict for Task 2b:
    ``check_task_2b(models, optimizers, losses, train_loader)``."""
    report("2b", lambda: task_2b_results(models, optimizers, losses, train_loader))
