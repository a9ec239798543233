"""Verdicts of Tasks 1b and 2b on hand-made probe results: each check on its own evidence, work gated.

Fast: the verdicts read plain JSON; no sandbox, no torch.
"""
from __future__ import annotations

import pytest

from instructor.tasks import task_1b, task_2b
from instructor.tasks.replay_2b import HYPOTHESES, INTENDED, UNTRAINED

N_MODELS = 3
TRAIN_BATCHES, TEST_BATCHES = 3, 2
LR = HYPOTHESES[INTENDED][1]


def fingerprint_of(name: str, build: int) -> list[float]:
    """A distinct fingerprint per replayed training and model."""
    return [float(list(HYPOTHESES).index(name) * 10 + build), 1.0]


REFERENCE_2B = {"replayed": {name: [fingerprint_of(name, b) for b in range(N_MODELS)] for name in HYPOTHESES},
                "n_models": N_MODELS, "loader_batches": {"train": TRAIN_BATCHES, "test": TEST_BATCHES}}


def student_2b(trained_as: str | None, optimizer: str = "Adam", lr: float = LR, train_iterations: int = N_MODELS,
               test_iterations: int = 0, steps: int = TRAIN_BATCHES, loss_length: int = TRAIN_BATCHES) -> dict:
    """A 2b probe result: weights of ``trained_as`` (None: of no replayed training), and the objects' facts."""
    prints = [fingerprint_of(trained_as, b) if trained_as else [999.0 + b, -1.0] for b in range(N_MODELS)]
    return {"n_models": N_MODELS, "models": [{"built": b, "fingerprint": prints[b]} for b in range(N_MODELS)],
            "optimizers": [{"type": optimizer, "is_optimizer": True, "torch_class": optimizer, "steps": steps,
                            "lrs": [lr], "owners": [i], "complete_for": [i]} for i in range(N_MODELS)],
            "n_distinct_optimizers": N_MODELS,
            "loader_iterations": {"train": train_iterations, "test": test_iterations},
            "loader_batches": {"train": TRAIN_BATCHES, "test": TEST_BATCHES}, "loss_lengths": [loss_length] * N_MODELS}


@pytest.mark.parametrize("student, points, failed", [
    (student_2b(INTENDED), 10, []),
    (student_2b("sgd", optimizer="SGD"), 8, ["optimizer_type"]),
    (student_2b("test_loader", train_iterations=0, test_iterations=N_MODELS, loss_length=TEST_BATCHES), 8,
     ["train_loader"]),
    # weights of no replayed training: the facts come from the optimizers and loaders
    (student_2b(None, train_iterations=3 * N_MODELS, steps=3 * TRAIN_BATCHES, loss_length=3 * TRAIN_BATCHES), 9,
     ["one_epoch_each"]),
    (student_2b(None, lr=0.05), 8, ["learning_rate"]),
    (student_2b(None, optimizer="RMSprop", lr=0.01), 6, ["optimizer_type", "learning_rate"]),
    (student_2b(None, train_iterations=0, test_iterations=2 * N_MODELS, loss_length=2 * TEST_BATCHES), 7,
     ["train_loader", "one_epoch_each"]),
], ids=["intended", "sgd", "test_loader", "three_epochs", "lr_0.05", "rmsprop_default_lr", "test_loader_twice"])
def test_2b_judges_each_check_on_its_own_evidence(student, points, failed):
    grade = task_2b.verdict(student, REFERENCE_2B)
    assert (grade.points, sorted(grade.failed)) == (points, sorted(failed)), grade.messages


def test_2b_says_what_it_read_from_the_objects():
    student = student_2b(None, train_iterations=3 * N_MODELS, steps=3 * TRAIN_BATCHES, loss_length=3 * TRAIN_BATCHES)
    assert any("3 epoch(s) per model" in message for message in task_2b.verdict(student, REFERENCE_2B).messages)


@pytest.mark.parametrize("student", [student_2b(UNTRAINED, steps=0, loss_length=0),
                                     student_2b(None, steps=0)], ids=["untrained", "never_stepped"])
def test_2b_gives_nothing_without_training(student):
    grade = task_2b.verdict(student, REFERENCE_2B)
    assert grade.points == 0 and any("shows no work" in message for message in grade.messages)


RIGHT_OUTPUTS = [[[0.5, -0.5]]]
SHAPES = [[2, 3], [2]]


def model_1b(flag: str, n_linear: int = 3, wrapped: tuple = (), outputs: list = RIGHT_OUTPUTS) -> dict:
    return {"type": flag, "is_fixed_mlp": flag == "is_fixed_mlp", "is_simple_mlp": flag == "is_simple_mlp",
            "is_sequential": flag == "is_sequential", "param_shapes": SHAPES, "n_linear": n_linear,
            "wrapped": list(wrapped), "outputs_by_ordering": outputs}


REFERENCE_1B = {"model1": model_1b("is_fixed_mlp"), "batch_shape": [6, 1, 28, 28]}


@pytest.mark.parametrize("models, points, failed", [
    ({}, 10, []),
    ({"model3": model_1b("is_sequential", wrapped=("SimpleFixedMLP",))}, 9, ["model3_type"]),
    ({"model3": model_1b("is_sequential", outputs=[[[9.0, 9.0]]])}, 6, ["model3_function"]),
    ({"model2": model_1b("is_simple_mlp", outputs=[[[9.0, 9.0]]])}, 8, ["model2_function"]),
    ({"model3": model_1b("is_sequential", n_linear=0, outputs=[[[9.0, 9.0]]])}, 5, ["model3_type", "model3_function"]),
], ids=["right", "wraps_simple_fixed_mlp", "model3_other_function", "model2_other_function", "empty_sequential"])
def test_1b_type_counts_for_a_real_model_with_layers(models, points, failed):
    student = {"model1": model_1b("is_fixed_mlp"), "model2": model_1b("is_simple_mlp"),
               "model3": model_1b("is_sequential"), **models}
    grade = task_1b.verdict(student, REFERENCE_1B)
    assert (grade.points, sorted(grade.failed)) == (points, sorted(failed)), grade.messages
