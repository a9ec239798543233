"""What the sandboxed process runs for each task, on inputs the grader chooses: the tools of the probes.

The sandbox imports this module from its module folder, which holds copies
of the student code (``utils.py``, ``ex4/``) and of the few grader modules
the probes need (``instructor/tasks`` without the 2b replay), without the
project on ``sys.path``. ``run_probe`` builds a
task's namespace (the reference definitions with the task's definition taken
from the submission) and calls the task module's ``probe``
(``instructor/tasks/probe_<id>.py``), which returns plain JSON data -- shapes,
numbers, type names -- never a verdict. The grader runs the same probe on the
reference namespace and compares the two results with the task module's
``verdict`` (``instructor/tasks/task_<id>.py``).

All inputs are synthetic and seeded: MNIST-shaped float images
(BS x 1 x 28 x 28) and int64 labels, a few dozen samples per case.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import math
import sys
import types
from collections.abc import Callable

import numpy
import torch
from torch import nn
from torch.utils.data import DataLoader

from ex4.fixtures import MNIST_IMAGE_SHAPE, N_CLASSES, SyntheticMNIST, scripted_loader
from ex4.model_properties import MAX_PARAMETER_ORDERINGS, load_values, shape_matched_orderings
from instructor.grading.task_namespace import build_namespace, describe_exception, run_statements

# the seed of this run's inputs: drawn by the grader for each run, set by run_probe
_run_seed = 0
MNIST_FEATURES = math.prod(MNIST_IMAGE_SHAPE)


# Task 2b: two distinguishable MNIST-shaped loaders
# MNIST-shaped synthetic data for every task: a few batches, the last one short
SYNTHETIC_LOADERS = {"train": {"samples": 40, "batch": 16}, "test": {"samples": 24, "batch": 12}}


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
    A task's ``provide`` reads the reference sources before the namespace is
    built; building it drops them, before any statement of the submission.
    """
    global _run_seed
    _run_seed = int(task_job["seed"])
    seed_torch(run_seed())
    # the job names its task's probe module (instructor/tasks/probe_<id>.py), copied to the module folder
    task_module = importlib.import_module(task_job["probe"])
    provided, state = provide_data(task_job)
    provide_more = getattr(task_module, "provide", None)
    if provide_more is not None:
        provide_more(task_job, provided, state)
    # bound before any submission code runs: a submission that rebinds the probe or its helpers is not graded
    probe, verify_untouched = task_module.probe, guard_bindings(guarded_modules(task_module))
    # the reference sources are executed and dropped from the job before the submission's first statement
    namespace = build_namespace(task_job, provided)
    result = probe(namespace, task_job, state)
    verify_untouched()
    return result


# modules whose names the probes look up while submission code has run: the grader's copies and the
# student helpers (by prefix), the builtins and the torch names they call
GUARDED_PREFIXES = ("instructor.", "ex4.")
GUARDED_MODULES = ("builtins", "torch", "torch.nn", "math")


def guarded_modules(task_module: types.ModuleType) -> dict[str, types.ModuleType]:
    """The modules a task's probe relies on: the builtins, torch, the grader's copies and the student helpers.

    Other tasks' probes (``probe_<id>`` beside this one) are left out unless
    this probe imports from them, so that a cell's tampering with Task 1b's
    probe costs only the tasks whose probe it changed.
    """
    package, own = task_module.__name__.rpartition(".")[0], task_module.__name__
    used = {getattr(value, "__module__", None) for value in vars(task_module).values()}
    other_probes = {name for name in sys.modules if name.startswith(f"{package}.probe_") and name != own
                    and name not in used}
    return {name: module for name, module in list(sys.modules.items())
            if name in GUARDED_MODULES or (name.startswith(GUARDED_PREFIXES) and name not in other_probes)}


def guard_bindings(modules: dict[str, types.ModuleType]) -> Callable[[], None]:
    """Record what ``modules`` bind now; the returned function raises ProbeError if any changed since.

    A function counts as changed when its code, defaults or closure are
    replaced, too. Names added later (a lazily imported submodule) are not
    looked at. The check holds every builtin and helper it uses in its own
    closure, taken now, so that rebinding a builtin or a module's name cannot
    switch it off.
    """
    is_a, function_type, length, pairs, every, names = isinstance, types.FunctionType, len, zip, all, vars
    make_tuple, fetch, empty_cell, error, missing = tuple, dict.get, ValueError, ProbeError, object()

    def filled(cell: types.CellType) -> bool:
        try:
            cell.cell_contents  # noqa: B018 -- an empty cell raises
        except empty_cell:
            return False
        return True

    def binding(value: object) -> tuple:
        """The objects that decide what ``value`` does: itself, and for a function its code, defaults and closure."""
        if is_a(value, function_type):
            cells = make_tuple(cell.cell_contents for cell in value.__closure__ or () if filled(cell))
            return (value, value.__code__, value.__defaults__, value.__kwdefaults__, *cells)
        return (value,)

    recorded = {(name, key): binding(value) for name, module in modules.items() for key, value in names(module).items()}

    def same(now: tuple, before: tuple) -> bool:
        return length(now) == length(before) and every(a is b for a, b in pairs(now, before))

    def verify() -> None:
        changed = [f"{name}.{key}" for (name, key), before in recorded.items()
                   if not same(binding(fetch(names(modules[name]), key, missing)), before)]
        if changed:
            raise error(f"the submission changed the grader's own code while it ran ({', '.join(changed[:3])}): "
                        "the task is not graded")

    return verify


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
    """A separate namespace with only the job's reference sources (the given code and the answers the task needs).

    Called by a task's ``provide``, before ``build_namespace`` drops the sources.
    """
    namespace: dict = {"__name__": "__main__"}
    for source in task_job.get("reference", ()):
        exec(compile(source, "<reference>", "exec"), namespace)
    return namespace


# --------------------------------------------------------------------- shared helpers


def seed_torch(seed: int) -> None:
    """Seed torch's CPU generator, which is what torch.manual_seed does for the CPU tasks run on.

    torch.manual_seed also queues the seed for CUDA with a stack trace, a few
    milliseconds a call: a quarter of a short task's time.
    """
    torch.default_generator.manual_seed(seed)


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


def provide_data(task_job: dict) -> tuple[dict, dict]:
    """What every task gets instead of MNIST: synthetic ``train_set``/``test_set`` and their loaders.

    The loaders record when they are iterated (Task 2b reports it). A task
    module's ``provide(task_job, provided, state)``, where it has one, adds
    what its cells need beyond that.
    """
    iterations: list[str] = []
    loaders = {name: recording_loader(name, spec, 600 + offset, iterations)
               for offset, (name, spec) in enumerate(SYNTHETIC_LOADERS.items())}
    provided = {"train_loader": loaders["train"], "test_loader": loaders["test"],
                "train_set": loaders["train"].dataset, "test_set": loaders["test"].dataset}
    return provided, {"loaders": loaders, "iterations": iterations}


def provide_reference_model(task_job: dict, provided: dict, state: dict) -> None:
    """The reference's SimpleMLP and train for a task cell that calls them with the student's own arguments.

    A cell that also evaluates its models gets ``EVALUATION_STAND_INS``, the
    grader's own accuracies: the job carries no reference answer of 3a/3b.
    """
    reference = reference_definitions(task_job)
    state["reference_mlp"] = lenient_class(reference["SimpleMLP"])
    provided["SimpleMLP"] = state["reference_mlp"]
    if "train" in reference:
        provided["train"] = lenient_function(reference["train"])
    for name, stand_in in EVALUATION_STAND_INS.items():
        provided.setdefault(name, stand_in)


def hits_and_counts(model: nn.Module, dataloader) -> tuple[torch.Tensor, torch.Tensor]:
    """(right predictions, samples) per class (N_CLASSES,) of ``model`` on ``dataloader``, without gradients."""
    hits, counts = torch.zeros(N_CLASSES), torch.zeros(N_CLASSES)
    with torch.no_grad():
        for inputs, targets in dataloader:
            guesses = torch.max(model(inputs), 1).indices.cpu()
            counts.index_add_(0, targets, torch.ones(len(targets)))
            hits.index_add_(0, targets, torch.eq(guesses, targets).float())
    return hits, counts


def accuracy_of(model: nn.Module, dataloader) -> float:
    hits, counts = hits_and_counts(model, dataloader)
    return float(hits.sum() / counts.sum().clamp(min=1))


def accuracy_per_class_of(model: nn.Module, dataloader) -> dict[int, float]:
    hits, counts = hits_and_counts(model, dataloader)
    return {c: float(hits[c] / counts[c]) if counts[c] else math.nan for c in range(N_CLASSES)}


# what a 1b/2b cell may call to evaluate its models, in place of the 3a/3b answers
EVALUATION_STAND_INS = {"compute_accuracy": accuracy_of, "compute_accuracy_per_class": accuracy_per_class_of}


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


def recording_loader(name: str, spec: dict, seed_offset: int, iterations: list[str]) -> DataLoader:

    class RecordingLoader(DataLoader):
        def __iter__(self):
            iterations.append(name)
            return super().__iter__()

    images = torch.rand((spec["samples"], *MNIST_IMAGE_SHAPE), generator=generator(seed_offset))
    labels = torch.randint(N_CLASSES, (spec["samples"],), generator=generator(seed_offset + 1))
    return RecordingLoader(SyntheticMNIST(images, labels, train=name == "train"), batch_size=spec["batch"],
                           shuffle=False)


# --------------------------------------------------------------------- tasks 3a and 3b


def case_loader(case: dict, predictions: str, seed_offset: int) -> DataLoader:
    """MNIST-shaped images for which ``ScriptedClassifier`` predicts ``case[predictions]``, with ``case["labels"]``.

    Batches of ``case["sizes"][0]``, the last one shorter where the sizes say so.
    """
    return scripted_loader(case[predictions], case["labels"], MNIST_IMAGE_SHAPE, case["sizes"][0],
                           generator(seed_offset))
