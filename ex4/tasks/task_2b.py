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

TASK = "2b"
TITLE = "ten models, one Adam optimizer each"
POINTS = 10

TASK_2B_LEARNING_RATE = 0.04
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


# ==== grader only: students receive this module up to this line (instructor/shipped.py) ====
from instructor.grading.probes import (
    MNIST_FEATURES,
    SYNTHETIC_LOADERS,
    ProbeError,
    after,
    generator,
    number_or_none,
    provide_reference_model,
    recording_loader,
    run_seed,
    run_task_code,
    type_name,
)
from instructor.grading.verdicts import Checks, TaskGrade, all_close, finite

# check -> (points, what it tests as students read it); WORK_CHECKS: see ex4/tasks/__init__.py
CHECKS = {
    # catches: one shared optimizer
    "one_optimizer_per_model": (3, "one optimizer per model, holding exactly that model's parameters"),
    # catches: another optimizer
    "optimizer_type": (2, "the optimizers are of the type the task asks for"),
    # catches: another learning rate
    "learning_rate": (2, "the learning rate is the one the task asks for"),
    # catches: the test loader
    "train_loader": (2, "trained on train_loader, never on test_loader"),
    # catches: two epochs
    "one_epoch_each": (1, "each model trained one epoch, losses collected per model"),
}
# none: the points count only when the weights match one of the replayed trainings (evidence of work)
WORK_CHECKS = ()


MODELS_2B = 10


DIMS_2B = [MNIST_FEATURES, 32, 10]


# seed offsets of the 2b models' initial weights (plus build number) and of the fingerprint directions
INITIAL_WEIGHTS_OFFSET = 3000


FINGERPRINT_OFFSET = 2999


INITIAL_WEIGHT_SCALE = 0.5


FINGERPRINT_SIZE = 8


def numbered_mlp_class(reference_mlp: type, built: list, counter: list[int]) -> type:
    """A SimpleMLP that gives every model it builds initial weights drawn from the run's seed and a number.

    ``built`` collects (model, number); ``counter[0]`` is the next number.
    The probe resets it to 0 when the 2b code starts, so the models of that
    code get small numbers whether they are built there or in a cell before
    (a script export splits the 2b cell); two models with one number start
    from the same weights, which the replay (``replay_2b``) handles alike.
    """

    class SimpleMLP(reference_mlp):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            load_drawn_weights(self, counter[0])
            built.append((self, counter[0]))
            counter[0] += 1

    return SimpleMLP


def provide(task_job: dict, provided: dict, state: dict) -> None:
    """Task 2b's cell trains with the reference's train; every SimpleMLP it builds gets a number and drawn weights."""
    provide_reference_model(task_job, provided, state)
    state["built"], state["counter"] = [], [0]
    provided["SimpleMLP"] = numbered_mlp_class(state["reference_mlp"], state["built"], state["counter"])


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    """Run the submission's 2b code; fingerprint every model's weights; describe optimizers and loader use."""
    loaders, iterations, built = state["loaders"], state["iterations"], state["built"]
    iterations.clear()
    state["counter"][0] = 0
    torch.manual_seed(run_seed())
    if task_job["kind"] == "function":
        models = [namespace["SimpleMLP"](list(DIMS_2B)) for _ in range(MODELS_2B)]
        returned = namespace["train_models"](models, loaders["train"], nn.CrossEntropyLoss())
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            raise ProbeError(f"train_models returned {type_name(returned)}, expected (optimizers, losses)")
        optimizers, losses = returned
    else:
        error = run_task_code(task_job, namespace)
        models, optimizers, losses = (namespace.get(n) for n in ("models", "optimizers", "losses"))
    if not isinstance(models, list) or not all(isinstance(m, nn.Module) for m in models):
        raise ProbeError(f"models is {type_name(models)}, expected the list of models{after(error)}")
    if not isinstance(optimizers, (list, tuple)):
        raise ProbeError(f"optimizers is {type_name(optimizers)}, expected a list with one optimizer per model"
                         f"{after(error)}")
    owner = {id(p): index for index, model in enumerate(models) for p in model.parameters()}
    result = {"n_models": len(models),
              "models": [{"built": next((number for m, number in reversed(built) if m is model), None),
                          "fingerprint": fingerprint(model)} for model in models],
              "optimizers": [describe_optimizer(o, owner, models) for o in optimizers],
              "n_distinct_optimizers": len({id(o) for o in optimizers}),
              "loader_iterations": {name: iterations.count(name) for name in loaders},
              "loader_batches": {name: len(loader) for name, loader in loaders.items()},
              "loss_lengths": [len(per_model) if isinstance(per_model, (list, tuple)) else None for per_model in losses]
              if isinstance(losses, (list, tuple)) else None}
    if task_job["kind"] != "function" and error:
        result["cell_error"] = error
    if "replay_source" in task_job:
        result["replayed"] = replay_reference_trainings(task_job["replay_source"], namespace,
                                                        state["reference_mlp"])
    return result


def replay_reference_trainings(source: str, namespace: dict, mlp_class: type) -> dict:
    """Reference run only: fingerprints of the trainings in ``replay_2b`` from the same initial weights."""
    replay_module: dict = {"__name__": "replay_2b"}
    exec(compile(source, "<replay_2b>", "exec"), replay_module)
    plain = {name: DataLoader(recording_loader(name, spec, 600 + offset, []).dataset, batch_size=spec["batch"],
                              shuffle=False) for offset, (name, spec) in enumerate(SYNTHETIC_LOADERS.items())}

    def build_model(index: int) -> nn.Module:
        model = mlp_class(list(DIMS_2B))
        load_drawn_weights(model, index)
        return model

    return replay_module["replay"](namespace, plain, build_model, fingerprint)


def load_drawn_weights(model: nn.Module, build_number: int) -> None:
    """Give ``model`` initial weights drawn from this run's seed and its build number."""
    rng = generator(INITIAL_WEIGHTS_OFFSET + build_number)
    with torch.no_grad():
        for parameter in model.parameters():
            fan_in = parameter.shape[1] if parameter.dim() > 1 else 1
            parameter.copy_(torch.randn(parameter.shape, generator=rng) / math.sqrt(fan_in) * INITIAL_WEIGHT_SCALE)


def fingerprint(model: nn.Module) -> list[float] | None:
    """The model's weights projected on FINGERPRINT_SIZE random directions drawn from this run's seed."""
    parameters = [p.detach().flatten() for p in model.parameters()]
    if not parameters:
        return None
    flat = torch.cat(parameters).to(torch.float64)
    directions = torch.randn((flat.numel(), FINGERPRINT_SIZE), generator=generator(FINGERPRINT_OFFSET),
                             dtype=torch.float64)
    return (flat @ directions / math.sqrt(flat.numel())).tolist()


def describe_optimizer(optimizer: object, owner: dict, models: list) -> dict:
    if not isinstance(optimizer, torch.optim.Optimizer):
        return {"type": type_name(optimizer), "is_optimizer": False}
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    owners = sorted({owner.get(id(p), -1) for p in parameters})
    complete = [all(any(p is q for q in parameters) for p in model.parameters()) for model in models]
    return {"type": type_name(optimizer), "is_optimizer": True,
            "lrs": [number_or_none(group.get("lr")) for group in optimizer.param_groups],
            "owners": owners, "complete_for": [i for i, ok in enumerate(complete) if ok]}


# fingerprints (random projections) of weights after a few float32 Adam steps of the same computation
WEIGHTS_TOL = {"atol": 1e-4, "rtol": 1e-3}


def matching_trainings(fingerprint: object, built: object, replayed: dict[str, list]) -> list[str]:
    """Names of the replayed trainings (see ``replay_2b``) whose weights the model's fingerprint matches."""
    if not isinstance(built, int) or not isinstance(fingerprint, list) or not all(finite(x) for x in fingerprint):
        return []
    return [name for name, prints in replayed.items()
            if 0 <= built < len(prints) and all_close(fingerprint, prints[built], WEIGHTS_TOL)]


def describe_optimizers(optimizers: list) -> str:
    shown = sorted({f"{o.get('type')} with learning rate {o.get('lrs')}" if o.get("is_optimizer")
                    else f"a {o.get('type')}" for o in optimizers if isinstance(o, dict)})
    return "; ".join(shown[:3]) or "none"


def verdict(student: dict, reference: dict) -> TaskGrade:
    # the replayed trainings live with the reference, never in a process that runs student code
    from instructor.grading.replay_2b import HYPOTHESES, INTENDED, UNTRAINED

    checks = Checks(TASK, POINTS, CHECKS, WORK_CHECKS)
    replayed = reference["replayed"]
    n_models, models, optimizers = student["n_models"], student["models"], student["optimizers"]
    matches = [matching_trainings(m.get("fingerprint"), m.get("built"), replayed) for m in models]
    common = set.intersection(*(set(m) for m in matches)) if matches else set()
    if n_models != reference["n_models"]:
        checks.fail("one_epoch_each", f"models holds {n_models} models, expected the {reference['n_models']} "
                    "models of the given code")
    if INTENDED in common:
        hypothesis = INTENDED
    else:
        hypothesis = next((name for name in HYPOTHESES if name in common), None)
    if hypothesis is None:
        unmatched = [i for i, m in enumerate(matches) if not m]
        which = f"models[{unmatched[0]}]" if unmatched else "the models"
        for check in ("optimizer_type", "learning_rate", "train_loader", "one_epoch_each"):
            checks.fail(check, f"after your code ran, the weights of {which} match no training of this model "
                        f"from its initial weights: expected {HYPOTHESES[INTENDED][5]} for every model "
                        f"(your optimizers: {describe_optimizers(optimizers)}; train_loader iterated "
                        f"{student['loader_iterations'].get('train')} times, test_loader "
                        f"{student['loader_iterations'].get('test')} times)")
    else:
        checks.evidence_of_work = hypothesis != UNTRAINED
        for check in HYPOTHESES[hypothesis][4]:
            checks.fail(check, f"the weights after training are those of {HYPOTHESES[hypothesis][5]}; "
                        f"expected {HYPOTHESES[INTENDED][5]}")
    if len(optimizers) != n_models:
        checks.fail("one_optimizer_per_model", f"{len(optimizers)} optimizers for {n_models} models, "
                    "expected one per model (optimizers[i] for models[i])")
    elif student["n_distinct_optimizers"] != n_models:
        checks.fail("one_optimizer_per_model", f"only {student['n_distinct_optimizers']} distinct optimizer "
                    f"object(s) for {n_models} models: create a new optimizer for every model")
    for index, optimizer in enumerate(optimizers):
        if not optimizer.get("is_optimizer"):
            checks.fail("one_optimizer_per_model", f"optimizers[{index}] is a {optimizer.get('type')}, "
                        "not a torch.optim optimizer")
        elif optimizer.get("owners") != [index] or index not in (optimizer.get("complete_for") or []):
            checks.fail("one_optimizer_per_model", f"optimizers[{index}] holds the parameters of models "
                        f"{optimizer.get('owners')} (-1: none of the models), expected all of models[{index}] only")
    if student["loss_lengths"] != reference["loss_lengths"]:
        checks.fail("one_epoch_each", f"the losses have lengths {student['loss_lengths']}; expected losses[i] "
                    f"with {reference['loss_lengths'][0]} values (one epoch) for every model")
    return checks.grade()
