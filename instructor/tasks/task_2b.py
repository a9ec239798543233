"""Task 2b, the grader's side: its checks, the answer's shape and the verdict on the probe's JSON (no torch)."""
from __future__ import annotations

from pathlib import Path

from ex4.sheet import TASK_INFO
from instructor.grading.verdicts import Checks, TaskGrade, all_close, finite
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


# none: the points count only when the weights match one of the replayed trainings (evidence of work)
WORK_CHECKS = ()


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
    from instructor.tasks.replay_2b import HYPOTHESES, INTENDED, UNTRAINED

    checks = Checks(INFO.id, INFO.points, CHECKS, WORK_CHECKS)
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


TASK = Task(INFO.id, INFO.title, INFO.points, CHECKS, WORK_CHECKS, answer=Statements(("optimizers",), "train_models"),
            probe="instructor.tasks.probe_2b", verdict=verdict, skipped_calls=("train_models", "plot_smoothed_losses"),
            trusted_sources={"replay_source": REPLAY_PATH}, reference_needs=("SimpleMLP", "train"))
