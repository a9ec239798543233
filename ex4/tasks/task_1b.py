"""Task 1b (10 points): the same MLP three ways (``SimpleFixedMLP``, ``SimpleMLP``, ``nn.Sequential``)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ex4.checking import (
    ATOL,
    GATE,
    INDEPENDENT,
    RTOL,
    CheckFailed,
    CheckResult,
    NotStarted,
    describe,
    device_of,
    error_text,
    report,
    require,
    run_checks,
    seeded,
)
from ex4.fixtures import FIXED_MLP_DIMS, MNIST_IMAGE_SHAPE
from ex4.mlp_hints import (
    activation_hint,
    expected_layer_shapes,
    order_hint,
    output_hint,
    plain_containers,
    relation_between,
    structure_hint,
    trace,
)
from ex4.model_properties import load_values, shape_matched_orderings

_BATCH_SIZE_1B = 8
_CLASSES_1B = {"model1": "SimpleFixedMLP", "model2": "SimpleMLP", "model3": "Sequential"}
_CREATE_1B = {"model1": "SimpleFixedMLP()", "model2": "SimpleMLP(dims=...)",
              "model3": "nn.Sequential(...)"}


def _is_torch_module(module: nn.Module) -> bool:
    return type(module).__module__.split(".")[:2] == ["torch", "nn"]


@seeded
def task_1b_results(model1: object, model2: object, model3: object) -> list[CheckResult]:
    """Checks of the three equivalent models of Task 1b; the models are not modified."""
    models = {"model1": model1, "model2": model2, "model3": model3}
    inputs = torch.rand(_BATCH_SIZE_1B, *MNIST_IMAGE_SHAPE)
    expected_shapes = [shape for n_out, n_in in expected_layer_shapes(FIXED_MLP_DIMS)
                       for shape in ((n_out, n_in), (n_out,))]

    def defined() -> str:
        if all(model is None for model in models.values()):
            raise NotStarted("model1, model2 and model3 are still None")
        for name, model in models.items():
            if isinstance(model, type):
                raise CheckFailed(f"{name} to be a model (an instance)", describe(model),
                                   f"{name} = {model.__name__} only names the class: call it, as in "
                                   f"{name} = {_CREATE_1B[name]}, to create a model")
            if isinstance(model, tuple):
                raise CheckFailed(f"{name} to be a model", "a tuple",
                                   f"a trailing comma after {name} = ... makes a tuple: remove it")
            require(isinstance(model, nn.Module), f"{name} to be an nn.Module", describe(model),
                     f"assign a model to {name} (it is still None from the TODO stub)" if model is None
                     else f"assign a model to {name}, e.g. {name} = {_CREATE_1B[name]}")
        return "model1, model2 and model3 are models"

    def classes() -> str:
        for name, model in models.items():
            got = type(model).__name__
            require(got == _CLASSES_1B[name], f"{name} to be a {_CLASSES_1B[name]}", f"a {got}",
                     "model1 uses SimpleFixedMLP, model2 SimpleMLP and model3 nn.Sequential")
        return "model1 is a SimpleFixedMLP, model2 a SimpleMLP, model3 an nn.Sequential"

    def separate() -> str:
        names = list(models)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                require(models[first] is not models[second], f"{first} and {second} to be two models",
                         "one and the same object",
                         f"{second} is {first}, one and the same object: create a new model for {second}")
                shared = ({id(p) for p in models[first].parameters()}
                          & {id(p) for p in models[second].parameters()})
                require(not shared, f"{first} and {second} to have parameters of their own",
                         f"{len(shared)} parameter tensors shared",
                         f"{second} reuses the layers of {first}: create new layers for every model, "
                         "so that each has its own randomly initialised parameters")
        return "three separate models with parameters of their own"

    def built_from_layers() -> str:
        custom = [module for module in list(model3.modules())[1:] if not _is_torch_module(module)]
        require(not custom, "model3 built from torch.nn layers",
                 f"model3 holds a {type(custom[0]).__name__}" if custom else "",
                 f"model3 wraps a {type(custom[0]).__name__}: build it from nn.Flatten, nn.Linear "
                 "and nn.ReLU layers, one after another" if custom else "")
        return "model3 is built from torch.nn layers"

    def parameter_shapes() -> str:
        for name, model in models.items():
            got = [tuple(parameter.shape) for parameter in model.parameters()]
            if sorted(got) == sorted(expected_shapes):
                continue
            weights = sorted(shape for shape in expected_shapes if len(shape) == 2)
            linear = [module for _, module in model.named_modules(remove_duplicate=False)
                      if isinstance(module, nn.Linear)]
            if sorted(got) == weights:
                hint = ("the biases are missing (bias=False): keep the default bias=True, as the "
                        "layers of SimpleFixedMLP do")
            elif len({id(layer) for layer in linear}) < len(linear):
                hint = ("one nn.Linear object is used for two layers, so they share their weights: create a "
                        "new nn.Linear for every layer")
            elif any(layer.bias is None for layer in linear):
                hint = ("a layer has no bias (bias=False): keep the default bias=True for every nn.Linear, as "
                        "the layers of SimpleFixedMLP do")
            elif isinstance(model, nn.Module) and plain_containers(model):
                hint = "layers in a plain Python list are not registered: use nn.ModuleList in SimpleMLP"
            else:
                hint = f"use the layer sizes {FIXED_MLP_DIMS}, one nn.Linear with bias per pair"
            raise CheckFailed(f"{name} to have the parameter shapes of SimpleFixedMLP, {expected_shapes}",
                               f"{got}", hint)
        return "all three have the parameters of SimpleFixedMLP"

    def outputs() -> str:
        expected = (_BATCH_SIZE_1B, FIXED_MLP_DIMS[-1])
        for name, model in models.items():
            output, calls, error = trace(model, inputs.to(device_of(model)))
            what = f"{name} to map images of shape {tuple(inputs.shape)} to {expected}"
            if error is not None or not (isinstance(output, torch.Tensor) and tuple(output.shape) == expected):
                hint = (structure_hint(model, FIXED_MLP_DIMS, calls)
                        or "start with nn.Flatten() so that the images become vectors, and end with "
                           "the last nn.Linear layer")
                raise CheckFailed(what, error_text(error) if error is not None else describe(output), hint)
        return "all three map a batch of MNIST images to 10 logits each"

    def same_function() -> str:
        reference_parameters = [parameter.detach().cpu() for parameter in model1.parameters()]
        with torch.no_grad():
            reference_output = model1(inputs.to(device_of(model1))).cpu()
        reference_shapes = [tuple(value.shape) for value in reference_parameters]
        for name in ("model2", "model3"):
            twin = _twin(models[name])
            # equal-shaped layers may be registered in another order than they are applied
            orderings = shape_matched_orderings([tuple(p.shape) for p in twin.parameters()], reference_shapes)
            differences = []
            for order in orderings:
                load_values(twin, reference_parameters, order)
                with torch.no_grad():
                    output = twin(inputs)
                differences.append((output - reference_output).abs().max().item())
                if torch.allclose(output, reference_output, atol=ATOL, rtol=RTOL):
                    break
            else:
                output, calls, _ = trace(twin, inputs)
                hint = order_hint(calls, FIXED_MLP_DIMS, twin) or activation_hint(calls, inputs)
                if hint is None and calls:
                    relation = relation_between(calls[-1].output, output)
                    hint = None if relation == "unchanged" else output_hint(relation)
                hint = hint or ("put a ReLU after every linear layer except the last one, as in "
                                "SimpleFixedMLP")
                if name == "model2":
                    hint += " (model2 is a SimpleMLP: fix the class in Task 1a)"
                raise CheckFailed(f"{name} with the parameters of model1 to compute the same outputs",
                                   f"different outputs (max difference {min(differences):.3g})", hint)
        return "with equal parameters all three compute the same function"

    return run_checks("1b", [
        ("models defined", defined, GATE),
        ("model classes", classes, INDEPENDENT),
        ("separate models", separate, INDEPENDENT),
        ("model3 layers", built_from_layers, INDEPENDENT),
        ("parameter shapes", parameter_shapes, GATE),
        ("output shape", outputs, GATE),
        ("same function", same_function, INDEPENDENT),
    ])


def _twin(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` whose parameters can be overwritten."""
    return copy.deepcopy(model).cpu()


def check_task_1b(model1: object, model2: object, model3: object) -> None:
    """Print the self-check verdict for Task 1b: ``check_task_1b(model1, model2, model3)``."""
    report("1b", lambda: task_1b_results(model1, model2, model3))
