"""Task 2a, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ex4.fixtures import N_CLASSES, RecordingSGD
from instructor.grading.probes import (
    ProbeError,
    generator,
    number_or_none,
    run_seed,
    seed_torch,
    tensor_to_list,
    type_name,
)

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

    seed_torch(run_seed())
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
