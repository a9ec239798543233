"""Task 2b, the grader's side: its checks, the answer's shape and the verdict on the probe's JSON (no torch)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ex4.sheet import TASK_INFO
from instructor.grading.verdicts import Checks, TaskGrade, all_close, close, finite
from instructor.tasks.spec import Statements, Task

INFO = TASK_INFO["2b"]
# the trainings the reference replays: sent only in the reference's own job (never copied to the sandbox)
REPLAY_PATH = Path(__file__).resolve().parent / "replay_2b.py"

# check -> (points, what it tests as students read it); WORK_CHECKS: see instructor/tasks/spec.py
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


# none: every check counts only when the models were trained (``GATE``)
WORK_CHECKS = ()
GATE = ("the models were trained: optimizers holding their parameters took steps and moved their weights "
        "(a cell that never trains, or optimizers over no parameters, shows no work)")


# fingerprints (random projections) of weights after a few float32 Adam steps of the same computation
WEIGHTS_TOL = {"atol": 1e-4, "rtol": 1e-3}
# learning rates are typed in; they compare to this
LR_TOL = {"atol": 1e-12, "rtol": 1e-9}


@dataclass(frozen=True)
class Found:
    """How the models were trained: read from a replayed training their weights match, or from the objects.

    ``optimizers``: the optimizer classes (torch.optim's names); ``lrs``: their
    learning rates; ``loader``: "train", "test", "both" or "none";
    ``epochs``: the epochs per model; ``replayed``: what the matched replayed
    training means, or '' when this was read from the optimizers and loaders
    (``seen``: what was seen there, for messages).
    """

    optimizers: tuple[str, ...]
    lrs: tuple
    loader: str
    epochs: tuple[float, ...]
    replayed: str = ""
    seen: dict = field(default_factory=dict)


def matching_trainings(fingerprint: object, built: object, replayed: dict[str, list]) -> list[str]:
    """Names of the replayed trainings (see ``replay_2b``) whose weights the model's fingerprint matches."""
    if not isinstance(built, int) or not isinstance(fingerprint, list) or not all(finite(x) for x in fingerprint):
        return []
    return [name for name, prints in replayed.items()
            if 0 <= built < len(prints) and prints[built] and all_close(fingerprint, prints[built], WEIGHTS_TOL)]


def describe_optimizers(optimizers: list) -> str:
    shown = sorted({f"{o.get('type')} with learning rate {o.get('lrs')}" if o.get("is_optimizer")
                    else f"a {o.get('type')}" for o in optimizers if isinstance(o, dict)})
    return "; ".join(shown[:3]) or "none"


LOADER_WORDS = {"train": "train_loader", "test": "test_loader", "both": "both loaders", "none": "no loader"}


def loader_used(iterations: dict) -> str:
    """Which of the loaders were iterated: "train", "test", "both" or "none"."""
    train, test = (iterations.get(name) or 0 for name in ("train", "test"))
    return {(True, False): "train", (False, True): "test", (True, True): "both"}.get((train > 0, test > 0), "none")


def found_from_objects(student: dict) -> Found:
    """What the optimizers and loaders themselves say.

    Epochs per model: how often the loader trained on was iterated, per model.
    """
    optimizers = [o for o in student["optimizers"] if o.get("is_optimizer")]
    iterations, n_models = student["loader_iterations"], student["n_models"]
    loader = loader_used(iterations)
    iterated = "test" if loader == "test" else "train"
    epochs = round((iterations.get(iterated) or 0) / n_models, 2) if n_models else 0
    seen = {"loader": f"train_loader iterated {iterations.get('train')} times, test_loader {iterations.get('test')} "
                      "times",
            "epochs": f"{iterated}_loader iterated {iterations.get(iterated)} times for {n_models} models"}
    return Found(tuple(sorted({o.get("torch_class") or f"{o.get('type')} (not torch.optim's)" for o in optimizers})),
                 tuple(lr for o in optimizers for lr in o.get("lrs") or [None]), loader, (epochs,), seen=seen)


def found_from_replay(name: str, hypotheses: dict) -> Found:
    optimizer, lr, epochs, loader, meaning = hypotheses[name]
    return Found((optimizer,), (lr,), loader, (epochs,), replayed=meaning)


def choose_training(common: set[str], objects: Found, hypotheses: dict, intended: str) -> str | None:
    """The replayed training the weights match that the optimizers agree with, else the intended one, else any.

    Trainings close enough to match the same weights (Adam and AdamW over a
    few steps) are told apart by the optimizers' own type and learning rate.
    """
    ordered = [intended, *(name for name in hypotheses if name != intended)]
    matched = [name for name in ordered if name in common]
    agreeing = [name for name in matched if hypotheses[name][0] in objects.optimizers
                and any(close(lr, hypotheses[name][1], **LR_TOL) for lr in objects.lrs)]
    return (agreeing or matched or [None])[0]


def judge(checks: Checks, found: Found, intended: tuple) -> None:
    """Fail the checks of type, learning rate, loader and epochs that ``found`` contradicts."""
    optimizer, lr, epochs, loader, meaning = intended
    failed = [check for check, right in (
        ("optimizer_type", found.optimizers == (optimizer,)),
        ("learning_rate", bool(found.lrs) and all(close(value, lr, **LR_TOL) for value in found.lrs)),
        ("train_loader", found.loader == loader),
        ("one_epoch_each", found.epochs == (epochs,))) if not right]
    for check in failed:
        if found.replayed:
            checks.fail(check, f"the weights after training are those of {found.replayed}; expected {meaning}")
            continue
        wrong, right = {
            "optimizer_type": (f"your optimizers are {', '.join(found.optimizers) or 'none'}", optimizer),
            "learning_rate": (f"their learning rates are {', '.join(sorted(set(map(str, found.lrs)))) or 'none'}",
                              f"{lr}"),
            "train_loader": (f"trained on {LOADER_WORDS[found.loader]} ({found.seen['loader']})",
                             f"{LOADER_WORDS[loader]} only"),
            "one_epoch_each": (f"{found.epochs[0]:g} epoch(s) per model ({found.seen['epochs']})",
                               "one epoch per model")}[check]
        checks.fail(check, f"{wrong}, expected {right} (read from your optimizers and loaders: the weights "
                    "match none of the trainings the grader replayed)")


def verdict(student: dict, reference: dict) -> TaskGrade:
    # the replayed trainings live with the reference, never in a process that runs student code
    from instructor.tasks.replay_2b import HYPOTHESES, INTENDED, UNTRAINED

    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS,
                    no_work_reason="no optimizer holding the models' parameters stepped and moved their weights: "
                    "train every model with its optimizer")
    replayed = reference["replayed"]
    n_models, models, optimizers = student["n_models"], student["models"], student["optimizers"]
    matches = [matching_trainings(m.get("fingerprint"), m.get("built"), replayed) for m in models]
    common = set.intersection(*(set(m) for m in matches)) if matches else set()
    if n_models != reference["n_models"]:
        checks.fail("one_epoch_each", f"models holds {n_models} models, expected the {reference['n_models']} "
                    "models of the given code")
    objects = found_from_objects(student)
    hypothesis = choose_training(common, objects, HYPOTHESES, INTENDED)
    if hypothesis is not None:
        found = found_from_replay(hypothesis, HYPOTHESES)
        checks.evidence_of_work = hypothesis != UNTRAINED
    else:
        found = objects
        stepped = any(o.get("steps") and any(owner >= 0 for owner in o.get("owners") or [])
                      for o in optimizers if o.get("is_optimizer"))
        checks.evidence_of_work = stepped and not all(UNTRAINED in m for m in matches)
    judge(checks, found, HYPOTHESES[INTENDED])
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
    # one epoch's losses per model, on the loader it was trained on
    batches = reference["loader_batches"]["test" if found.loader == "test" else "train"]
    if student["loss_lengths"] != [batches] * reference["n_models"]:
        checks.fail("one_epoch_each", f"the losses have lengths {student['loss_lengths']}; expected losses[i] "
                    f"with {batches} values (one epoch) for every model")
    return checks.grade()


def merge_reference_parts(results: list[dict]) -> dict:
    """The reference's 2b result from its parts: the first part's probe result with every part's replay."""
    from instructor.tasks.replay_2b import merge_parts

    return {**results[0], "replayed": merge_parts([result["replayed"] for result in results])}


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS, answer=Statements(("optimizers",), "train_models"),
            probe="instructor.tasks.probe_2b", verdict=verdict, skipped_calls=("train_models", "plot_smoothed_losses"),
            trusted_sources={"replay_source": REPLAY_PATH}, merge_reference_parts=merge_reference_parts, gate=GATE,
            reference_needs=("SimpleMLP", "train"))
