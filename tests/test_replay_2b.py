"""Task 2b's replayed trainings: one training per optimizer setting, split in parts, merged back.

The reference replays every hypothesis of ``replay_2b`` once per tracked
model. These tests run the replay in this process with a small model and
hand-made loaders (seeded), and compare it with each hypothesis trained
from scratch: the checkpoints and the parts must give the very same weights.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from instructor.grading import core
from instructor.tasks import probe_2b, replay_2b, task_2b
from instructor.tasks.replay_2b import HYPOTHESES, INTENDED, LONGEST_FOR_EVERY_MODEL

N_FEATURES, N_CLASSES, N_SAMPLES, BATCH = 6, 3, 10, 4
TRACKED = 3
# of the TRACKED models, the "given code's" models: every training is replayed for them, short ones for the rest
GIVEN_MODELS = 2
# the replayed and the from-scratch training run the same float32 operations in the same order
EXACT = {"atol": 0.0, "rtol": 0.0}


def train(model, dataloader, optimizer, loss_fn, n_epochs=20, show_progress=True):
    """The reference's loop in short: every batch of every epoch, one step."""
    for _ in range(n_epochs):
        for batch, labels in dataloader:
            optimizer.zero_grad()
            loss_fn(model(batch), labels).backward()
            optimizer.step()


def loader(seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(N_SAMPLES, N_FEATURES, generator=generator)
    labels = torch.randint(0, N_CLASSES, (N_SAMPLES,), generator=generator)
    return DataLoader(TensorDataset(inputs, labels), batch_size=BATCH, shuffle=False)


def build_model(index: int) -> nn.Module:
    torch.manual_seed(100 + index)
    return nn.Sequential(nn.Linear(N_FEATURES, 5), nn.ReLU(), nn.Linear(5, N_CLASSES))


def weights(model: nn.Module) -> list[float]:
    return torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()


@pytest.fixture
def few_models(monkeypatch):
    monkeypatch.setattr(replay_2b, "TRACKED_MODELS", TRACKED)
    monkeypatch.setattr(probe_2b, "MODELS_2B", GIVEN_MODELS)


def run_replay(part: int = 0, parts: int = 1) -> dict:
    return replay_2b.replay({"train": train}, {"train": loader(1), "test": loader(2)}, build_model, weights,
                            part, parts)


def from_scratch(name: str, index: int) -> list[float]:
    optimizer_name, lr, epochs, loader_name, _ = HYPOTHESES[name]
    model = build_model(index)
    optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), lr=lr)
    train(model, loader(1 if loader_name == "train" else 2), optimizer, nn.CrossEntropyLoss(), n_epochs=epochs)
    return weights(model)


def test_every_hypothesis_is_replayed_once_and_the_checkpoints_share_a_training():
    grouped = replay_2b.trainings()
    names = [name for stops in grouped.values() for names in stops.values() for name in names]
    assert sorted(names) == sorted(HYPOTHESES)
    intended = HYPOTHESES[replay_2b.INTENDED]
    # the untrained, intended, two-epoch and default-epoch weights come from one Adam training
    assert sorted(grouped[(intended[0], intended[1], intended[3])]) == [0, 1, 2, 20]


def test_checkpointed_replay_gives_each_hypothesis_weights_trained_from_scratch(few_models):
    replayed = run_replay()
    for name in HYPOTHESES:
        for index in range(TRACKED):
            if index >= GIVEN_MODELS and HYPOTHESES[name][2] > LONGEST_FOR_EVERY_MODEL:
                assert replayed[name][index] == [], f"{name} is replayed for model {index} beyond the given ones"
                continue
            torch.testing.assert_close(torch.tensor(replayed[name][index]), torch.tensor(from_scratch(name, index)),
                                       **EXACT, msg=f"{name}, model {index}: replay differs from training anew")


@pytest.mark.parametrize("parts", [2, 3])
def test_parts_merge_into_the_replay_of_one_part(few_models, parts):
    whole = run_replay()
    shares = [run_replay(part, parts) for part in range(parts)]
    for part, share in enumerate(shares):
        assert all((value is None) == (index % parts != part)
                   for prints in share.values() for index, value in enumerate(prints))
    assert replay_2b.merge_parts(shares) == whole


def test_a_model_no_part_replayed_is_an_error():
    shares = [{"intended": [[1.0], None, None]}, {"intended": [None, [2.0], None]}]
    with pytest.raises(ValueError, match=r"models \[2\]"):
        replay_2b.merge_parts(shares)


def test_the_reference_outcome_of_a_split_task_is_merged_or_its_first_failure(monkeypatch):
    keys = [core.reference_key("2b", part) for part in range(2)]
    probe_result = {"n_models": 1, "replayed": {"intended": [[1.0], None]}}
    second = {"replayed": {"intended": [None, [2.0]]}}
    merged = core.merged_reference_outcome("2b", {keys[0]: {"status": "ok", "result": probe_result},
                                                  keys[1]: {"status": "ok", "result": second}}, 2)
    assert merged == {"status": "ok", "result": {"n_models": 1, "replayed": {"intended": [[1.0], [2.0]]}}}
    failure = {"status": "timeout", "error": "part 1 ran out of time"}
    assert core.merged_reference_outcome("2b", {keys[0]: {"status": "ok", "result": probe_result},
                                                keys[1]: failure}, 2) == failure
    unmerged = core.merged_reference_outcome("2b", {key: {"status": "ok", "result": probe_result} for key in keys}, 2)
    assert unmerged["status"] == "error" and "models [1]" in unmerged["error"]


def test_a_model_without_a_replayed_fingerprint_matches_nothing():
    replayed = {"intended": [[1.0, 2.0], None]}
    assert task_2b.matching_trainings([1.0, 2.0], 0, replayed) == ["intended"]
    assert task_2b.matching_trainings([1.0, 2.0], 1, replayed) == []


def test_a_long_training_of_a_model_beyond_the_given_ones_costs_what_a_replayed_one_costs():
    """20 epochs: read from the replay for the given models, from the loader's iterations beyond them."""
    models, batches = 2, 3
    replayed = {name: [[float(index), float(built)] for built in range(models)]
                for index, name in enumerate(HYPOTHESES)}
    replayed["default_epochs"] = [replayed["default_epochs"][0], []]
    reference = {"replayed": replayed, "n_models": models, "loader_batches": {"train": batches, "test": 2}}
    lr = HYPOTHESES[INTENDED][1]

    def trained_20_epochs(built: list[int]) -> dict:
        return {"n_models": models,
                "models": [{"built": b, "fingerprint": replayed["default_epochs"][0] if b == 0 else [-1.0, -1.0]}
                           for b in built],
                "optimizers": [{"type": "Adam", "is_optimizer": True, "torch_class": "Adam", "steps": 20 * batches,
                                "lrs": [lr], "owners": [i], "complete_for": [i]} for i in range(models)],
                "n_distinct_optimizers": models, "loader_iterations": {"train": 20 * models, "test": 0},
                "loader_batches": {"train": batches, "test": 2}, "loss_lengths": [20 * batches] * models}

    matched, beyond = task_2b.verdict(trained_20_epochs([0, 0]), reference), task_2b.verdict(
        trained_20_epochs([0, 1]), reference)
    assert (matched.points, matched.failed) == (beyond.points, beyond.failed)
    assert matched.failed == ["one_epoch_each"] and any("20 epochs" in m for m in matched.messages)
    assert any("read from your optimizers and loaders" in m for m in beyond.messages)
