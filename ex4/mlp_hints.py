"""What the self-checks of Tasks 1a and 1b find out about how an MLP is built: layers, order, activations."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ex4.checking import ATOL, RTOL
from ex4.fixtures import FIXED_MLP_DIMS


def expected_layer_shapes(dims: Sequence[int]) -> list[tuple[int, int]]:
    """(out_features, in_features) of the layers of an MLP with sizes ``dims``, in order."""
    return [(n_out, n_in) for n_in, n_out in zip(dims[:-1], dims[1:])]


def plain_containers(module: nn.Module) -> list[tuple[str, str]]:
    """(attribute, container type) of the module's plain lists/tuples/dicts that hold layers or tensors."""
    found = []
    for attribute, value in vars(module).items():
        if attribute.startswith("_"):
            continue
        if isinstance(value, dict):
            items = list(value.values())
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            continue
        flat = [inner for item in items
                for inner in (item if isinstance(item, (list, tuple)) else [item])]
        if any(isinstance(item, (nn.Module, torch.Tensor)) for item in flat):
            found.append((attribute, type(value).__name__))
    return found


def _contained_modules(module: nn.Module) -> list[nn.Module]:
    """Modules kept in the plain containers of ``module`` (not registered)."""
    found = []
    for attribute, _ in plain_containers(module):
        value = vars(module)[attribute]
        items = list(value.values()) if isinstance(value, dict) else list(value)
        for item in items:
            for inner in (item if isinstance(item, (list, tuple)) else [item]):
                if isinstance(inner, nn.Module):
                    found.append(inner)
    return found


def _plain_tensor_attributes(module: nn.Module) -> list[str]:
    """Attributes holding a floating-point tensor that is not a registered parameter."""
    return [attribute for attribute, value in vars(module).items()
            if not attribute.startswith("_") and isinstance(value, torch.Tensor)
            and not isinstance(value, nn.Parameter) and value.is_floating_point() and value.dim() > 0]


def weight_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    """Shapes (out, in) of the model's weight matrices: nn.Linear weights, else 2-D tensors of any kind."""
    linear = _all_linear_layers(model)
    if linear:
        shapes = [tuple(layer.weight.shape) for layer in linear]
        linear_weights = {id(layer.weight) for layer in linear}
        others = [p for p in model.parameters() if p.dim() == 2 and id(p) not in linear_weights]
    else:
        shapes, others = [], [p for p in model.parameters() if p.dim() == 2]
    for module in model.modules():
        for attribute in _plain_tensor_attributes(module):
            others.append(vars(module)[attribute])
        for attribute, _ in plain_containers(module):
            value = vars(module)[attribute]
            items = list(value.values()) if isinstance(value, dict) else list(value)
            others.extend(item for item in items if isinstance(item, torch.Tensor))
    return shapes + [tuple(tensor.shape) for tensor in others if tensor.dim() == 2]


def _all_linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's nn.Linear layers, registered or kept in plain lists/dicts, each once, in order."""
    layers: list[nn.Linear] = []
    seen: set[int] = set()
    pending = [model]
    while pending:
        module = pending.pop(0)
        if id(module) in seen:
            continue
        seen.add(id(module))
        if isinstance(module, nn.Linear):
            layers.append(module)
        pending.extend(list(module.children()) + _contained_modules(module))
    return layers


@dataclass
class LayerCall:
    """One application of an nn.Linear layer during a forward pass."""

    layer: nn.Linear
    input: object
    output: torch.Tensor | None = None


def trace(model: nn.Module, inputs: torch.Tensor) -> tuple[object, list[LayerCall], Exception | None]:
    """Run ``model(inputs)`` without gradients and record every nn.Linear call in order.

    Returns (output, calls, error): the error the forward pass raised, if any
    (then output is None and calls holds the calls up to the error).
    """
    calls: list[LayerCall] = []

    def before(layer, args):
        value = args[0] if args else None
        calls.append(LayerCall(layer, value.detach().clone() if isinstance(value, torch.Tensor) else value))

    def after(layer, args, output):
        for call in reversed(calls):
            if call.layer is layer and call.output is None:
                call.output = output.detach().clone() if isinstance(output, torch.Tensor) else output
                break

    handles = []
    for layer in _all_linear_layers(model):
        handles.append(layer.register_forward_pre_hook(before))
        handles.append(layer.register_forward_hook(after))
    output, error = None, None
    try:
        with torch.no_grad():
            output = model(inputs)
    except Exception as exc:  # noqa: BLE001 - returned to the caller, which explains it
        error = exc
    finally:
        for handle in handles:
            handle.remove()
    return output, calls, error


_ACTIVATIONS: list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = [
    ("unchanged", lambda x: x),
    ("ReLU", torch.relu),
    ("softmax", lambda x: torch.softmax(x, dim=-1)),
    ("softmax", lambda x: torch.softmax(x, dim=0)),
    ("log_softmax", lambda x: torch.log_softmax(x, dim=-1)),
    ("log_softmax", lambda x: torch.log_softmax(x, dim=0)),
    ("sigmoid", torch.sigmoid),
    ("tanh", torch.tanh),
    ("leaky ReLU", F.leaky_relu),
    ("ELU", F.elu),
    ("GELU", F.gelu),
    ("softplus", F.softplus),
]


def relation_between(before: object, after: object) -> str | None:
    """The activation that maps ``before`` to ``after`` ("unchanged", "ReLU", ...), None if none does."""
    if not (isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor)):
        return None
    if before.shape != after.shape or not before.is_floating_point() or not after.is_floating_point():
        return None
    before, after = before.detach().cpu(), after.detach().cpu()
    for name, activation in _ACTIVATIONS:
        if torch.allclose(activation(before), after, atol=ATOL, rtol=RTOL):
            return name
    return None


BATCH_FLATTENED_HINT = ("the whole batch was flattened into one vector (x.flatten(), view(-1) or nn.Flatten(0)): "
                        "keep the batch dimension and flatten each image, e.g. x.flatten(1) or nn.Flatten()")
FLATTEN_HINT = ("flatten the images to (BS x features) before the first layer, e.g. with nn.Flatten() "
                "as in SimpleFixedMLP: nn.Linear works on the last dimension only")
_OUTPUT_HINTS = {
    "ReLU": "your last layer is followed by a ReLU, so the outputs (logits) can never be negative: "
            "apply the activation after every layer except the last",
    "softmax": "the model returns probabilities (a softmax after the last layer): return the logits, "
               "the outputs of the last layer, because nn.CrossEntropyLoss applies the softmax itself",
    "log_softmax": "the model returns log-probabilities (a log_softmax after the last layer): return "
                   "the logits, the outputs of the last layer, because nn.CrossEntropyLoss applies "
                   "log-softmax itself",
    "sigmoid": "the model returns values between 0 and 1 (a sigmoid after the last layer): return the "
               "logits, the outputs of the last layer, with no activation after it",
}
_OTHER_OUTPUT_HINT = "return the output of the last layer unchanged (the logits), with no activation after it"


def output_hint(relation: str | None) -> str:
    if relation in _OUTPUT_HINTS:
        return _OUTPUT_HINTS[relation]
    if relation is not None:
        return f"a {relation} after the last layer: {_OTHER_OUTPUT_HINT}"
    return _OTHER_OUTPUT_HINT


def output_values_hint(outputs: torch.Tensor) -> str | None:
    """For a model whose layers cannot be traced: what its outputs look like, None if like logits."""
    outputs = outputs.detach().cpu().float()
    if bool((outputs < 0).any()):
        if torch.allclose(outputs.logsumexp(dim=1), torch.zeros(len(outputs)), atol=1e-4):
            return _OUTPUT_HINTS["log_softmax"]
        return None
    if torch.allclose(outputs.sum(dim=1), torch.ones(len(outputs)), atol=1e-4):
        return _OUTPUT_HINTS["softmax"]
    if bool((outputs > 0).all()) and bool((outputs < 1).all()):
        return _OUTPUT_HINTS["sigmoid"]
    return _OUTPUT_HINTS["ReLU"]


def shapes_hint(shapes: list[tuple[int, int]], dims: Sequence[int]) -> str | None:
    """Why the layer shapes ``shapes`` (out, in) differ from those of ``dims``; None if they don't."""
    expected = expected_layer_shapes(dims)
    if sorted(shapes) == sorted(expected):
        return None
    if not shapes:
        return ("the model has no nn.Linear layers: create one nn.Linear per pair of consecutive "
                "sizes in dims in __init__")
    fixed = expected_layer_shapes(FIXED_MLP_DIMS)
    if list(dims) != FIXED_MLP_DIMS and (shapes == fixed or any(n_in == FIXED_MLP_DIMS[0] for _, n_in in shapes)):
        return ("the layer sizes ignore dims (they are SimpleFixedMLP's fixed sizes): take every "
                "size from the list dims, so that SimpleMLP(dims=...) works for any sizes")
    if sorted((n_in, n_out) for n_out, n_in in shapes) == sorted(expected):
        return ("the in and out sizes are swapped: nn.Linear(in_features, out_features), so layer i "
                "is nn.Linear(dims[i], dims[i + 1])")
    if len(shapes) == len(expected) - 1:
        return (f"one layer is missing: dims={list(dims)} needs {len(expected)} layers, one per pair "
                "of consecutive sizes (that is len(dims) - 1 layers)")
    if len(shapes) == len(expected) + 1:
        return (f"one layer too many: dims={list(dims)} needs {len(expected)} layers, one per pair "
                "of consecutive sizes (that is len(dims) - 1 layers)")
    return "layer i maps dims[i] features to dims[i + 1] features"


def order_hint(calls: list[LayerCall], dims: Sequence[int],
                model: nn.Module | None = None) -> str | None:
    """What is wrong with the inputs or the order of the traced layer calls; None if nothing."""
    if not calls:
        return None
    first = calls[0].input
    if isinstance(first, torch.Tensor) and first.dim() > 2:
        return FLATTEN_HINT
    if isinstance(first, torch.Tensor) and (first.dim() == 1 or first.shape[0] == 1) \
            and first.numel() > dims[0] and first.numel() % dims[0] == 0:
        return BATCH_FLATTENED_HINT
    layers = [call.layer for call in calls]
    if len({id(layer) for layer in layers}) < len(layers):
        return ("one nn.Linear object is applied more than once in a forward pass: every layer needs "
                "an nn.Linear of its own ([nn.Linear(...)] * n repeats one object), and each is "
                "applied once")
    expected = expected_layer_shapes(dims)
    shapes = [tuple(layer.weight.shape) for layer in layers]
    if shapes == expected:
        return None
    if len(shapes) < len(expected) and shapes == expected[:len(shapes)]:
        return (f"forward applies only {len(shapes)} of the {len(expected)} layers: apply every layer, "
                "the last one too, and return the last layer's output")
    available = (sorted(tuple(layer.weight.shape) for layer in _all_linear_layers(model))
                 if model is not None else sorted(shapes))
    if available == sorted(expected):
        return ("the layers are applied in the wrong order: the first maps dims[0] to dims[1], the "
                "next dims[1] to dims[2], and so on")
    return None


def activation_hint(calls: list[LayerCall], inputs: torch.Tensor) -> str | None:
    """What differs from flattened input -> (Linear -> ReLU)* -> Linear in the traced calls."""
    if not calls:
        return None
    relation = relation_between(inputs.flatten(1), calls[0].input)
    if relation not in ("unchanged", None):
        return (f"a {relation} is applied to the images before the first layer: the first layer takes "
                "the flattened images as they are")
    for k in range(len(calls) - 1):
        relation = relation_between(calls[k].output, calls[k + 1].input)
        if relation == "ReLU":
            continue
        if relation == "unchanged":
            return (f"no activation between layer {k + 1} and layer {k + 2}: apply the ReLU after "
                    "every layer except the last")
        if relation is not None:
            return (f"a {relation} between layer {k + 1} and layer {k + 2}: the activation is ReLU "
                    "(nn.ReLU() or torch.relu)")
        return (f"the input of layer {k + 2} is not the ReLU of the output of layer {k + 1}: apply "
                "the ReLU after every layer except the last and pass the result on")
    return None


def structure_hint(model: nn.Module, dims: Sequence[int], calls: list[LayerCall]) -> str | None:
    """Why the model's layers or their use do not fit ``dims``; None if nothing is found."""
    linear = _all_linear_layers(model)
    if linear:
        hint = shapes_hint([tuple(layer.weight.shape) for layer in linear], dims)
        if hint is not None:
            return hint
    return order_hint(calls, dims, model)


def parameter_hint(model: nn.Module, dims: Sequence[int], got: int, expected: int,
                    calls: list[LayerCall]) -> str:
    """The cause of a wrong number of registered parameters."""
    for name, module in model.named_modules():
        prefix = f"self.{name}." if name else "self."
        for attribute, kind in plain_containers(module):
            if _contained_modules(module):
                return (f"the layers in {prefix}{attribute} (a plain Python {kind}) are not registered "
                        "as parameters, so model.parameters() misses them and training cannot change "
                        "them: use nn.ModuleList")
            return (f"the tensors in {prefix}{attribute} (a plain Python {kind}) are not registered as "
                    "parameters: use nn.ParameterList, or nn.Linear layers in an nn.ModuleList")
        tensors = _plain_tensor_attributes(module)
        if tensors:
            return (f"{prefix}{tensors[0]} is a plain tensor, not a registered parameter: wrap it in "
                    "nn.Parameter(...)")
    registered = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if any(layer.bias is None for layer in registered):
        return ("your nn.Linear layers have no bias (bias=False): keep the default bias=True, as the "
                "layers of SimpleFixedMLP do")
    if got == 0:
        return ("the model has no registered parameters: create the nn.Linear layers in __init__ and "
                "keep them as attributes or in an nn.ModuleList")
    weights_only = sum(n_in * n_out for n_in, n_out in zip(dims[:-1], dims[1:]))
    if got == weights_only:
        return "the biases are missing: every layer has a weight matrix and a bias vector"
    if len({id(call.layer) for call in calls}) < len(calls):
        return order_hint(calls, dims) or ""
    hint = shapes_hint([tuple(layer.weight.shape) for layer in registered], dims)
    if hint is not None:
        return hint
    return ("create exactly one nn.Linear (with bias) per pair of consecutive sizes in dims, and no "
            "other parameters")
