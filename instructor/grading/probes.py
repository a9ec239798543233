"""What the sandboxed process runs for each task, on inputs the grader chooses.

This module imports only the standard library, torch and ``model_properties``
(checks shared with the self-checks): the sandbox loads it by file path,
without the project on ``sys.path``, from a scratch folder that holds a copy
of ``model_properties.py``. Every probe takes a
namespace (the reference definitions with one task's definition taken from
the submission) and returns plain JSON data -- shapes, numbers, type names --
never a verdict. The grader runs the same probe on the reference namespace in
its own process and compares the two results (see ``grading.verdicts``).

All inputs are synthetic and seeded: MNIST-shaped float images
(BS x 1 x 28 x 28) and int64 labels, a few dozen samples per case.
"""
from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import numpy
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ex4.model_properties import MAX_PARAMETER_ORDERINGS, affine_residual, load_values, shape_matched_orderings

try:
    from task_namespace import build_namespace, describe_exception, run_statements
except ImportError:  # imported from the project (tests), not from the sandbox's module folder
    from instructor.grading.task_namespace import build_namespace, describe_exception, run_statements

# the seed of this run's inputs: drawn by the grader for each run, set by run_probe
_run_seed = 0
MNIST_SHAPE = (1, 28, 28)
MNIST_FEATURES = 28 * 28
N_CLASSES = 10

# Task 1a: dims the SimpleMLP is built with, and the shape of one input sample
CONFIGS_1A = (
    {"dims": [MNIST_FEATURES, 32, 32, 32, 10], "sample_shape": list(MNIST_SHAPE)},
    {"dims": [MNIST_FEATURES, 32, 10], "sample_shape": list(MNIST_SHAPE)},
    {"dims": [20, 16, 8, 4, 3], "sample_shape": [2, 2, 5]},
)
BATCH_1A = 6
# samples used to look for negative outputs and for non-affine behaviour
N_BEHAVIOUR_SAMPLES = 64
# how far below the largest output the last bias is moved to see whether outputs can turn negative
NEGATIVE_SHIFT = 10.0
# scale of the inputs for that sign test when the model's own weights must be used
FALLBACK_INPUT_SCALE = 100.0
FIXED_MLP_DIMS = [MNIST_FEATURES, 32, 32, 32, 10]
MODEL_NAMES_1B = ("model1", "model2", "model3")

# Task 2a: a small classifier trained for a few epochs on a loader with a short last batch
TRAIN_FEATURE_SHAPE = (1, 3, 4)
TRAIN_HIDDEN = 8
TRAIN_SAMPLES = 35
TRAIN_BATCH = 8
TRAIN_EPOCHS = 3
TRAIN_LR = 0.1
TRAIN_MOMENTUM = 0.9
# a loss the student cannot reproduce with a fresh nn.CrossEntropyLoss()
TRAIN_LABEL_SMOOTHING = 0.1

# Task 2b: two distinguishable MNIST-shaped loaders
# MNIST-shaped synthetic data for every task: a few batches, the last one short
SYNTHETIC_LOADERS = {"train": {"samples": 40, "batch": 16}, "test": {"samples": 24, "batch": 12}}
MODELS_2B = 10
DIMS_2B = [MNIST_FEATURES, 32, 10]
# seed offsets of the 2b models' initial weights (plus build number) and of the fingerprint directions
INITIAL_WEIGHTS_OFFSET = 3000
FINGERPRINT_OFFSET = 2999
INITIAL_WEIGHT_SCALE = 0.5
FINGERPRINT_SIZE = 8

# Task 3a/3b: cases whose predictions the grader fixes in advance
ACCURACY_CASES = {
    # one full batch: 5 of 8 correct
    "single_batch": {"batch": 8, "correct": [1, 0, 1, 1, 0, 1, 0, 1]},
    # batches of 8 with different accuracies and a last batch of 3
    "several_batches": {"batch": 8, "correct": [1] * 8 + [1, 0] * 4 + [0] * 7 + [1] + [1] * 6 + [0, 0]
                        + [1, 1, 0]},
}
# per-class case: class c has PER_CLASS_BASE + c samples; wrong predictions lean to low classes
PER_CLASS_BASE = 2
PER_CLASS_BATCH = 16
# a case where the classes in ABSENT_CLASSES have no sample
ABSENT_CLASSES = (3, 7)
# pixel value that makes the oracle model predict a class; the others stay below it
ORACLE_HIGH = 1.0
ORACLE_NOISE = 0.5


# built-in and NumPy scalar types by identity; everything else is named by what it is an instance of
EXACT_TYPE_NAMES = {float: "float", int: "int", bool: "bool", str: "str", dict: "dict", list: "list",
                    tuple: "tuple", type(None): "None", numpy.float64: "numpy.float64",
                    numpy.float32: "numpy.float32", numpy.int64: "numpy.int64"}


class ProbeError(Exception):
    """The submission's objects could not be examined (wrong type, missing name, ...)."""


def guarded(function: Callable[[], dict]) -> dict:
    """``function()``, or ``{"error": ...}`` if it raises anything, even SystemExit."""
    try:
        return function()
    except BaseException as exc:  # noqa: BLE001 -- student code may raise anything
        return {"error": describe_exception(exc)}


# --------------------------------------------------------------------- namespace


def run_seed() -> int:
    return _run_seed


def run_probe(task_job: dict) -> dict:
    """Build the task's namespace and run its probe on inputs drawn from the job's seed; plain JSON data.

    ``task_job`` (see ``task_namespace``) holds the reference sources the task
    needs, the submission's context statements and, for 1b/2b, its task code.
    """
    global _run_seed
    _run_seed = int(task_job["seed"])
    torch.manual_seed(run_seed())
    task = task_job["task"]
    provided, state = PROVIDERS[task](task_job) if task in PROVIDERS else ({}, {})
    namespace = build_namespace(task_job, provided)
    # the other tasks' answers are compiled now: their sources leave this process's live objects
    task_job["reference"] = []
    return PROBES[task](namespace, task_job, state)


def run_task_code(task_job: dict, namespace: dict) -> str:
    """Run the statements of a statement task (1b, 2b); '' or the first error, described with its location.

    A statement that raises does not stop the others, as a plot that fails
    after training must not undo the training: the results then show what
    the cell achieved, and the error is reported beside them.
    """
    first_error = ""
    for statement in task_job.get("task_code", []):
        try:
            run_statements([statement], namespace)
        except BaseException as exc:  # noqa: BLE001 -- student code may raise anything
            first_error = first_error or describe_exception(exc)
    return first_error


def after(error: str) -> str:
    """' (the cell raised ...)' when ``error`` is set, for messages about missing results."""
    return f" (the cell raised {error})" if error else ""


def reference_definitions(task_job: dict) -> dict:
    """A separate namespace with only the job's reference sources (the given code and other tasks' answers)."""
    namespace: dict = {"__name__": "__main__"}
    for source in task_job.get("reference", ()):
        exec(compile(source, "<reference>", "exec"), namespace)
    return namespace


# --------------------------------------------------------------------- shared helpers


def generator(offset: int) -> torch.Generator:
    return torch.Generator().manual_seed(run_seed() + offset)


def tensor_to_list(tensor: torch.Tensor) -> list:
    return tensor.detach().to(torch.float64).cpu().tolist()


def number_or_none(value: object) -> float | None:
    """``float(value)`` when that works (floats, ints, one-element tensors), else None."""
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def type_name(value: object) -> str:
    """The name the grader uses for ``value``'s type, decided by the type's identity, never by its own name.

    A class that calls itself ``float`` (or sets ``__module__ = "builtins"``)
    is reported as a user-defined class.
    """
    cls = type(value)
    if cls in EXACT_TYPE_NAMES:
        return EXACT_TYPE_NAMES[cls]
    if isinstance(value, torch.Tensor):
        return "torch.Tensor"
    if isinstance(value, (torch.optim.Optimizer, nn.Module)):
        # only shown in messages; verdicts about models and optimizers never read it
        return cls.__name__
    return f"{cls.__name__} (not a built-in type)"


def canonical_layers(dims: list[int], seed_offset: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Weights (out x in) and biases (out,) for an MLP with sizes ``dims``, seeded, well scaled."""
    rng = generator(seed_offset)
    layers = []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        weight = torch.randn(n_out, n_in, generator=rng) / math.sqrt(n_in)
        bias = torch.randn(n_out, generator=rng) * 0.5
        layers.append((weight, bias))
    return layers


def layer_orderings(model: nn.Module, layers: list[tuple[torch.Tensor, torch.Tensor]]
                    ) -> tuple[list[torch.Tensor], list[list[int]]]:
    """The layer tensors as values for ``model``'s parameters and the ways to assign them by shape.

    Names, containers and registration order do not matter: every parameter
    gets a layer tensor of its shape, and equal-shaped parameters are tried in
    every order (up to ``MAX_PARAMETER_ORDERINGS``, see
    ``model_properties.shape_matched_orderings``), the registration order
    first. A weight stored as (in x out), as for ``x @ W``, gets the
    transposed matrix; then square weights are taken as transposed too.
    Raises ProbeError when the shapes do not fit one to one.
    """
    parameters = list(model.parameters())
    shapes = [tuple(p.shape) for p in parameters]
    wanted = [tuple(t.shape) for layer in layers for t in layer]
    if not parameters:
        raise ProbeError("the model has no registered parameters")
    transposed = any(len(s) == 2 and s not in wanted and (s[1], s[0]) in wanted for s in shapes)
    values = [tensor for weight, bias in layers for tensor in ((weight.T if transposed else weight), bias)]
    try:
        orderings = shape_matched_orderings(shapes, [tuple(v.shape) for v in values], MAX_PARAMETER_ORDERINGS)
    except ValueError:
        raise ProbeError(f"parameter shapes {shapes} do not match the layers' {wanted}") from None
    return values, orderings


def outputs_by_ordering(model: nn.Module, layers: list, inputs: torch.Tensor) -> list[list]:
    """``model(inputs)`` for every way to give it ``layers`` as weights (see ``layer_orderings``).

    The grader keeps the ordering whose outputs are closest to the reference's.
    """
    values, orderings = layer_orderings(model, layers)
    outputs = []
    for order in orderings:
        load_values(model, values, order)
        with torch.no_grad():
            output = model(inputs)
        output_summary(output)
        outputs.append(tensor_to_list(output))
    load_values(model, values, orderings[0])
    return outputs


def parameter_summary(model: nn.Module) -> dict:
    parameters = list(model.parameters())
    return {"param_shapes": [list(p.shape) for p in parameters],
            "n_params": sum(p.numel() for p in parameters)}


def output_summary(output: object) -> dict:
    if not isinstance(output, torch.Tensor):
        raise ProbeError(f"forward returned {type_name(output)}, not a tensor")
    return {"output_shape": list(output.shape)}


# --------------------------------------------------------------------- task 1a


def probe_1a(namespace: dict, task_job: dict, state: dict) -> dict:
    """Build SimpleMLP for each of CONFIGS_1A and record shapes, counts and outputs."""
    mlp_class = namespace.get("SimpleMLP")
    if mlp_class is None:
        raise ProbeError("no class SimpleMLP is defined")
    return {"configs": [guarded(lambda c=config, i=index: probe_mlp(mlp_class, c, i))
                        for index, config in enumerate(CONFIGS_1A)]}


def probe_mlp(mlp_class: type, config: dict, index: int) -> dict:
    """Shapes on unflattened input; behaviour (sign, non-affinity, outputs) on flat input."""
    dims, sample_shape = config["dims"], config["sample_shape"]
    torch.manual_seed(run_seed() + index)
    model = mlp_class(list(dims))
    result = {"dims": dims, "sample_shape": sample_shape, "batch": BATCH_1A,
              "behaviour_samples": N_BEHAVIOUR_SAMPLES, **parameter_summary(model)}
    images = torch.rand((BATCH_1A, *sample_shape), generator=generator(index))
    result["shape"] = guarded(lambda: output_summary(model(images)))
    inputs = torch.rand((N_BEHAVIOUR_SAMPLES, dims[0]), generator=generator(50 + index)) * 2 - 1
    others = torch.rand((N_BEHAVIOUR_SAMPLES, dims[0]), generator=generator(100 + index)) * 2 - 1
    layers = canonical_layers(dims, 200 + index)
    result["behaviour"] = guarded(lambda: mlp_behaviour(model, inputs, others, layers))
    return result


def mlp_behaviour(model: nn.Module, inputs: torch.Tensor, others: torch.Tensor, layers: list) -> dict:
    """Outputs with ``layers`` as weights; sign of the outputs and non-affinity with the same weights.

    The sign is measured with the last layer's bias lowered far below the
    outputs: every output of a model without an activation after its last
    layer then turns negative, a final ReLU keeps them at 0. Non-affinity is
    measured with the canonical weights (the default initialisation is so
    small that e.g. a sigmoid is almost linear on it). A model whose
    parameters do not fit the layers is measured with its own weights.
    """
    result: dict = {}
    with torch.no_grad():
        own_outputs = model(inputs[:BATCH_1A])
    try:
        result["outputs_by_ordering"] = outputs_by_ordering(model, layers, inputs[:BATCH_1A])
        result["residual_weights"] = "canonical"
    except ProbeError as exc:
        result["assign_error"] = str(exc)
        result["residual_weights"] = "own"
    with torch.no_grad():
        outputs = model(inputs)
        repeated = model(inputs)
    result.update(output_summary(outputs))
    result["deterministic"] = bool(torch.equal(outputs, repeated))
    # outputs that do not change with the weights come from code that ignores the layers
    result["weight_dependent"] = ("assign_error" not in result
                                  and not torch.equal(own_outputs, outputs[:BATCH_1A]))
    result["input_dependent"] = bool(torch.isfinite(outputs).all()) and len(outputs) > 1 and not bool(
        (outputs == outputs[:1]).all())
    if "assign_error" in result:
        # own weights: inputs far outside [-1, 1] make a last layer without ReLU show both signs
        with torch.no_grad():
            result["negative_probe_output"] = float(model(inputs * FALLBACK_INPUT_SCALE).min())
    else:
        values, orderings = layer_orderings(model, layers)
        lowered = list(values)
        lowered[-1] = values[-1] - (NEGATIVE_SHIFT + 2 * float(outputs.abs().max()))
        load_values(model, lowered, orderings[0])
        with torch.no_grad():
            result["negative_probe_output"] = float(model(inputs).max())
        load_values(model, values, orderings[0])
    result["affine_residual"] = affine_residual(model, inputs, others)
    return result


# --------------------------------------------------------------------- task 1b


def probe_1b(namespace: dict, task_job: dict, state: dict) -> dict:
    """Create the three models with the submission's 1b code and describe each."""
    fixed_class, mlp_class = namespace["SimpleFixedMLP"], namespace["SimpleMLP"]
    torch.manual_seed(run_seed())
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
    inputs = torch.rand((BATCH_1A, *MNIST_SHAPE), generator=generator(300))
    layers = canonical_layers(FIXED_MLP_DIMS, 400)
    described = {name: guarded(lambda m=model: describe_model(m, fixed_class, mlp_class, inputs, layers))
                 for name, model in models.items()}
    return {**described, "batch_shape": list(inputs.shape), **({"cell_error": error} if error else {})}


def describe_model(model: object, fixed_class: type, mlp_class: type, inputs: torch.Tensor,
                   layers: list) -> dict:
    """Type and parameters of ``model``; its outputs with ``layers`` as weights, or why not."""
    if not isinstance(model, nn.Module):
        raise ProbeError(f"it is {type_name(model)}, not an nn.Module")
    result = {"type": type_name(model), "is_fixed_mlp": type(model) is fixed_class,
              "is_simple_mlp": type(model) is mlp_class,
              "is_sequential": isinstance(model, nn.Sequential), **parameter_summary(model)}

    def run() -> dict:
        return {"outputs_by_ordering": outputs_by_ordering(model, layers, inputs)}

    outcome = guarded(run)
    result.update({"forward_error": outcome["error"]} if "error" in outcome else outcome)
    return result


# --------------------------------------------------------------------- task 2a


def probe_2a(namespace: dict, task_job: dict, state: dict) -> dict:
    """Train a small seeded model with the submission's ``train`` and record what happened."""
    train = namespace.get("train")
    if train is None:
        raise ProbeError("no function train is defined")
    events: list[str] = []
    model, optimizer, loss_fn, loader = training_setup(events)
    returned = train(model, loader, optimizer, loss_fn, TRAIN_EPOCHS)
    if not isinstance(returned, list):
        raise ProbeError(f"train returned {type_name(returned)}, expected a list of losses")
    return {"losses": [{"type": type_name(loss), "value": number_or_none(loss)} for loss in returned],
            "first_batch_losses": first_batch_losses(loader),
            "initial_params": tensor_to_list(torch.cat([p.detach().flatten()
                                                        for p in training_setup([])[0].parameters()])),
            "final_params": tensor_to_list(torch.cat([p.detach().flatten() for p in model.parameters()])),
            "events": compress_events(events), "n_batches": len(loader), "n_epochs": TRAIN_EPOCHS}


def first_batch_losses(loader: DataLoader) -> dict[str, list[float]]:
    """The untrained model's loss on every batch, with the given loss and with a plain CrossEntropyLoss.

    Only the reference run's values are used: a submission whose losses are
    among them computed something real (e.g. forgot optimizer.step(), or
    ignored the given loss_fn).
    """
    model, _, loss_fn, _ = training_setup([])
    losses: dict[str, list[float]] = {"given": [], "plain": []}
    with torch.no_grad():
        for batch, labels in loader:
            logits = model(batch)
            losses["given"].append(float(loss_fn(logits, labels)))
            losses["plain"].append(float(nn.CrossEntropyLoss()(logits, labels)))
    return losses


def training_setup(events: list[str]) -> tuple[nn.Module, torch.optim.Optimizer, nn.Module, DataLoader]:
    """Model, SGD optimizer, loss and loader that append to ``events`` when used."""

    class RecordingModel(nn.Sequential):
        def forward(self, batch):
            events.append("forward")
            return super().forward(batch)

        def zero_grad(self, set_to_none: bool = True):
            events.append("zero_grad")
            super().zero_grad(set_to_none)

    class RecordingSGD(torch.optim.SGD):
        def zero_grad(self, set_to_none: bool = True):
            events.append("zero_grad")
            super().zero_grad(set_to_none)

        def step(self, closure=None):
            events.append("step")
            return super().step(closure)

    class RecordingLoss(nn.CrossEntropyLoss):
        def forward(self, predictions, labels):
            events.append("loss")
            return super().forward(predictions, labels)

    torch.manual_seed(run_seed())
    n_features = math.prod(TRAIN_FEATURE_SHAPE)
    model = RecordingModel(nn.Flatten(), nn.Linear(n_features, TRAIN_HIDDEN), nn.ReLU(),
                           nn.Linear(TRAIN_HIDDEN, N_CLASSES))
    first_weight = next(model.parameters())
    first_weight.register_hook(lambda grad: events.append("backward"))
    optimizer = RecordingSGD(model.parameters(), lr=TRAIN_LR, momentum=TRAIN_MOMENTUM)
    images = torch.randn((TRAIN_SAMPLES, *TRAIN_FEATURE_SHAPE), generator=generator(500))
    labels = torch.randint(N_CLASSES, (TRAIN_SAMPLES,), generator=generator(501))
    loader = DataLoader(TensorDataset(images, labels), batch_size=TRAIN_BATCH, shuffle=False)
    return model, optimizer, RecordingLoss(label_smoothing=TRAIN_LABEL_SMOOTHING), loader


def compress_events(events: list[str]) -> list[str]:
    """Events with repeated forward passes kept once per run, e.g. [forward, loss, backward, step]."""
    compressed: list[str] = []
    for event in events:
        if not (compressed and compressed[-1] == event == "forward"):
            compressed.append(event)
    return compressed


# --------------------------------------------------------------------- task 2b


def provide_data(task_job: dict) -> tuple[dict, dict]:
    """What every task gets instead of MNIST: synthetic ``train_set``/``test_set`` and their loaders.

    The loaders record when they are iterated (Task 2b reports it). Task 2b
    also gets a numbered SimpleMLP (see ``numbered_mlp_class``).
    """
    iterations: list[str] = []
    loaders = {name: recording_loader(name, spec, 600 + offset, iterations)
               for offset, (name, spec) in enumerate(SYNTHETIC_LOADERS.items())}
    provided = {"train_loader": loaders["train"], "test_loader": loaders["test"],
                "train_set": loaders["train"].dataset, "test_set": loaders["test"].dataset}
    state = {"loaders": loaders, "iterations": iterations}
    task = task_job.get("task")
    if task in ("1b", "2b"):
        # the cells of 1b and 2b call the reference's SimpleMLP and train with the student's own arguments
        reference = reference_definitions(task_job)
        state["reference_mlp"] = lenient_class(reference["SimpleMLP"])
        provided["SimpleMLP"] = state["reference_mlp"]
        if "train" in reference:
            provided["train"] = lenient_function(reference["train"])
    if task == "2b":
        state["built"], state["counter"] = [], [0]
        provided["SimpleMLP"] = numbered_mlp_class(state["reference_mlp"], state["built"], state["counter"])
    return provided, state


def known_keywords(function, keywords: dict) -> dict:
    """``keywords`` without those ``function`` does not take (a student's extra options of their own version)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return keywords
    names = {p.name for p in parameters}
    return {name: value for name, value in keywords.items() if name in names}


def lenient_function(function):
    """``function`` ignoring keyword arguments it does not know, e.g. ``train(..., print_every=100)``."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        return function(*args, **known_keywords(function, kwargs))

    return call


def lenient_class(cls: type) -> type:
    """A subclass of ``cls`` whose constructor ignores keyword arguments ``cls`` does not know."""

    class Lenient(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **known_keywords(cls.__init__, kwargs))

    Lenient.__name__ = Lenient.__qualname__ = cls.__name__
    return Lenient


def numbered_mlp_class(reference_mlp: type, built: list, counter: list[int]) -> type:
    """A SimpleMLP that gives every model it builds initial weights drawn from the run's seed and a number.

    ``built`` collects (model, number); ``counter[0]`` is the next number.
    The probe resets it to 0 when the 2b code starts, so the models of that
    code get small numbers whether they are built there or in a cell before
    (a script export splits the 2b cell); two models with one number start
    from the same weights, which the replay (``replay_2b``) handles alike.
    """

    class SimpleMLP(reference_mlp):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            load_drawn_weights(self, counter[0])
            built.append((self, counter[0]))
            counter[0] += 1

    return SimpleMLP


def probe_2b(namespace: dict, task_job: dict, state: dict) -> dict:
    """Run the submission's 2b code; fingerprint every model's weights; describe optimizers and loader use."""
    loaders, iterations, built = state["loaders"], state["iterations"], state["built"]
    iterations.clear()
    state["counter"][0] = 0
    torch.manual_seed(run_seed())
    if task_job["kind"] == "function":
        models = [namespace["SimpleMLP"](list(DIMS_2B)) for _ in range(MODELS_2B)]
        returned = namespace["train_models"](models, loaders["train"], nn.CrossEntropyLoss())
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            raise ProbeError(f"train_models returned {type_name(returned)}, expected (optimizers, losses)")
        optimizers, losses = returned
    else:
        error = run_task_code(task_job, namespace)
        models, optimizers, losses = (namespace.get(n) for n in ("models", "optimizers", "losses"))
    if not isinstance(models, list) or not all(isinstance(m, nn.Module) for m in models):
        raise ProbeError(f"models is {type_name(models)}, expected the list of models{after(error)}")
    if not isinstance(optimizers, (list, tuple)):
        raise ProbeError(f"optimizers is {type_name(optimizers)}, expected a list with one optimizer per model"
                         f"{after(error)}")
    owner = {id(p): index for index, model in enumerate(models) for p in model.parameters()}
    result = {"n_models": len(models),
              "models": [{"built": next((number for m, number in reversed(built) if m is model), None),
                          "fingerprint": fingerprint(model)} for model in models],
              "optimizers": [describe_optimizer(o, owner, models) for o in optimizers],
              "n_distinct_optimizers": len({id(o) for o in optimizers}),
              "loader_iterations": {name: iterations.count(name) for name in loaders},
              "loader_batches": {name: len(loader) for name, loader in loaders.items()},
              "loss_lengths": [len(per_model) if isinstance(per_model, (list, tuple)) else None for per_model in losses]
              if isinstance(losses, (list, tuple)) else None}
    if task_job["kind"] != "function" and error:
        result["cell_error"] = error
    if "replay_source" in task_job:
        result["replayed"] = replay_reference_trainings(task_job["replay_source"], namespace,
                                                        state["reference_mlp"])
    return result


def replay_reference_trainings(source: str, namespace: dict, mlp_class: type) -> dict:
    """Reference run only: fingerprints of the trainings in ``replay_2b`` from the same initial weights."""
    replay_module: dict = {"__name__": "replay_2b"}
    exec(compile(source, "<replay_2b>", "exec"), replay_module)
    plain = {name: DataLoader(recording_loader(name, spec, 600 + offset, []).dataset, batch_size=spec["batch"],
                              shuffle=False) for offset, (name, spec) in enumerate(SYNTHETIC_LOADERS.items())}

    def build_model(index: int) -> nn.Module:
        model = mlp_class(list(DIMS_2B))
        load_drawn_weights(model, index)
        return model

    return replay_module["replay"](namespace, plain, build_model, fingerprint)


def load_drawn_weights(model: nn.Module, build_number: int) -> None:
    """Give ``model`` initial weights drawn from this run's seed and its build number."""
    rng = generator(INITIAL_WEIGHTS_OFFSET + build_number)
    with torch.no_grad():
        for parameter in model.parameters():
            fan_in = parameter.shape[1] if parameter.dim() > 1 else 1
            parameter.copy_(torch.randn(parameter.shape, generator=rng) / math.sqrt(fan_in) * INITIAL_WEIGHT_SCALE)


def fingerprint(model: nn.Module) -> list[float] | None:
    """The model's weights projected on FINGERPRINT_SIZE random directions drawn from this run's seed."""
    parameters = [p.detach().flatten() for p in model.parameters()]
    if not parameters:
        return None
    flat = torch.cat(parameters).to(torch.float64)
    directions = torch.randn((flat.numel(), FINGERPRINT_SIZE), generator=generator(FINGERPRINT_OFFSET),
                             dtype=torch.float64)
    return (flat @ directions / math.sqrt(flat.numel())).tolist()


def recording_loader(name: str, spec: dict, seed_offset: int, iterations: list[str]) -> DataLoader:

    class RecordingLoader(DataLoader):
        def __iter__(self):
            iterations.append(name)
            return super().__iter__()

    images = torch.rand((spec["samples"], *MNIST_SHAPE), generator=generator(seed_offset))
    labels = torch.randint(N_CLASSES, (spec["samples"],), generator=generator(seed_offset + 1))
    return RecordingLoader(SyntheticMNIST(images, labels, train=name == "train"), batch_size=spec["batch"],
                           shuffle=False)


class SyntheticMNIST(TensorDataset):
    """Stands in for torchvision's MNIST: (image, label) pairs plus its ``classes``, ``targets``, ``data``."""

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, train: bool) -> None:
        super().__init__(images, labels)
        self.train = train
        self.targets = labels
        self.data = (images[:, 0] * 255).to(torch.uint8)


def describe_optimizer(optimizer: object, owner: dict, models: list) -> dict:
    if not isinstance(optimizer, torch.optim.Optimizer):
        return {"type": type_name(optimizer), "is_optimizer": False}
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    owners = sorted({owner.get(id(p), -1) for p in parameters})
    complete = [all(any(p is q for q in parameters) for p in model.parameters()) for model in models]
    return {"type": type_name(optimizer), "is_optimizer": True,
            "lrs": [number_or_none(group.get("lr")) for group in optimizer.param_groups],
            "owners": owners, "complete_for": [i for i, ok in enumerate(complete) if ok]}


# --------------------------------------------------------------------- tasks 3a and 3b


def oracle_model() -> nn.Module:
    """Flatten + Linear whose logits are the first 10 pixels: an image says what is predicted."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(MNIST_FEATURES, N_CLASSES))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[:, :N_CLASSES] = torch.eye(N_CLASSES)
        model[1].bias.zero_()
    return model


def images_predicting(predicted: torch.Tensor, seed_offset: int) -> torch.Tensor:
    """MNIST-shaped images for which oracle_model predicts ``predicted`` (N,)."""
    images = torch.rand((len(predicted), MNIST_FEATURES), generator=generator(seed_offset)) * ORACLE_NOISE
    images[torch.arange(len(predicted)), predicted] = ORACLE_HIGH
    return images.reshape(len(predicted), *MNIST_SHAPE)


def accuracy_case(name: str) -> dict:
    """Labels, predictions and batch size of one 3a case (plain lists)."""
    spec = ACCURACY_CASES[name]
    correct = torch.tensor(spec["correct"], dtype=torch.bool)
    labels = torch.randint(N_CLASSES, (len(correct),), generator=generator(700))
    shift = torch.randint(1, N_CLASSES, (len(correct),), generator=generator(701))
    predicted = torch.where(correct, labels, (labels + shift) % N_CLASSES)
    return {"labels": labels.tolist(), "predicted": predicted.tolist(), "batch": spec["batch"]}


def per_class_case(absent: tuple[int, ...]) -> dict:
    """Labels and predictions where class c has PER_CLASS_BASE + c samples (none for ``absent``).

    About half of each class is right; wrong predictions go to the lowest classes,
    so that precision and recall differ.
    """
    labels = [c for c in range(N_CLASSES) if c not in absent for _ in range(PER_CLASS_BASE + c)]
    predicted = []
    for index, label in enumerate(labels):
        wrong = (label + 1 + index % 3) % N_CLASSES
        predicted.append(label if index % 2 == 0 else wrong)
    order = torch.randperm(len(labels), generator=generator(800)).tolist()
    return {"labels": [labels[i] for i in order], "predicted": [predicted[i] for i in order],
            "batch": PER_CLASS_BATCH}


def case_loader(case: dict, seed_offset: int) -> DataLoader:
    images = images_predicting(torch.tensor(case["predicted"]), seed_offset)
    labels = torch.tensor(case["labels"], dtype=torch.long)
    return DataLoader(TensorDataset(images, labels), batch_size=case["batch"], shuffle=False)


def probe_3a(namespace: dict, task_job: dict, state: dict) -> dict:
    compute_accuracy = namespace.get("compute_accuracy")
    if compute_accuracy is None:
        raise ProbeError("no function compute_accuracy is defined")
    return {name: guarded(lambda n=name: call_accuracy(compute_accuracy, accuracy_case(n)))
            for name in ACCURACY_CASES}


def call_accuracy(compute_accuracy: Callable, case: dict) -> dict:
    value = compute_accuracy(oracle_model(), case_loader(case, 900))
    return {"type": type_name(value), "value": number_or_none(value), "case": case}


def probe_3b(namespace: dict, task_job: dict, state: dict) -> dict:
    per_class = namespace.get("compute_accuracy_per_class")
    if per_class is None:
        raise ProbeError("no function compute_accuracy_per_class is defined")
    cases = {"all_classes": per_class_case(()), "absent_classes": per_class_case(ABSENT_CLASSES)}
    results = {name: guarded(lambda c=case: call_per_class(per_class, c)) for name, case in cases.items()}
    return {**results, "cases": cases, "absent": list(ABSENT_CLASSES)}


def call_per_class(per_class: Callable, case: dict) -> dict:
    returned = per_class(oracle_model(), case_loader(case, 1000))
    if not isinstance(returned, dict):
        raise ProbeError(f"it returned {type_name(returned)}, expected a dict")
    return {"entries": [{"key_type": type_name(key), "key": number_or_none(key), "key_repr": repr(key)[:40],
                         "value_type": type_name(value), "value": number_or_none(value)}
                        for key, value in returned.items()]}


PROVIDERS = {task: provide_data for task in ("1a", "1b", "2a", "2b", "3a", "3b")}
PROBES = {"1a": probe_1a, "1b": probe_1b, "2a": probe_2a, "2b": probe_2b, "3a": probe_3a, "3b": probe_3b}

