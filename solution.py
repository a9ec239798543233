"""Reference solution of Exercise Sheet 4 - Optimization 2.

The code between ``### BEGIN SOLUTION <task>`` and ``### END SOLUTION <task>``
is the answer to that task; the notebook holds the same definitions and
regions, and ``tests/test_notebook_sync.py`` fails when the two differ.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from utils import MNIST_CLASSES, model_device, progress_bar


class SimpleFixedMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.input_layer = nn.Linear(in_features=28 * 28, out_features=32, bias=True)
        self.hidden_layer1 = nn.Linear(in_features=32, out_features=32, bias=True)
        self.hidden_layer2 = nn.Linear(in_features=32, out_features=32, bias=True)
        self.output_layer = nn.Linear(in_features=32, out_features=10, bias=True)
        self.activation = nn.ReLU()

    def forward(self, input):
        out = self.flatten(input)
        out = self.input_layer(out)
        out = self.activation(out)
        out = self.hidden_layer1(out)
        out = self.activation(out)
        out = self.hidden_layer2(out)
        out = self.activation(out)
        out = self.output_layer(out)
        return out


class SimpleMLP(nn.Module):
    def __init__(self, dims: list[int]):
        """MLP with layer sizes ``dims``: input (BS x ...) flattened to (BS x dims[0]), output (BS x dims[-1])."""
        super().__init__()
        ### BEGIN SOLUTION 1a
        if len(dims) < 2:
            raise ValueError(f"dims needs at least an input and an output size, got {dims}")
        if any(size < 1 for size in dims):
            raise ValueError(f"every size in dims must be positive, got {dims}")
        self.flatten = nn.Flatten()
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out) for n_in, n_out in zip(dims[:-1], dims[1:]))
        self.activation = nn.ReLU()
        ### END SOLUTION 1a

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION 1a
        out = self.flatten(input)
        for layer in self.layers[:-1]:
            out = self.activation(layer(out))
        return self.layers[-1](out)
        ### END SOLUTION 1a


def build_equivalent_models() -> tuple[nn.Module, nn.Module, nn.Module]:
    """Task 1b: three models with the structure of ``SimpleFixedMLP``."""
    ### BEGIN SOLUTION 1b
    model1 = SimpleFixedMLP()
    model2 = SimpleMLP(dims=[28 * 28, 32, 32, 32, 10])
    model3 = nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 32),
        nn.ReLU(),
        nn.Linear(32, 32),
        nn.ReLU(),
        nn.Linear(32, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )
    ### END SOLUTION 1b
    return model1, model2, model3


def train(model: nn.Module,
          dataloader: DataLoader,
          optimizer: torch.optim.Optimizer,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
          n_epochs: int = 20,
          show_progress: bool = True) -> list[float]:
    """Train ``model`` for ``n_epochs`` passes over ``dataloader``.

    Batches are moved to the model's device. Returns the loss of every
    iteration of every epoch, as floats: ``n_epochs * len(dataloader)`` values.
    """
    device = model_device(model)
    model.train()
    losses = []
    for epoch in range(n_epochs):
        batches = progress_bar(dataloader, desc=f"Epoch {epoch + 1}/{n_epochs}",
                               disable=not show_progress)
        for batch, labels in batches:
            batch, labels = batch.to(device), labels.to(device)
            ### BEGIN SOLUTION 2a
            optimizer.zero_grad()
            predictions = model(batch)
            loss = loss_fn(predictions, labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            ### END SOLUTION 2a
    return losses


def train_models(models: list[nn.Module], train_loader: DataLoader,
                 loss_fn: nn.Module) -> tuple[list[torch.optim.Optimizer], list[list[float]]]:
    """Task 2b: one Adam optimizer per model, each model trained for one epoch.

    ``N_EPOCHS_2B``, ``announce_training`` and the loop over the models are
    the given code of the notebook's Task 2b cell, under the same names, so
    that the region below is the notebook's.
    """
    N_EPOCHS_2B = 1  # the name of the notebook's constant

    def announce_training(model_index: int) -> None:
        """Say which model is training; the loop below calls it before training models[model_index].

        tqdm.write prints like print, without breaking a progress bar.
        """
        tqdm.write(f"Training model {model_index + 1}/{len(models)}")

    optimizers = []
    losses = []
    for i, model in enumerate(models):
        announce_training(i)
        ### BEGIN SOLUTION 2b
        optimizer = torch.optim.Adam(model.parameters(), lr=0.04)
        model_losses = train(model, train_loader, optimizer, loss_fn, n_epochs=N_EPOCHS_2B)
        print(f"Model {i + 1}: the last loss is {model_losses[-1]:.4f}")
        optimizers.append(optimizer)
        losses.append(model_losses)
        ### END SOLUTION 2b
    return optimizers, losses


def compute_accuracy(model: nn.Module, dataloader: DataLoader) -> float:
    """Fraction in [0, 1] of the samples in ``dataloader`` that ``model`` classifies correctly.

    The predicted class is the index of the largest of the model's outputs
    (BS x n_classes). Runs in eval mode without gradients and restores the
    model's mode afterwards.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    n_correctly_classified = 0
    n_samples = 0
    with torch.no_grad():
        for batch, labels in dataloader:
            batch, labels = batch.to(device), labels.to(device)
            ### BEGIN SOLUTION 3a
            predicted = model(batch).argmax(dim=1)
            n_correctly_classified += (predicted == labels).sum().item()
            n_samples += labels.numel()
            ### END SOLUTION 3a
    model.train(was_training)
    if n_samples == 0:
        raise ValueError("the dataloader yielded no samples, so accuracy is undefined")
    return n_correctly_classified / n_samples


def compute_accuracy_per_class(model: nn.Module,
                               dataloader: DataLoader) -> dict[int, float]:
    """Accuracy of ``model`` on the samples of each MNIST class (recall per class).

    Returns a dict with the ints 0-9 as keys; each value is the fraction of
    that class's samples predicted correctly, or NaN if the class has none.
    """
    ### BEGIN SOLUTION 3b
    device = model_device(model)
    was_training = model.training
    model.eval()
    n_classes = len(MNIST_CLASSES)
    n_correct = torch.zeros(n_classes, dtype=torch.long)
    n_samples = torch.zeros(n_classes, dtype=torch.long)
    with torch.no_grad():
        for batch, labels in dataloader:
            predicted = model(batch.to(device)).argmax(dim=1).cpu()
            n_samples += torch.bincount(labels, minlength=n_classes)
            n_correct += torch.bincount(labels[predicted == labels], minlength=n_classes)
    model.train(was_training)
    return {c: n_correct[c].item() / n_samples[c].item() if n_samples[c] > 0 else float("nan")
            for c in MNIST_CLASSES}
    ### END SOLUTION 3b
