"""Fixtures that the self-checks and the grader share: the exercise's shapes, small models and data.

* ``ScriptedClassifier`` with ``inputs_predicting``/``scripted_loader``: a
  classifier whose predictions are chosen in advance, for the evaluation
  tasks (3a, 3b).
* ``SyntheticMNIST``: a dataset shaped like torchvision's MNIST, with random images.
* ``TinyClassifier`` and ``RecordingSGD``: a one-layer model and an SGD
  optimizer that log what a training loop does with them (2a).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# what the exercise fixes (MNIST's image shape and classes, Task 1b's sizes), here too for the modules using them
from ex4.sheet import FIXED_MLP_DIMS, MNIST_IMAGE_SHAPE, N_CLASSES  # noqa: F401

EVALUATION_BATCH_SIZE = 4
# ScriptedClassifier: logits = first N_CLASSES features * scale + offset
_LOGIT_SCALE = 4.0
_LOGIT_OFFSET = -2.0
# the input feature of the class to predict; every other feature stays below it
PREDICTED_FEATURE = 1.0
# the other features' largest value when inputs_predicting draws them at random
NOISE_SCALE = 0.5
# ScriptedClassifier's logit of the predicted class on inputs_predicting's inputs without noise
LARGEST_LOGIT = PREDICTED_FEATURE * _LOGIT_SCALE + _LOGIT_OFFSET


class ScriptedClassifier(nn.Module):
    """Predicts for every input the class whose feature is the largest of the input's first N_CLASSES.

    ``inputs_predicting`` makes inputs whose predictions are chosen in advance.
    """

    def __init__(self):
        super().__init__()
        # a parameter, so that the model has a device like any trained model
        self.offset = nn.Parameter(torch.zeros(1))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.flatten(1)[:, :N_CLASSES] * _LOGIT_SCALE + _LOGIT_OFFSET + self.offset


def inputs_predicting(predictions: Sequence[int], sample_shape: Sequence[int],
                      noise: torch.Generator | None = None) -> torch.Tensor:
    """Inputs (N x *sample_shape) for which ``ScriptedClassifier`` predicts ``predictions`` (N,).

    The predicted class's feature is ``PREDICTED_FEATURE``; the other
    features are 0, or uniform below ``NOISE_SCALE`` drawn from ``noise``.
    """
    n_samples, n_features = len(predictions), math.prod(sample_shape)
    if noise is None:
        inputs = torch.zeros(n_samples, n_features)
    else:
        inputs = torch.rand((n_samples, n_features), generator=noise) * NOISE_SCALE
    inputs[torch.arange(n_samples), torch.as_tensor(predictions)] = PREDICTED_FEATURE
    return inputs.reshape(n_samples, *sample_shape)


def scripted_loader(predictions: Sequence[int], labels: Sequence[int],
                    sample_shape: Sequence[int] = (1, 2, N_CLASSES // 2), batch_size: int = EVALUATION_BATCH_SIZE,
                    noise: torch.Generator | None = None) -> DataLoader:
    """A loader of ``inputs_predicting(predictions, ...)`` with int64 ``labels``, in order.

    Its dataset has MNIST's ``targets`` and ``classes``, which some solutions count with.
    """
    inputs = inputs_predicting(predictions, sample_shape, noise)
    dataset = SyntheticMNIST(inputs, torch.as_tensor(labels, dtype=torch.long), train=False)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def batches_of(values: Sequence[int]) -> list[list[int]]:
    """``values`` in batches of ``EVALUATION_BATCH_SIZE``, the last one shorter, as ``scripted_loader`` gives them."""
    return [list(values[start:start + EVALUATION_BATCH_SIZE]) for start in range(0, len(values), EVALUATION_BATCH_SIZE)]


class TinyClassifier(nn.Module):
    """A single linear layer from a (BS x 1 x 2 x 3) batch to 3 logits that logs what happens to it.

    ``events`` receives "forward", "backward" (a gradient reached the weights)
    and "zero_grad" (the model's own zero_grad).
    """

    def __init__(self, n_features: int, n_classes: int, events: list[str] | None = None):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)
        self._events = [] if events is None else events
        self._outputs: list[torch.Tensor] = []
        self.linear.weight.register_hook(self._on_gradient)

    def _on_gradient(self, gradient: torch.Tensor) -> None:
        self._events.append("backward")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self._events.append("forward")
        output = self.linear(images.flatten(1))
        self._outputs.append(output)
        return output

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._events.append("zero_grad")
        super().zero_grad(set_to_none=set_to_none)


class RecordingSGD:
    """SGD (p -= lr * v, v = momentum * v + grad) that logs its calls and the parameters and gradients it saw.

    It offers what a training loop uses of an optimizer (``zero_grad``,
    ``step``, ``param_groups``) and appends "zero_grad" and "step" to
    ``events``. It is not a torch.optim optimizer on purpose: the first
    torch.optim optimizer of a session costs about a second of imports inside
    PyTorch. With ``momentum`` 0 it is plain SGD.
    """

    def __init__(self, params, lr: float, events: list[str], momentum: float = 0.0):
        self.param_groups = [{"params": list(params), "lr": lr, "momentum": momentum}]
        self.velocities: dict[int, torch.Tensor] = {}
        self.events = events
        self.seen_parameters: list[list[torch.Tensor]] = []
        self.seen_gradients: list[list[torch.Tensor]] = []

    def _parameters(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("zero_grad")
        for parameter in self._parameters():
            if parameter.grad is None:
                continue
            if set_to_none:
                parameter.grad = None
            else:
                parameter.grad.detach_().zero_()

    def step(self, closure=None):
        self.events.append("step")
        loss = closure() if closure is not None else None
        parameters = self._parameters()
        self.seen_parameters.append([p.detach().clone() for p in parameters])
        self.seen_gradients.append([torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                                    for p in parameters])
        with torch.no_grad():
            for group in self.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is None:
                        continue
                    step = parameter.grad
                    if group["momentum"]:
                        velocity = self.velocities.get(id(parameter))
                        step = step.clone() if velocity is None else velocity.mul_(group["momentum"]).add_(step)
                        self.velocities[id(parameter)] = step
                    parameter.add_(step, alpha=-group["lr"])
        return loss


class SyntheticMNIST(TensorDataset):
    """Stands in for torchvision's MNIST: (image, label) pairs plus its ``classes``, ``targets``, ``data``."""

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, train: bool) -> None:
        super().__init__(images, labels)
        self.train = train
        self.targets = labels
        self.data = (images[:, 0] * 255).to(torch.uint8)
