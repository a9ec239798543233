"""Tiny synthetic classification data for the unit tests (no MNIST needed)."""
from __future__ import annotations

import textwrap

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_CLASSES = 10
# image shape of the synthetic samples: (channels, height, width); flattens to 12 features
SMALL_IMAGE_SHAPE = (1, 3, 4)
SMALL_N_FEATURES = 12
MNIST_IMAGE_SHAPE = (1, 28, 28)
# float32 forward passes of identical operations agree to rounding error
FLOAT32_TOL = {"atol": 1e-6, "rtol": 1e-5}


def make_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> DataLoader:
    """Unshuffled DataLoader over ``images`` (N x ...) and integer ``labels`` (N,)."""
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=False)


def random_images(n_samples: int, seed: int,
                  image_shape: tuple[int, ...] = SMALL_IMAGE_SHAPE) -> torch.Tensor:
    """Standard normal images, shape (n_samples, *image_shape), float32."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((n_samples, *image_shape), generator=generator)


def random_labels(n_samples: int, seed: int, classes: tuple[int, ...] = tuple(range(N_CLASSES))
                  ) -> torch.Tensor:
    """Labels drawn uniformly from ``classes``, shape (n_samples,), int64."""
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randint(len(classes), (n_samples,), generator=generator)
    return torch.tensor(classes, dtype=torch.long)[indices]


def small_mlp(seed: int, hidden: int = 8) -> nn.Sequential:
    """Classifier for SMALL_IMAGE_SHAPE: (BS x 1 x 3 x 4) -> (BS x 10), weights from ``seed``."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(SMALL_N_FEATURES, hidden), nn.ReLU(),
                          nn.Linear(hidden, N_CLASSES))
    fill_parameters(model, seed)
    return model


def fill_parameters(model: nn.Module, seed: int) -> None:
    """Overwrite every parameter of ``model`` with standard normal values drawn from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))


def numpy_predictions(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Predicted class per sample as a numpy int array, computed in one batch."""
    with torch.no_grad():
        logits = model(images).numpy()
    return logits.argmax(axis=1)


def labels_with_hit_rate(predictions: np.ndarray, hit_every: int, seed: int) -> torch.Tensor:
    """Labels equal to ``predictions`` at every ``hit_every``-th sample and different elsewhere."""
    rng = np.random.default_rng(seed)
    shift = rng.integers(1, N_CLASSES, size=predictions.shape)
    labels = (predictions + shift) % N_CLASSES
    labels[::hit_every] = predictions[::hit_every]
    return torch.as_tensor(labels, dtype=torch.long)


class ModeRecorder(nn.Module):
    """Identity layer that records, at every forward call, the training flag and grad mode."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        return input


class ReverselyRegisteredMLP(nn.Module):
    """A correct Task 1a whose layers are registered last first, applied in the right order."""

    def __init__(self, dims):
        super().__init__()
        self.reversed_layers = nn.ModuleList(nn.Linear(a, b) for a, b in reversed(list(zip(dims[:-1], dims[1:]))))

    def forward(self, inputs):
        layers = list(self.reversed_layers)[::-1]
        out = inputs.flatten(1)
        for layer in layers[:-1]:
            out = torch.relu(layer(out))
        return layers[-1](out)


# Task 3b counting each class's samples from the dataset's targets, as MNIST offers them: the body of
# compute_accuracy_per_class(model, dataloader), for a notebook region or a function
PER_CLASS_FROM_DATASET_TARGETS = """
totals = torch.bincount(dataloader.dataset.targets, minlength=10)
correct = torch.zeros(10)
with torch.no_grad():
    for batch, labels in dataloader:
        predicted = model(batch).argmax(dim=1)
        correct += torch.bincount(labels[predicted == labels], minlength=10)
return {c: (correct[c] / totals[c]).item() if totals[c] else float("nan") for c in range(10)}
"""


def function_from_body(name: str, parameters: str, body: str):
    """The function ``def name(parameters): body``, compiled with torch in its globals."""
    namespace = {"torch": torch}
    exec(f"def {name}({parameters}):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    "), namespace)
    return namespace[name]
