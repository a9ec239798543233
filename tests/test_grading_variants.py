"""The grader on deliberately wrong, alternative-correct and hostile submissions.

Each variant is the reference notebook with some solution regions rewritten
(nbformat, in a temporary folder). All variants are graded in one run; each
test asserts the points of every task: the rewritten task loses exactly the
share of the checks it breaks (see grading/verdicts.py), all others keep full
points. Marked slow: one grading run of ~40 notebooks takes about a minute
on two cores.
"""
from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import nbformat
import pytest
from helpers_data import PER_CLASS_FROM_DATASET_TARGETS
from notebook_edits import with_region

from instructor.grading.core import grade_paths
from instructor.grading.judge import CHECK_POINTS, TASK_POINTS
from instructor.grading.sandbox import Limits
from instructor.shipped import PROJECT_ROOT
from instructor.tasks import TASKS

pytestmark = pytest.mark.slow

NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
# short enough for the infinite-loop variant, long enough for a task on a busy machine
TEST_TASK_TIMEOUT_S = 8.0
GRADING_JOBS = 2


def lost(task: str, *checks: str) -> int:
    """Points of ``task`` left after failing ``checks``."""
    return TASK_POINTS[task] - sum(CHECK_POINTS[task][check] for check in checks)


def replace_in_cell(notebook: nbformat.NotebookNode, old: str, new: str) -> None:
    for cell in notebook.cells:
        if cell.cell_type == "code" and old in cell.source:
            cell.source = cell.source.replace(old, new)
            return
    raise AssertionError(f"no code cell of the reference notebook contains {old!r}")


def add_cell_before_first_code(notebook: nbformat.NotebookNode, source: str) -> None:
    index = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))


MLP_LOOP_FORWARD = """
out = self.flatten(input)
for layer in self.layers[:-1]:
    out = self.activation(layer(out))
return self.layers[-1](out)
"""
MLP_MODULELIST_INIT = """
self.flatten = nn.Flatten()
self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
self.activation = nn.ReLU()
"""
SEQUENTIAL_NO_FLATTEN = """
model1 = SimpleFixedMLP()
model2 = SimpleMLP(dims=[28 * 28, 32, 32, 32, 10])
model3 = nn.Sequential(nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                       nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
"""
# the body of the given loop over the models (i, model)
TRAIN_2B = """
optimizer = torch.optim.{optimizer}(model.parameters(), lr={lr})
optimizers.append(optimizer)
losses.append(train(model, {loader}, optimizer, loss_fn, n_epochs=1))
"""
# the given loop of the 2b cell, which a student may replace by their own code
GIVEN_2B_LOOP = "optimizers = []\nlosses = []\nfor i, model in enumerate(models):\n"


def with_own_2b_code(notebook: nbformat.NotebookNode, code: str) -> None:
    """The 2b cell with its given loop and the region in it replaced by ``code`` (a student's own loop)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and GIVEN_2B_LOOP in cell.source:
            cell.source = cell.source[:cell.source.index(GIVEN_2B_LOOP)] + textwrap.dedent(code).strip("\n")
            return
    raise AssertionError("the reference notebook has no given 2b loop")
ACCURACY_3B = """
device = model_device(model)
correct = {{c: 0 for c in range(10)}}
total = {{c: 0 for c in range(10)}}
guessed = {{c: 0 for c in range(10)}}
with torch.no_grad():
    for batch, labels in dataloader:
        predicted = model(batch.to(device)).argmax(dim=1).cpu()
        for p, y in zip(predicted.tolist(), labels.tolist()):
            total[y] += 1
            guessed[p] += 1
            correct[y] += int(p == y)
n_all = sum(total.values())
return {{{key}: {value} for c in range(10)}}
"""


def variants() -> dict[str, tuple[callable, dict[str, int]]]:
    """name -> (edit of the notebook, expected points of the tasks that differ from full)."""
    v = {}

    def add(name, expected, *edits):
        v[name] = (edits, expected)

    # ---- correct alternatives: full points
    add("reference", {})
    add("alt_1a_sequential", {}, lambda nb: with_region(nb, "1a", """
        layers = []
        for index, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if index < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(nn.Flatten(), *layers)
        """), lambda nb: with_region(nb, "1a", "return self.net(input)", 1))
    add("alt_1a_parameters_and_f_linear", {},
        lambda nb: add_cell_before_first_code(nb, "import torch.nn.functional as F"),
        lambda nb: with_region(nb, "1a", """
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(b, a) / a ** 0.5)
                                        for a, b in zip(dims[:-1], dims[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(b)) for b in dims[1:])
        """), lambda nb: with_region(nb, "1a", """
        out = input.reshape(input.shape[0], -1)
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            out = F.linear(out, weight, bias)
            if index < len(self.weights) - 1:
                out = F.relu(out)
        return out
        """, 1))
    add("alt_2a_model_zero_grad_after_step_and_prints", {}, lambda nb: with_region(nb, "2a", """
        predictions = model(batch)
        loss = loss_fn(predictions, labels)
        loss.backward()
        optimizer.step()
        model.zero_grad()
        losses.append(float(loss))
        print("loss", losses[-1])
        """))
    add("alt_2b_loop_and_append", {}, lambda nb: with_region(nb, "2b", """
        optimizers.append(torch.optim.Adam(params=model.parameters(), lr=4e-2))
        losses += [train(models[i], train_loader, optimizers[-1], loss_fn, 1)]
        """))
    add("alt_2b_own_loop_instead_of_the_given_one", {}, lambda nb: with_own_2b_code(nb, """
        optimizers = [torch.optim.Adam(model.parameters(), lr=0.04) for model in models]
        losses = []
        for model, optimizer in zip(models, optimizers):
            losses.append(train(model, train_loader, optimizer, loss_fn, n_epochs=1))
        """))
    add("alt_3a_torch_max_no_grad_free", {}, lambda nb: with_region(nb, "3a", """
        with torch.enable_grad():
            _, predicted = torch.max(model(batch), 1)
        n_correctly_classified += int((predicted == labels).sum())
        n_samples += len(labels)
        print("batch done")
        """))
    add("alt_2a_loss_fn_with_keyword_arguments", {}, lambda nb: with_region(nb, "2a", """
        optimizer.zero_grad()
        loss = loss_fn(input=model(batch), target=labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        """))
    add("alt_3b_counts_from_dataset_targets", {},
        lambda nb: with_region(nb, "3b", PER_CLASS_FROM_DATASET_TARGETS))
    add("alt_3b_confusion_matrix", {}, lambda nb: with_region(nb, "3b", """
        confusion = torch.zeros(10, 10, dtype=torch.long)
        for batch, labels in dataloader:
            predicted = torch.max(model(batch), dim=1).indices
            for y, p in zip(labels, predicted):
                confusion[y, p] += 1
        per_class = {}
        for c in range(10):
            n = confusion[c].sum().item()
            per_class[c] = confusion[c, c].item() / n if n else float("nan")
        return per_class
        """))

    add("alt_1a_layers_registered_in_reverse", {}, lambda nb: with_region(nb, "1a", """
        self.flatten = nn.Flatten()
        self.reversed_layers = nn.ModuleList(nn.Linear(a, b) for a, b in reversed(list(zip(dims[:-1], dims[1:]))))
        """), lambda nb: with_region(nb, "1a", """
        layers = list(self.reversed_layers)[::-1]
        out = self.flatten(input)
        for layer in layers[:-1]:
            out = torch.relu(layer(out))
        return layers[-1](out)
        """, 1))

    # ---- Task 1a mistakes
    add("1a_sigmoid", {"1a": lost("1a", "same_function")},
        lambda nb: with_region(nb, "1a", MLP_LOOP_FORWARD.replace("self.activation(", "torch.sigmoid("), 1))
    add("1a_relu_after_last_layer", {"1a": lost("1a", "negative_outputs", "same_function")},
        lambda nb: with_region(nb, "1a", """
        out = self.flatten(input)
        for layer in self.layers:
            out = self.activation(layer(out))
        return out
        """, 1))
    add("1a_no_activation", {"1a": lost("1a", "nonlinear", "same_function")},
        lambda nb: with_region(nb, "1a", """
        out = self.flatten(input)
        for layer in self.layers:
            out = layer(out)
        return out
        """, 1))
    add("1a_plain_python_list", {"1a": lost("1a", "parameter_count", "same_function")},
        lambda nb: with_region(nb, "1a", MLP_MODULELIST_INIT.replace("nn.ModuleList(", "list(")))
    add("1a_no_flatten", {"1a": lost("1a", "output_shape")},
        lambda nb: with_region(nb, "1a", MLP_LOOP_FORWARD.replace("self.flatten(input)", "input"), 1))
    # dims ignored: every check fails on its own evidence (dims [20, 16, 8, 4, 3] raise), not by a gate
    add("1a_dims_ignored", {"1a": 0}, lambda nb: with_region(nb, "1a", MLP_MODULELIST_INIT.replace(
        "zip(dims[:-1], dims[1:])", "zip([784, 32, 32, 32], [32, 32, 32, 10])")))

    # ---- Task 1b mistakes
    # a type counts for a real model of that type with nn.Linear layers, whatever its function
    # no Flatten: model3 is still a real nn.Sequential of layers, only its function fails
    add("1b_sequential_without_flatten", {"1b": lost("1b", "model3_function")},
        lambda nb: with_region(nb, "1b", SEQUENTIAL_NO_FLATTEN))
    # wrong sizes: a real SimpleMLP and a real nn.Sequential, two functions wrong
    add("1b_wrong_sizes", {"1b": lost("1b", "model2_function", "model3_function")},
        lambda nb: with_region(nb, "1b", """
        model1 = SimpleFixedMLP()
        model2 = SimpleMLP(dims=[28 * 28, 32, 32, 10])
        model3 = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 10))
        """))
    add("1b_wrong_types", {"1b": lost("1b", "model1_type", "model3_type")},
        lambda nb: with_region(nb, "1b", """
        model1 = SimpleMLP(dims=[28 * 28, 32, 32, 32, 10])
        model2 = SimpleMLP(dims=[28 * 28, 32, 32, 32, 10])
        model3 = SimpleFixedMLP()
        """))

    # ---- Task 2a mistakes
    step = """
        {zero}
        predictions = model(batch)
        loss = {loss}(predictions, labels)
        loss.backward()
        {step}
        {append}
        """

    def train_region(zero="optimizer.zero_grad()", loss="loss_fn", step_="optimizer.step()",
                     append="losses.append(loss.item())"):
        return lambda nb: with_region(nb, "2a", step.format(zero=zero, loss=loss, step=step_, append=append))

    add("2a_no_zero_grad", {"2a": lost("2a", "loss_values", "final_weights")}, train_region(zero="pass"))
    add("2a_no_step", {"2a": lost("2a", "loss_values", "final_weights")}, train_region(step_="pass"))
    add("2a_step_before_backward", {"2a": lost("2a", "loss_values", "final_weights")},
        lambda nb: with_region(nb, "2a", """
        optimizer.zero_grad()
        optimizer.step()
        loss = loss_fn(model(batch), labels)
        loss.backward()
        losses.append(loss.item())
        """))
    add("2a_loss_tensors", {"2a": lost("2a", "float_losses")}, train_region(append="losses.append(loss)"))
    add("2a_loss_fn_ignored", {"2a": lost("2a", "loss_values", "final_weights")},
        train_region(loss="nn.CrossEntropyLoss()"))
    add("2a_loss_once_per_epoch", {"2a": lost("2a", "loss_count")},
        train_region(append="pass"),
        lambda nb: replace_in_cell(nb, "    return losses", "        losses.append(loss.item())\n    return losses"))
    add("2a_only_one_epoch", {"2a": lost("2a", "loss_count", "final_weights")},
        lambda nb: replace_in_cell(nb, "for epoch in range(n_epochs):", "for epoch in range(1):"))

    # ---- Task 2b mistakes
    add("2b_wrong_lr", {"2b": lost("2b", "learning_rate")},
        lambda nb: with_region(nb, "2b", TRAIN_2B.format(optimizer="Adam", lr=0.01, loader="train_loader")))
    add("2b_wrong_optimizer", {"2b": lost("2b", "optimizer_type")},
        lambda nb: with_region(nb, "2b", TRAIN_2B.format(optimizer="SGD", lr=0.04, loader="train_loader")))
    # one epoch on the loader it trained on, losses collected: only the loader is wrong
    add("2b_test_loader", {"2b": lost("2b", "train_loader")},
        lambda nb: with_region(nb, "2b", TRAIN_2B.format(optimizer="Adam", lr=0.04, loader="test_loader")))
    add("2b_default_epochs", {"2b": lost("2b", "one_epoch_each")},
        lambda nb: with_region(nb, "2b", TRAIN_2B.format(optimizer="Adam", lr=0.04, loader="train_loader")
                               .replace(", n_epochs=1", "")))
    add("2b_one_shared_optimizer", {"2b": lost("2b", "one_optimizer_per_model")},
        lambda nb: with_region(nb, "2b", """
        if i == 0:
            shared = torch.optim.Adam([p for m in models for p in m.parameters()], lr=0.04)
        optimizers.append(shared)
        losses.append(train(model, train_loader, shared, loss_fn, n_epochs=1))
        """))

    # ---- Task 3a mistakes
    def accuracy_region(correct_update, samples_update, argmax_dim=1):
        return lambda nb: with_region(nb, "3a", f"""
        predicted = model(batch).argmax(dim={argmax_dim})
        n_correctly_classified += {correct_update}
        n_samples += {samples_update}
        """)

    right = "(predicted == labels).sum().item()"
    add("3a_divide_by_batches", {"3a": lost("3a", "single_batch", "several_batches")},
        accuracy_region(right, "1"))
    add("3a_average_of_batch_accuracies", {"3a": lost("3a", "several_batches")},
        accuracy_region("(predicted == labels).float().mean().item()", "1"))
    add("3a_assumes_full_batches", {"3a": lost("3a", "several_batches")},
        accuracy_region(right, "dataloader.batch_size"))
    add("3a_percentage", {"3a": lost("3a", "single_batch", "several_batches")},
        accuracy_region("100 * " + right, "labels.numel()"))
    add("3a_argmax_over_batch", {"3a": 0}, accuracy_region(right, "labels.numel()", argmax_dim=0))
    add("3a_tensor_returned", {"3a": lost("3a", "returns_float")},
        accuracy_region("(predicted == labels).sum()", "labels.numel()"))

    # ---- Task 3b mistakes (the NaN check fails where an absent class gives a number)
    def per_class(key="c", value='correct[c] / total[c] if total[c] else float("nan")'):
        return lambda nb: with_region(nb, "3b", ACCURACY_3B.format(key=key, value=value))

    add("3b_divided_by_all_samples", {"3b": lost("3b", "recall_values", "nan_for_absent_class")},
        per_class(value="correct[c] / n_all"))
    add("3b_counts", {"3b": lost("3b", "recall_values", "float_values", "nan_for_absent_class")},
        per_class(value="correct[c]"))
    add("3b_precision", {"3b": lost("3b", "recall_values", "nan_for_absent_class")},
        per_class(value='correct[c] / guessed[c] if guessed[c] else float("nan")'))
    add("3b_string_keys", {"3b": lost("3b", "int_keys")}, per_class(key="str(c)"))
    # every value wrong, but they follow the predictions: int keys, float values and the absent classes' NaN count
    add("3b_argmax_over_batch", {"3b": lost("3b", "recall_values")},
        lambda nb: with_region(nb, "3b", ACCURACY_3B.format(
            key="c", value='correct[c] / total[c] if total[c] else float("nan")')
            .replace("dim=1", "dim=0").replace("guessed[p] += 1", "pass")))
    add("3b_zero_division", {"3b": lost("3b", "nan_for_absent_class")}, per_class(value="correct[c] / total[c]"))

    # ---- hostile code: costs only its own task
    add("hostile_sys_exit_in_class_body", {"1a": 0},
        lambda nb: replace_in_cell(nb, "class SimpleMLP(nn.Module):\n",
                                   "class SimpleMLP(nn.Module):\n    import sys\n    sys.exit('bye')\n"))
    add("hostile_os_exit", {"2a": 0}, lambda nb: with_region(nb, "2a", "import os\nos._exit(3)"))
    add("hostile_infinite_loop", {"3a": 0}, lambda nb: with_region(nb, "3a", "while True:\n    pass"))
    add("hostile_memory_bomb", {"3b": 0},
        lambda nb: with_region(nb, "3b", "hog = bytearray(64 * 2**30)\nreturn {}"))
    # rebinding a torch function while the probe runs is tampering: the task is not graded (probes.guard_bindings)
    add("hostile_patches_allclose", {"1a": 0},
        lambda nb: with_region(nb, "1a", """
        import torch.testing
        torch.allclose = lambda *args, **kwargs: True
        torch.testing.assert_close = lambda *args, **kwargs: None
        out = self.flatten(input)
        for layer in self.layers:
            out = self.activation(layer(out))
        return out
        """, 1))
    add("hostile_imports_solution", {"3a": 0}, lambda nb: replace_in_cell(
        nb, "def compute_accuracy(model: nn.Module, dataloader: DataLoader) -> float:\n",
        "def compute_accuracy(model: nn.Module, dataloader: DataLoader) -> float:\n"
        "    import solution\n    return solution.compute_accuracy(model, dataloader)\n"))
    add("hostile_syntax_error_in_3b_cell", {"3b": 0},
        lambda nb: with_region(nb, "3b", "return {c: 1.0 for c in range(10)"))
    add("stubs_of_the_release", {task: 0 for task in TASKS},
        *[lambda nb, t=t, k=k: with_region(nb, t, 'raise NotImplementedError("TODO")', k)
          for t, k in (("1a", 0), ("1a", 1), ("1b", 0), ("2a", 0), ("2b", 0), ("3a", 0), ("3b", 0))])
    return v


WRITE_TARGET_NAME = "written_by_student.txt"


def write_outside_edit(target: Path, submission: Path):
    """2a code that tries to create ``target`` and to append to the submission itself."""
    return lambda nb: with_region(nb, "2a", f"""
        open({str(target)!r}, "w").write("x")
        open({str(submission)!r}, "a").write("x")
        """)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grades of every variant, by name, from one grading run; plus the hostile writer's paths."""
    folder = tmp_path_factory.mktemp("submissions")
    reference = nbformat.read(NOTEBOOK, as_version=4)
    paths, expected = {}, {}
    cases = variants()
    writer_path = folder / "hostile_writes_outside.ipynb"
    target = folder / WRITE_TARGET_NAME
    cases["hostile_writes_outside"] = ((write_outside_edit(target, writer_path),), {"2a": 0})
    for name, (edits, points) in cases.items():
        notebook = nbformat.from_dict(reference)
        notebook = nbformat.reads(nbformat.writes(notebook), as_version=4)
        for edit in edits:
            edit(notebook)
        path = folder / f"{name}.ipynb"
        nbformat.write(notebook, path)
        paths[name], expected[name] = path, {**TASK_POINTS, **points}
    digests = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}
    grades = grade_paths([str(p) for p in paths.values()], Limits(task_timeout_s=TEST_TASK_TIMEOUT_S),
                         jobs=GRADING_JOBS)
    return {"grades": dict(zip(paths, grades)), "expected": expected, "paths": paths,
            "digests": digests, "write_target": target}


@pytest.mark.parametrize("name", [*variants(), "hostile_writes_outside"])
def test_variant_points_per_task(graded, name):
    grade = graded["grades"][name]
    got = {task: grade.tasks[task].points for task in TASKS}
    messages = "\n".join(f"{t}: {m}" for t in TASKS for m in grade.tasks[t].messages)
    assert got == graded["expected"][name], f"{name}: points {got}\n{messages}"
    for task in TASKS:
        task_messages = [m.rsplit(" [-", 1)[0] for m in grade.tasks[task].messages]
        assert len(set(task_messages)) == len(task_messages), f"{name}: a message repeats in {task}: {task_messages}"


@pytest.mark.parametrize("name", [n for n in variants() if n != "reference" and not n.startswith("alt_")])
def test_every_lost_point_has_a_message(graded, name):
    grade = graded["grades"][name]
    for task in TASKS:
        if grade.tasks[task].points < grade.tasks[task].max_points:
            assert grade.tasks[task].messages, f"{name}: task {task} lost points without a message"


@pytest.mark.parametrize("name, task, words", [
    ("1a_plain_python_list", "1a", "nn.ModuleList"),
    ("1a_relu_after_last_layer", "1a", "must not be followed by ReLU"),
    ("2a_no_zero_grad", "2a", "never reset"),
    ("2a_no_step", "2a", "optimizer.step() was never called"),
    ("2a_step_before_backward", "2a", "before loss.backward()"),
    ("2a_loss_fn_ignored", "2a", "loss_fn passed to train was never called"),
    ("2a_loss_once_per_epoch", "2a", "one loss per epoch"),
    ("2b_test_loader", "2b", "training on test_loader instead of train_loader"),
    ("2b_one_shared_optimizer", "2b", "distinct optimizer"),
    ("2b_default_epochs", "2b", "20 epochs per model"),
    ("3a_percentage", "3a", "a percentage instead of a fraction"),
    ("3a_average_of_batch_accuracies", "3a", "mean of the batch accuracies"),
    ("3a_assumes_full_batches", "3a", "the last batch is smaller"),
    ("3b_precision", "3b", "precision"),
    ("3b_divided_by_all_samples", "3b", "divided by all samples"),
    ("3b_string_keys", "3b", "expected exactly the ints 0-9"),
    # the absent classes' NaNs are right (no NaN message): the recall check names the classes
    ("3b_argmax_over_batch", "3b", "per-class values differ (class "),
    ("1a_sigmoid", "1a", "computes a different function"),
    ("hostile_infinite_loop", "3a", "did not finish within"),
    ("hostile_os_exit", "2a", "exited with status 3"),
    ("hostile_sys_exit_in_class_body", "1a", "SystemExit"),
    ("hostile_imports_solution", "3a", "No module named 'solution'"),
    ("hostile_syntax_error_in_3b_cell", "3b", "cannot be parsed"),
])
def test_message_names_the_mistake(graded, name, task, words):
    messages = " ".join(graded["grades"][name].tasks[task].messages)
    assert words in messages, f"{name}: expected {words!r} in the {task} messages: {messages}"


@pytest.mark.parametrize("name, task", [("1a_sigmoid", "1a"), ("3b_argmax_over_batch", "3b")])
def test_message_does_not_blame_what_was_right(graded, name, task):
    """A sigmoid MLP is not an affine map; the NaNs of classes without samples were right."""
    messages = " ".join(graded["grades"][name].tasks[task].messages)
    assert "affine" not in messages
    assert "with no sample" not in messages


def test_student_code_cannot_write_outside_its_scratch_folder(graded):
    assert not graded["write_target"].exists()
    messages = " ".join(graded["grades"]["hostile_writes_outside"].tasks["2a"].messages)
    assert "Permission" in messages or "Errno" in messages, messages


def test_submissions_are_never_modified(graded):
    for name, path in graded["paths"].items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == graded["digests"][name], name
