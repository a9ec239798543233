"""Task 1a (SimpleMLP) and Task 1b (three equivalent models)."""
from __future__ import annotations

import pytest
import torch
from helpers_data import FLOAT32_TOL, MNIST_IMAGE_SHAPE, fill_parameters, random_images
from torch import nn

import solution

DIMS_CASES = [
    [12, 10],
    [12, 8, 10],
    [5, 3, 3, 2],
    [28 * 28, 32, 32, 32, 10],
    [7, 1, 4],
]
FIXED_MLP_DIMS = [28 * 28, 32, 32, 32, 10]
BATCH_SIZE = 6


def expected_parameter_shapes(dims: list[int]) -> list[tuple[int, ...]]:
    """Weight (out x in) and bias (out,) of every layer, in layer order."""
    shapes = []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        shapes += [(n_out, n_in), (n_out,)]
    return shapes


def reference_forward(parameters: list[torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """Affine layers with ReLU between them and none after the last, built by hand."""
    out = inputs.reshape(inputs.shape[0], -1)
    pairs = list(zip(parameters[0::2], parameters[1::2]))
    for index, (weight, bias) in enumerate(pairs):
        out = out @ weight.T + bias
        if index < len(pairs) - 1:
            out = torch.clamp(out, min=0.0)
    return out


def inputs_for(dims: list[int], seed: int) -> torch.Tensor:
    shape = MNIST_IMAGE_SHAPE if dims[0] == 28 * 28 else (dims[0],)
    return random_images(BATCH_SIZE, seed, shape)


def copy_parameters(source: nn.Module, target: nn.Module) -> None:
    with torch.no_grad():
        for source_parameter, target_parameter in zip(source.parameters(), target.parameters(),
                                                      strict=True):
            target_parameter.copy_(source_parameter)


@pytest.mark.parametrize("dims", DIMS_CASES, ids=str)
def test_simple_mlp_output_shape(dims):
    model = solution.SimpleMLP(dims)
    assert model(inputs_for(dims, seed=1)).shape == (BATCH_SIZE, dims[-1])


@pytest.mark.parametrize("dims", DIMS_CASES, ids=str)
def test_simple_mlp_registers_one_affine_layer_per_pair_of_sizes(dims):
    model = solution.SimpleMLP(dims)
    n_expected = sum((n_in + 1) * n_out for n_in, n_out in zip(dims[:-1], dims[1:]))
    assert sum(p.numel() for p in model.parameters()) == n_expected
    assert [tuple(p.shape) for p in model.parameters()] == expected_parameter_shapes(dims)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("dims", DIMS_CASES, ids=str)
def test_simple_mlp_matches_hand_built_relu_network(dims):
    model = solution.SimpleMLP(dims)
    # large weights make sure that many pre-activations are negative
    fill_parameters(model, seed=2)
    inputs = inputs_for(dims, seed=3)
    with torch.no_grad():
        expected = reference_forward(list(model.parameters()), inputs)
        actual = model(inputs)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-5)


def test_simple_mlp_has_no_relu_after_the_last_layer():
    model = solution.SimpleMLP([12, 8, 10])
    fill_parameters(model, seed=4)
    with torch.no_grad():
        logits = model(random_images(64, seed=5, image_shape=(12,)))
    assert (logits < 0).any(), "negative logits are impossible with a ReLU after the output layer"


def test_simple_mlp_with_fixed_mlp_weights_computes_the_same_function():
    fixed = solution.SimpleFixedMLP()
    general = solution.SimpleMLP(FIXED_MLP_DIMS)
    copy_parameters(fixed, general)
    images = random_images(BATCH_SIZE, seed=6, image_shape=MNIST_IMAGE_SHAPE)
    with torch.no_grad():
        torch.testing.assert_close(general(images), fixed(images), **FLOAT32_TOL)


@pytest.mark.parametrize("dims", [[12, 8, 10], [5, 3, 3, 2]], ids=str)
def test_an_optimizer_step_changes_every_parameter(dims):
    model = solution.SimpleMLP(dims)
    # positive weights and inputs keep every ReLU open, so every parameter gets a gradient
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.abs_()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs = random_images(BATCH_SIZE, seed=7, image_shape=(dims[0],)).abs()
    model(inputs).sum().backward()
    optimizer.step()
    changed = [not torch.equal(old, new) for old, new in zip(before, model.parameters())]
    assert all(changed), f"parameters left unchanged by the optimizer step: {changed}"


@pytest.mark.parametrize("dims", [[], [10], [10, 0, 5], [10, -3, 2], [0, 10]], ids=str)
def test_simple_mlp_rejects_invalid_dims(dims):
    with pytest.raises(ValueError, match="dims"):
        solution.SimpleMLP(dims)


def test_simple_fixed_mlp_structure():
    model = solution.SimpleFixedMLP()
    assert [tuple(p.shape) for p in model.parameters()] == expected_parameter_shapes(FIXED_MLP_DIMS)
    fill_parameters(model, seed=8)
    images = random_images(BATCH_SIZE, seed=9, image_shape=MNIST_IMAGE_SHAPE)
    with torch.no_grad():
        torch.testing.assert_close(model(images),
                                   reference_forward(list(model.parameters()), images),
                                   atol=1e-3, rtol=1e-5)


@pytest.fixture
def equivalent_models():
    return solution.build_equivalent_models()


def test_task_1b_builds_three_distinct_models_of_the_asked_kinds(equivalent_models):
    model1, model2, model3 = equivalent_models
    assert isinstance(model1, solution.SimpleFixedMLP)
    assert isinstance(model2, solution.SimpleMLP)
    assert isinstance(model3, nn.Sequential)
    parameter_ids = [{id(p) for p in model.parameters()} for model in equivalent_models]
    assert not (parameter_ids[0] & parameter_ids[1] or parameter_ids[0] & parameter_ids[2]
                or parameter_ids[1] & parameter_ids[2]), "the models must not share parameters"


def test_task_1b_models_have_the_fixed_mlp_parameter_shapes(equivalent_models):
    expected = expected_parameter_shapes(FIXED_MLP_DIMS)
    for model in equivalent_models:
        assert [tuple(p.shape) for p in model.parameters()] == expected


@pytest.mark.parametrize("source_index", [0, 1, 2])
def test_task_1b_models_compute_the_same_function_with_the_same_weights(equivalent_models,
                                                                        source_index):
    source = equivalent_models[source_index]
    fill_parameters(source, seed=10 + source_index)
    images = random_images(BATCH_SIZE, seed=11, image_shape=MNIST_IMAGE_SHAPE)
    with torch.no_grad():
        expected = reference_forward(list(source.parameters()), images)
        for target in equivalent_models:
            copy_parameters(source, target)
            torch.testing.assert_close(target(images), expected, atol=1e-3, rtol=1e-5)
