"""Task 2a (train) and Task 2b (train_models)."""
from __future__ import annotations

import copy

import pytest
import torch
from helpers_data import FLOAT32_TOL, make_loader, random_images, random_labels, small_mlp
from torch import nn

import solution

# 10 samples in batches of 4: two full batches and a last partial one of 2
N_SAMPLES = 10
BATCH_SIZE = 4
N_BATCHES = 3
TASK_2B_LEARNING_RATE = 0.04
SGD_LEARNING_RATE = 0.1


@pytest.fixture
def loader():
    return make_loader(random_images(N_SAMPLES, seed=20), random_labels(N_SAMPLES, seed=21),
                       BATCH_SIZE)


def reference_training(model: nn.Module, loader, optimizer, loss_fn, n_epochs: int) -> list[float]:
    """The textbook loop: zero gradients, forward, loss, backward, step, record the loss."""
    losses = []
    for _ in range(n_epochs):
        for batch, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(batch), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


class CountingSGD(torch.optim.SGD):
    """SGD that counts its steps."""

    def __init__(self, params, lr: float):
        super().__init__(params, lr=lr)
        self.n_steps = 0

    def step(self, closure=None):
        self.n_steps += 1
        return super().step(closure)


class RecordingLoss:
    """A loss unlike cross-entropy (3 x squared error to one-hot labels) that records its values."""

    def __init__(self):
        self.values: list[float] = []

    def __call__(self, predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        one_hot = nn.functional.one_hot(labels, predictions.shape[1]).to(predictions.dtype)
        loss = 3.0 * (predictions - one_hot).square().mean()
        self.values.append(loss.item())
        return loss


@pytest.mark.parametrize("n_epochs", [1, 2, 3])
def test_train_returns_one_float_per_iteration_of_every_epoch(loader, n_epochs):
    assert len(loader) == N_BATCHES
    model = small_mlp(seed=22)
    optimizer = torch.optim.SGD(model.parameters(), lr=SGD_LEARNING_RATE)
    losses = solution.train(model, loader, optimizer, nn.CrossEntropyLoss(), n_epochs=n_epochs,
                            show_progress=False)
    assert isinstance(losses, list)
    assert len(losses) == n_epochs * N_BATCHES
    assert all(type(loss) is float for loss in losses)


@pytest.mark.parametrize("n_epochs", [1, 2])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_train_matches_the_reference_loop(loader, n_epochs, momentum):
    model = small_mlp(seed=23)
    reference_model = copy.deepcopy(model)
    loss_fn = nn.CrossEntropyLoss()
    losses = solution.train(model, loader,
                            torch.optim.SGD(model.parameters(), lr=SGD_LEARNING_RATE,
                                            momentum=momentum),
                            loss_fn, n_epochs=n_epochs, show_progress=False)
    reference_losses = reference_training(
        reference_model, loader,
        torch.optim.SGD(reference_model.parameters(), lr=SGD_LEARNING_RATE, momentum=momentum),
        loss_fn, n_epochs)
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(reference_losses),
                               **FLOAT32_TOL)
    for parameter, reference_parameter in zip(model.parameters(), reference_model.parameters()):
        torch.testing.assert_close(parameter, reference_parameter, **FLOAT32_TOL)


def test_train_steps_the_given_optimizer_once_per_iteration(loader):
    model = small_mlp(seed=25)
    optimizer = CountingSGD(model.parameters(), lr=SGD_LEARNING_RATE)
    solution.train(model, loader, optimizer, nn.CrossEntropyLoss(), n_epochs=2,
                   show_progress=False)
    assert optimizer.n_steps == 2 * N_BATCHES


def test_train_uses_the_given_loss_function(loader):
    model = small_mlp(seed=26)
    reference_model = copy.deepcopy(model)
    loss_fn = RecordingLoss()
    losses = solution.train(model, loader, torch.optim.SGD(model.parameters(), lr=0.01), loss_fn,
                            n_epochs=2, show_progress=False)
    assert len(loss_fn.values) == 2 * N_BATCHES
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(loss_fn.values), **FLOAT32_TOL)
    reference_losses = reference_training(
        reference_model, loader, torch.optim.SGD(reference_model.parameters(), lr=0.01),
        RecordingLoss(), n_epochs=2)
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(reference_losses),
                               **FLOAT32_TOL)


def test_train_puts_the_model_in_training_mode(loader):
    model = small_mlp(seed=27).eval()
    solution.train(model, loader, torch.optim.SGD(model.parameters(), lr=0.01),
                   nn.CrossEntropyLoss(), n_epochs=1, show_progress=False)
    assert model.training


def test_train_without_progress_prints_nothing(loader, capsys):
    model = small_mlp(seed=28)
    solution.train(model, loader, torch.optim.SGD(model.parameters(), lr=0.01),
                   nn.CrossEntropyLoss(), n_epochs=2, show_progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_train_with_progress_shows_a_progress_bar(loader, capsys):
    model = small_mlp(seed=28)
    solution.train(model, loader, torch.optim.SGD(model.parameters(), lr=0.01),
                   nn.CrossEntropyLoss(), n_epochs=2, show_progress=True)
    assert "Epoch" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_train_moves_cpu_batches_to_the_model_device(loader):
    model = small_mlp(seed=29)
    reference_model = copy.deepcopy(model)
    model = model.cuda()
    losses = solution.train(model, loader, torch.optim.SGD(model.parameters(), lr=0.01),
                            nn.CrossEntropyLoss(), n_epochs=1, show_progress=False)
    reference_losses = reference_training(
        reference_model, loader, torch.optim.SGD(reference_model.parameters(), lr=0.01),
        nn.CrossEntropyLoss(), n_epochs=1)
    # CUDA and CPU kernels round differently
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(reference_losses),
                               atol=1e-4, rtol=1e-4)


@pytest.fixture
def task_2b_models():
    return [small_mlp(seed=30 + index) for index in range(3)]


def test_train_models_gives_each_model_its_own_adam_optimizer(task_2b_models, loader):
    optimizers, _ = solution.train_models(task_2b_models, loader, nn.CrossEntropyLoss())
    assert len(optimizers) == len(task_2b_models)
    assert len({id(optimizer) for optimizer in optimizers}) == len(optimizers)
    for model, optimizer in zip(task_2b_models, optimizers):
        assert isinstance(optimizer, torch.optim.Adam)
        owned = [p for group in optimizer.param_groups for p in group["params"]]
        assert len(owned) == len({id(p) for p in owned})
        assert {id(p) for p in owned} == {id(p) for p in model.parameters()}
        assert all(group["lr"] == pytest.approx(TASK_2B_LEARNING_RATE, rel=1e-12)
                   for group in optimizer.param_groups)


def test_train_models_trains_every_model_for_one_epoch(task_2b_models, loader):
    reference_models = copy.deepcopy(task_2b_models)
    loss_fn = nn.CrossEntropyLoss()
    _, losses = solution.train_models(task_2b_models, loader, loss_fn)
    assert len(losses) == len(task_2b_models)
    for model, reference_model, model_losses in zip(task_2b_models, reference_models, losses):
        optimizer = torch.optim.Adam(reference_model.parameters(), lr=TASK_2B_LEARNING_RATE)
        reference_losses = reference_training(reference_model, loader, optimizer, loss_fn,
                                              n_epochs=1)
        torch.testing.assert_close(torch.tensor(model_losses), torch.tensor(reference_losses),
                                   **FLOAT32_TOL)
        for parameter, reference_parameter in zip(model.parameters(),
                                                  reference_model.parameters()):
            torch.testing.assert_close(parameter, reference_parameter, **FLOAT32_TOL)


def test_train_models_uses_the_given_loss_function(task_2b_models, loader):
    loss_fn = RecordingLoss()
    _, losses = solution.train_models(task_2b_models, loader, loss_fn)
    flat_losses = [loss for model_losses in losses for loss in model_losses]
    torch.testing.assert_close(torch.tensor(flat_losses), torch.tensor(loss_fn.values),
                               **FLOAT32_TOL)
