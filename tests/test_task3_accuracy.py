"""Task 3a (compute_accuracy), Task 3b (compute_accuracy_per_class) and model_device."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers_data import (
    N_CLASSES,
    ModeRecorder,
    labels_with_hit_rate,
    make_loader,
    numpy_predictions,
    random_images,
    random_labels,
    small_mlp,
)
from torch import nn

import solution
from utils import model_device

# 23 samples in batches of 5: four full batches and a last partial one of 3
N_SAMPLES = 23
BATCH_SIZE = 5
RATIO_TOL = {"abs": 1e-12}
ACCURACY_FUNCTIONS = [solution.compute_accuracy, solution.compute_accuracy_per_class]


def oracle_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predictions == labels))


def oracle_per_class(predictions: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Recall per class from a confusion matrix (rows: true class, columns: predicted class)."""
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    n_per_class = confusion.sum(axis=1)
    return {c: confusion[c, c] / n_per_class[c] if n_per_class[c] else math.nan
            for c in range(N_CLASSES)}


def loader_and_oracle_inputs(model: nn.Module, hit_every: int, seed: int,
                             n_samples: int = N_SAMPLES, batch_size: int = BATCH_SIZE):
    """A loader whose labels match the model's prediction at every ``hit_every``-th sample."""
    images = random_images(n_samples, seed)
    predictions = numpy_predictions(model, images)
    labels = labels_with_hit_rate(predictions, hit_every, seed)
    return make_loader(images, labels, batch_size), predictions, labels.numpy()


@pytest.mark.parametrize("hit_every", [1, 2, 3, 7])
@pytest.mark.parametrize("batch_size", [BATCH_SIZE, 1, N_SAMPLES])
def test_compute_accuracy_is_the_fraction_of_correct_samples(hit_every, batch_size):
    model = small_mlp(seed=40)
    loader, predictions, labels = loader_and_oracle_inputs(model, hit_every, seed=41,
                                                           batch_size=batch_size)
    accuracy = solution.compute_accuracy(model, loader)
    assert type(accuracy) is float
    assert accuracy == pytest.approx(oracle_accuracy(predictions, labels), **RATIO_TOL)


def test_compute_accuracy_is_zero_when_every_prediction_is_wrong():
    model = small_mlp(seed=42)
    images = random_images(N_SAMPLES, seed=43)
    wrong = torch.as_tensor((numpy_predictions(model, images) + 1) % N_CLASSES)
    assert solution.compute_accuracy(model, make_loader(images, wrong, BATCH_SIZE)) == 0.0


@pytest.mark.parametrize("accuracy_function", ACCURACY_FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("was_training", [True, False])
def test_accuracy_runs_in_eval_mode_without_gradients_and_restores_the_mode(accuracy_function,
                                                                           was_training):
    recorder = ModeRecorder()
    model = nn.Sequential(recorder, small_mlp(seed=44))
    model.train(was_training)
    loader, _, _ = loader_and_oracle_inputs(model, hit_every=2, seed=45)
    recorder.calls.clear()
    accuracy_function(model, loader)
    assert recorder.calls, "the model was never called"
    assert all(call == (False, False) for call in recorder.calls), \
        "expected every forward pass in eval mode and without gradient tracking"
    assert all(module.training == was_training for module in model.modules())
    assert torch.is_grad_enabled()
    assert all(p.grad is None for p in model.parameters())


def test_accuracy_of_an_empty_loader_is_a_clear_error():
    empty = make_loader(random_images(0, seed=46), random_labels(0, seed=46), BATCH_SIZE)
    with pytest.raises(ValueError, match="no samples"):
        solution.compute_accuracy(small_mlp(seed=47), empty)


@pytest.mark.parametrize("hit_every", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [BATCH_SIZE, 1])
def test_per_class_accuracy_is_the_recall_of_each_class(hit_every, batch_size):
    model = small_mlp(seed=48)
    loader, predictions, labels = loader_and_oracle_inputs(model, hit_every, seed=49,
                                                           n_samples=60, batch_size=batch_size)
    per_class = solution.compute_accuracy_per_class(model, loader)
    assert list(per_class) == list(range(N_CLASSES))
    assert all(type(c) is int and type(value) is float for c, value in per_class.items())
    expected = oracle_per_class(predictions, labels)
    np.testing.assert_allclose([per_class[c] for c in range(N_CLASSES)],
                               [expected[c] for c in range(N_CLASSES)], atol=1e-12, rtol=0)


def test_per_class_accuracy_is_nan_for_an_absent_class():
    model = small_mlp(seed=50)
    images = random_images(N_SAMPLES, seed=51)
    present = (0, 1, 2, 3, 5, 6, 7, 8)
    labels = random_labels(N_SAMPLES, seed=52, classes=present)
    per_class = solution.compute_accuracy_per_class(model, make_loader(images, labels, BATCH_SIZE))
    assert list(per_class) == list(range(N_CLASSES))
    assert math.isnan(per_class[4]) and math.isnan(per_class[9])
    expected = oracle_per_class(numpy_predictions(model, images), labels.numpy())
    for c in present:
        assert per_class[c] == pytest.approx(expected[c], **RATIO_TOL)


@pytest.mark.parametrize("hit_every", [2, 3])
def test_class_weighted_mean_of_per_class_accuracy_is_the_overall_accuracy(hit_every):
    model = small_mlp(seed=53)
    loader, _, labels = loader_and_oracle_inputs(model, hit_every, seed=54, n_samples=60)
    per_class = solution.compute_accuracy_per_class(model, loader)
    counts = np.bincount(labels, minlength=N_CLASSES)
    weighted = sum(counts[c] * per_class[c] for c in range(N_CLASSES) if counts[c])
    assert weighted / counts.sum() == pytest.approx(solution.compute_accuracy(model, loader),
                                                    abs=1e-12)


@pytest.mark.parametrize("accuracy_function", ACCURACY_FUNCTIONS, ids=lambda f: f.__name__)
def test_accuracy_works_when_the_parameters_require_gradients(accuracy_function):
    model = small_mlp(seed=55)
    assert all(p.requires_grad for p in model.parameters())
    loader, _, _ = loader_and_oracle_inputs(model, hit_every=2, seed=56)
    accuracy_function(model, loader)
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


def test_model_device_is_the_device_of_the_parameters():
    assert model_device(small_mlp(seed=57)) == torch.device("cpu")


def test_model_device_of_a_model_without_parameters_is_a_clear_error():
    with pytest.raises(ValueError, match="Flatten has no parameters"):
        model_device(nn.Flatten())


def test_accuracy_of_a_model_without_parameters_is_a_clear_error():
    loader = make_loader(random_images(4, seed=58), random_labels(4, seed=58), 2)
    with pytest.raises(ValueError, match="no parameters"):
        solution.compute_accuracy(nn.Flatten(), loader)


def as_array(result: float | dict[int, float]) -> np.ndarray:
    """The accuracy, or the per-class accuracies in class order, as a float array."""
    return np.array([result] if isinstance(result, float) else list(result.values()), dtype=float)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("accuracy_function", ACCURACY_FUNCTIONS, ids=lambda f: f.__name__)
def test_accuracy_moves_cpu_batches_to_the_model_device(accuracy_function):
    model = small_mlp(seed=59)
    loader, _, _ = loader_and_oracle_inputs(model, hit_every=2, seed=60)
    on_cpu = as_array(accuracy_function(model, loader))
    on_gpu = as_array(accuracy_function(model.cuda(), loader))
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-12, rtol=0)
