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


def replay(namespace: dict, loaders: dict, build_model, fingerprint) -> dict[str, list[list[float]]]:
    """Fingerprints of model k (k < TRACKED_MODELS) after each hypothesis' training, by hypothesis.

    ``build_model(k)`` returns the k-th model with its grader-drawn initial
    weights; ``namespace["train"]`` is the reference's training loop.
    """
    import torch
    from torch import nn

    train = namespace["train"]
    results = {}
    for name, (optimizer_name, lr, epochs, loader, _) in HYPOTHESES.items():
        prints = []
        for index in range(TRACKED_MODELS):
            model = build_model(index)
            optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), lr=lr)
            train(model, loaders[loader], optimizer, nn.CrossEntropyLoss(), n_epochs=epochs, show_progress=False)
            prints.append(fingerprint(model))
        results[name] = prints
    return results
