"""Helpers for the Exercise Sheet 4 notebook: seeding, progress, model device and plots.

Every helper takes what it needs as arguments; plot helpers return the
matplotlib Figure so that it can be inspected or saved.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm import tqdm

# what `from utils import *` gives the notebook: the helpers, not the libraries they use
__all__ = ["MNIST_CLASSES", "seed_everything", "progress_bar", "model_device", "visualize_first_4",
           "moving_average", "plot_smoothed_losses", "accuracies_bar_plot"]

MNIST_CLASSES = list(range(10))
SMOOTHING_WINDOW = 25
# seconds between two redraws of a progress bar: often enough to see it move,
# rare enough to cost nothing and keep the saved notebook small
PROGRESS_REFRESH_SECONDS = 1.0
# share of the width of one digit's slot taken by its group of bars
BAR_GROUP_WIDTH = 0.8


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random number generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def progress_bar(iterable: Iterable, desc: str, disable: bool = False) -> Iterable:
    """Wrap ``iterable`` in a text progress bar that disappears when done."""
    return tqdm(iterable, desc=desc, leave=False, disable=disable,
                mininterval=PROGRESS_REFRESH_SECONDS)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the first parameter of ``model``."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ValueError(
            f"{type(model).__name__} has no parameters, so its device is unknown: "
            "register its layers as nn.Module attributes or nn.Parameter."
        ) from None


def visualize_first_4(batch: torch.Tensor, labels: torch.Tensor) -> Figure:
    """Show the first four images of a batch with their labels.

    Args:
        batch: images, shape (batch_size, 1, H, W), values in [0, 1].
        labels: class indices, shape (batch_size,).
    """
    if batch.shape[0] < 4:
        raise ValueError(f"need a batch of at least 4 images, got {batch.shape[0]}")
    fig, axes = plt.subplots(1, 4, figsize=(8, 2.4))
    for ax, image, label in zip(axes, batch[:4], labels[:4]):
        ax.imshow(image.squeeze(0).cpu().numpy(), cmap="gray")
        ax.set_title(f"Label: {int(label)}")
        ax.axis("off")
    fig.suptitle("First 4 images of the first batch")
    fig.tight_layout()
    return fig


def moving_average(values: Sequence[float], window: int = SMOOTHING_WINDOW) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values: length ``len(values) - window + 1``."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if len(values) < window:
        raise ValueError(
            f"cannot smooth {len(values)} values with a window of {window}: "
            "train for more iterations or use a smaller window")
    return np.convolve(np.asarray(values, dtype=float), np.ones(window) / window, mode="valid")


def plot_smoothed_losses(losses: Sequence[Sequence[float]],
                         window: int = SMOOTHING_WINDOW,
                         model_names: Sequence[str] | None = None) -> Figure:
    """Plot one moving-average loss curve per model.

    Args:
        losses: per model, the loss of every training iteration.
        window: number of iterations averaged per point.
        model_names: legend entries; "Model 1", "Model 2", ... by default.
    """
    names = model_names or [f"Model {i + 1}" for i in range(len(losses))]
    if len(names) != len(losses):
        raise ValueError(f"got {len(names)} model names for {len(losses)} loss curves")
    fig, ax = plt.subplots(figsize=(12, 8))
    for name, model_losses in zip(names, losses):
        smoothed = moving_average(model_losses, window)
        # the first average covers iterations 1..window, so it is plotted at `window`
        ax.plot(np.arange(window, window + len(smoothed)), smoothed, label=name)
    ax.set_xlabel("Iteration")
    ax.set_ylabel(f"Loss (moving average over {window} iterations)")
    ax.set_title("Comparison of model loss convergence")
    ax.legend(loc="upper right", ncols=2)
    ax.grid(True)
    return fig


def accuracies_bar_plot(per_class_accuracies: Sequence[Mapping[int, float]],
                        ylabel: str,
                        model_names: Sequence[str] | None = None,
                        classes: Sequence[int] = MNIST_CLASSES) -> Figure:
    """Grouped bar chart: for each class, one bar per model, the group centred on the class.

    Args:
        per_class_accuracies: per model, a dict class -> accuracy in [0, 1].
        ylabel: label of the y-axis, e.g. "Test accuracy".
        model_names: legend entries; "Model 1", "Model 2", ... by default.
        classes: the classes on the x-axis, in order.
    """
    n_models = len(per_class_accuracies)
    if n_models == 0:
        raise ValueError("per_class_accuracies is empty: pass one dict per model")
    names = model_names or [f"Model {i + 1}" for i in range(n_models)]
    if len(names) != n_models:
        raise ValueError(f"got {len(names)} model names for {n_models} models")
    bar_width = BAR_GROUP_WIDTH / n_models
    positions = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(12, 6))
    for index, (name, accuracies) in enumerate(zip(names, per_class_accuracies)):
        missing = [c for c in classes if c not in accuracies]
        if missing:
            raise ValueError(f"{name} has no accuracy for classes {missing}")
        offset = (index - (n_models - 1) / 2) * bar_width
        ax.bar(positions + offset, [accuracies[c] for c in classes], bar_width, label=name)
    ax.set_xticks(positions, [str(c) for c in classes])
    ax.set_xlabel("MNIST digit")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(f"{ylabel} per class")
    # outside the axes: bars reach close to 1 in every class
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
