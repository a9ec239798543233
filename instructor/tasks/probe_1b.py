"""Task 1b, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

import torch
from torch import nn

from ex4.fixtures import FIXED_MLP_DIMS, MNIST_IMAGE_SHAPE
from ex4.sheet import MODEL_NAMES_1B
from instructor.grading.probes import (
    ProbeError,
    canonical_layers,
    generator,
    guarded,
    outputs_by_ordering,
    parameter_summary,
    provide_reference_model,
    run_seed,
    run_task_code,
    seed_torch,
    type_name,
)
from instructor.tasks.probe_1a import BATCH_1A


def provide(task_job: dict, provided: dict, state: dict) -> None:
    """Task 1b's cell calls the reference's SimpleMLP with the student's own arguments."""
    provide_reference_model(task_job, provided, state)


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    """Create the three models with the submission's 1b code and describe each."""
    fixed_class, mlp_class = namespace["SimpleFixedMLP"], namespace["SimpleMLP"]
    seed_torch(run_seed())
    if task_job["kind"] == "function":
        created = namespace["build_equivalent_models"]()
        if not isinstance(created, (tuple, list)) or len(created) != len(MODEL_NAMES_1B):
            raise ProbeError(f"build_equivalent_models returned {type_name(created)}, "
                             "expected a tuple (model1, model2, model3)")
        models = dict(zip(MODEL_NAMES_1B, created))
        error = ""
    else:
        error = run_task_code(task_job, namespace)
        models = {name: namespace.get(name) for name in MODEL_NAMES_1B}
    inputs = torch.rand((BATCH_1A, *MNIST_IMAGE_SHAPE), generator=generator(300))
    layers = canonical_layers(FIXED_MLP_DIMS, 400)
    described = {name: guarded(lambda m=model: describe_model(m, fixed_class, mlp_class, inputs, layers))
                 for name, model in models.items()}
    return {**described, "batch_shape": list(inputs.shape), **({"cell_error": error} if error else {})}


def describe_model(model: object, fixed_class: type, mlp_class: type, inputs: torch.Tensor,
                   layers: list) -> dict:
    """Type and parameters of ``model``; its outputs with ``layers`` as weights, or why not."""
    if not isinstance(model, nn.Module):
        raise ProbeError(f"it is {type_name(model)}, not an nn.Module")
    inner = list(model.modules())[1:]
    result = {"type": type_name(model), "is_fixed_mlp": type(model) is fixed_class,
              "is_simple_mlp": type(model) is mlp_class,
              "is_sequential": isinstance(model, nn.Sequential), **parameter_summary(model),
              "n_linear": sum(isinstance(module, nn.Linear) for module in inner),
              # modules inside that are not torch.nn layers, e.g. a SimpleFixedMLP wrapped in nn.Sequential
              "wrapped": sorted({type(module).__name__ for module in inner if not is_torch_layer(module)})}

    def run() -> dict:
        return {"outputs_by_ordering": outputs_by_ordering(model, layers, inputs)}

    outcome = guarded(run)
    result.update({"forward_error": outcome["error"]} if "error" in outcome else outcome)
    return result


def is_torch_layer(module: nn.Module) -> bool:
    """Whether ``module`` is one of torch.nn's own layers (nn.Linear, nn.ReLU, ...), not a class of the notebook's."""
    cls = type(module)
    return getattr(nn, cls.__name__, None) is cls
