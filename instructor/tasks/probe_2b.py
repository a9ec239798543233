"""Task 2b, the sandbox's side: the probe run beside the submission's code; plain JSON out."""
from __future__ import annotations

import functools
import math
import weakref

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import DataLoader

from instructor.grading.probes import (
    MNIST_FEATURES,
    SYNTHETIC_LOADERS,
    ProbeError,
    after,
    generator,
    number_or_none,
    provide_reference_model,
    recording_loader,
    run_seed,
    run_task_code,
    seed_torch,
    type_name,
)

MODELS_2B = 10


DIMS_2B = [MNIST_FEATURES, 32, 10]


# seed offsets of the 2b models' initial weights (plus build number) and of the fingerprint directions
INITIAL_WEIGHTS_OFFSET = 3000


INITIAL_WEIGHT_SCALE = 0.5


FINGERPRINT_OFFSET = 2999


FINGERPRINT_SIZE = 8


def fingerprint(model: nn.Module) -> list[float] | None:
    """The model's weights projected on FINGERPRINT_SIZE random directions drawn from this run's seed."""
    parameters = [p.detach().flatten() for p in model.parameters()]
    if not parameters:
        return None
    flat = torch.cat(parameters).to(torch.float64)
    return (flat @ fingerprint_directions(run_seed(), flat.numel()) / math.sqrt(flat.numel())).tolist()


@functools.lru_cache(maxsize=4)
def fingerprint_directions(seed: int, n_weights: int) -> torch.Tensor:
    """The (n_weights x FINGERPRINT_SIZE) float64 directions of ``fingerprint`` for the run's ``seed``.

    Drawn once per size: the replay fingerprints a few hundred models of one
    size, and drawing the directions anew took longer than training them.
    """
    return torch.randn((n_weights, FINGERPRINT_SIZE), generator=generator(FINGERPRINT_OFFSET), dtype=torch.float64)


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


def provide(task_job: dict, provided: dict, state: dict) -> None:
    """Task 2b's cell trains with the reference's train; every SimpleMLP it builds gets a number and drawn weights."""
    provide_reference_model(task_job, provided, state)
    state["built"], state["counter"] = [], [0]
    provided["SimpleMLP"] = numbered_mlp_class(state["reference_mlp"], state["built"], state["counter"])
    state["steps"] = count_optimizer_steps()


def count_optimizer_steps() -> weakref.WeakKeyDictionary:
    """Optimizer -> the steps it took with gradients present, counted from now on for every optimizer."""
    steps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def count(optimizer, args, kwargs) -> None:
        if any(p.grad is not None for group in optimizer.param_groups for p in group["params"]):
            steps[optimizer] = steps.get(optimizer, 0) + 1

    register_optimizer_step_post_hook(count)
    return steps


def probe(namespace: dict, task_job: dict, state: dict) -> dict:
    """Run the submission's 2b code; fingerprint every model's weights; describe optimizers and loader use.

    The reference's own job also replays the trainings of ``replay_2b``; split
    in parts (``task_job["part"]`` = [part, parts]), every part but the first replays its share only.
    """
    part, parts = task_job.get("part", (0, 1))
    if "replay_source" in task_job and part > 0:
        return {"replayed": replay_reference_trainings(task_job["replay_source"], namespace,
                                                       state["reference_mlp"], part, parts)}
    loaders, iterations, built = state["loaders"], state["iterations"], state["built"]
    iterations.clear()
    state["counter"][0] = 0
    seed_torch(run_seed())
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
              "optimizers": [describe_optimizer(o, owner, models, state["steps"]) for o in optimizers],
              "n_distinct_optimizers": len({id(o) for o in optimizers}),
              "loader_iterations": {name: iterations.count(name) for name in loaders},
              "loader_batches": {name: len(loader) for name, loader in loaders.items()},
              "loss_lengths": [len(per_model) if isinstance(per_model, (list, tuple)) else None for per_model in losses]
              if isinstance(losses, (list, tuple)) else None}
    if task_job["kind"] != "function" and error:
        result["cell_error"] = error
    if "replay_source" in task_job:
        result["replayed"] = replay_reference_trainings(task_job["replay_source"], namespace,
                                                        state["reference_mlp"], part, parts)
    return result


def replay_reference_trainings(source: str, namespace: dict, mlp_class: type, part: int, parts: int) -> dict:
    """Reference run only: fingerprints of the trainings in ``replay_2b`` from the same initial weights.

    Of the models k with k % parts == part (``replay_2b.replay``).
    """
    replay_module: dict = {"__name__": "replay_2b"}
    exec(compile(source, "<replay_2b>", "exec"), replay_module)
    plain = {name: DataLoader(recording_loader(name, spec, 600 + offset, []).dataset, batch_size=spec["batch"],
                              shuffle=False) for offset, (name, spec) in enumerate(SYNTHETIC_LOADERS.items())}

    def build_model(index: int) -> nn.Module:
        model = mlp_class(list(DIMS_2B))
        load_drawn_weights(model, index)
        return model

    return replay_module["replay"](namespace, plain, build_model, fingerprint, part, parts)


def load_drawn_weights(model: nn.Module, build_number: int) -> None:
    """Give ``model`` initial weights drawn from this run's seed and its build number."""
    rng = generator(INITIAL_WEIGHTS_OFFSET + build_number)
    with torch.no_grad():
        for parameter in model.parameters():
            fan_in = parameter.shape[1] if parameter.dim() > 1 else 1
            parameter.copy_(torch.randn(parameter.shape, generator=rng) / math.sqrt(fan_in) * INITIAL_WEIGHT_SCALE)


def describe_optimizer(optimizer: object, owner: dict, models: list, steps: weakref.WeakKeyDictionary) -> dict:
    """Type, learning rates, whose parameters it holds and how many steps it took with gradients."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        return {"type": type_name(optimizer), "is_optimizer": False}
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    owners = sorted({owner.get(id(p), -1) for p in parameters})
    complete = [all(any(p is q for q in parameters) for p in model.parameters()) for model in models]
    cls = type(optimizer)
    return {"type": type_name(optimizer), "is_optimizer": True,
            # torch.optim's own class by identity (a subclass named Adam is not Adam), else None
            "torch_class": cls.__name__ if getattr(torch.optim, cls.__name__, None) is cls else None,
            "steps": steps.get(optimizer, 0),
            "lrs": [number_or_none(group.get("lr")) for group in optimizer.param_groups],
            "owners": owners, "complete_for": [i for i, ok in enumerate(complete) if ok]}
