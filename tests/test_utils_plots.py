"""utils: seeding, progress bar, moving average and the three plot helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_data import MNIST_IMAGE_SHAPE, random_images, random_labels
from matplotlib.figure import Figure

import utils

N_ITERATIONS = 60
CLASSES = list(range(10))


def oracle_moving_average(values: list[float], window: int) -> np.ndarray:
    """Mean of each slice values[i:i + window], one slice at a time."""
    values = np.asarray(values, dtype=float)
    return np.array([values[i:i + window].mean() for i in range(len(values) - window + 1)])


def random_losses(n_models: int, seed: int, n_iterations: int = N_ITERATIONS) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(rng.exponential(size=n_iterations)) for _ in range(n_models)]


def random_per_class(n_models: int, seed: int) -> list[dict[int, float]]:
    rng = np.random.default_rng(seed)
    return [{c: float(rng.uniform()) for c in CLASSES} for _ in range(n_models)]


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, "the plot has no legend"
    return [text.get_text() for text in legend.get_texts()]


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return (utils.random.random(), np.random.rand(), torch.rand(1).item())

    utils.seed_everything(3)
    first = draw()
    utils.seed_everything(3)
    assert draw() == first
    utils.seed_everything(4)
    assert draw() != first


def test_disabled_progress_bar_yields_everything_and_prints_nothing(capsys):
    assert list(utils.progress_bar(range(5), desc="Epoch 1/1", disable=True)) == list(range(5))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("window", [1, 2, 5, 25, N_ITERATIONS])
def test_moving_average_matches_slice_means(window):
    values = random_losses(1, seed=70)[0]
    smoothed = utils.moving_average(values, window)
    assert smoothed.shape == (N_ITERATIONS - window + 1,)
    np.testing.assert_allclose(smoothed, oracle_moving_average(values, window),
                               atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("window, match", [(0, "window"), (-2, "window"),
                                           (N_ITERATIONS + 1, "smaller window")])
def test_moving_average_rejects_bad_windows(window, match):
    with pytest.raises(ValueError, match=match):
        utils.moving_average(random_losses(1, seed=71)[0], window)


@pytest.mark.parametrize("n_models, window", [(1, 5), (3, 25), (10, 25)])
def test_plot_smoothed_losses_draws_one_smoothed_curve_per_model(n_models, window):
    losses = random_losses(n_models, seed=72)
    fig = utils.plot_smoothed_losses(losses, window=window)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == n_models
    for line, model_losses in zip(lines, losses):
        x, y = line.get_data()
        np.testing.assert_array_equal(x, np.arange(window, N_ITERATIONS + 1))
        np.testing.assert_allclose(y, oracle_moving_average(model_losses, window),
                                   atol=1e-12, rtol=1e-12)
    assert ax.get_title() and ax.get_xlabel() == "Iteration"
    assert str(window) in ax.get_ylabel()
    assert legend_texts(ax) == [f"Model {i + 1}" for i in range(n_models)]


def test_plot_smoothed_losses_uses_the_given_names():
    fig = utils.plot_smoothed_losses(random_losses(2, seed=73), window=5,
                                     model_names=["SGD", "Adam"])
    assert legend_texts(fig.axes[0]) == ["SGD", "Adam"]


def test_plot_smoothed_losses_rejects_mismatched_names():
    with pytest.raises(ValueError, match="2 model names for 3 loss curves"):
        utils.plot_smoothed_losses(random_losses(3, seed=74), window=5, model_names=["a", "b"])


@pytest.mark.parametrize("n_models", [1, 2, 3, 10])
def test_accuracies_bar_plot_centres_each_group_on_its_class(n_models):
    per_class = random_per_class(n_models, seed=75)
    fig = utils.accuracies_bar_plot(per_class, ylabel="Test accuracy")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == n_models * len(CLASSES)
    centres = np.array([bar.get_x() + bar.get_width() / 2 for bar in bars])
    heights = np.array([bar.get_height() for bar in bars])
    # bars are drawn model by model, each model's bars in class order
    centres = centres.reshape(n_models, len(CLASSES))
    heights = heights.reshape(n_models, len(CLASSES))
    ticks = ax.get_xticks()
    np.testing.assert_allclose(centres.mean(axis=0), ticks, atol=1e-9, rtol=0)
    np.testing.assert_allclose(heights, [[acc[c] for c in CLASSES] for acc in per_class],
                               atol=1e-12, rtol=0)
    assert [label.get_text() for label in ax.get_xticklabels()] == [str(c) for c in CLASSES]
    assert ax.get_ylabel() == "Test accuracy"
    assert legend_texts(ax) == [f"Model {i + 1}" for i in range(n_models)]


def test_accuracies_bar_plot_bars_of_one_class_do_not_overlap():
    fig = utils.accuracies_bar_plot(random_per_class(3, seed=76), ylabel="Accuracy")
    bars = fig.axes[0].patches
    lefts = np.array([bar.get_x() for bar in bars]).reshape(3, len(CLASSES))
    widths = np.array([bar.get_width() for bar in bars]).reshape(3, len(CLASSES))
    assert np.all(lefts[:-1] + widths[:-1] <= lefts[1:] + 1e-9)
    # neighbouring groups stay apart as well
    assert np.all(lefts[-1, :-1] + widths[-1, :-1] < lefts[0, 1:])


@pytest.mark.parametrize("kwargs, match", [
    ({"per_class_accuracies": []}, "empty"),
    ({"model_names": ["only one"]}, "1 model names for 2 models"),
    ({"classes": [0, 1, 2, 42]}, r"classes \[42\]"),
])
def test_accuracies_bar_plot_rejects_inconsistent_input(kwargs, match):
    arguments = {"per_class_accuracies": random_per_class(2, seed=77), "ylabel": "Accuracy"}
    with pytest.raises(ValueError, match=match):
        utils.accuracies_bar_plot(**(arguments | kwargs))


def test_visualize_first_4_titles_four_images_with_their_labels():
    batch = random_images(6, seed=78, image_shape=MNIST_IMAGE_SHAPE).clamp(0, 1)
    labels = random_labels(6, seed=79)
    fig = utils.visualize_first_4(batch, labels)
    assert isinstance(fig, Figure)
    image_axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(image_axes) == 4
    for ax, image, label in zip(image_axes, batch, labels):
        assert str(int(label)) in ax.get_title()
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), image.squeeze(0).numpy())


def test_visualize_first_4_needs_four_images():
    with pytest.raises(ValueError, match="at least 4 images"):
        utils.visualize_first_4(random_images(3, seed=80, image_shape=MNIST_IMAGE_SHAPE),
                                random_labels(3, seed=80))
