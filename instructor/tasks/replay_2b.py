"""Task 2b, trusted side: what training each model the intended way, and in typical wrong ways, yields.

This source is sent only in the reference's own 2b job (never to a task that
runs student code, which must not hold Task 2b's answer) and executed there
by Task 2b's probe (``instructor/tasks/probe_2b.py``), whose verdict imports ``HYPOTHESES``
to turn a match into points. A submission's 2b result is judged by behaviour: the weights of
every model after its code ran must match one of these trainings, started
from the same grader-drawn initial weights on the same grader-drawn loaders.
"""
from __future__ import annotations

from ex4.sheet import TASK_2B_LEARNING_RATE as LR

# name -> (optimizer class in torch.optim, learning rate, epochs, loader, what it means); the checks a
# match fails follow from these facts (``task_2b.judge``)
INTENDED = "intended"
UNTRAINED = "untrained"
HYPOTHESES = {
    INTENDED: ("Adam", LR, 1, "train", f"Adam with learning rate {LR}, one epoch on train_loader"),
    "adam_default_lr": ("Adam", 0.001, 1, "train", "Adam with its default learning rate 0.001"),
    "adam_lr_0.01": ("Adam", 0.01, 1, "train", "Adam with learning rate 0.01"),
    "adam_lr_0.4": ("Adam", 0.4, 1, "train", "Adam with learning rate 0.4"),
    "adam_lr_0.004": ("Adam", 0.004, 1, "train", "Adam with learning rate 0.004"),
    "sgd": ("SGD", LR, 1, "train", "SGD instead of Adam"),
    "adamw": ("AdamW", LR, 1, "train", "AdamW instead of Adam"),
    "rmsprop": ("RMSprop", LR, 1, "train", "RMSprop instead of Adam"),
    "two_epochs": ("Adam", LR, 2, "train", "two epochs per model instead of one"),
    "default_epochs": ("Adam", LR, 20, "train", "20 epochs per model (train's default) instead of one"),
    "test_loader": ("Adam", LR, 1, "test", "training on test_loader instead of train_loader"),
    UNTRAINED: ("Adam", LR, 0, "train", "the initial weights: the models were not trained"),
}
# models are numbered in the order they are built; this many are replayed
TRACKED_MODELS = 24
# trainings longer than this are replayed only for the models the given code builds (probe_2b.MODELS_2B):
# a submission that builds more and trains them 20 epochs is judged from its optimizers and loaders
LONGEST_FOR_EVERY_MODEL = 2


def trainings() -> dict[tuple[str, float, str], dict[int, list[str]]]:
    """The hypotheses grouped by (optimizer, learning rate, loader): epochs -> the hypotheses that stop there.

    One training per group gives them all: its weights after 0, 1, 2 and 20
    epochs are those of the untrained, intended, two-epoch and default-epoch
    hypotheses (``train`` keeps no state between calls but the model's and the optimizer's).
    """
    grouped: dict[tuple[str, float, str], dict[int, list[str]]] = {}
    for name, (optimizer_name, lr, epochs, loader, _) in HYPOTHESES.items():
        grouped.setdefault((optimizer_name, lr, loader), {}).setdefault(epochs, []).append(name)
    return grouped


def replay(namespace: dict, loaders: dict, build_model, fingerprint, part: int = 0,
           parts: int = 1) -> dict[str, list[list[float] | None]]:
    """Fingerprints of the models k (k < TRACKED_MODELS, k % parts == part) after each hypothesis' training.

    By hypothesis, a list indexed by k; None for the models of the other parts
    (``merge_parts`` fills them in), [] where a long training is not replayed
    (``LONGEST_FOR_EVERY_MODEL``). ``build_model(k)`` returns the k-th model
    with its grader-drawn initial weights; ``namespace["train"]`` is the
    reference's training loop.
    """
    import torch
    from torch import nn

    from instructor.tasks.probe_2b import MODELS_2B

    train = namespace["train"]
    results: dict[str, list] = {name: [None] * TRACKED_MODELS for name in HYPOTHESES}
    for (optimizer_name, lr, loader), stops in trainings().items():
        for index in range(part, TRACKED_MODELS, parts):
            model = build_model(index)
            optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), lr=lr)
            trained = 0
            for epochs in sorted(stops):
                replayed = index < MODELS_2B or epochs <= LONGEST_FOR_EVERY_MODEL
                if replayed:
                    train(model, loaders[loader], optimizer, nn.CrossEntropyLoss(), n_epochs=epochs - trained,
                          show_progress=False)
                    trained = epochs
                print_now = fingerprint(model) if replayed else []
                for name in stops[epochs]:
                    results[name][index] = print_now
    return results


def merge_parts(parts: list[dict[str, list]]) -> dict[str, list]:
    """One ``replay`` result from those of every part: each model's fingerprints from the part that replayed it.

    Raises ValueError when a model was replayed by no part.
    """
    merged = {name: list(prints) for name, prints in parts[0].items()}
    for other in parts[1:]:
        for name, prints in other.items():
            merged[name] = [mine if mine is not None else theirs for mine, theirs in zip(merged[name], prints)]
    missing = sorted({index for prints in merged.values() for index, value in enumerate(prints) if value is None})
    if missing:
        raise ValueError(f"the replay of Task 2b has no fingerprints for models {missing}")
    return merged
