"""Properties of an MLP that the self-checks and the grader both check.

Pure functions of a model, its sizes and inputs; no reference answers. The
student bundle ships this module next to ``self_checks.py``, and the grader
copies it into its sandbox, so that a student's self-check and the grade
measure these properties the same way.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

# torch is imported inside the functions that compute with it: the grader's
# own process uses the pure functions here and must not pay for importing torch
if TYPE_CHECKING:
    import torch
    from torch import nn

# relative midpoint residual (see ``affine_residual``) above which a model is
# not an affine map: float32 rounding of an affine map stays far below it
AFFINE_TOLERANCE = 1e-3
# at most this many ways to give equal-shaped parameters their values are tried
MAX_PARAMETER_ORDERINGS = 24


def expected_parameter_count(dims: Sequence[int]) -> int:
    """Weights and biases of one nn.Linear per consecutive pair of ``dims``: sum of (in + 1) * out."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip(dims[:-1], dims[1:]))


def count_parameters(model: nn.Module) -> int:
    """Number of registered learnable values of ``model``."""
    return sum(parameter.numel() for parameter in model.parameters())


def affine_residual(model: nn.Module, inputs_a: torch.Tensor, inputs_b: torch.Tensor) -> float:
    """How far ``model`` is from an affine map on these inputs (0 for an affine map).

    An affine map sends the midpoint of two inputs to the midpoint of their
    outputs. Returns max |f((a + b) / 2) - (f(a) + f(b)) / 2| divided by the
    mean |f(a)| (by 1 when that is 0); ``inputs_a`` and ``inputs_b`` have the
    same shape (N x ...), the model's input shape.
    """
    import torch

    with torch.no_grad():
        outputs_a, outputs_b = model(inputs_a), model(inputs_b)
        midpoint = model((inputs_a + inputs_b) / 2)
        scale = float(outputs_a.abs().mean()) or 1.0
        return float((midpoint - (outputs_a + outputs_b) / 2).abs().max()) / scale


def is_affine(model: nn.Module, inputs_a: torch.Tensor, inputs_b: torch.Tensor) -> bool:
    """True when ``affine_residual`` is at most ``AFFINE_TOLERANCE``."""
    return affine_residual(model, inputs_a, inputs_b) <= AFFINE_TOLERANCE


def shape_matched_orderings(parameter_shapes: Sequence[tuple[int, ...]],
                            value_shapes: Sequence[tuple[int, ...]],
                            limit: int = MAX_PARAMETER_ORDERINGS) -> list[list[int]]:
    """Ways to give every parameter a value of its shape, each value used once.

    Returns lists ``order`` with ``order[i]`` the index in ``value_shapes`` of
    the value for parameter ``i``: first the one that keeps the order of
    equal-shaped values, then permutations within each group of equal shapes
    (so that layers registered in another order than they are applied can
    still get the right values), at most ``limit`` lists. Raises ValueError
    when the shapes do not match one to one.
    """
    parameter_shapes, value_shapes = [tuple(s) for s in parameter_shapes], [tuple(s) for s in value_shapes]
    if sorted(parameter_shapes) != sorted(value_shapes):
        raise ValueError(f"parameter shapes {parameter_shapes} do not match the shapes {value_shapes}")
    groups = {shape: ([i for i, s in enumerate(parameter_shapes) if s == shape],
                      [i for i, s in enumerate(value_shapes) if s == shape])
              for shape in dict.fromkeys(parameter_shapes)}
    per_group = [list(itertools.permutations(values)) for _, values in groups.values()]
    orderings = []
    for choice in itertools.islice(itertools.product(*per_group), limit):
        order = [0] * len(parameter_shapes)
        for (parameters, _), values in zip(groups.values(), choice):
            for parameter, value in zip(parameters, values):
                order[parameter] = value
        orderings.append(order)
    return orderings


def load_values(model: nn.Module, values: Sequence[torch.Tensor], order: Sequence[int]) -> None:
    """Copy ``values[order[i]]`` into the i-th parameter of ``model`` (see ``shape_matched_orderings``)."""
    import torch

    with torch.no_grad():
        for parameter, index in zip(model.parameters(), order, strict=True):
            parameter.copy_(values[index])
